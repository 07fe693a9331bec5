"""Survival models: parameters from priors, arm curves, derived quantities, IPD likelihood.

Parameters (prior-file names, per endpoint table):

- ``median_reference`` (months) and the family's shapes (``shape``, ``sdlog``, ``rate_shape``,
  ``sigma``, ``q``), shared by both arms under ``ph`` and ``aft``;
- ``log_hr`` (``ph``: h₁(t) = HR·h₀(t)) or ``log_tr`` (``aft``: S₁(t) = S₀(t/TR));
- ``separate``: ``median_comparator`` and a second, independent copy of each shape (same prior);
- a single-arm study: ``median_reference`` and the shapes of its one arm, whatever the model
  file's effect (there is no second arm for it to act on: :func:`for_arms`);
- piecewise exponential: log λⱼ = log(ln 2 / median_reference) + δⱼ with δ a random walk over
  intervals (δ₁ = 0, δⱼ − δⱼ₋₁ ~ N(0, rw_sd²); ``smoothing = "random_walk"``) or independent
  deviations (δⱼ ~ N(0, rw_sd²); ``"independent"``); ``median_reference`` is then the median of
  the first interval's exponential rate.

Each family declares what its arms need beside the median (``Family.parametrization``: the
shapes, or pwexp's intervals, smoothing and ``rw_sd``); :class:`ArmCurves` adds the arm
structure of the effect and turns a model spec into the (reference, comparator) curves from a
parameter source: random variables of a PyMC model (:class:`PyMCPriors`), posterior draws
(:class:`PosteriorDraws`) or prior draws (:class:`PriorDraws`). The prior-file parameters a
model needs and the free parameters its summary lists come from the same declaration.

Derived quantities in every fit (dims ``arm``, ``horizon``, ``landmark``): ``median_months``,
``rmst_months``, ``survival_at``, and ``log_hr``/``hr`` (PH), ``log_tr``/``time_ratio`` (AFT), or
``median_difference``/``rmst_difference`` (separate); a single-arm model has no between-arm
quantity.

IPD likelihood (resurv statistical design, section 2): for patient i with time tᵢ, event δᵢ and
entry aᵢ, ℓᵢ = δᵢ log h(tᵢ) − H(tᵢ) + H(aᵢ), from the closed-form log-hazard and cumulative
hazard (never log(1 − CDF)); stored pointwise for LOO.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from resurv.errors import ModelSpecError, StudyValidationError
from resurv.families import FAMILIES, Curve, Family, ParameterSource, Parametrization
from resurv.io.elicit import sample_prior
from resurv.io.modelspec import ModelSpec
from resurv.io.priors import PriorFile, PriorSpec, make_prior, structure_key
from resurv.io.study import Study
from resurv.models.built import BuiltModel, stacked_draws

__all__ = [
    "SURVIVAL_VOCABULARY",
    "ArmCurves",
    "PosteriorDraws",
    "PriorDraws",
    "PyMCPriors",
    "SurvivalParameters",
    "add_survival_parameters",
    "build_survival_ipd",
    "build_survival_patients",
    "curves_from_posterior",
    "for_arms",
    "required_parameters",
]

#: the effect parameter of the comparator arm under each shared-baseline effect
EFFECT_PARAMETERS = {"ph": "log_hr", "aft": "log_tr"}
#: (name suffix, median prior) of each arm under ``separate``
SEPARATE_ARMS = (("_reference", "median_reference"), ("_comparator", "median_comparator"))
#: The arm structure of a model of a single-arm study (no arm effect: one arm's parameters)
ONE_ARM = "one_arm"


def for_arms(spec: ModelSpec, n_arms: int) -> ModelSpec:
    """The model file's spec as fitted to a study of ``n_arms`` arms.

    With two arms the spec is unchanged. With one arm the model file's effect (``ph``, ``aft``,
    ``separate``) has no second arm to act on: the spec's effect becomes :data:`ONE_ARM`, whose
    model has the one arm's parameters only (and a compile key of its own). Every builder, the
    predictive checks, the calibration and the report take the spec through this function, so
    the single-arm structure is decided here once.
    """
    if spec.likelihood != "survival" or n_arms == 2 or spec.effect == ONE_ARM:
        return spec
    if n_arms != 1:
        raise ValueError(f"a study has one or two arms; got {n_arms}")
    return dataclasses.replace(spec, effect=ONE_ARM)


SURVIVAL_VOCABULARY = [
    "median_reference",
    "median_comparator",
    *EFFECT_PARAMETERS.values(),
    *dict.fromkeys(p for fam in FAMILIES.values() for p in fam.parametrization.arm_priors),
]


class PyMCPriors:
    """Parameter source: random variables of the active PyMC model, with the given priors.

    ``priors`` maps prior-file parameters to their specs (:func:`chosen_priors`).
    """

    xp = pt

    def __init__(self, priors: Mapping[str, PriorSpec]):
        self.priors = priors

    def prior(self, name: str, prior: str):
        """The random variable ``name`` (``resurv.io.priors.make_prior``)."""
        return make_prior(name, self.priors[prior])

    def standard_normal(self, name: str, size: int, *, pinned: int = 0):
        """The random variable ``name`` ~ N(0, 1) of shape (size,)."""
        return pm.Normal(name, 0.0, 1.0, shape=size)

    def deterministic(self, name: str, compute):
        """The deterministic ``name``, recorded in the trace."""
        return pm.Deterministic(name, compute())


class PosteriorDraws:
    """Parameter source: the draws of a posterior (or prior) dataset, one row per draw.

    Scalars have shape (R, 1) and vectors (R, 1, k), so that curves broadcast against times of
    shape (R, n); ``draws`` selects rows of the (chain, draw)-stacked draws. A derived quantity
    is read where the dataset holds it, else computed from the parameters.
    """

    xp = np

    def __init__(self, posterior, draws: slice | None = None):
        self.posterior = posterior
        self.draws = draws

    def _column(self, name: str) -> np.ndarray:
        values = stacked_draws(self.posterior, name)
        values = values if self.draws is None else values[self.draws]
        return values[:, None] if values.ndim == 1 else values[:, None, :]

    def prior(self, name: str, prior: str) -> np.ndarray:
        """The draws of ``name``."""
        return self._column(name)

    def standard_normal(self, name: str, size: int, *, pinned: int = 0) -> np.ndarray:
        """The draws of ``name``."""
        return self._column(name)

    def deterministic(self, name: str, compute) -> np.ndarray:
        """The stored draws of ``name``, or ``compute()`` where the dataset lacks them."""
        return self._column(name) if name in self.posterior else compute()


class PriorDraws:
    """Parameter source: ``n_draws`` draws from the prior specs with a NumPy generator.

    Shapes as for :class:`PosteriorDraws`. The generator is used in the order the parameters
    are created (robust mixtures: :func:`resurv.io.elicit.sample_prior`).
    """

    xp = np

    def __init__(self, priors: Mapping[str, PriorSpec], n_draws: int, rng: np.random.Generator):
        self.priors = priors
        self.n_draws = n_draws
        self.rng = rng

    def prior(self, name: str, prior: str) -> np.ndarray:
        """``n_draws`` draws of the prior ``prior``, shape (n_draws, 1)."""
        return sample_prior(self.priors[prior], self.n_draws, self.rng)[:, None]

    def standard_normal(self, name: str, size: int, *, pinned: int = 0) -> np.ndarray:
        """Standard normals of shape (n_draws, 1, size), the ``pinned`` ones drawn and dropped."""
        return self.rng.standard_normal((self.n_draws, pinned + size))[:, None, pinned:]

    def deterministic(self, name: str, compute) -> np.ndarray:
        """``compute()``."""
        return compute()


@dataclass(frozen=True)
class ArmCurves:
    """The arm curves of a survival model (two, or one for a single-arm study), from any source.

    The arm structure is the model's effect: under :data:`ONE_ARM` (a single-arm study, see
    :func:`for_arms`) the one arm has the parameters ``median_reference`` and the family's own,
    unsuffixed; under ``ph`` and ``aft`` both arms share the
    reference arm's parameters (median ``median_reference``) and the comparator adds ``log_hr``
    or ``log_tr``; under ``separate`` each arm has its own copy (median ``median_reference`` or
    ``median_comparator``, every other name suffixed ``_reference`` or ``_comparator``). Within an
    arm, the family's ``parametrization`` declares the parameters beside the median
    (``resurv.families.parametrization``). Parameters are created reference arm first, the
    effect parameter last: the order of the PyMC variables and of the prior draws.
    """

    spec: ModelSpec

    @property
    def family(self) -> Family:
        """The model's family."""
        return FAMILIES[self.spec.family]

    @property
    def parametrization(self) -> Parametrization:
        """The family's prior structure."""
        return self.family.parametrization

    @property
    def required_parameters(self) -> list[str]:
        """The prior-file parameters the model needs, in order."""
        names = ["median_reference", *self.parametrization.arm_priors]
        if self.spec.effect == ONE_ARM:
            return names
        if self.spec.effect == "separate":
            return [*names, "median_comparator"]
        return [*names, EFFECT_PARAMETERS[self.spec.effect]]

    @property
    def summarized(self) -> list[str]:
        """The family's free parameters a fit's summary lists (per arm under ``separate``)."""
        names = self.parametrization.summarized
        if self.spec.effect == "separate":
            return [f"{n}{suffix}" for n in names for suffix, _ in SEPARATE_ARMS]
        return list(names)

    @property
    def n_arms(self) -> int:
        """Number of arm curves: 1 under :data:`ONE_ARM`, else 2."""
        return 1 if self.spec.effect == ONE_ARM else 2

    def curves(self, source: ParameterSource) -> tuple[Curve, ...]:
        """(reference, comparator), or (the one arm,), with parameters from ``source``."""
        fam, effect = self.family, self.spec.effect
        if effect == ONE_ARM:
            return (Curve(fam, self._arm(source, "", "median_reference")),)
        if effect == "separate":
            reference, comparator = (self._arm(source, *arm) for arm in SEPARATE_ARMS)
            return Curve(fam, reference), Curve(fam, comparator)
        params = self._arm(source, "", "median_reference")
        name = EFFECT_PARAMETERS[effect]
        value = source.prior(name, name)
        return Curve(fam, params), Curve(fam, params, effect=effect, **{name: value})

    def _arm(self, source: ParameterSource, suffix: str, median_prior: str) -> Mapping:
        median = source.prior(median_prior, median_prior)
        return self.parametrization.arm_params(source, self.spec, median, suffix)

    def in_model(self, priors: Mapping[str, PriorSpec]) -> SurvivalParameters:
        """Create the parameters and curves in the active PyMC model."""
        return SurvivalParameters(self.curves(PyMCPriors(priors)), [])

    def from_posterior(self, posterior, draws: slice | None = None) -> tuple[Curve, ...]:
        """NumPy curves, one row per (selected) draw of ``posterior``."""
        return self.curves(PosteriorDraws(posterior, draws))

    def from_prior(
        self, priors: Mapping[str, PriorSpec], n_draws: int, rng: np.random.Generator
    ) -> tuple[Curve, ...]:
        """NumPy curves, one row per draw from ``priors``."""
        return self.curves(PriorDraws(priors, n_draws, rng))


def required_parameters(spec: ModelSpec) -> list[str]:
    """The prior-file parameters a survival model needs."""
    return ArmCurves(spec).required_parameters


@dataclass
class SurvivalParameters:
    """The arm curves of a survival model (reference first), with parameters as tensors."""

    curves: tuple[Curve, ...]
    free: list[str]

    @property
    def reference(self) -> Curve:
        """The reference arm's curve (the only arm of a single-arm study)."""
        return self.curves[0]

    @property
    def comparator(self) -> Curve:
        """The comparator arm's curve (a two-arm model only)."""
        if len(self.curves) < 2:
            raise AttributeError("a single-arm model has no comparator arm")
        return self.curves[1]


def add_survival_parameters(spec: ModelSpec, priors: dict) -> SurvivalParameters:
    """Create the parameters and arm curves of ``spec`` in the active model."""
    return ArmCurves(spec).in_model(priors)


def add_derived(spec: ModelSpec, params: SurvivalParameters) -> tuple[list[str], dict]:
    """Deterministic per-arm summaries and effects; returns (summary names, probabilities).

    A single-arm model (:data:`ONE_ARM`) has the per-arm summaries of its one arm and no effect.
    """
    curves = params.curves
    try:
        medians = pt.stack([c.median_months(xp=pt) for c in curves])
    except NotImplementedError as exc:
        raise ModelSpecError(
            spec.path, "effect", f"'{spec.effect}' with family '{spec.family}': {exc}"
        ) from None
    pm.Deterministic("median_months", medians, dims="arm")
    horizons = list(spec.rmst_horizons)
    rmst = pt.stack([pt.stack([c.rmst(tau, xp=pt) for tau in horizons]) for c in curves])
    pm.Deterministic("rmst_months", rmst, dims=("arm", "horizon"))
    landmarks = pt.as_tensor_variable(np.asarray(spec.landmarks, dtype=float))
    surv = pt.stack([c.survival(landmarks, xp=pt) for c in curves])
    pm.Deterministic("survival_at", surv, dims=("arm", "landmark"))
    names = ["median_months", "rmst_months", "survival_at"]
    probabilities = {}
    if spec.effect == ONE_ARM:
        names += [n for n in ArmCurves(spec).summarized if n not in names]
        return names, probabilities
    c1 = curves[1]
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
    names += [n for n in ArmCurves(spec).summarized if n not in names]
    return names, probabilities


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
    from resurv.models.inventory import patient_data_usage

    spec = for_arms(spec, study.n_arms)
    built = build_survival_patients(spec, priors, data, [a.label for a in study.arms])
    reconstructions = None
    if study.km_curves_of(spec.endpoint):
        from resurv.io.patient_data import reconstruct_study_curves

        reconstructions = reconstruct_study_curves(study, spec.endpoint)
    built.usage = patient_data_usage(study, spec.endpoint, data, reconstructions)
    return built


def build_survival_patients(spec: ModelSpec, priors: PriorFile, data, arm_labels) -> BuiltModel:
    """Parametric survival model from validated patient data (``PatientData``).

    The compile key depends on the number of patients and on delayed entry, not on the values,
    so trials of the same size reuse one compiled model. Data of one arm give the single-arm
    model (:func:`for_arms`).
    """
    spec = for_arms(spec, len(arm_labels))
    chosen = chosen_priors(spec, priors)
    coords = coords_for(spec, arm_labels)
    coords["patient"] = np.arange(data.time.size)
    with pm.Model(coords=coords) as model:
        time = pm.Data("time", data.time, dims="patient")
        event = pm.Data("event", np.asarray(data.event, dtype=float), dims="patient")
        if len(arm_labels) == 2:
            arm = pm.Data("arm_index", np.asarray(data.arm, dtype=float), dims="patient")
        params = add_survival_parameters(spec, chosen)

        def by_arm(values):
            """Each patient's value from their arm's curve."""
            if len(values) == 1:
                return values[0]
            return pt.where(pt.eq(arm, 1.0), values[1], values[0])

        log_h = by_arm([c.log_hazard(time, xp=pt) for c in params.curves])
        cum_h = by_arm([c.cum_hazard(time, xp=pt) for c in params.curves])
        background = spec.background  # relative survival: the family is the excess hazard
        if background is not None:
            log_h, cum_h = background.add_to(log_h, cum_h, time, xp=pt)
        if data.entry is not None:
            entry = pm.Data("entry", data.entry, dims="patient")
            cum_entry = by_arm([c.cum_hazard(entry, xp=pt) for c in params.curves])
            if background is not None:
                cum_entry = cum_entry + background.cum_hazard(entry, xp=pt)
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
    return ArmCurves(spec).from_posterior(posterior, draws)
