"""Response and toxicity: a binomial model per arm with sourced priors.

r_j ~ Binomial(n_j, p_j), p_j ~ prior from the prior file (``p_reference``, ``p_comparator``).
Reported: p_j, p₁ − p₀, the odds ratio p₁(1−p₀)/(p₀(1−p₁)) and P(p₁ > p₀), beside the exact
Clopper–Pearson intervals and Fisher's exact test (Clopper CJ, Pearson ES. Biometrika
1934;26:404; Fisher RA 1935). A single-arm study has p₀ (``p_reference``) alone, its
Clopper–Pearson interval, and nothing between arms.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

from resurv.errors import StudyValidationError
from resurv.io.modelspec import ModelSpec
from resurv.io.priors import PriorFile, make_prior, structure_key
from resurv.io.study import Study
from resurv.models.built import BuiltModel, PublishedValue, stacked_draws
from resurv.models.inventory import binomial_usage

__all__ = ["PARAMETERS", "build_binomial", "frequentist_binary"]

PARAMETERS = ["p_reference", "p_comparator"]


def frequentist_binary(events: list[int], n: list[int], arm_labels: list[str]) -> list[dict]:
    """Per-arm proportions with exact 95% intervals, and Fisher's exact test between two arms."""
    rows = []
    for r, m, label in zip(events, n, arm_labels, strict=True):
        ci = stats.binomtest(r, m).proportion_ci(confidence_level=0.95, method="exact")
        rows.append(
            {
                "statistic": "proportion",
                "arm": label,
                "estimate": r / m,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "method": "Clopper-Pearson exact 95% CI",
            }
        )
    if len(events) == 1:
        return rows
    table = [[events[1], n[1] - events[1]], [events[0], n[0] - events[0]]]
    odds, p = stats.fisher_exact(table)
    rows.append(
        {
            "statistic": "odds_ratio",
            "arm": "between arms",
            "estimate": odds,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "method": f"Fisher's exact test, two-sided p = {p:.4g}",
            "p_value": p,
        }
    )
    return rows


def build_binomial(spec: ModelSpec, priors: PriorFile, study: Study) -> BuiltModel:
    """Binomial model of one binary endpoint of ``study``."""
    outcomes = study.binary_outcomes(spec.endpoint)
    if len(outcomes) != study.n_arms:
        arms = "both arms" if study.n_arms == 2 else "its arm"
        raise StudyValidationError(
            study.path,
            "binary",
            f"model '{spec.name}' needs counts for endpoint '{spec.endpoint}' in {arms}; "
            f"found {len(outcomes)}",
        )
    parameters = PARAMETERS[: study.n_arms]
    priors.check_known(spec.endpoint, PARAMETERS, spec.name)
    chosen = priors.require(spec.endpoint, parameters, spec.name)
    labels = [study.arm(o.arm).label for o in outcomes]
    events = np.array([o.events for o in outcomes], dtype=float)
    n = np.array([o.n for o in outcomes], dtype=float)
    with pm.Model(coords={"arm": labels}) as model:
        n_data = pm.Data("n", n, dims="arm")
        events_data = pm.Data("events", events, dims="arm")
        arm_p = [make_prior(name, chosen[name]) for name in parameters]
        p = pm.Deterministic("p", pt.stack(arm_p), dims="arm")
        pm.Binomial("events_observed", n=n_data, p=p, observed=events_data, dims="arm")
        if study.n_arms == 2:
            p0, p1 = arm_p
            pm.Deterministic("p_difference", p1 - p0)
            pm.Deterministic("odds_ratio", p1 * (1 - p0) / (p0 * (1 - p1)))
    key = hashlib.sha256(f"binomial|{spec.key}|{structure_key(chosen)}".encode()).hexdigest()[:16]

    published = []
    for j, o in enumerate(outcomes):
        pct = o.published_percent if o.published_percent is not None else 100 * o.events / o.n
        published.append(
            PublishedValue(
                statistic=f"{spec.endpoint}_percent",
                arm=labels[j],
                published=pct,
                posterior=lambda post, j=j: 100 * stacked_draws(post, "p")[:, j],
                predictive=lambda post, rng, j=j, m=o.n: _replicate_percent(post, rng, j, m),
                note=f"{o.events}/{o.n}",
                check_value=100 * o.events / o.n,
            )
        )
    return BuiltModel(
        model=model,
        key=key,
        published=published,
        likelihood_terms=["events_observed"],
        target_accept=spec.target_accept,
        summary_vars=["p", "p_difference", "odds_ratio"] if study.n_arms == 2 else ["p"],
        probabilities=_between_arms(study.n_arms),
        frequentist=frequentist_binary([int(v) for v in events], [int(v) for v in n], labels),
        usage=binomial_usage(study, spec.endpoint),
    )


def _between_arms(n_arms: int) -> dict:
    """Posterior probabilities comparing the arms (none for a single arm)."""
    if n_arms == 1:
        return {}
    return {
        "P(p_comparator > p_reference)": lambda post: (
            stacked_draws(post, "p")[:, 1] > stacked_draws(post, "p")[:, 0]
        ),
    }


def _replicate_percent(post, rng: np.random.Generator, arm: int, n: int) -> np.ndarray:
    """Percent responders in a replicate arm of ``n`` patients, one per posterior draw.

    The comparison uses the exact fraction 100·r/n (the paper's one-decimal truncation changes
    no tail probability, since each count maps to one printed value).
    """
    p = stacked_draws(post, "p")[:, arm]
    return 100 * rng.binomial(n, p) / n
