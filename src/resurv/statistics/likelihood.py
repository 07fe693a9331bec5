"""The summary-data likelihood: one joint normal over a trial's published statistics.

Resurv statistical design, section 4. The reported statistics of one trial that are
asymptotically normal (log KM medians, SPSS-style means, the log-rank Z, landmark survival,
log HR) are modelled as ONE multivariate normal with mean x(θ) (each statistic's model value)
and covariance

    Cov(X, Y) = Σ_j ∫ a_j^X(u) a_j^Y(u) π_j(u) h_j(u) du,   π_j = n_j S_j G,

the model-implied one (never a reported SE). "Median not reached" (T2) is its own factor; the
arm's largest observed time τ_j, the horizon of T2 and of an SPSS-style mean (T3), is latent with
its exact density; a log-rank test without a reported direction is folded (mixture of both
signs); event counts are statistics of the joint normal (:mod:`resurv.statistics.events`). The
count block (a Poisson factor per count) is kept for kinds declaring ``COUNT``; no bundled kind
does.

Data containers (stable names; swap values with ``pm.set_data`` or nutpie's
``compiled.with_data`` without recompiling, see :meth:`SummaryLikelihood.data_values`):

- ``{name}_summary_observed``: float vector of the normal block, in the order of
  ``SummaryLikelihood.gaussian_labels`` (log median, mean in months, Z — signed, or |Z| when
  folded —, survival probability, log HR; the log-rank Z is always last);
- ``{name}_events_observed``: integer vector of event counts, arms as in ``events_arms``;
- ``{name}_log_se_observed``: (K_se, 2) bounds (lower, upper) of log ŝ of each normal-block
  statistic with a printed uncertainty, in the order of ``se_labels`` (equal bounds: printed
  exactly; ±1000: an open side).

Added model terms: latent ``{name}_horizon_raw_arm{j}`` (flat, with its logistic density as
potential ``{name}_horizon_logp_arm{j}``) and deterministic ``{name}_horizon_arm{j}`` =
F_τ⁻¹(sigmoid(raw)), the largest observed time sampled non-centred;
potential ``{name}_summary_loglik`` (the joint normal) with its sequential pieces
log p(x_k | x_<k) stored as deterministic ``{name}_summary_loglik_pieces`` (for power-scaling
by statistic; the last piece is the log-rank one); potentials ``{name}_not_reached_arm{j}``;
observed Poisson ``{name}_events``; potentials ``{name}_{label}_se_loglik``, the printed SE of a
statistic as data: log ŝ ~ N(log s(θ) + b, τ²), s(θ) = √C_kk(θ) the model SE (the diagonal of
the model covariance before the rounding floor), τ² and b from
the kind's ``log_se_law`` (default :func:`resurv.statistics.base.log_se_variance`);
interval-censored when the print gives only bounds (:func:`se_term`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from resurv.statistics import notreached
from resurv.statistics.base import (
    SUMMARY_NODES,
    ModelStatistic,
    TrialModel,
    covariance_pieces,
)
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import COUNT, FACTOR, KINDS, NORMAL

__all__ = [
    "REPORTING_RESOLUTION",
    "SummaryLikelihood",
    "add_summary_likelihood",
    "model_statistics",
    "structure_key",
]

logger = logging.getLogger(__name__)

#: Resolution of published values on the likelihood scale, by kind of the normal block (each
#: kind's ``resolution``): log median and log HR to 0.1% (relative), mean to 0.01 month,
#: survival to 0.001, Z to 0.001.
REPORTING_RESOLUTION = {cls: cls.resolution for cls in KINDS.values() if cls.block == NORMAL}


def structure_key(statistics: Sequence) -> tuple:
    """What fixes the model graph: each statistic's ``structure()`` (kind, arm, options).

    Two sets of statistics with the same key share one compiled model (only data differ).
    """
    return tuple(s.structure() + se_structure(s) for s in _ordered(statistics))


#: Largest |log ŝ| a printed SE can have; a bound beyond it is one-sided.
_SE_UNBOUNDED = 1e3


def _interval_last(statistic) -> bool:
    """Whether the last statistic of the normal block is known only as an interval."""
    return statistic.last_in_block and statistic.observed_bounds() is not None


def rounding_variances(gaussian: Sequence) -> np.ndarray:
    """Rounding variance δ²/12 of each normal-block statistic.

    δ is the kind's ``resolution``, or the width the print stands for (``printed_rounding``)
    when that is larger.
    """
    widths = []
    for s in gaussian:
        printed = s.printed_rounding()
        widths.append(s.resolution if printed is None else max(printed, s.resolution))
    return np.asarray(widths, dtype=float) ** 2 / 12.0


def se_structure(statistic) -> tuple:
    """The graph part of a statistic's printed SE: () without one, else ("se", form).

    ``form`` is "point" (ŝ printed), "below" (only an upper bound on ŝ), "above" (only a lower
    bound) or "interval" (both bounds, e.g. a p-value printed to d decimals).
    """
    bounds = statistic.printed_log_se() if statistic.block == NORMAL else None
    if bounds is None:
        return ()
    lower, upper = bounds
    if lower == upper:
        return ("se", "point")
    if not np.isfinite(lower):
        return ("se", "below")
    if not np.isfinite(upper):
        return ("se", "above")
    return ("se", "interval")


def se_term(log_se_bounds, log_model_se, tau, form: str):
    """Log-likelihood of the printed log ŝ ~ N(log s(θ), τ²), exact or interval-censored.

    ``log_se_bounds`` is the data pair (lower, upper) of log ŝ (infinite sides ignored by
    ``form``, see :func:`se_structure`).
    """
    lower, upper = log_se_bounds[0], log_se_bounds[1]
    if form == "point":
        z = (lower - log_model_se) / tau
        return -0.5 * z**2 - pt.log(tau) - 0.5 * np.log(2.0 * np.pi)
    if form == "below":
        return normal_lcdf(log_model_se, tau, upper)
    if form == "above":
        return normal_lccdf(log_model_se, tau, lower)
    return log_diff_normal_cdf(log_model_se, tau, upper, lower)


def _ordered(statistics):
    """Normal-block statistics first (the log-rank Z last), then factors and counts by kind, arm.

    Within the normal block the given order is kept, except that kinds ``last_in_block`` go last.
    """
    statistics = [x for s in statistics for x in (s, *s.companions())]
    statistics = [s.joined(statistics) for s in statistics]
    gaussian = [s for s in statistics if s.block == NORMAL]
    gaussian = sorted(gaussian, key=lambda s: s.last_in_block)
    rest = [s for s in statistics if s.block != NORMAL]
    return gaussian + sorted(rest, key=lambda s: (type(s).__name__, s.index))


@dataclass
class SummaryLikelihood:
    """What :func:`add_summary_likelihood` added to the model (names of data and terms)."""

    name: str
    structure: tuple
    gaussian_labels: list[str] = field(default_factory=list)
    observed_data: str | None = None
    folded_logrank: bool = False
    last_bounds_data: str | None = None
    events_data: str | None = None
    events_arms: list[int] = field(default_factory=list)
    horizon_names: dict[int, str] = field(default_factory=dict)
    loglik_terms: list[str] = field(default_factory=list)
    loglik_pieces: str | None = None
    se_data: str | None = None
    se_labels: list[str] = field(default_factory=list)
    #: data container of the rounding variances of the normal block, when a statistic's print
    #: gives its own (``printed_rounding``); otherwise they are constants of the graph
    rounding_data: str | None = None

    def data_values(self, statistics: Sequence) -> dict[str, np.ndarray]:
        """Values of the data containers for another set of statistics of the same structure.

        Raises
        ------
        ValueError
            If ``statistics`` differ in structure (kinds, arms, landmark times, folding).
        """
        if structure_key(statistics) != self.structure:
            raise ValueError(
                f"statistics have structure {structure_key(statistics)}, the model was built "
                f"for {self.structure}"
            )
        ordered = _ordered(statistics)
        values = {}
        if self.observed_data is not None:
            values[self.observed_data] = np.array(
                [s.observed() for s in ordered if s.block == NORMAL], dtype=float
            )
        if self.last_bounds_data is not None:
            values[self.last_bounds_data] = np.clip(
                np.array([s for s in ordered if s.block == NORMAL][-1].observed_bounds()),
                -_SE_UNBOUNDED,
                _SE_UNBOUNDED,
            )
        if self.se_data is not None:
            bounds = [s.printed_log_se() for s in ordered if se_structure(s)]
            values[self.se_data] = np.clip(
                np.array(bounds, dtype=float).reshape(-1, 2), -_SE_UNBOUNDED, _SE_UNBOUNDED
            )
        if self.rounding_data is not None:
            values[self.rounding_data] = rounding_variances(
                [s for s in ordered if s.block == NORMAL]
            )
        if self.events_data is not None:
            values[self.events_data] = np.array(
                [s.observed() for s in ordered if s.block == COUNT], dtype=np.int64
            )
        return values


def _horizon(name, trial: TrialModel, arm: int):
    """Latent largest observed time τ_j, non-centred: τ_j = F_τ⁻¹(u), u = sigmoid(raw).

    raw has the logistic density (u uniform), so τ_j has its exact distribution
    (:func:`resurv.statistics.notreached.largest_time_quantile`) and no density of τ_j is needed.
    """
    raw = pm.Flat(f"{name}_horizon_raw_arm{arm}")
    pm.Potential(f"{name}_horizon_logp_arm{arm}", -pt.softplus(-raw) - pt.softplus(raw))
    tau = notreached.largest_time_quantile(trial, arm, -pt.softplus(-raw))
    return pm.Deterministic(f"{name}_horizon_arm{arm}", tau)


def model_statistics(
    trial: TrialModel, reported: Sequence, horizons: dict | None = None
) -> list[ModelStatistic]:
    """The model side of each reported statistic of the normal block, in the order given.

    ``horizons`` maps an arm to the horizon τ_j of its SPSS mean (its largest observed time).
    """
    return [s.model_statistic(trial, horizons or {}) for s in reported]


def gaussian_block(
    trial: TrialModel, model_stats: Sequence[ModelStatistic], reported=None, floor=None
):
    """Mean vector and model-implied covariance matrix of the normal block.

    The diagonal gets the variance of the reporting resolution δ²/12 of each statistic
    (its kind's ``resolution``, or the width its print stands for: :func:`rounding_variances`,
    on the likelihood scale): published values are rounded, and without it the matrix is
    singular where the model variance underflows (a landmark far in the tail) or where two
    statistics are almost collinear (log-rank Z and log HR under PH). ``floor``: those
    variances as a tensor (a data container), instead of constants from ``reported``.
    """
    mean = pt.stack([s.mean for s in model_stats])
    cov = covariance_pieces(trial, model_stats)
    if floor is not None:
        return mean, cov + pt.diag(floor)
    if reported is None:
        floor = np.zeros(len(model_stats))
    else:
        floor = rounding_variances(reported)
    return mean, cov + np.diag(floor)


#: √2 as a float64 tensor (a Python float constant may be cast to float32 by PyTensor: PyMC's
#: normal_lcdf is off by ~1e−8 relative for that reason).
_SQRT2 = pt.constant(np.sqrt(2.0), dtype="float64")


def normal_lcdf(mu, sigma, x):
    """Log Φ((x − μ)/σ), accurate in the lower tail (erfcx)."""
    z = (x - mu) / sigma
    return pt.switch(
        pt.lt(z, -1.0),
        pt.log(pt.erfcx(-z / _SQRT2) / 2.0) - pt.sqr(z) / 2.0,
        pt.log1p(-pt.erfc(z / _SQRT2) / 2.0),
    )


def normal_lccdf(mu, sigma, x):
    """Log[1 − Φ((x − μ)/σ)], accurate in the upper tail."""
    return normal_lcdf(-mu, sigma, -x)


def log_diff_normal_cdf(mu, sigma, x, y):
    """Log[Φ((x − μ)/σ) − Φ((y − μ)/σ)] for x > y, stable in both tails (as PyMC's, in float64)."""
    x = (x - mu) / sigma / _SQRT2
    y = (y - mu) / sigma / _SQRT2
    return np.log(0.5) + pt.switch(
        pt.gt(y, 0),
        -pt.square(y) + pt.log(pt.erfcx(y) - pt.exp(pt.square(y) - pt.square(x)) * pt.erfcx(x)),
        pt.switch(
            pt.lt(x, 0),
            -pt.square(x)
            + pt.log(pt.erfcx(-x) - pt.exp(pt.square(x) - pt.square(y)) * pt.erfcx(-y)),
            pt.log(pt.erf(x) - pt.erf(y)),
        ),
    )


def _interval_log_probability(centre, sd, bounds, form):
    """Log P(lower ≤ X ≤ upper), X ~ N(centre, sd²); ``form`` "above"/"below": one side only."""
    if form == "above":
        return normal_lccdf(centre, sd, bounds[0])
    if form == "below":
        return normal_lcdf(centre, sd, bounds[1])
    return log_diff_normal_cdf(centre, sd, bounds[1], bounds[0])


def bounds_form(bounds) -> str:
    """The form of an interval: "interval", "above" (no upper end) or "below" (no lower end)."""
    lower, upper = bounds
    if not np.isfinite(upper):
        return "above"
    if not np.isfinite(lower):
        return "below"
    return "interval"


def normal_pieces(
    observed, mean, cov, folded_last: bool = False, last_bounds=None, last_form="interval"
):
    """Sequential pieces log p(x_k | x_<k) of the joint normal (via its Cholesky factor).

    With ``folded_last`` the last value is |x_K| and its piece mixes both signs:
    log[N(+|x_K| | x_<K) + N(−|x_K| | x_<K)].

    With ``last_bounds`` = (lo, hi) (``last_form``: :func:`bounds_form`) the last value is only
    known to lie in [lo, hi] (a printed
    p-value): its piece is log P(lo ≤ x_K ≤ hi | x_<K) = log[Φ((hi − m)/s) − Φ((lo − m)/s)],
    m = μ_K + L_{K,<K} z_<K and s = L_KK the conditional mean and SD (L the Cholesky factor,
    z_<K the standardised earlier values); folded, the interval of −x_K is added:
    log{[Φ((hi − m)/s) − Φ((lo − m)/s)] + [Φ((−lo − m)/s) − Φ((−hi − m)/s)]}.
    """
    chol = pt.linalg.cholesky(cov, lower=True)
    # diagonal as a masked row sum (avoids a graph rewrite that fails on 1 × 1 matrices)
    log_diag = pt.log(pt.sum(chol * np.eye(chol.type.shape[0] or 1), axis=1))
    const = 0.5 * np.log(2.0 * np.pi)
    z_plus = pt.linalg.solve_triangular(chol, observed - mean, lower=True)
    pieces = -0.5 * z_plus**2 - log_diag - const
    if last_bounds is not None:
        k = chol.type.shape[0]
        sd = pt.exp(log_diag[-1])
        if k == 1:
            centre = mean[-1]
        else:
            centre = mean[-1] + pt.dot(chol[-1, :-1], z_plus[:-1])
        last = _interval_log_probability(centre, sd, last_bounds, last_form)
        if folded_last:
            mirrored = (-last_bounds[1], -last_bounds[0])
            mirror_form = {"above": "below", "below": "above"}.get(last_form, last_form)
            last = pt.logaddexp(last, _interval_log_probability(centre, sd, mirrored, mirror_form))
        return pt.set_subtensor(pieces[-1], last)
    if not folded_last:
        return pieces
    flipped = pt.set_subtensor(observed[-1], -observed[-1])
    z_minus = pt.linalg.solve_triangular(chol, flipped - mean, lower=True)
    last_minus = -0.5 * z_minus[-1] ** 2 - log_diag[-1] - const
    return pt.set_subtensor(pieces[-1], pt.logaddexp(pieces[-1], last_minus))


def add_summary_likelihood(
    name: str,
    curves,
    n_per_arm,
    design: FollowUp,
    statistics: Sequence,
    observed_values: dict | None = None,
    n_nodes: int = SUMMARY_NODES,
    influence: str = "table",
) -> SummaryLikelihood:
    """Add the summary-data likelihood of one trial to the active ``pm.Model``.

    Parameters
    ----------
    name : str
        Prefix of every name added (e.g. ``"os"``).
    curves : sequence of SurvivalCurve
        Arm 0 and arm 1 curves (``log_hazard(t, xp)``, ``cum_hazard(t, xp)``; a
        ``median_months`` is used when present).
    n_per_arm : sequence of int
        Patients per arm.
    design : FollowUp
        Follow-up design A, F, ρ (its values may be random variables).
    statistics : sequence of reported statistics (:mod:`resurv.statistics.base`)
        At most one of each kind per arm; a reached and a not-reached median of the same arm
        are contradictory.
    observed_values : dict, optional
        Initial values of the data containers (``{container name: array}``); default: the values
        of ``statistics``.
    n_nodes : int
        Gauss–Legendre nodes per smooth piece of every integral.
    influence : {"table", "full"}
        Influence integrands of the log-rank Z and log HR (see :class:`TrialModel`).

    Returns
    -------
    SummaryLikelihood
        Names of the data containers and log-likelihood terms that were added.
    """
    trial = TrialModel(
        curves,
        n_per_arm,
        design,
        n_nodes=n_nodes,
        influence=influence,
    )
    ordered = _ordered(statistics)
    for s in ordered:
        for other in ordered:
            if s.conflict(other) is not None:
                raise ValueError(f"contradictory statistics: {s.label} and {other.label}")
    gaussian = [s for s in ordered if s.block == NORMAL]
    factors = [s for s in ordered if s.block == FACTOR]
    counts = [s for s in ordered if s.block == COUNT]
    result = SummaryLikelihood(
        name=name,
        structure=structure_key(statistics),
        gaussian_labels=[s.label for s in gaussian],
        observed_data=f"{name}_summary_observed" if gaussian else None,
        folded_logrank=bool(gaussian) and gaussian[-1].folded,
        last_bounds_data=(
            f"{name}_last_bounds_observed" if gaussian and _interval_last(gaussian[-1]) else None
        ),
        events_data=f"{name}_events_observed" if counts else None,
        events_arms=[s.index for s in counts],
        se_data=f"{name}_log_se_observed" if any(se_structure(s) for s in gaussian) else None,
        se_labels=[s.label for s in gaussian if se_structure(s)],
        rounding_data=(
            f"{name}_summary_rounding_variance"
            if any(s.printed_rounding() is not None for s in gaussian)
            else None
        ),
    )
    values = result.data_values(statistics)
    if observed_values:
        values.update({k: np.asarray(v) for k, v in observed_values.items()})

    horizons = {}
    for arm in sorted({s.index for s in ordered if s.needs_horizon}):
        horizons[arm] = _horizon(name, trial, arm)
        result.horizon_names[arm] = f"{name}_horizon_arm{arm}"
        result.loglik_terms.append(f"{name}_horizon_logp_arm{arm}")

    if gaussian:
        model_stats = model_statistics(trial, gaussian, horizons)
        observed = pm.Data(result.observed_data, values[result.observed_data])
        floor = rounding_variances(gaussian)
        if result.rounding_data is not None:
            floor = pm.Data(result.rounding_data, values[result.rounding_data])
        mean, cov = gaussian_block(trial, model_stats, gaussian, floor=floor)
        last_bounds = None
        if result.last_bounds_data is not None:
            last_bounds = pm.Data(result.last_bounds_data, values[result.last_bounds_data])
        pieces = normal_pieces(
            observed,
            mean,
            cov,
            folded_last=result.folded_logrank,
            last_bounds=last_bounds,
            last_form=bounds_form(gaussian[-1].observed_bounds() or (0.0, 0.0)),
        )
        result.loglik_pieces = f"{name}_summary_loglik_pieces"
        pm.Deterministic(result.loglik_pieces, pieces)
        pm.Potential(f"{name}_summary_loglik", pt.sum(pieces))
        result.loglik_terms.append(f"{name}_summary_loglik")
        if result.se_data is not None:
            se_observed = pm.Data(result.se_data, values[result.se_data])
            row = 0
            for k, s in enumerate(gaussian):
                if not se_structure(s):
                    continue
                # the model SE before the rounding floor: the diagonal of the model covariance
                variance = cov[k, k] - floor[k]
                bias, tau_squared = s.log_se_law(trial, model_stats[k], variance)
                log_model_se = 0.5 * pt.log(variance) + bias
                tau = pt.sqrt(tau_squared)
                term = f"{name}_{s.label}_se_loglik"
                form = se_structure(s)[1]
                pm.Potential(term, se_term(se_observed[row], log_model_se, tau, form))
                result.loglik_terms.append(term)
                row += 1
        for k, s in enumerate(gaussian):
            for term, value in s.observed_terms(name, trial, observed[k]):
                pm.Potential(term, value)
                result.loglik_terms.append(term)

    for s in factors:
        for term, value in s.factor_terms(name, trial, horizons):
            pm.Potential(term, value)
            result.loglik_terms.append(term)

    if counts:
        observed_counts = pm.Data(result.events_data, values[result.events_data])
        expected = pt.stack([s.expected_count(trial) for s in counts])
        pm.Poisson(f"{name}_events", mu=expected, observed=observed_counts)
        result.loglik_terms.append(f"{name}_events")

    logger.debug("summary likelihood %s: %s", name, result)
    return result
