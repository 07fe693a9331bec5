"""Prior-data conflict per published statistic: how surprising each value is under the prior alone.

The prior predictive check (Box GEP. J R Stat Soc A 1980;143:383; Evans M, Moshonov H. Bayesian
Anal 2006;1:893) asks whether the published value is one the prior expected before the data were
seen. For each published statistic T with a predictive check (the paper's estimator on a
replicate trial of the published size, :class:`resurv.models.built.PublishedValue`), parameters
are drawn from the prior alone, one replicate trial is simulated per draw, and the published
value t is placed among the replicate values T_rep:

- a statistic with few distinct values (a count, a percentage of n patients, the indicator
  "median not reached"; at most :data:`DISCRETE_VALUES` distinct replicate values) gets Box's
  density p-value, the prior predictive probability of values no more probable than t:
  p = Σ_{v: m(v) ≤ m(t)} m(v), m the replicate frequencies;
- a continuous statistic gets the two-sided tail area p = 2 min(P(T_rep ≤ t), P(T_rep ≥ t)), as
  the posterior predictive checks (:func:`resurv.checks.ppc.two_sided_ppp`).

Unlike the power-scaling diagnosis (:mod:`resurv.checks.sensitivity`), which flags every quantity
whose posterior moves with both prior and likelihood (nearly all of them when both carry
information), this p-value is small only when the prior put little mass near what was published.
Labels: p < :data:`CONFLICT_P` "conflict"; p < :data:`TENSION_P` "tension" (the published value
lies among the least expected 15% of the prior's predictions); otherwise none. These are
conventions of the report, not significance tests: each p-value is shown beside its label.

Prior draws (:func:`prior_dataset`): for a binomial model, the response probabilities p_j from
their priors; for a survival model from published summaries, the arm-curve parameters from their
priors (robust mixtures included, :func:`resurv.io.elicit.sample_prior`) and the follow-up design
(accrual A, minimum follow-up F, dropout) from the study's design priors restricted as the model
restricts them: A + F beyond the largest published time at which a patient was observed
(rejection sampling, i.e. the prior p(A) p(F) 1{A + F > c} of
:mod:`resurv.models.summary_data`). Fits to patient data have no such table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from resurv.checks.ppc import two_sided_ppp
from resurv.io.elicit import sample_prior

__all__ = [
    "CONFLICT_P",
    "DISCRETE_VALUES",
    "FILE",
    "TENSION_P",
    "box_p",
    "label",
    "prior_dataset",
    "prior_predictive_table",
    "write_prior_predictive",
]

log = logging.getLogger(__name__)

#: Prior predictive p below this: "conflict".
CONFLICT_P = 0.05
#: Prior predictive p below this (and not below :data:`CONFLICT_P`): "tension".
TENSION_P = 0.15
#: A statistic whose replicate draws take at most this many distinct values is discrete.
DISCRETE_VALUES = 60
#: Prior draws (replicate trials) per check.
N_DRAWS = 4000
#: The file a fit folder keeps the table in.
FILE = "prior_predictive.csv"
#: Rejection-sampling rounds for the follow-up design before giving up.
_MAX_ROUNDS = 50


def box_p(draws: np.ndarray, observed: float) -> float:
    """Box's p-value of ``observed`` among discrete draws: P(m(T) ≤ m(t)), m the frequencies.

    Frequencies within two Monte Carlo standard errors of m(t), 2·√(m(t)(1 − m(t))/R), count
    as equal to it (so that a flat prior predictive, where every value is equally probable,
    gives p = 1 and not a number set by the noise of R draws). A value never drawn has
    frequency 0: p is then 0.
    """
    values, counts = np.unique(np.asarray(draws, dtype=float), return_counts=True)
    n = counts.sum()
    freq = counts / n
    at = np.isclose(values, observed, rtol=0.0, atol=1e-9)
    m_obs = float(freq[at].sum())
    if m_obs <= 0:
        return 0.0
    noise = 2.0 * np.sqrt(m_obs * (1.0 - m_obs) / n)
    return float(min(1.0, freq[freq <= m_obs + noise].sum()))


def label(p: float) -> str:
    """``conflict`` / ``tension`` / empty, from a prior predictive p-value."""
    if not np.isfinite(p):
        return ""
    if p < CONFLICT_P:
        return "conflict"
    if p < TENSION_P:
        return "tension"
    return ""


class _Recorder:
    """A :class:`resurv.models.survival.PriorDraws` that keeps every draw under its name."""

    def __init__(self, priors, n_draws: int, rng: np.random.Generator):
        from resurv.models.survival import PriorDraws

        self._source = PriorDraws(priors, n_draws, rng)
        self.xp = np
        self.drawn: dict[str, np.ndarray] = {}

    def prior(self, name: str, prior: str) -> np.ndarray:
        values = self._source.prior(name, prior)
        self.drawn[name] = values[:, 0]
        return values

    def standard_normal(self, name: str, size: int, *, pinned: int = 0) -> np.ndarray:
        values = self._source.standard_normal(name, size, pinned=pinned)
        self.drawn[name] = values[:, 0, :]
        return values

    def deterministic(self, name: str, compute) -> np.ndarray:
        return compute()


def _largest_observed_time(study, endpoint: str) -> float | None:
    reached = [
        t for s in study.survival_statistics(endpoint) if (t := s.observed_event_time()) is not None
    ]
    return max(reached) if reached else None


def _design_draws(study, endpoint: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Accrual, minimum follow-up and dropout drawn from the study's design priors.

    Restricted to A + F > c (c the largest published time at which a patient was observed) by
    rejection; fixed values are repeated.
    """
    priors = study.followup_priors
    c = _largest_observed_time(study, endpoint)
    names = [n_ for n_ in ("accrual_months", "followup_months", "dropout_rate") if n_ in priors]
    kept: dict[str, list[np.ndarray]] = {name: [] for name in names}
    have = 0
    for _ in range(_MAX_ROUNDS):
        batch = {}
        for name in names:
            spec = priors[name]
            if spec.dist == "fixed":
                batch[name] = np.full(n, float(spec.args["value"]))
            else:
                batch[name] = sample_prior(spec, n, rng)
        ok = np.ones(n, dtype=bool)
        if c is not None and "accrual_months" in batch and "followup_months" in batch:
            ok = batch["accrual_months"] + batch["followup_months"] > c
        for name in names:
            kept[name].append(batch[name][ok])
        have += int(ok.sum())
        if have >= n:
            break
    else:
        raise ValueError("the design priors almost never reach beyond the published times")
    return {name: np.concatenate(v)[:n] for name, v in kept.items()}


def prior_dataset(spec, priors, study, n_draws: int, rng: np.random.Generator):
    """Draws from the prior alone, named as a fit's posterior (one chain), or None.

    None for models without a prior predictive check here (fits to patient data).
    """
    endpoint = spec.endpoint
    if spec.likelihood == "binomial":
        from resurv.models.binomial import PARAMETERS

        chosen = priors.for_endpoint(endpoint)
        p = np.stack(
            [sample_prior(chosen[name], n_draws, rng) for name in PARAMETERS[: study.n_arms]],
            axis=-1,
        )
        return xr.Dataset({"p": (("chain", "draw", "arm"), p[None])})
    if study.has_patient_data(endpoint) or study.km_curves_of(endpoint):
        return None
    from resurv.models.survival import ArmCurves, chosen_priors, for_arms

    spec = for_arms(spec, study.n_arms)
    recorder = _Recorder(chosen_priors(spec, priors), n_draws, rng)
    ArmCurves(spec).curves(recorder)
    data = {
        name: (("chain", "draw") + tuple(f"{name}_dim_{i}" for i in range(v.ndim - 1)), v[None])
        for name, v in recorder.drawn.items()
    }
    for name, values in _design_draws(study, endpoint, n_draws, rng).items():
        data[name] = (("chain", "draw"), values[None])
    return xr.Dataset(data)


def prior_predictive_table(
    built, spec, priors, study, *, seed: int = 0, n_draws: int = N_DRAWS
) -> pd.DataFrame:
    """One row per published statistic with a predictive check: its prior predictive p-value.

    Columns: ``statistic``, ``arm``, ``published`` (as printed), ``checked`` (the exact value
    compared, where the print is rounded), ``prior_predictive_p``, ``method`` ("density" or
    "tail"), ``prior_conflict`` (:func:`label`), ``prior_median`` (of the replicate statistic).
    Empty for models without prior draws (:func:`prior_dataset`).
    """
    columns = [
        "statistic",
        "arm",
        "published",
        "checked",
        "prior_predictive_p",
        "method",
        "prior_conflict",
        "prior_median",
    ]
    rng = np.random.default_rng(seed)
    data = prior_dataset(spec, priors, study, n_draws, rng)
    if data is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for pv in built.published:
        if pv.predictive is None:
            continue
        draws = np.asarray(pv.predictive(data, rng), dtype=float).ravel()
        draws = draws[~np.isnan(draws)]
        if draws.size == 0:
            continue
        observed = pv.observed_for_check
        discrete = np.unique(draws).size <= DISCRETE_VALUES
        p = box_p(draws, observed) if discrete else two_sided_ppp(draws, observed)
        finite = draws[np.isfinite(draws)]
        rows.append(
            {
                "statistic": pv.statistic,
                "arm": pv.arm,
                "published": pv.published,
                "checked": observed,
                "prior_predictive_p": p,
                "method": "density" if discrete else "tail",
                "prior_conflict": label(p),
                "prior_median": float(np.median(finite)) if finite.size else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def write_prior_predictive(built, spec, priors, study, folder: Path, seed: int = 0) -> Path:
    """Write :data:`FILE` into a fit's folder (an empty table when there is no check)."""
    path = Path(folder) / FILE
    try:
        table = prior_predictive_table(built, spec, priors, study, seed=seed)
    except (KeyError, ValueError) as exc:
        log.warning("no prior predictive check for %s: %s", Path(folder).name, exc)
        table = pd.DataFrame()
    table.to_csv(path, index=False, float_format="%.6g")
    return path
