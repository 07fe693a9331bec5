"""The summary-data likelihood: one joint normal over a trial's published statistics.

Resurv statistical design, section 4. The reported statistics of one trial that are
asymptotically normal (log KM medians, SPSS-style means, the log-rank Z, landmark survival,
log HR) are modelled as ONE multivariate normal with mean x(θ) (each statistic's model value)
and covariance

    Cov(X, Y) = Σ_j ∫ a_j^X(u) a_j^Y(u) π_j(u) h_j(u) du,   π_j = n_j S_j G,

the model-implied one (never a reported SE). "Median not reached" (T2) is its own factor; the
arm's largest observed time τ_j, the horizon of T2 and of an SPSS-style mean (T3), is latent with
its exact density; a log-rank test without a reported direction is folded (mixture of both
signs); event counts are Poisson.

Data containers (stable names; swap values with ``pm.set_data`` or nutpie's
``compiled.with_data`` without recompiling, see :meth:`SummaryLikelihood.data_values`):

- ``{name}_summary_observed``: float vector of the normal block, in the order of
  ``SummaryLikelihood.gaussian_labels`` (log median, mean in months, Z — signed, or |Z| when
  folded —, survival probability, log HR; the log-rank Z is always last);
- ``{name}_events_observed``: integer vector of event counts, arms as in ``events_arms``.

Added model terms: latent ``{name}_horizon_raw_arm{j}`` (flat, with its logistic density as
potential ``{name}_horizon_logp_arm{j}``) and deterministic ``{name}_horizon_arm{j}`` =
F_τ⁻¹(sigmoid(raw)), the largest observed time sampled non-centred;
potential ``{name}_summary_loglik`` (the joint normal) with its sequential pieces
log p(x_k | x_<k) stored as deterministic ``{name}_summary_loglik_pieces`` (for power-scaling
by statistic; the last piece is the log-rank one); potentials ``{name}_not_reached_arm{j}``;
observed Poisson ``{name}_events``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from resurv.statistics import hr, landmark, logrank, median, notreached, rmean
from resurv.statistics.base import (
    SUMMARY_NODES,
    EventCount,
    HazardRatio,
    Landmark,
    LogRank,
    MedianNotReached,
    MedianReached,
    ModelStatistic,
    RestrictedMean,
    TrialModel,
    covariance_pieces,
)
from resurv.statistics.events import expected_events

__all__ = [
    "REPORTING_RESOLUTION",
    "SummaryLikelihood",
    "add_summary_likelihood",
    "model_statistics",
    "structure_key",
]

logger = logging.getLogger(__name__)

_GAUSSIAN = (MedianReached, RestrictedMean, Landmark, HazardRatio, LogRank)
#: Resolution of published values on the likelihood scale: log median and log HR to 0.1%
#: (relative), mean to 0.01 month, survival to 0.001, Z to 0.001.
REPORTING_RESOLUTION = {
    MedianReached: 1e-3,
    HazardRatio: 1e-3,
    RestrictedMean: 1e-2,
    Landmark: 1e-3,
    LogRank: 1e-3,
}


def structure_key(statistics: Sequence) -> tuple:
    """What fixes the model graph: statistic kinds, arms, landmark times, log-rank folding.

    Two sets of statistics with the same key share one compiled model (only data differ).
    """
    key = []
    for s in _ordered(statistics):
        if isinstance(s, Landmark):
            key.append(("Landmark", s.arm, float(s.t_months)))
        elif isinstance(s, LogRank):
            key.append(("LogRank", s.folded))
        elif isinstance(s, HazardRatio):
            key.append(("HazardRatio",))
        else:
            key.append((type(s).__name__, s.arm))
    return tuple(key)


def _ordered(statistics):
    """Normal-block statistics first (log-rank last), then T2 and event counts."""
    gaussian = [s for s in statistics if isinstance(s, _GAUSSIAN) and not isinstance(s, LogRank)]
    gaussian += [s for s in statistics if isinstance(s, LogRank)]
    rest = [s for s in statistics if not isinstance(s, _GAUSSIAN)]
    return gaussian + sorted(rest, key=lambda s: (type(s).__name__, s.arm))


@dataclass
class SummaryLikelihood:
    """What :func:`add_summary_likelihood` added to the model (names of data and terms)."""

    name: str
    structure: tuple
    gaussian_labels: list[str] = field(default_factory=list)
    observed_data: str | None = None
    folded_logrank: bool = False
    events_data: str | None = None
    events_arms: list[int] = field(default_factory=list)
    horizon_names: dict[int, str] = field(default_factory=dict)
    loglik_terms: list[str] = field(default_factory=list)
    loglik_pieces: str | None = None

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
                [s.observed() for s in ordered if isinstance(s, _GAUSSIAN)], dtype=float
            )
        if self.events_data is not None:
            values[self.events_data] = np.array(
                [s.events for s in ordered if isinstance(s, EventCount)], dtype=np.int64
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
    return [_model_statistic(trial, s, horizons or {}) for s in reported]


def _model_statistic(trial, s, horizons) -> ModelStatistic:
    if isinstance(s, MedianReached):
        return median.model_statistic(trial, s)
    if isinstance(s, RestrictedMean):
        return rmean.model_statistic(trial, s, horizons[s.arm])
    if isinstance(s, Landmark):
        return landmark.model_statistic(trial, s)
    if isinstance(s, HazardRatio):
        return hr.model_statistic(trial, s)
    return logrank.model_statistic(trial, s)


def gaussian_block(trial: TrialModel, model_stats: Sequence[ModelStatistic], reported=None):
    """Mean vector and model-implied covariance matrix of the normal block.

    The diagonal gets the variance of the reporting resolution δ²/12 of each statistic
    (:data:`REPORTING_RESOLUTION`, on the likelihood scale): published values are rounded, and
    without it the matrix is singular where the model variance underflows (a landmark far in the
    tail) or where two statistics are almost collinear (log-rank Z and log HR under PH).
    """
    mean = pt.stack([s.mean for s in model_stats])
    cov = covariance_pieces(trial, model_stats)
    if reported is None:
        floor = np.zeros(len(model_stats))
    else:
        floor = np.array([REPORTING_RESOLUTION[type(s)] ** 2 / 12.0 for s in reported])
    return mean, cov + np.diag(floor)


def normal_pieces(observed, mean, cov, folded_last: bool = False):
    """Sequential pieces log p(x_k | x_<k) of the joint normal (via its Cholesky factor).

    With ``folded_last`` the last value is |x_K| and its piece mixes both signs:
    log[N(+|x_K| | x_<K) + N(−|x_K| | x_<K)].
    """
    chol = pt.linalg.cholesky(cov, lower=True)
    # diagonal as a masked row sum (avoids a graph rewrite that fails on 1 × 1 matrices)
    log_diag = pt.log(pt.sum(chol * np.eye(chol.type.shape[0] or 1), axis=1))
    const = 0.5 * np.log(2.0 * np.pi)
    z_plus = pt.linalg.solve_triangular(chol, observed - mean, lower=True)
    pieces = -0.5 * z_plus**2 - log_diag - const
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
    accrual_months,
    followup_months,
    dropout_rate,
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
    accrual_months, followup_months, dropout_rate : float or tensor
        Follow-up design A, F, ρ (may be random variables).
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
        accrual_months,
        followup_months,
        dropout_rate,
        n_nodes=n_nodes,
        influence=influence,
    )
    ordered = _ordered(statistics)
    arms_with_median = {s.arm for s in ordered if isinstance(s, MedianReached)}
    not_reached = [s for s in ordered if isinstance(s, MedianNotReached)]
    if arms_with_median & {s.arm for s in not_reached}:
        raise ValueError("an arm cannot report both a reached and a not-reached median")
    gaussian = [s for s in ordered if isinstance(s, _GAUSSIAN)]
    events = [s for s in ordered if isinstance(s, EventCount)]
    result = SummaryLikelihood(
        name=name,
        structure=structure_key(statistics),
        gaussian_labels=[s.label for s in gaussian],
        observed_data=f"{name}_summary_observed" if gaussian else None,
        folded_logrank=bool(gaussian) and isinstance(gaussian[-1], LogRank) and gaussian[-1].folded,
        events_data=f"{name}_events_observed" if events else None,
        events_arms=[s.arm for s in events],
    )
    values = result.data_values(statistics)
    if observed_values:
        values.update({k: np.asarray(v) for k, v in observed_values.items()})

    horizon_arms = sorted(
        {s.arm for s in ordered if isinstance(s, MedianNotReached | RestrictedMean)}
    )
    horizons = {}
    for arm in horizon_arms:
        horizons[arm] = _horizon(name, trial, arm)
        result.horizon_names[arm] = f"{name}_horizon_arm{arm}"
        result.loglik_terms.append(f"{name}_horizon_logp_arm{arm}")

    if gaussian:
        model_stats = model_statistics(trial, gaussian, horizons)
        observed = pm.Data(result.observed_data, values[result.observed_data])
        mean, cov = gaussian_block(trial, model_stats, gaussian)
        pieces = normal_pieces(observed, mean, cov, folded_last=result.folded_logrank)
        result.loglik_pieces = f"{name}_summary_loglik_pieces"
        pm.Deterministic(result.loglik_pieces, pieces)
        pm.Potential(f"{name}_summary_loglik", pt.sum(pieces))
        result.loglik_terms.append(f"{name}_summary_loglik")
        for k, s in enumerate(gaussian):
            if isinstance(s, MedianReached):
                term = f"{name}_median_support_arm{s.arm}"
                pm.Potential(term, median.log_support_factor(trial, s.arm, pt.exp(observed[k])))
                result.loglik_terms.append(term)

    for s in not_reached:
        term = f"{name}_not_reached_arm{s.arm}"
        pm.Potential(term, notreached.log_not_reached_factor(trial, s.arm, horizons[s.arm]))
        result.loglik_terms.append(term)

    if events:
        counts = pm.Data(result.events_data, values[result.events_data])
        expected = pt.stack([expected_events(trial, arm) for arm in result.events_arms])
        pm.Poisson(f"{name}_events", mu=expected, observed=counts)
        result.loglik_terms.append(f"{name}_events")

    logger.debug("summary likelihood %s: %s", name, result)
    return result
