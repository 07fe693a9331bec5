"""Scripting entry points: build a model from files, fit it, write its results.

>>> from resurv.api import fit_files
>>> result = fit_files("models/response.toml", "data/studies/nmc2020_sirt_prrt.toml",
...                    "priors/vague.toml", seed=1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from resurv.inference.fit import Fitter, SamplerSettings
from resurv.inference.results import (
    FitResult,
    make_result,
    provenance,
    write_fit,
    write_posterior,
)
from resurv.io.auto_priors import AutoPriors, derive_auto_priors, is_auto
from resurv.io.modelspec import ModelSpec, load_model_spec
from resurv.io.priors import PriorFile, load_priors
from resurv.io.study import Study, load_study
from resurv.models.binomial import build_binomial
from resurv.models.built import BuiltModel
from resurv.models.survival import build_survival_ipd

__all__ = ["BUILDERS", "build", "fit_files", "load_data", "resolve_priors"]

log = logging.getLogger(__name__)

Builder = Callable[[ModelSpec, PriorFile, Study], BuiltModel]


def _build_survival(spec: ModelSpec, priors: PriorFile, study: Study) -> BuiltModel:
    """Patient data when the study has them for this endpoint, else its published summaries.

    Patient data are a file, or reconstructed from digitized curves.
    """
    if study.has_patient_data(spec.endpoint):
        return build_survival_ipd(spec, priors, study)
    from resurv.models.summary_data import build_survival_summary

    return build_survival_summary(spec, priors, study)


BUILDERS: dict[str, Builder] = {"binomial": build_binomial, "survival": _build_survival}


def load_data(path: str | Path, **csv_options) -> Study:
    """A study file (TOML) or an individual-patient-data CSV, as a :class:`Study`.

    ``csv_options`` (``time``, ``event``, ``arm``, ``entry`` column names, ``time_unit``,
    ``reference_arm``) apply to a CSV only.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        from resurv.io.patient_data import study_from_csv

        return study_from_csv(path, **csv_options)
    return load_study(path)


def build(spec: ModelSpec, priors: PriorFile, study: Study) -> BuiltModel:
    """Assemble the PyMC model for ``spec`` from its priors and data."""
    built = BUILDERS[spec.likelihood](spec, priors, study)
    built.min_draws = spec.draws
    return built


def resolve_priors(
    prior_file: str | Path | None, study: Study, spec: ModelSpec
) -> tuple[PriorFile, AutoPriors | None]:
    """The prior file named, or for ``auto`` (or None) the set derived from ``study``.

    The derived set (:mod:`resurv.io.auto_priors`) covers the study's endpoints and, for a
    survival model, the model's endpoint; it is returned too, for the fit's provenance.
    """
    if not is_auto(prior_file):
        return load_priors(prior_file), None
    endpoints = [spec.endpoint] if spec.likelihood == "survival" else []
    auto = derive_auto_priors(study, endpoints)
    log.info("priors derived from study '%s': %s", study.id, auto.prior_file.description)
    return auto.prior_file, auto


def fit_files(
    model_file: str | Path,
    data_file: str | Path,
    prior_file: str | Path | None,
    *,
    seed: int = 1,
    settings: SamplerSettings | None = None,
    fitter: Fitter | None = None,
    out_dir: str | Path | None = None,
    command: str | None = None,
    csv_options: dict | None = None,
) -> FitResult:
    """Fit a model file to a data file under a prior file; optionally write the results.

    ``prior_file`` ``"auto"`` (or None) derives a weakly informative set from the study
    (:func:`resolve_priors`); with ``out_dir`` it is written there as ``priors_auto.toml`` and
    its text and derivation go into the provenance.

    With ``out_dir``, ``posterior.nc`` is written as soon as sampling ends, before the predictive
    checks and tables are computed (then written again with the predictive groups, beside the
    tables): a failure after sampling never loses the draws.
    """
    spec = load_model_spec(model_file)
    if is_auto(prior_file):
        study = load_data(data_file, **(csv_options or {}))
        priors, auto = resolve_priors(prior_file, study, spec)
    else:
        priors, auto = load_priors(prior_file), None
        study = load_data(data_file, **(csv_options or {}))
    built = build(spec, priors, study)
    attrs = None
    if out_dir is not None:
        attrs = provenance(
            model_file=str(model_file),
            prior_file=str(prior_file),
            data_file=str(data_file),
            seed=seed,
            command=command,
        )
        if auto is not None:
            attrs.update(auto.provenance())
    fitter = fitter or Fitter(settings or SamplerSettings())
    tree = fitter.sample(built, seed=seed)
    if out_dir is not None:
        write_posterior(tree, out_dir, attrs)
    result = make_result(built, tree, seed, diagnose_as=(spec.family, spec.effect))
    if out_dir is not None:
        write_fit(result, out_dir, attrs)
        if auto is not None:
            auto.write(out_dir)
    return result
