"""Posterior predictive checks of published survival statistics.

For each posterior draw θ (with its follow-up design A, F, ρ) resurv simulates one trial of the
published size (:func:`replicate_trials`) and computes on it the statistics the paper reported,
with the paper's estimators (Kaplan–Meier median and whether it is reached, SPSS-style mean ± SE,
log-rank test and its direction, landmark survival, Cox hazard ratio, event counts). Each
published value then falls somewhere in its predictive distribution; the two-sided posterior
predictive p-value (:func:`resurv.checks.ppc.two_sided_ppp`) says where (resurv statistical design,
section 5; Gelman A, Meng XL, Stern H. Statistica Sinica 1996;6:733).

For patient-data fits, :func:`km_vs_predictive` compares the observed Kaplan–Meier curves with
pointwise bands of Kaplan–Meier curves of replicate trials that reuse the observed censoring
pattern (censoring times drawn from each arm's reverse Kaplan–Meier estimate).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from resurv.io.modelspec import ModelSpec
from resurv.io.study import Study
from resurv.models.built import PublishedValue, stacked_draws
from resurv.models.survival import curves_from_posterior
from resurv.simulation.simulate import SimulatedTrials, simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.km import kaplan_meier, kaplan_meier_table
from resurv.statistics.published.base import Estimator, printed_decimals

__all__ = [
    "DesignFn",
    "KMPredictiveBands",
    "design_from_posterior",
    "fixed_design",
    "km_vs_predictive",
    "printed_decimals",
    "published_survival_values",
    "replicate_trials",
    "sample_reverse_km",
]

logger = logging.getLogger(__name__)

#: ``design(posterior_dataset) -> FollowUp`` whose A, F and ρ each have shape (R,) (one per
#: posterior draw, in :func:`resurv.models.built.stacked_draws` order) or are scalars.
DesignFn = Callable[[xr.Dataset], FollowUp]

# --- replicate trials ---


def _n_draws(curves) -> int:
    """R, the number of parameter rows of a pair of curves with parameters of shape (R, 1)."""
    return max(int(np.shape(c.cum_hazard(np.ones((1, 1))))[0]) for c in curves)


def replicate_trials(curves, n_per_arm, design: FollowUp, rng) -> SimulatedTrials:
    """One simulated trial of the published size per posterior draw.

    Row r uses the curves' parameters of draw r (shape (R, 1), as
    :func:`resurv.models.survival.curves_from_posterior` returns them) and the design values of
    draw r: entry ~ U(0, A), event time T = H_j⁻¹(E), E ~ Exp(1), censoring at A + F − entry and
    by dropout at rate ρ (:func:`resurv.simulation.simulate.simulate_trials`).

    Parameters
    ----------
    curves : pair of resurv.families.Curve
        Reference and comparator curves, NumPy parameters of shape (R, 1) (or scalars).
    n_per_arm : pair of int
        Published arm sizes n₀, n₁.
    design : FollowUp
        Design values A, F, ρ, each a float (shared) or an array of shape (R,) (one per draw).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    SimulatedTrials
        R trials of n₀ + n₁ patients.
    """
    n_rows = _n_draws(curves)
    values = (design.accrual_months, design.followup_months, design.dropout_rate)
    per_draw = any(np.ndim(v) == 1 for v in values)
    n_trials = None if (per_draw and n_rows == 1) else n_rows
    inverses = [lambda h, c=c: c.inv_cum_hazard(h) for c in curves]
    return simulate_trials(rng, inverses, n_per_arm, design, n_trials)


def fixed_design(fixed: FollowUp) -> DesignFn:
    """A :data:`DesignFn` returning the same (scalar) design ``fixed`` for every draw."""
    values = (fixed.accrual_months, fixed.followup_months, fixed.dropout_rate)

    def design(posterior: xr.Dataset) -> FollowUp:
        n = stacked_draws(posterior, next(iter(posterior.data_vars))).shape[0]
        return FollowUp(*(np.full(n, float(v)) for v in values))

    return design


def design_from_posterior(dropout_rate: float = 0.0) -> DesignFn:
    """A :data:`DesignFn` reading the design from the posterior of a summary-data model.

    Reads ``accrual_months``, ``followup_months`` and, when sampled, ``dropout_rate``;
    ``dropout_rate`` here is the fixed value used when the posterior has none.
    """

    def design(posterior: xr.Dataset) -> FollowUp:
        accrual = stacked_draws(posterior, "accrual_months")
        follow = stacked_draws(posterior, "followup_months")
        if "dropout_rate" in posterior.data_vars:
            dropout = stacked_draws(posterior, "dropout_rate")
        else:
            dropout = np.full(accrual.shape, float(dropout_rate))
        return FollowUp(accrual, follow, dropout)

    return design


# --- published values ---


@dataclass
class _Replicates:
    """Replicate trials of one posterior dataset, simulated once and shared by every row.

    All rows of one check see the same replicate trials, as in the paper, where all statistics
    come from one trial. The trials are kept for the last dataset seen (compared by identity).
    """

    spec: ModelSpec
    n_per_arm: tuple[int, int]
    design: DesignFn
    seed: int
    _posterior: object = None
    _cache: dict = field(default_factory=dict)

    def _refresh(self, posterior, rng):
        if self._posterior is not posterior:
            rng = rng if rng is not None else np.random.default_rng(self.seed)
            curves = curves_from_posterior(self.spec, posterior)
            trials = replicate_trials(curves, self.n_per_arm, self.design(posterior), rng)
            self._cache = {"curves": curves, "trials": trials}
            self._posterior = posterior

    def get(self, name: str, posterior, rng=None):
        """The draws' ``curves`` or the replicate ``trials``."""
        self._refresh(posterior, rng)
        return self._cache[name]

    def estimate(self, estimator: Estimator, posterior, rng=None):
        """An estimator's result on the replicate trials (computed once per posterior)."""
        self._refresh(posterior, rng)
        key = ("estimate", estimator.name)
        if key not in self._cache:
            t = self._cache["trials"]
            self._cache[key] = estimator(t.time, t.event, t.arm)
        return self._cache[key]


def published_survival_values(
    spec: ModelSpec, study: Study, design: DesignFn, seed: int = 0
) -> list[PublishedValue]:
    """One :class:`~resurv.models.built.PublishedValue` per published statistic of an endpoint.

    Rules:

    * **Replicates.** For each posterior draw, one trial of the published size
      (:func:`replicate_trials`) with the draw's curves (``curves_from_posterior``) and design
      (``design(posterior)``). All rows share the same replicate trials (simulated once per
      posterior dataset, with the generator of the first predictive call, or a generator seeded
      by ``seed`` when a posterior counterpart is asked for first).
    * **Posterior counterpart.** The model quantity where one exists: ``median_months[arm]``
      for a median, S_j(t*) for landmark survival, ``hr`` for a HR under PH. Statistics whose
      value depends on the follow-up design (SPSS mean and its SE, the log-rank test, "not
      reached", event counts, CI limits and widths, a HR under non-PH) use the predictive
      distribution itself as their counterpart; the ``note`` says so.
    * **Predictive.** The paper's estimator on the replicate: KM median (+inf where not reached,
      so that it lies beyond every finite value, never nan), SPSS-style mean ± Greenwood SE
      (:func:`~resurv.statistics.rmean.km_restricted_mean`; a "±" declared as an SD is compared as
      SE·√n_j), landmark KM survival (nan where the replicate's follow-up of the arm ends before
      t*: the paper could not have printed it), Cox HR and exp(2·1.96·SE) for its CI ratio,
      events per arm.
    * **Median not reached.** Published value 1; predictive the indicator that the replicate's
      KM median is not reached, so ppp = 2 P(not reached) when that is below ½.
    * **Log-rank.** With a known better arm, the signed Z = sign(O₁ − E₁) Φ⁻¹(1 − p/2) (arm 1
      better ⇒ Z < 0) is compared: a replicate with the same p in the other direction is unlike
      the paper. Without it, the p-value itself (unsigned). The two-sided ppp is invariant
      under monotone transformations, so the signed Z and a one-sided p give the same check.
    * **Rounding.** ``check_value`` is set where the exact value behind the print is known
      (event counts, the not-reached indicator). Elsewhere the exact value cannot be recovered,
      so the predictive draws are rounded to the printed precision
      (:func:`printed_decimals`): a tie with the printed value then counts in both tails of the
      ppp, as for any discrete statistic (the log-rank p is rounded before conversion to Z).

    Parameters
    ----------
    spec : ModelSpec
        The survival model (its ``endpoint``, family and effect).
    study : Study
        The study with its published statistics and arm sizes.
    design : callable
        :data:`DesignFn`, e.g. :func:`design_from_posterior` for summary-data models.
    seed : int
        Seed of the fallback generator (see the replicate rule).

    Returns
    -------
    list of PublishedValue
    """
    n_per_arm = tuple(a.n for a in sorted(study.arms, key=lambda a: a.index))
    reps = _Replicates(spec=spec, n_per_arm=n_per_arm, design=design, seed=seed)
    rows = []
    for s in study.survival_statistics(spec.endpoint):
        rows.extend(s.check_rows(study, reps, spec.endpoint))
    return rows


# --- Kaplan–Meier curves against replicate bands (patient data) ---


def sample_reverse_km(rng, time, event, size) -> np.ndarray:
    """Censoring times drawn from one arm's reverse Kaplan–Meier estimate.

    The reverse KM Ĝ treats censorings as events and events as censorings (Schemper M, Smith
    TL. Control Clin Trials 1996;17:343); a censoring time is drawn by inversion,
    C = min{c_k : 1 − Ĝ(c_k) ≥ U}, U ~ U(0, 1), and C = +inf for the mass Ĝ leaves beyond the
    last censoring (no information on censoring there).
    """
    event = np.asarray(event).astype(bool)
    table = kaplan_meier_table(np.asarray(time, dtype=float), ~event)
    cdf = 1.0 - table["survival"]
    index = np.searchsorted(cdf, rng.uniform(size=size), side="left")
    return np.append(table["time"], np.inf)[index]


@dataclass(frozen=True)
class KMPredictiveBands:
    """Observed KM curves and pointwise predictive bands; arrays of shape (m, 2) per arm."""

    grid: np.ndarray
    observed: np.ndarray
    median: np.ndarray
    lower_50: np.ndarray
    upper_50: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    arm_labels: tuple[str, ...]
    n_replicates: int

    def share_outside_95(self) -> np.ndarray:
        """Per arm, the share of grid points where the observed curve leaves the 95% band."""
        outside = (self.observed < self.lower_95) | (self.observed > self.upper_95)
        return outside.mean(axis=0)


def km_vs_predictive(
    spec: ModelSpec, data, posterior, rng, grid=None, max_draws: int = 1000
) -> KMPredictiveBands:
    """Observed Kaplan–Meier curves against KM curves of replicate trials.

    Per posterior draw (thinned evenly to at most ``max_draws``), each arm's n_j event times
    are drawn from the draw's curve and n_j censoring times from the arm's reverse KM
    (:func:`sample_reverse_km`), so the replicates share the observed censoring pattern. The
    replicate KM curves on ``grid`` give pointwise 50% and 95% equal-tailed bands. Delayed
    entry is not reproduced (replicates start at time 0).

    Parameters
    ----------
    spec : ModelSpec
        The survival model of the fit.
    data : resurv.io.patient_data.PatientData
        The patient data (times in months, arms 0/1).
    posterior : xarray.Dataset or DataTree
        Posterior draws (the ``posterior`` group).
    rng : numpy.random.Generator
        Source of randomness.
    grid : array_like, optional
        Times (default: 101 points from 0 to the largest observed time).
    max_draws : int
        Largest number of replicates.

    Returns
    -------
    KMPredictiveBands
    """
    if hasattr(posterior, "posterior"):
        posterior = posterior.posterior.to_dataset()
    if getattr(data, "entry", None) is not None:
        logger.warning("delayed entry is not reproduced in the replicate trials")
    time, event = np.asarray(data.time, float), np.asarray(data.event).astype(bool)
    arm = np.asarray(data.arm).astype(int)
    grid = np.linspace(0.0, time.max(), 101) if grid is None else np.asarray(grid, float)
    n_all = stacked_draws(posterior, next(iter(posterior.data_vars))).shape[0]
    step = max(1, int(np.ceil(n_all / max_draws)))
    curves = curves_from_posterior(spec, posterior, draws=slice(None, None, step))
    n_rep = _n_draws(curves)
    cap = 10.0 * max(time.max(), grid.max())
    times, events = [], []
    for j, curve in enumerate(curves):
        n_j = int(np.sum(arm == j))
        event_time = curve.inv_cum_hazard(rng.standard_exponential((n_rep, n_j)))
        censor = sample_reverse_km(rng, time[arm == j], event[arm == j], (n_rep, n_j))
        observed = np.minimum(np.minimum(event_time, censor), cap)
        times.append(observed)
        events.append((event_time <= censor) & (event_time < cap))
    rep_arm = np.repeat([0, 1], [t.shape[1] for t in times])
    rep_km, _ = kaplan_meier(np.concatenate(times, 1), np.concatenate(events, 1), rep_arm).at(grid)
    observed_km, _ = kaplan_meier(time, event, arm).at(grid)
    q = np.quantile(rep_km, [0.025, 0.25, 0.5, 0.75, 0.975], axis=0)
    labels = tuple(getattr(data, "arm_labels", ("0", "1")))
    return KMPredictiveBands(
        grid=grid,
        observed=observed_km[0],
        median=q[2],
        lower_50=q[1],
        upper_50=q[3],
        lower_95=q[0],
        upper_95=q[4],
        arm_labels=labels,
        n_replicates=n_rep,
    )
