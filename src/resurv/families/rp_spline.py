"""Royston–Parmar family: log cumulative hazard a restricted cubic spline in log time.

With x = log t, knots k_min = k₀ < k₁ < … < k_M < k_{M+1} = k_max on the log-time scale (the
constant ``knots``, given in months) and the coefficients γ = (γ₁, …, γ_{M+1}) (the vector
parameter ``spline``):

    s(x) = γ₁ x + Σⱼ γⱼ₊₁ vⱼ(x),
    vⱼ(x) = (x − kⱼ)₊³ − λⱼ (x − k_min)₊³ − (1 − λⱼ)(x − k_max)₊³,
    λⱼ = (k_max − kⱼ)/(k_max − k_min),

the restricted cubic spline (linear beyond the boundary knots). The intercept γ₀ is fixed by the
median m (H(m) = ln 2), so that

    log H(t) = log ln 2 + s(x) − s(log m),
    log h(t) = log s′(x) − x + log H(t),   s′(x) = γ₁ + Σⱼ γⱼ₊₁ vⱼ′(x),
    H⁻¹(H): the x with s(x) = s(log m) + log(H / ln 2) (bisection, then one Newton step that
            carries the gradient; s is linear outside the boundary knots, which bounds the root),
    RMST by the graded Gauss–Legendre rule, mean = RMST(∞).

With no interior knots the family is the Weibull with shape γ₁. PH (generic arm effect) shifts
γ₀ by log HR; a time-varying effect is the ``separate`` effect (each arm its own γ).

The hazard is positive only where s′(x) > 0. s′ is γ₁ left of k_min, constant beyond k_max and
quadratic between knots, so its minimum over all t is attained at a knot or at the vertex of
one of those quadratics: :func:`min_slope` computes it exactly. The model enforces s′ > 0
everywhere (a hard constraint, ``spline_min_slope`` > 0, as flexsurv gives zero likelihood to a
negative hazard at an observed time, but over the whole time axis so that extrapolated hazards
stay positive too); log h is −inf where s′ ≤ 0.

References: Royston P, Parmar MKB. Flexible parametric proportional-hazards and
proportional-odds models for censored survival data. Stat Med 2002;21:2175–2197; Jackson C.
flexsurv: a platform for parametric survival modeling in R. J Stat Softw 2016;70(8) (basis and
knot placement of ``flexsurvspline``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from resurv.families._base import Family, Parameter, gauss_legendre_rmst
from resurv.families._math import LN2, backend, numpy_quiet, safe
from resurv.families.parametrization import Parametrization

__all__ = [
    "RP_SPLINE",
    "SplineCoefficients",
    "cum_hazard",
    "inv_cum_hazard",
    "knots_at_event_quantiles",
    "log_hazard",
    "log_knots",
    "min_slope",
    "spline_basis",
]

_LOG_LN2 = math.log(LN2)
_BISECTIONS = 64


def log_knots(knots) -> np.ndarray:
    """Knots in months → log-time knots; at least the two boundary knots, strictly increasing."""
    knots = np.atleast_1d(np.asarray(knots, dtype=float))
    if knots.ndim != 1 or knots.size < 2 or not np.all(np.isfinite(knots)) or np.any(knots <= 0):
        raise ValueError(f"knots must be at least two finite positive times, got {knots}")
    if np.any(np.diff(knots) <= 0):
        raise ValueError(f"knots must be strictly increasing, got {knots}")
    return np.log(knots)


def knots_at_event_quantiles(time, event, n_interior: int) -> np.ndarray:
    """Knots (months) placed as flexsurv's ``flexsurvspline`` places them by default.

    Boundary knots at the smallest and largest event time, interior knots at equally spaced
    quantiles of the log event times.
    """
    time = np.asarray(time, dtype=float)
    log_t = np.log(time[np.asarray(event, dtype=bool)])
    if log_t.size < 2:
        raise ValueError("knots at event-time quantiles need at least two events")
    probs = np.linspace(0.0, 1.0, n_interior + 2)
    return np.exp(np.quantile(log_t, probs))


def _pieces(knots):
    k = log_knots(knots)
    interior = k[1:-1]
    lam = (k[-1] - interior) / (k[-1] - k[0])
    return k[0], k[-1], interior, lam


def spline_basis(x, knots, xp=np, order: int = 0):
    """The interior-knot terms vⱼ (order 0), vⱼ′ (1) or vⱼ″ (2) at log times x: shape x + (M,)."""
    m = backend(xp)
    k_min, k_max, interior, lam = _pieces(knots)
    x_e = m.expand_dims(m.asarray(x), -1)

    def power(u):
        p = m.maximum(u, 0.0)
        return {0: p * p * p, 1: 3.0 * p * p, 2: 6.0 * p}[order]

    return power(x_e - interior) - lam * power(x_e - k_min) - (1.0 - lam) * power(x_e - k_max)


def _spline(x, spline, knots, xp, order=0):
    """s(x) (order 0) or s′(x) (order 1), ``spline`` with its coefficients on the last axis."""
    m = backend(xp)
    gamma = m.asarray(spline)
    terms = m.sum(gamma[..., 1:] * spline_basis(x, knots, xp, order), axis=-1)
    if order == 0:
        return gamma[..., 0] * m.asarray(x) + terms
    if order == 1:
        return gamma[..., 0] + terms
    return terms


@numpy_quiet
def cum_hazard(t, median, *, spline, knots, xp=np):
    """H(t) = ln 2 · exp(s(log t) − s(log m))."""
    m = backend(xp)
    x = m.log(m.asarray(t))
    return LN2 * m.exp(_spline(x, spline, knots, xp) - _spline(m.log(median), spline, knots, xp))


@numpy_quiet
def log_hazard(t, median, *, spline, knots, xp=np):
    """Log h(t) = log s′(x) − x + log H(t); −inf where s′(x) ≤ 0."""
    m = backend(xp)
    x = m.log(m.asarray(t))
    slope = _spline(x, spline, knots, xp, order=1)
    positive = slope > 0
    log_slope = m.where(positive, m.log(safe(positive, slope, 1.0, xp)), -np.inf)
    log_h = _LOG_LN2 + _spline(x, spline, knots, xp) - _spline(m.log(median), spline, knots, xp)
    return log_slope - x + log_h


def min_slope(spline, knots, xp=np):
    """Min over all log times of s′(x) (exact: knots and the vertices between them).

    s′ is γ₁ left of k_min and constant right of k_max; on each interval between knots it is
    quadratic with s″ linear, so its minimum there is at an end or at the zero of s″.
    """
    m = backend(xp)
    k = log_knots(knots)
    gamma = m.asarray(spline)
    coefs = m.expand_dims(gamma[..., 1:], -2)  # (..., 1, M) against a point axis
    second = m.sum(coefs * spline_basis(k, knots, xp, order=2), axis=-1)  # s″ at the knots
    lo, hi = second[..., :-1], second[..., 1:]
    turning = (lo < 0) & (hi > 0)
    frac = safe(turning, -lo / safe(turning, hi - lo, 1.0, xp), 0.0, xp)
    vertex = k[:-1] + frac * (k[1:] - k[:-1])  # the left end where s′ has no interior minimum
    candidates = m.concatenate([0.0 * second + k, vertex], axis=-1)
    values = gamma[..., 0:1] + m.sum(coefs * spline_basis(candidates, knots, xp, order=1), axis=-1)
    return np.min(values, axis=-1) if m.name == "numpy" else m.module.min(values, axis=-1)


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, spline, knots, xp=np):
    """The t with H(t) = ``cum_haz``: bisection on log t inside exact linear bounds, then Newton.

    Outside the boundary knots s is linear (slopes γ₁ and s′(k_max)), which gives a bracket
    holding the root; 64 halvings reach machine precision, and a last Newton step from there
    makes the result differentiable in the parameters (implicit-function gradient).
    """
    m = backend(xp)
    k_min, k_max = log_knots(knots)[[0, -1]]
    cum_haz = m.asarray(cum_haz)
    finite = (cum_haz > 0) & (cum_haz < np.inf)
    h_safe = safe(finite, cum_haz, LN2, xp)
    gamma = m.asarray(spline)
    target = _spline(m.log(median), spline, knots, xp) + m.log(h_safe) - _LOG_LN2
    s_min = gamma[..., 0] * k_min
    s_max = _spline(m.asarray(k_max), spline, knots, xp)
    slope_max = _spline(m.asarray(k_max), spline, knots, xp, order=1)
    lo = k_min - m.maximum(s_min - target, 0.0) / gamma[..., 0] - 1.0
    hi = k_max + m.maximum(target - s_max, 0.0) / slope_max + 1.0
    lo = lo + 0.0 * target
    hi = hi + 0.0 * target
    if m.name != "numpy":
        from pytensor.gradient import disconnected_grad

        lo, hi = disconnected_grad(lo), disconnected_grad(hi)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        above = _spline(mid, spline, knots, xp) > target
        lo = m.where(above, lo, mid)
        hi = m.where(above, mid, hi)
    x0 = 0.5 * (lo + hi)
    x = x0 - (_spline(x0, spline, knots, xp) - target) / _spline(x0, spline, knots, xp, order=1)
    t = m.exp(x)
    return m.where(cum_haz <= 0, 0.0, m.where(cum_haz >= np.inf, np.inf, t))


def mean(median, spline, knots):
    """Mean = RMST(∞), by the graded rule to the time where S = 10⁻¹²."""
    median = np.asarray(median, dtype=float)
    spline = np.asarray(spline, dtype=float)
    end = inv_cum_hazard(-np.log(1e-12), median, spline=spline, knots=knots)
    return gauss_legendre_rmst(
        lambda t: np.exp(
            -cum_hazard(
                t,
                np.expand_dims(median, -1),
                spline=np.expand_dims(spline, -2),
                knots=knots,
            )
        ),
        end,
        n_nodes=400,
    )


@dataclass(frozen=True)
class SplineCoefficients(Parametrization):
    """The Royston–Parmar prior structure: the log-time slope and one coefficient per interior knot.

    Per arm (suffixed by arm under ``separate``), after the median: ``spline_slope`` (prior
    ``spline_slope``, positive: γ₁, the Weibull shape when there are no interior knots), then
    ``spline_coef_1`` … ``spline_coef_M`` (each with the prior ``spline_coef``), and the derived
    vector ``spline`` = (γ₁, …, γ_{M+1}) and ``spline_min_slope`` (:func:`min_slope`), which the
    PyMC model constrains to be positive (hazard positive at every time).
    """

    @property
    def arm_priors(self) -> tuple[str, ...]:
        """``("spline_slope", "spline_coef")``."""
        return ("spline_slope", "spline_coef")

    @property
    def summarized(self) -> tuple[str, ...]:
        """The log-time slope."""
        return ("spline_slope",)

    def arm_params(self, source, spec, median, suffix):
        """``{"median", "spline", "knots"}`` with the knots of ``spec.knots`` (months)."""
        knots = list(spec.knots)
        k = log_knots(knots)
        slope = source.prior(f"spline_slope{suffix}", "spline_slope")
        coefs = [
            source.prior(f"spline_coef_{j}{suffix}", "spline_coef") for j in range(1, k.size - 1)
        ]
        xp = source.xp
        m = backend(xp)
        spline = source.deterministic(
            f"spline{suffix}", lambda: m.stack([m.asarray(v) for v in (slope, *coefs)], axis=-1)
        )
        lowest = source.deterministic(
            f"spline_min_slope{suffix}", lambda: min_slope(spline, knots, xp)
        )
        if m.name != "numpy":
            import pymc as pm

            pm.Potential(f"spline_positive_hazard{suffix}", xp.switch(lowest > 0, 0.0, -np.inf))
        return {"median": median, "spline": spline, "knots": knots}


RP_SPLINE = Family(
    name="rp_spline",
    parameters=(
        Parameter("median", "positive", "median survival, months"),
        Parameter("spline", "vector", "log-time slope and interior-knot spline coefficients"),
    ),
    natural_effect="ph",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    constants=("knots",),
    mean_fn=mean,
    median_fn=lambda median, spline, knots, xp=np: median,
    parametrization=SplineCoefficients(),
    description="log H a restricted cubic spline in log t (Royston-Parmar)",
)
