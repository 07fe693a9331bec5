"""Survival models: parameters from priors, arm curves, derived quantities, IPD likelihood.

Parameters (prior-file names, per endpoint table):

- ``median_reference`` (months) and the family's shapes (``shape``, ``sdlog``, ``rate_shape``,
  ``sigma``, ``q``), shared by both arms under ``ph`` and ``aft``;
- ``log_hr`` (``ph``: h₁(t) = HR·h₀(t)) or ``log_tr`` (``aft``: S₁(t) = S₀(t/TR));
- ``separate``: ``median_comparator`` and a second, independent copy of each shape (same prior);
- piecewise exponential: log λⱼ = log(ln 2 / median_reference) + δⱼ with δ a random walk over
  intervals (δ₁ = 0, δⱼ − δⱼ₋₁ ~ N(0, rw_sd²); ``smoothing = "random_walk"``) or independent
  deviations (δⱼ ~ N(0, rw_sd²); ``"independent"``); ``median_reference`` is then the median of
  the first interval's exponential rate.

Derived quantities in every fit (dims ``arm``, ``horizon``, ``landmark``): ``median_months``,
``rmst_months``, ``survival_at``, and ``log_hr``/``hr`` (PH), ``log_tr``/``time_ratio`` (AFT), or
``median_difference``/``rmst_difference`` (separate).

IPD likelihood (resurv statistical design, section 2): for patient i with time tᵢ, event δᵢ and
entry aᵢ, ℓᵢ = δᵢ log h(tᵢ) − H(tᵢ) + H(aᵢ), from the closed-form log-hazard and cumulative
hazard (never log(1 − CDF)); stored pointwise for LOO.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from resurv.errors import ModelSpecError, StudyValidationError
from resurv.families import FAMILIES, Curve
from resurv.io.modelspec import ModelSpec
from resurv.io.priors import PriorFile, make_prior, structure_key
from resurv.io.study import Study
from resurv.models.built import BuiltModel, stacked_draws

__all__ = [
    "SURVIVAL_VOCABULARY",
    "SurvivalParameters",
    "add_survival_parameters",
    "build_survival_ipd",
    "build_survival_patients",
    "curves_from_posterior",
    "required_parameters",
]

SHAPES = ("shape", "sdlog", "rate_shape", "sigma", "q")
SURVIVAL_VOCABULARY = [
    "median_reference",
    "median_comparator",
    "log_hr",
    "log_tr",
    *SHAPES,
    "rw_sd",
]


def _shape_names(spec: ModelSpec) -> list[str]:
    fam = FAMILIES[spec.family]
    return [p for p in fam.parameter_names if p not in ("median", "log_rate")]


def required_parameters(spec: ModelSpec) -> list[str]:
    """The prior-file parameters a survival model needs."""
    names = ["median_reference"]
    names += ["rw_sd"] if spec.family == "pwexp" else _shape_names(spec)
    names += {"ph": ["log_hr"], "aft": ["log_tr"], "separate": ["median_comparator"]}[spec.effect]
    return names


@dataclass
class SurvivalParameters:
    """The two arm curves of a survival model, with their parameters as tensors."""

    reference: Curve
    comparator: Curve
    free: list[str]

    @property
    def curves(self) -> tuple[Curve, Curve]:
        """(reference, comparator)."""
        return self.reference, self.comparator


def _pwexp_log_rates(spec: ModelSpec, median, rw_sd, suffix: str):
    n_intervals = len(spec.cuts) + 1
    level = math.log(math.log(2.0)) - pt.log(median)
    if spec.smoothing == "random_walk":
        steps = pm.Normal(f"log_rate_steps{suffix}", 0.0, 1.0, shape=n_intervals - 1)
        deviation = pt.concatenate([pt.zeros(1), pt.cumsum(rw_sd * steps)])
    else:
        steps = pm.Normal(f"log_rate_deviations{suffix}", 0.0, 1.0, shape=n_intervals)
        deviation = rw_sd * steps
    return pm.Deterministic(f"log_rate{suffix}", level + deviation)


def _arm_params(spec: ModelSpec, priors: dict, suffix: str, median_name: str):
    median = make_prior(median_name, priors[median_name])
    if spec.family == "pwexp":
        rw_sd = priors["rw_sd"]
        sd = make_prior(f"rw_sd{suffix}", rw_sd)
        return {"log_rate": _pwexp_log_rates(spec, median, sd, suffix), "cuts": list(spec.cuts)}
    params = {"median": median}
    for name in _shape_names(spec):
        params[name] = make_prior(f"{name}{suffix}", priors[name])
    return params


def add_survival_parameters(spec: ModelSpec, priors: dict) -> SurvivalParameters:
    """Create the parameters and arm curves of ``spec`` in the active model."""
    if spec.effect == "separate":
        p0 = _arm_params(spec, priors, "_reference", "median_reference")
        p1 = _arm_params(spec, priors, "_comparator", "median_comparator")
        return SurvivalParameters(Curve(spec.family, p0), Curve(spec.family, p1), [])
    p0 = _arm_params(spec, priors, "", "median_reference")
    if spec.effect == "ph":
        log_hr = make_prior("log_hr", priors["log_hr"])
        comparator = Curve(spec.family, p0, effect="ph", log_hr=log_hr)
    else:
        log_tr = make_prior("log_tr", priors["log_tr"])
        comparator = Curve(spec.family, p0, effect="aft", log_tr=log_tr)
    return SurvivalParameters(Curve(spec.family, p0), comparator, [])


def add_derived(spec: ModelSpec, params: SurvivalParameters) -> tuple[list[str], dict]:
    """Deterministic per-arm summaries and effects; returns (summary names, probabilities)."""
    c0, c1 = params.curves
    try:
        medians = pt.stack([c0.median_months(xp=pt), c1.median_months(xp=pt)])
    except NotImplementedError as exc:
        raise ModelSpecError(
            spec.path, "effect", f"'{spec.effect}' with family '{spec.family}': {exc}"
        ) from None
    pm.Deterministic("median_months", medians, dims="arm")
    horizons = list(spec.rmst_horizons)
    rmst = pt.stack([pt.stack([c.rmst(tau, xp=pt) for tau in horizons]) for c in (c0, c1)])
    pm.Deterministic("rmst_months", rmst, dims=("arm", "horizon"))
    landmarks = pt.as_tensor_variable(np.asarray(spec.landmarks, dtype=float))
    surv = pt.stack([c0.survival(landmarks, xp=pt), c1.survival(landmarks, xp=pt)])
    pm.Deterministic("survival_at", surv, dims=("arm", "landmark"))
    names = ["median_months", "rmst_months", "survival_at"]
    probabilities = {}
    if spec.effect == "ph":
        pm.Deterministic("hr", pt.exp(c1.log_hr))
        names += ["log_hr", "hr"]
        probabilities["P(HR < 1)"] = lambda post: stacked_draws(post, "hr") < 1
        probabilities["P(HR < 0.7)"] = lambda post: stacked_draws(post, "hr") < 0.7
    elif spec.effect == "aft":
        pm.Deterministic("time_ratio", pt.exp(c1.log_tr))
        names += ["log_tr", "time_ratio"]
        probabilities["P(time ratio > 1)"] = lambda post: stacked_draws(post, "time_ratio") > 1
    else:
        pm.Deterministic("median_difference", medians[1] - medians[0])
        pm.Deterministic("rmst_difference", rmst[1] - rmst[0], dims="horizon")
        names += ["median_difference", "rmst_difference"]
    probabilities["P(median comparator > reference)"] = lambda post: (
        stacked_draws(post, "median_months")[:, 1] > stacked_draws(post, "median_months")[:, 0]
    )
    names += [n for n in _free_names(spec) if n not in names]
    return names, probabilities


def _free_names(spec: ModelSpec) -> list[str]:
    if spec.family == "pwexp":
        return []
    if spec.effect == "separate":
        return [f"{s}_{arm}" for s in _shape_names(spec) for arm in ("reference", "comparator")]
    return _shape_names(spec)


def coords_for(spec: ModelSpec, arm_labels) -> dict:
    """Coordinates shared by every survival model."""
    return {
        "arm": list(arm_labels),
        "horizon": [float(h) for h in spec.rmst_horizons],
        "landmark": [float(t) for t in spec.landmarks],
    }


def chosen_priors(spec: ModelSpec, priors: PriorFile) -> dict:
    """The prior specs this survival model needs, validated against the prior file."""
    priors.check_known(spec.endpoint, SURVIVAL_VOCABULARY, spec.name)
    return priors.require(spec.endpoint, required_parameters(spec), spec.name)


def _ipd_logp(value, log_h, cum_h, cum_h_entry, event):
    """ℓᵢ = δᵢ log h(tᵢ) − H(tᵢ) + H(aᵢ) (``value`` is tᵢ, already inside log_h and cum_h)."""
    return event * log_h - cum_h + cum_h_entry


def build_survival_ipd(spec: ModelSpec, priors: PriorFile, study: Study) -> BuiltModel:
    """Parametric survival model of ``spec.endpoint`` from the study's patient data."""
    from resurv.io.patient_data import load_ipd_for

    data = load_ipd_for(study, spec.endpoint)
    if data is None:
        raise StudyValidationError(
            study.path, "ipd", f"no patient data for endpoint '{spec.endpoint}'"
        )
    return build_survival_patients(spec, priors, data, [a.label for a in study.arms])


def build_survival_patients(spec: ModelSpec, priors: PriorFile, data, arm_labels) -> BuiltModel:
    """Parametric survival model from validated patient data (``PatientData``).

    The compile key depends on the number of patients and on delayed entry, not on the values,
    so trials of the same size reuse one compiled model.
    """
    chosen = chosen_priors(spec, priors)
    coords = coords_for(spec, arm_labels)
    coords["patient"] = np.arange(data.time.size)
    with pm.Model(coords=coords) as model:
        time = pm.Data("time", data.time, dims="patient")
        event = pm.Data("event", np.asarray(data.event, dtype=float), dims="patient")
        arm = pm.Data("arm_index", np.asarray(data.arm, dtype=float), dims="patient")
        params = add_survival_parameters(spec, chosen)
        c0, c1 = params.curves
        is_comparator = pt.eq(arm, 1.0)
        log_h = pt.where(is_comparator, c1.log_hazard(time, xp=pt), c0.log_hazard(time, xp=pt))
        cum_h = pt.where(is_comparator, c1.cum_hazard(time, xp=pt), c0.cum_hazard(time, xp=pt))
        if data.entry is not None:
            entry = pm.Data("entry", data.entry, dims="patient")
            cum_entry = pt.where(
                is_comparator, c1.cum_hazard(entry, xp=pt), c0.cum_hazard(entry, xp=pt)
            )
        else:
            cum_entry = pt.zeros_like(time)
        pm.CustomDist(
            "survival_ipd",
            log_h,
            cum_h,
            cum_entry,
            event,
            logp=_ipd_logp,
            observed=time,
            dims="patient",
        )
        names, probabilities = add_derived(spec, params)
    key_text = f"ipd|{spec.key}|{structure_key(chosen)}|{data.time.size}|{data.entry is not None}"
    return BuiltModel(
        model=model,
        key=hashlib.sha256(key_text.encode()).hexdigest()[:16],
        likelihood_terms=["survival_ipd"],
        target_accept=spec.target_accept,
        summary_vars=names,
        probabilities=probabilities,
    )


def curves_from_posterior(spec: ModelSpec, posterior, draws: slice | None = None):
    """NumPy arm curves with one row per posterior draw: parameters of shape (R, 1).

    The curves broadcast against times of shape (R, n) (one simulated trial per draw), as the
    trial simulator and the predictive checks need.
    """

    def col(name):
        values = stacked_draws(posterior, name)
        values = values if draws is None else values[draws]
        return values[:, None] if values.ndim == 1 else values[:, None, :]

    def arm_params(suffix: str, median_name: str):
        if spec.family == "pwexp":
            return {"log_rate": col(f"log_rate{suffix}"), "cuts": list(spec.cuts)}
        params = {"median": col(median_name)}
        params.update({s: col(f"{s}{suffix}") for s in _shape_names(spec)})
        return params

    if spec.effect == "separate":
        return (
            Curve(spec.family, arm_params("_reference", "median_reference")),
            Curve(spec.family, arm_params("_comparator", "median_comparator")),
        )
    p0 = arm_params("", "median_reference")
    if spec.effect == "ph":
        return Curve(spec.family, p0), Curve(spec.family, p0, effect="ph", log_hr=col("log_hr"))
    return Curve(spec.family, p0), Curve(spec.family, p0, effect="aft", log_tr=col("log_tr"))
