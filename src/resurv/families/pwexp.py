"""Piecewise-exponential family: J constant hazards between fixed cut points.

Parameters: ``log_rate``, the J log-hazards on the last axis (leading axes broadcast like any
other parameter: log-rates of shape (R, 1, J) go with times of shape (R, n)); constant
``cuts``, the J − 1 interior cut points 0 < c₁ < … < c_{J−1} (c₀ = 0, the last interval is
open-ended). With λⱼ = exp(log_rateⱼ) and interval j = [cⱼ, cⱼ₊₁):

    H(t) = Σⱼ λⱼ · min(max(t − cⱼ, 0), cⱼ₊₁ − cⱼ),   log h(t) = log λ_{j(t)},
    H⁻¹(H) = c_j + (H − H(c_j))/λ_j  for the j with H(c_j) ≤ H < H(c_{j+1}),
    RMST(τ) = Σⱼ e^{−H(cⱼ)} (1 − e^{−λⱼ ℓⱼ(τ)})/λⱼ,  ℓⱼ(τ) = min(max(τ − cⱼ, 0), cⱼ₊₁ − cⱼ),
    mean = RMST(∞).

The median is H⁻¹(ln 2), solved piecewise in closed form. Natural arm effect: PH (all log-rates
shifted by log HR). Reference: Friedman M. Ann Stat 1982;10:101.

Prior structure (``PiecewiseLogRates``): the model's ``cuts`` set the J intervals and

    log λⱼ = log(ln 2 / median) + δⱼ,

``median`` the median of the first interval's exponential rate, with δ a random walk over the
intervals (δ₁ = 0, δⱼ − δⱼ₋₁ = rw_sd · zⱼ; ``smoothing = "random_walk"``, steps
``log_rate_steps``) or independent deviations (δⱼ = rw_sd · zⱼ; ``"independent"``, variables
``log_rate_deviations``), z standard normal and ``rw_sd`` a hyper-parameter with its own prior;
the log-rates are the derived quantity ``log_rate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from resurv.families._base import Family, Parameter
from resurv.families._math import backend, numpy_quiet
from resurv.families.parametrization import Parametrization

__all__ = [
    "PWEXP",
    "SMOOTHINGS",
    "PiecewiseLogRates",
    "cum_hazard",
    "interval_edges",
    "inv_cum_hazard",
    "log_hazard",
    "log_rates",
    "mean",
    "rmst",
]

SMOOTHINGS = ("random_walk", "independent")
_LOG_LN2 = math.log(math.log(2.0))


def interval_edges(cuts) -> tuple[np.ndarray, np.ndarray]:
    """Left edges (0, c₁, …, c_{J−1}) and widths (last one inf) of the J intervals.

    Raises ``ValueError`` unless the interior cuts are finite, positive and increasing.
    """
    cuts = np.atleast_1d(np.asarray(cuts, dtype=float))
    if cuts.ndim != 1 or not np.all(np.isfinite(cuts)) or np.any(cuts <= 0):
        raise ValueError(f"cuts must be finite positive interior cut points, got {cuts}")
    if np.any(np.diff(cuts) <= 0):
        raise ValueError(f"cuts must be strictly increasing, got {cuts}")
    left = np.concatenate([[0.0], cuts])
    width = np.concatenate([np.diff(left), [np.inf]])
    return left, width


def _exposure(t, left, width, xp):
    """Time spent in each interval by time t: shape t.shape + (J,)."""
    m = backend(xp)
    t_e = m.expand_dims(m.asarray(t), -1)
    return m.minimum(m.maximum(t_e - left, 0.0), width)


@numpy_quiet
def log_hazard(t, log_rate, *, cuts, xp=np):
    """Log h(t) = log_rate of the interval holding t."""
    m = backend(xp)
    left, width = interval_edges(cuts)
    t_e = m.expand_dims(m.asarray(t), -1)
    inside = (t_e >= left) & (t_e < left + width)
    return m.sum(m.where(inside, m.asarray(log_rate), 0.0), axis=-1)


@numpy_quiet
def cum_hazard(t, log_rate, *, cuts, xp=np):
    """H(t) = Σⱼ λⱼ · (time spent in interval j by t)."""
    m = backend(xp)
    left, width = interval_edges(cuts)
    return m.sum(m.exp(m.asarray(log_rate)) * _exposure(t, left, width, xp), axis=-1)


def _cum_hazard_at_edges(rate, left, width, xp):
    """H(cⱼ) for every left edge: shape rate.shape."""
    m = backend(xp)
    spent = np.minimum(np.maximum(left[:, None] - left[None, :], 0.0), width[None, :])
    return m.sum(m.expand_dims(rate, -2) * spent, axis=-1)


@numpy_quiet
def inv_cum_hazard(cum_haz, log_rate, *, cuts, xp=np):
    """Piecewise-linear inverse of H; inf for H = inf."""
    m = backend(xp)
    left, width = interval_edges(cuts)
    rate = m.exp(m.asarray(log_rate))
    h_left = _cum_hazard_at_edges(rate, left, width, xp)
    h_right = h_left + rate * width
    cum_haz = m.asarray(cum_haz)
    h_e = m.expand_dims(cum_haz, -1)
    inside = (h_e >= h_left) & (h_e < h_right)
    candidate = left + (h_e - h_left) / rate
    t = m.sum(m.where(inside, candidate, 0.0), axis=-1)
    return m.where(cum_haz >= np.inf, np.inf, t)


@numpy_quiet
def rmst(tau, log_rate, *, cuts, xp=np):
    """RMST(τ) = Σⱼ e^{−H(cⱼ)} (1 − e^{−λⱼ ℓⱼ(τ)})/λⱼ."""
    m = backend(xp)
    left, width = interval_edges(cuts)
    rate = m.exp(m.asarray(log_rate))
    h_left = _cum_hazard_at_edges(rate, left, width, xp)
    spent = _exposure(tau, left, width, xp)
    return m.sum(m.exp(-h_left) * -m.expm1(-rate * spent) / rate, axis=-1)


def mean(log_rate, cuts):
    """Mean = RMST(∞)."""
    return rmst(np.inf, log_rate, cuts=cuts)


def _ph_params(params, log_hr, xp=np):
    m = backend(xp)
    return {
        "log_rate": m.asarray(params["log_rate"]) + m.expand_dims(m.asarray(log_hr), -1),
        "cuts": params["cuts"],
    }


def log_rates(median, rw_sd, steps, smoothing: str, xp=np):
    """Log-rates log λⱼ = log(ln 2 / median) + δⱼ from standard normal ``steps``.

    ``"random_walk"``: J − 1 steps, δ = (0, cumsum(rw_sd · steps)); ``"independent"``: J
    deviations, δ = rw_sd · steps. ``median`` and ``rw_sd`` share their (leading) shape, ``steps``
    has it plus the component axis, and so has the result: scalars and vectors in a PyMC model,
    (R, 1) and (R, 1, J) for R draws.
    """
    m = backend(xp)
    level = _LOG_LN2 - m.log(median)
    scaled = m.expand_dims(rw_sd, -1) * steps
    if smoothing == "random_walk":
        walk = m.cumsum(scaled, axis=-1)
        start = m.zeros((*m.static_shape(walk)[:-1], 1))
        deviation = m.concatenate([start, walk], axis=-1)
    elif smoothing == "independent":
        deviation = scaled
    else:
        raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")
    return m.expand_dims(level, -1) + deviation


@dataclass(frozen=True)
class PiecewiseLogRates(Parametrization):
    """The piecewise-exponential prior structure: intervals from ``spec.cuts``, ``spec.smoothing``.

    Per arm (names suffixed by arm under ``separate``), after the median: ``rw_sd`` (prior
    ``rw_sd``), then the standard normal ``log_rate_steps`` (J − 1, random walk) or
    ``log_rate_deviations`` (J, independent), then the derived ``log_rate`` (see
    :func:`log_rates`). ``rw_sd`` is not listed in summaries.
    """

    hyper: str = "rw_sd"
    smoothings: tuple[str, ...] = SMOOTHINGS

    @property
    def arm_priors(self) -> tuple[str, ...]:
        """``("rw_sd",)``."""
        return (self.hyper,)

    @property
    def summarized(self) -> tuple[str, ...]:
        """Nothing: the log-rates are summarized through the arm curves."""
        return ()

    def arm_params(self, source, spec, median, suffix):
        """``{"log_rate": …, "cuts": [...]}`` with the log-rates over ``spec.cuts``."""
        cuts = list(spec.cuts)
        interval_edges(cuts)  # raises unless the cuts are positive and increasing
        n_intervals = len(cuts) + 1
        smoothing = spec.smoothing
        if smoothing not in self.smoothings:
            raise ValueError(f"smoothing must be one of {self.smoothings}, got {smoothing!r}")
        rw_sd = source.prior(f"{self.hyper}{suffix}", self.hyper)
        if smoothing == "random_walk":
            steps = source.standard_normal(f"log_rate_steps{suffix}", n_intervals - 1, pinned=1)
        else:
            steps = source.standard_normal(f"log_rate_deviations{suffix}", n_intervals)
        log_rate = source.deterministic(
            f"log_rate{suffix}", lambda: log_rates(median, rw_sd, steps, smoothing, xp=source.xp)
        )
        return {"log_rate": log_rate, "cuts": cuts}


PWEXP = Family(
    name="pwexp",
    parameters=(Parameter("log_rate", "vector", "log hazard per interval, per month"),),
    natural_effect="ph",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    constants=("cuts",),
    rmst_fn=rmst,
    mean_fn=mean,
    ph_params_fn=_ph_params,
    parametrization=PiecewiseLogRates(),
    description="constant hazard within fixed intervals",
)
