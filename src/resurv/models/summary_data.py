"""Survival models fitted to a study's published summaries alone.

The published survival statistics of one endpoint (medians, "median not reached", SPSS-style
means, log-rank p, landmark survival, HR, event counts) enter one joint summary likelihood
(:func:`resurv.statistics.likelihood.add_summary_likelihood`; resurv statistical design, section 4),
with the follow-up design (accrual A, minimum follow-up F, dropout ρ) given the priors stated in
the study file (section 3). Arm curves, parameters and derived quantities are those of every
survival model (:mod:`resurv.models.survival`); expected event counts per arm are added.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from resurv.checks.ppc_survival import design_from_posterior, published_survival_values
from resurv.errors import ModelSpecError, StudyValidationError
from resurv.io.modelspec import ModelSpec
from resurv.io.priors import (
    PriorFile,
    make_prior,
    make_truncated_prior,
    prior_dist,
    structure_key,
)
from resurv.io.study import Study
from resurv.models.built import BuiltModel
from resurv.models.inventory import summary_usage
from resurv.models.survival import (
    add_derived,
    add_survival_parameters,
    chosen_priors,
    coords_for,
    for_arms,
)
from resurv.statistics.base import SUMMARY_NODES, TrialModel
from resurv.statistics.events import expected_events
from resurv.statistics.followup import FollowUp
from resurv.statistics.likelihood import add_summary_likelihood
from resurv.statistics.likelihood import structure_key as statistics_key

__all__ = ["DESIGN_VARIABLES", "build_survival_summary", "reported_statistics"]

DESIGN_VARIABLES = ("accrual_months", "followup_months", "dropout_rate")
TARGET_ACCEPT = 0.97
#: Potential carrying log P(A + F > largest reported median) (see :func:`_design`).
DESIGN_REGION_TERM = "design__follow_up_beyond_medians"


def reported_statistics(study: Study, endpoint: str) -> list:
    """The study's published statistics of ``endpoint``: the records the likelihood takes."""
    return study.survival_statistics(endpoint)


def _design(study: Study, spec: ModelSpec, statistics: list) -> FollowUp:
    """Follow-up design values: random variables with the study's priors, or fixed numbers.

    A reached median is the time of an observed event (a statistic's ``observed_event_time``),
    so the end of follow-up A + F lies beyond the largest reported median c: the design prior
    is restricted to A + F > c. The last random design variable (F, else A) is sampled from its
    prior truncated at c minus the other, with the probability of the region, log P(F > c − A),
    as potential :data:`DESIGN_REGION_TERM` (kept with the log prior): together they give the
    prior p(A) p(F) 1{A + F > c}, and the sampler meets no wall at A + F = c.

    When F's prior is bounded above (F ≤ F_max, a uniform prior) and c − F_max lies above the
    lower end of A's prior, accrual below c − F_max leaves F no room: such an A is reached by the
    sampler and its log density is −inf there (a wall, reported as divergent transitions). A is
    then truncated first, at c − F_max, and log P(A > c − F_max) joins the region term: the prior
    is still p(A) p(F) 1{A + F > c} (:func:`_accrual_truncated`).
    """
    if "accrual_months" not in study.followup_priors or (
        "followup_months" not in study.followup_priors
    ):
        raise StudyValidationError(
            study.path,
            "followup",
            f"model '{spec.name}' fits published summaries, which depend on follow-up: give "
            "accrual_months and followup_months (a value or a prior) in [followup]",
        )
    reached = [t for s in statistics if (t := s.observed_event_time()) is not None]
    random = [
        n for n in ("accrual_months", "followup_months") if study.followup_priors[n].dist != "fixed"
    ]
    truncated = random[-1] if reached and random else None
    if reached and not random:
        total = sum(
            float(study.followup_priors[n].args["value"])
            for n in ("accrual_months", "followup_months")
        )
        if total <= max(reached):
            raise StudyValidationError(
                study.path,
                "followup",
                f"accrual_months + followup_months = {total:g} months, but '{spec.endpoint}' "
                f"reports a patient observed at {max(reached):g} months (a reached median, a "
                "number at risk or a follow-up time): follow-up must extend beyond it",
            )
    design = {}
    for name in DESIGN_VARIABLES:  # fixed values first: a truncation bound may need them
        prior = study.followup_priors.get(name)
        if prior is None:
            design[name] = pt.as_tensor_variable(0.0)
        elif prior.dist == "fixed":
            design[name] = pm.Data(f"design__{name}", float(prior.args["value"]))
    accrual_bound = _accrual_truncated(study, spec, reached) if truncated else None
    through_median = _median_followup_for_design(study, statistics)
    log_regions = []
    for name in DESIGN_VARIABLES:
        prior = study.followup_priors.get(name)
        if name in design:
            continue
        if name == "followup_months" and through_median is not None:
            arms = [a for a in study.arms if through_median.arm in (None, a.id)]
            design[name] = _followup_through_median(
                prior, design["accrual_months"], through_median, reached, sum(a.n for a in arms)
            )
            if log_regions:
                pm.Potential(DESIGN_REGION_TERM, sum(log_regions[1:], log_regions[0]))
        elif name == truncated:
            largest = pm.Data("design__largest_reached_median", float(max(reached)))
            other = design["accrual_months" if name == "followup_months" else "followup_months"]
            design[name], log_region = make_truncated_prior(name, prior, largest - other)
            log_regions.append(log_region)
            pm.Potential(DESIGN_REGION_TERM, sum(log_regions[1:], log_regions[0]))
        elif name == "accrual_months" and accrual_bound is not None:
            bound = pm.Data("design__accrual_lower_bound", accrual_bound)
            design[name], log_region = make_truncated_prior(name, prior, bound)
            log_regions.append(log_region)
        else:
            design[name] = make_prior(name, prior)
    return FollowUp(**design)


#: Potential carrying the minimum follow-up's prior density and the Jacobian of its
#: parametrization through the median follow-up (see :func:`_followup_through_median`).
FOLLOWUP_PRIOR_TERM = "design__followup_prior_through_median"
#: The latent coordinate of the minimum follow-up in that parametrization.
FOLLOWUP_LATENT = "design__followup_latent"
#: Potentials that belong to the prior (kept with the log prior, not the likelihood).
PRIOR_TERMS = (DESIGN_REGION_TERM, FOLLOWUP_PRIOR_TERM)


def _median_followup_for_design(study: Study, statistics: list):
    """The reverse-KM median follow-up that parametrizes F, or None when it does not apply.

    It applies when the study prints one median follow-up of the reverse Kaplan–Meier kind,
    accrual and minimum follow-up are random (neither a robust mixture) and dropout is 0 (absent
    or fixed at 0): the median of the potential follow-up is then m = F + A/2.
    """
    from resurv.statistics.published.median_followup import MedianFollowUp

    printed = [s for s in statistics if isinstance(s, MedianFollowUp)]
    if len(printed) != 1 or printed[0].method != "reverse_km":
        return None
    priors = study.followup_priors
    if any(priors[n].dist in ("fixed", "robust") for n in ("accrual_months", "followup_months")):
        return None
    dropout = priors.get("dropout_rate")
    if dropout is not None and not (dropout.dist == "fixed" and dropout.args["value"] == 0):
        return None
    return printed[0]


def _followup_through_median(prior, accrual, printed, reached, group_size):
    """Minimum follow-up F = M − A/2, M the model median follow-up sampled non-centred.

    With everyone followed about the same time the printed median follow-up v pins
    m = F + A/2 within SD(log m̂) ≈ √(A²/(4 N v²) + r) (the reverse-KM median's first-order SD
    with no deaths, N the group's size, and r the printed rounding's variance), 0.003 at A = 1
    against 0.05 at A = 23 on the Rossi study: a ridge in (A, F) whose width changes
    twentyfold along it, a funnel for the sampler. Here F is a deterministic function of A and a
    latent z scaled by that width:

        M = lo + (hi − lo) σ(t),  t = logit((v′ − lo)/(hi − lo)) + k z,

    lo = max(F_low + A/2, c − A/2) and hi = F_high + A/2 the limits F's prior support and the
    largest observed time c put on M (A + F > c), v′ the printed value kept inside them, and k
    chosen so that dM/dz = v s at z = 0 (s the width above): the printed value pins z to about
    ±1 whatever A. The map z ↦ F is a smooth bijection onto F's allowed interval, and the
    potential :data:`FOLLOWUP_PRIOR_TERM` = log p_F(F) + log |dF/dz| keeps the prior exactly
    p(A) p(F) 1{A + F > c}: the posterior is the same, only its coordinates change. An unbounded
    support (hi = ∞) uses log(M − lo) = log(v′ − lo) + k z instead.
    """
    distribution, args = prior_dist("followup_months", prior)
    if prior.dist == "uniform":
        f_low, f_high = args["lower"], args["upper"]
    else:
        f_low, f_high = (float(v) for v in prior.scipy_frozen().support())
    value = pm.Data("design__median_followup_centre", float(printed.value))
    largest = pm.Data("design__largest_reached_median", float(max(reached)))
    lo = pt.maximum(f_low + accrual / 2.0, largest - accrual / 2.0)
    width = pt.sqrt(printed.rounding_variance() + accrual**2 / (4.0 * group_size * value**2))
    z = pm.Flat(FOLLOWUP_LATENT)
    if not isinstance(f_high, float) or np.isfinite(f_high):
        hi = f_high + accrual / 2.0
        span = hi - lo
        fraction = pt.clip((value - lo) / span, 0.01, 0.99)
        slope = value * width / (span * fraction * (1.0 - fraction))
        t = pt.log(fraction) - pt.log1p(-fraction) + slope * z
        median = lo + span * pt.sigmoid(t)
        log_jacobian = pt.log(span) - pt.softplus(-t) - pt.softplus(t) + pt.log(slope)
    else:
        gap = pt.maximum(value - lo, 0.01 * value)
        slope = value * width / gap
        median = lo + gap * pt.exp(slope * z)
        log_jacobian = pt.log(gap) + slope * z + pt.log(slope)
    followup = pm.Deterministic("followup_months", median - accrual / 2.0)
    log_prior = pm.logp(distribution, followup)
    pm.Potential(FOLLOWUP_PRIOR_TERM, log_prior + log_jacobian)
    return followup


def _accrual_truncated(study: Study, spec: ModelSpec, reached: list[float]) -> float | None:
    """The lower bound c − F_max of accrual when it binds (else None); refuses an empty region.

    With both A and F random, F's prior bounded above by F_max (a uniform prior) and c the
    largest observed time: follow-up extends beyond c only if A > c − F_max. When that bound
    lies above the lower end of A's prior, A's prior is truncated there (:func:`_design`); when
    A's prior cannot reach it, no design is possible and the study is refused.
    """
    priors = study.followup_priors
    if any(priors[n].dist in ("fixed", "robust") for n in ("accrual_months", "followup_months")):
        return None
    low_a, high_a = (float(v) for v in priors["accrual_months"].scipy_frozen().support())
    high_f = float(priors["followup_months"].scipy_frozen().support()[1])
    bound = max(reached) - high_f
    if not np.isfinite(high_f) or bound <= low_a:
        return None
    if bound >= high_a:
        raise StudyValidationError(
            study.path,
            "followup",
            f"accrual_months can be at most {high_a:g} and followup_months at most "
            f"{high_f:g} months, but '{spec.endpoint}' reports a patient observed at "
            f"{max(reached):g} months (a reached median, a number at risk or a follow-up time): "
            "follow-up must be able to extend beyond it",
        )
    return float(bound)


def build_survival_summary(
    spec: ModelSpec, priors: PriorFile, study: Study, *, n_nodes: int = SUMMARY_NODES
) -> BuiltModel:
    """Survival model of ``spec.endpoint`` from the study's published summaries.

    ``n_nodes``: Gauss–Legendre nodes per smooth piece of every integral of the likelihood.
    A single-arm study gives the model of its one arm (:func:`resurv.models.survival.for_arms`).
    """
    spec = for_arms(spec, study.n_arms)
    if spec.background is not None:
        raise ModelSpecError(
            spec.path,
            "background_times",
            "a background hazard needs patient data; the published-summary likelihood "
            f"of endpoint '{spec.endpoint}' has no relative-survival form",
        )
    statistics = reported_statistics(study, spec.endpoint)
    if not statistics:
        raise StudyValidationError(
            study.path,
            "survival",
            f"no published statistics and no patient data for endpoint '{spec.endpoint}'",
        )
    chosen = chosen_priors(spec, priors)
    n_per_arm = [a.n for a in study.arms]
    with pm.Model(coords=coords_for(spec, [a.label for a in study.arms])) as model:
        design = _design(study, spec, statistics)
        params = add_survival_parameters(spec, chosen)
        added = add_summary_likelihood(
            spec.endpoint,
            params.curves,
            n_per_arm,
            design,
            statistics,
            n_nodes=n_nodes,
        )
        names, probabilities = add_derived(spec, params)
        trial = TrialModel(
            params.curves,
            n_per_arm,
            design,
            n_nodes=n_nodes,
        )
        pm.Deterministic(
            "expected_events",
            pt.stack([expected_events(trial, j) for j in range(study.n_arms)]),
            dims="arm",
        )
        potentials = {p.name for p in model.potentials}
        loglik = []
        for term in [DESIGN_REGION_TERM, FOLLOWUP_PRIOR_TERM, *added.loglik_terms]:
            if term in potentials:
                pm.Deterministic(f"loglik__{term}", model[term])
                loglik.append(term)
    observed = {v.name for v in model.observed_RVs}
    names += ["expected_events"]
    sampled = {r.name for r in model.free_RVs} | {d.name for d in model.deterministics}
    names += [v for v in DESIGN_VARIABLES if v in sampled]
    design_structure = sorted((k, v.structure) for k, v in study.followup_priors.items())
    key_text = (
        f"summary|{spec.key}|{structure_key(chosen)}|{statistics_key(statistics)}|"
        f"{design_structure}|{n_per_arm}"
    )
    if "design__accrual_lower_bound" in model.named_vars:
        key_text += "|accrual truncated"
    if FOLLOWUP_LATENT in model.named_vars:
        key_text += "|followup through median"
    built = BuiltModel(
        model=model,
        key=hashlib.sha256(key_text.encode()).hexdigest()[:16],
        likelihood_terms=[t for t in added.loglik_terms if t in observed],
        potential_terms=[t for t in loglik if t not in PRIOR_TERMS],
        prior_potential_terms=[t for t in loglik if t in PRIOR_TERMS],
        summary_vars=names,
        probabilities=probabilities,
        # the model-implied variance of a reached median grows without bound as the median
        # approaches the end of follow-up (A + F): a sharp ridge that NUTS crosses with small steps
        target_accept=max(TARGET_ACCEPT, spec.target_accept or 0.0),
    )
    built.published = _published(spec, study)
    built.usage = summary_usage(study, spec.endpoint)
    return built


def _published(spec: ModelSpec, study: Study) -> list:
    """Published-vs-posterior rows with predictive checks (resurv.checks.ppc_survival)."""
    fixed = {
        k: float(v.args["value"]) for k, v in study.followup_priors.items() if v.dist == "fixed"
    }
    return published_survival_values(spec, study, design_from_posterior(fixed))
