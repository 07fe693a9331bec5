"""Posterior predictive checks of published survival statistics.

For each posterior draw θ (with its follow-up design A, F, ρ) resurv simulates one trial of the
published size (:func:`replicate_trials`) and computes on it the statistics the paper reported,
with the paper's estimators (Kaplan–Meier median and whether it is reached, SPSS-style mean ± SE,
log-rank test and its direction, landmark survival, Cox hazard ratio, event counts). Each
published value then falls somewhere in its predictive distribution; the two-sided posterior
predictive p-value (:func:`resurv.checks.ppc.two_sided_ppp`) says where (resurv statistical design,
section 5; Gelman A, Meng XL, Stern H. Statistica Sinica 1996;6:733).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from resurv.io.modelspec import ModelSpec
from resurv.io.study import Study
from resurv.models.built import PublishedValue, stacked_draws
from resurv.models.survival import curves_from_posterior, for_arms
from resurv.simulation.simulate import SimulatedTrials, simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.published.base import Estimator, printed_decimals

__all__ = [
    "DesignFn",
    "design_from_posterior",
    "fixed_design",
    "printed_decimals",
    "published_survival_values",
    "replicate_trials",
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
    curves : pair of resurv.families.Curve (one for a single-arm study)
        Reference and comparator curves, NumPy parameters of shape (R, 1) (or scalars).
    n_per_arm : pair of int (one for a single-arm study)
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


def design_from_posterior(fixed: Mapping[str, float] | None = None) -> DesignFn:
    """A :data:`DesignFn` reading the design from the posterior of a summary-data model.

    Each of ``accrual_months``, ``followup_months`` and ``dropout_rate`` is read from the
    posterior where it was sampled, and is otherwise the value in ``fixed`` (the study file's
    fixed design values; a dropout rate given nowhere is 0).
    """
    fixed = dict(fixed or {})

    def design(posterior: xr.Dataset) -> FollowUp:
        n = stacked_draws(posterior, next(iter(posterior.data_vars))).shape[0]
        values = []
        for name in ("accrual_months", "followup_months", "dropout_rate"):
            if name in posterior.data_vars:
                values.append(stacked_draws(posterior, name))
            elif name in fixed or name == "dropout_rate":
                values.append(np.full(n, float(fixed.get(name, 0.0))))
            else:
                raise KeyError(f"the posterior has no '{name}' and no fixed value was given")
        return FollowUp(*values)

    return design


# --- published values ---


@dataclass
class _Replicates:
    """Replicate trials of one posterior dataset, simulated once and shared by every row.

    All rows of one check see the same replicate trials, as in the paper, where all statistics
    come from one trial. The trials are kept for the last dataset seen (compared by identity).
    """

    spec: ModelSpec
    n_per_arm: tuple[int, ...]
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
    spec = for_arms(spec, study.n_arms)
    n_per_arm = tuple(a.n for a in sorted(study.arms, key=lambda a: a.index))
    reps = _Replicates(spec=spec, n_per_arm=n_per_arm, design=design, seed=seed)
    rows = []
    for s in study.survival_statistics(spec.endpoint):
        rows.extend(s.check_rows(study, reps, spec.endpoint))
    return rows
