"""Sweeps: studies × models × prior files, compiled once per model structure, resumable.

A plan file (TOML) lists what to fit::

    name = "nmc2020_sirt_prrt"
    title = "Sensitivity analysis"   # optional: the report's title (default "Bayesian re-analysis")
    studies = ["data/studies/nmc2020_sirt_prrt.toml"]
    models = [
      "models/response.toml",
      "models/os_weibull_ph.toml",
      { path = "models/os_lognormal.toml", priors = ["literature"] },  # only these prior files
      { path = "models/os_exponential.toml", studies = ["nmc2020_sirt_prrt"] },  # these studies
    ]
    priors = ["priors/vague.toml", "priors/literature.toml", "auto"]   # "auto": derived per study
    seed = 20201242
    [sampler]
    draws = 2000
    tune = 1000
    chains = 4

    [[grid]]                  # optional, repeatable: one prior's argument over a grid of values
    endpoint = "os"
    parameter = "log_hr"
    argument = "sigma"        # any argument; for a robust mixture "weight", "inf_sigma", ...
    values = [0.1, 0.2, 0.5, 1.0]
    priors = ["literature"]   # optional: prior-file names it applies to (default: every file)

    [digitization]            # optional: fits on digitized Kaplan–Meier curves ([[km_curve]])
    perturbations = 8         # K refits on perturbed digitizations (0: none; else at least 2)
    time_sd = 0.003           # time error: SD as a fraction of each curve's last time
    survival_sd = 0.004       # survival error: SD on the survival axis (0–1)

Each grid setting is a run of every model that has the parameter, under each prior file that has
it: the same compiled model with the prior's ``pm.Data`` value swapped (no recompilation).

The prior entry ``"auto"`` is the weakly informative set derived from each study
(:mod:`resurv.io.auto_priors`; name ``auto``): each of its runs records the derived file in its
provenance and writes it as ``priors_auto.toml`` in its folder.

Paths are relative to the plan file's folder's parent when they do not exist relative to the
current directory. Each run (study, model, prior file, seed) is written to
``DIR/fits/<study>__<model>__<priors>/`` with a ``run.json`` holding the hash of its inputs; a
rerun whose hash matches is reused, so an interrupted sweep resumes where it stopped.
The tidy table of every run's key quantities is ``DIR/sweep.csv`` (and ``sweep.nc``): one row per
(run, quantity) with the posterior median, 95% equal-tailed (``ci_low``, ``ci_high``) and
highest-density (``hdi_low``, ``hdi_high``) intervals, mean and SD, R-hat, bulk ESS, the run's
gates and divergences, the grid setting (``grid_parameter``, ``grid_argument``, ``grid_value``;
empty for the prior file as written) and the power-scaling sensitivity (``psense_prior``,
``psense_likelihood``, ``psense_diagnosis``; :mod:`resurv.checks.sensitivity`) and the fit's
diagnosis in words (``diagnosis``: the published statistics the model cannot reconcile, or the
quantities its chains disagree on; empty when none, :mod:`resurv.checks.conflict`; also in the
run's ``diagnostics.json``). A run whose
likelihood has
several terms (summary-data fits) also gets ``psense_terms.csv``: each quantity's sensitivity to
each term alone. Each run of a binomial or summary-data model also gets ``prior_predictive.csv``:
how surprising each published statistic is under the prior alone
(:mod:`resurv.checks.prior_predictive`).

A run of a survival model whose endpoint the study gives as digitized Kaplan–Meier curves
(``[[km_curve]]``; not the runs of a grid setting) is refitted on K reconstructions of perturbed
digitizations (:mod:`resurv.inference.digitization_error`, settings ``[digitization]``): its
folder gets ``digitization_fits.csv`` (each fit's posterior medians) and ``digitization_error.csv``
(their spread), and the settings enter its hash and ``run.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from resurv.checks.sensitivity import power_scaling, power_scaling_by_term
from resurv.errors import InputError, SamplingError
from resurv.inference.digitization_error import DigitizationSettings
from resurv.inference.fit import Fitter, SamplerSettings, package_versions
from resurv.inference.provenance import source_digest
from resurv.inference.results import make_result, provenance, write_fit, write_posterior
from resurv.io.auto_priors import AUTO, derive_auto_priors, is_auto
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import PriorFile, load_priors, with_argument
from resurv.io.tables import TableReader, read_toml

__all__ = [
    "Grid",
    "PendingRun",
    "Plan",
    "fit_pending_runs",
    "load_plan",
    "run_plan",
    "tidy_rows",
]

log = logging.getLogger(__name__)


class PlanError(InputError):
    """A plan file breaks a rule."""


@dataclass(frozen=True)
class Grid:
    """Values of one prior argument to sweep: ``endpoint.parameter.argument``."""

    endpoint: str
    parameter: str
    argument: str
    values: tuple[float, ...]
    priors: tuple[str, ...] = ()

    def applies(self, endpoint: str, parameters: list[str], prior_name: str) -> bool:
        """Whether a (model, prior file) pair has this grid's parameter."""
        return (
            endpoint == self.endpoint
            and self.parameter in parameters
            and (not self.priors or prior_name in self.priors)
        )


@dataclass(frozen=True)
class Plan:
    """A validated plan: what to fit, with which sampler settings and seed."""

    name: str
    studies: tuple[Path, ...]
    models: tuple[Path, ...]
    priors: tuple[Path, ...]
    seed: int
    settings: SamplerSettings
    path: str
    grids: tuple[Grid, ...] = field(default=())
    #: the report's title (empty: "Bayesian re-analysis")
    title: str = ""
    #: per model, the prior-file names it is fitted under (empty: every prior file)
    model_priors: tuple[tuple[str, ...], ...] = field(default=())
    #: per model, the study ids it is fitted to (empty: every study)
    model_studies: tuple[tuple[str, ...], ...] = field(default=())
    #: refits of fits on digitized curves under perturbed digitizations
    digitization: DigitizationSettings = field(default_factory=DigitizationSettings)
    #: the primary analyses: (model file, prior-set name), at most one per endpoint
    primary: tuple[tuple[Path, str], ...] = field(default=())

    def prior_names_for(self, index: int) -> tuple[str, ...]:
        """Prior-file names model ``index`` is fitted under (empty: every prior file)."""
        return self.model_priors[index] if self.model_priors else ()

    def study_ids_for(self, index: int) -> tuple[str, ...]:
        """Study ids model ``index`` is fitted to (empty: every study)."""
        return self.model_studies[index] if self.model_studies else ()


def _resolve(reader: TableReader, key: str, base: Path) -> tuple[Path, ...]:
    value = reader.raw(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise reader.fail(key, "must be a non-empty list of file paths")
    return tuple(
        Path(AUTO) if key == "priors" and v == AUTO else _find_file(reader, f"{key}[{i}]", v, base)
        for i, v in enumerate(value)
    )


def _is_auto(prior_path: Path) -> bool:
    """Whether a plan's prior entry is the set derived from each study."""
    return is_auto(str(prior_path))


def _prior_name(prior_path: Path) -> str:
    return AUTO if _is_auto(prior_path) else load_priors(prior_path).name


def _find_file(reader: TableReader, where: str, value: str, base: Path) -> Path:
    """``value`` as given, or relative to the plan's folder or its parent."""
    candidates = [Path(value), base / value, base.parent / value]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise reader.fail(where, f"file not found: {value}")
    return found


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    top = TableReader(read_toml(path, PlanError), path, "", PlanError)
    top.only(
        [
            "name",
            "studies",
            "models",
            "priors",
            "seed",
            "sampler",
            "description",
            "title",
            "grid",
            "digitization",
            "primary",
        ]
    )
    base = path.parent
    sampler = top.sub("sampler", None)
    settings = SamplerSettings()
    if sampler is not None:
        sampler.only(["draws", "tune", "chains"])
        settings = SamplerSettings(
            draws=sampler.number("draws", settings.draws, integer=True, positive=True),
            tune=sampler.number("tune", settings.tune, integer=True, positive=True),
            chains=sampler.number("chains", settings.chains, integer=True, positive=True),
        )
    priors = _resolve(top, "priors", base)
    studies = _resolve(top, "studies", base)
    models, model_priors, model_studies = _models(top, base, priors, studies)
    primary = _primary(top, base, models, model_priors, priors)
    return Plan(
        name=top.string("name", path.stem),
        title=top.string("title", ""),
        studies=studies,
        models=models,
        model_priors=model_priors,
        model_studies=model_studies,
        priors=priors,
        seed=top.number("seed", 1, integer=True, nonnegative=True),
        settings=settings,
        path=str(path),
        grids=tuple(_grid(g, priors) for g in top.subs("grid", [])),
        digitization=_digitization(top.sub("digitization", None)),
        primary=primary,
    )


def _primary(top: TableReader, base: Path, models, model_priors, prior_paths):
    """``primary``: ``{ model = FILE, priors = NAME }`` or a list of them, one per endpoint.

    The model file must be one of the plan's models and the prior set one it is fitted under.
    """
    from resurv.io.modelspec import load_model_spec

    value = top.raw("primary", [])
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise top.fail("primary", "must be a table { model, priors } or a list of them")
    names = [_prior_name(p) for p in prior_paths]
    resolved = {m.resolve(): i for i, m in enumerate(models)}
    out, endpoints = [], {}
    for k, item in enumerate(items):
        where = "primary" if isinstance(value, dict) else f"primary[{k}]"
        if not isinstance(item, dict) or set(item) != {"model", "priors"}:
            raise top.fail(where, "needs exactly 'model' (a model file) and 'priors' (a name)")
        model, prior = item["model"], item["priors"]
        if not isinstance(model, str) or not isinstance(prior, str):
            raise top.fail(where, "'model' must be a file path and 'priors' a prior-set name")
        path = _find_file(top, f"{where}.model", model, base)
        index = resolved.get(path.resolve())
        if index is None:
            listed = ", ".join(str(m) for m in models)
            raise top.fail(f"{where}.model", f"{model} is not one of the plan's models ({listed})")
        fitted = model_priors[index] or tuple(names)
        if prior not in fitted:
            raise top.fail(
                f"{where}.priors",
                f"the plan fits {model} under {list(fitted)}, not under '{prior}'",
            )
        endpoint = load_model_spec(path).endpoint
        if endpoint in endpoints:
            raise top.fail(
                f"{where}.model",
                f"endpoint '{endpoint}' already has a primary analysis ({endpoints[endpoint]})",
            )
        endpoints[endpoint] = model
        out.append((models[index], prior))
    return tuple(out)


def _digitization(reader: TableReader | None) -> DigitizationSettings:
    """Validate the optional ``[digitization]`` table (defaults: :class:`DigitizationSettings`)."""
    default = DigitizationSettings()
    if reader is None:
        return default
    reader.only(["perturbations", "time_sd", "survival_sd"])
    k = reader.number("perturbations", default.perturbations, integer=True, nonnegative=True)
    if k == 1:
        raise reader.fail("perturbations", "must be 0 (no refits) or at least 2 (for an SD)")
    return DigitizationSettings(
        perturbations=k,
        time_sd=reader.number("time_sd", default.time_sd, nonnegative=True),
        survival_sd=reader.number("survival_sd", default.survival_sd, nonnegative=True),
    )


def _models(
    top: TableReader, base: Path, prior_paths: tuple[Path, ...], study_paths: tuple[Path, ...]
):
    """``models``: file paths, or ``{ path = ..., priors = [names], studies = [ids] }``.

    ``priors``: a subset of the plan's prior files (by name); ``studies``: a subset of its
    studies (by study id).
    """
    value = top.raw("models")
    if not isinstance(value, list) or not value:
        raise top.fail("models", "must be a non-empty list of file paths")
    names = [_prior_name(p) for p in prior_paths]
    study_ids: list[str] | None = None
    paths, subsets, study_subsets = [], [], []
    for i, item in enumerate(value):
        where = f"models[{i}]"
        studies_chosen: tuple[str, ...] = ()
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"path", "priors", "studies"})
            if unknown or not isinstance(item.get("path"), str):
                raise top.fail(
                    where,
                    "a table here needs 'path' (a file) and optionally 'priors' (names) and "
                    "'studies' (study ids)",
                )
            if "studies" in item:
                picked = item["studies"]
                if not isinstance(picked, list) or not all(isinstance(n, str) for n in picked):
                    raise top.fail(f"{where}.studies", "must be a list of study ids")
                if study_ids is None:
                    from resurv.api import load_data

                    study_ids = [load_data(p).id for p in study_paths]
                for name in picked:
                    if name not in study_ids:
                        raise top.fail(
                            f"{where}.studies",
                            f"no study with id '{name}' in the plan ({study_ids})",
                        )
                studies_chosen = tuple(picked)
            chosen = item.get("priors", [])
            if not isinstance(chosen, list) or not all(isinstance(n, str) for n in chosen):
                raise top.fail(f"{where}.priors", "must be a list of prior-file names")
            for name in chosen:
                if name not in names:
                    raise top.fail(
                        f"{where}.priors", f"no prior file named '{name}' in the plan ({names})"
                    )
            item, chosen = item["path"], tuple(chosen)
        elif isinstance(item, str):
            chosen = ()
        else:
            raise top.fail(where, "must be a file path or a table { path, priors }")
        paths.append(_find_file(top, where, item, base))
        subsets.append(chosen)
        study_subsets.append(studies_chosen)
    return tuple(paths), tuple(subsets), tuple(study_subsets)


def _grid(reader: TableReader, prior_paths: tuple[Path, ...]) -> Grid:
    """Validate one ``[[grid]]`` table against the plan's prior files."""
    reader.only(["endpoint", "parameter", "argument", "values", "priors"])
    grid = Grid(
        endpoint=reader.string("endpoint"),
        parameter=reader.string("parameter"),
        argument=reader.string("argument"),
        values=tuple(reader.numbers("values")),
        priors=tuple(reader.raw("priors", [])),
    )
    files = [load_priors(p) for p in prior_paths if not _is_auto(p)]
    names = [f.name for f in files]
    for name in grid.priors:
        if name not in names:
            raise reader.fail("priors", f"no prior file named '{name}' in the plan ({names})")
    used = [f for f in files if not grid.priors or f.name in grid.priors]
    having = [
        f
        for f in used
        if grid.parameter in f.for_endpoint(grid.endpoint)
        and _accepts(f.for_endpoint(grid.endpoint)[grid.parameter], grid.argument)
    ]
    if not having:
        raise reader.fail(
            "argument",
            f"no prior file of the plan has a prior {grid.endpoint}.{grid.parameter} with an "
            f"argument '{grid.argument}' (for a robust mixture: weight, inf_<arg>, vague_<arg>)",
        )
    for f in having:
        spec = f.for_endpoint(grid.endpoint)[grid.parameter]
        for i, v in enumerate(grid.values):
            try:
                with_argument(spec, grid.argument, v)
            except ValueError as exc:
                raise reader.fail(f"values[{i}]", f"{exc} (prior file '{f.name}')") from None
    return grid


def _run_hash(
    files: list[Path | bytes], seed: int, settings: SamplerSettings, setting: str = ""
) -> str:
    """Hash of a run's inputs: files (or their bytes), seed, sampler, grid, resurv's code."""
    h = hashlib.sha256()
    for f in files:
        h.update(f if isinstance(f, bytes) else f.read_bytes())
    h.update(json.dumps([seed, settings.draws, settings.tune, settings.chains]).encode())
    h.update(package_versions()["resurv"].encode())
    h.update(source_digest().encode())
    h.update(setting.encode())
    return h.hexdigest()[:20]


def _psense_table(folder: Path) -> pd.DataFrame:
    """The run's power-scaling table, computed from ``posterior.nc`` once and kept beside it."""
    path = folder / "psense.csv"
    if path.is_file():
        return pd.read_csv(path, index_col="quantity")
    summary = pd.read_csv(folder / "summary.csv", index_col="quantity")
    tree = xr.open_datatree(folder / "posterior.nc")
    try:
        return _write_psense(tree, _quantity_names(summary.index, tree), folder)
    finally:
        tree.close()


def _write_psense(tree: xr.DataTree, names: list[str], folder: Path) -> pd.DataFrame:
    """Write ``psense.csv`` (and ``psense_terms.csv`` when the likelihood has several terms)."""
    try:
        table = power_scaling(tree, names)
    except ValueError as exc:  # a fit without log-prior or log-likelihood draws
        log.warning("no power-scaling sensitivity for %s: %s", folder.name, exc)
        table = pd.DataFrame(
            {"psense_prior": np.nan, "psense_likelihood": np.nan, "psense_diagnosis": ""},
            index=pd.Index([], name="quantity"),
        )
    table.to_csv(folder / "psense.csv", float_format="%.6g")
    terms = list(tree["log_likelihood"].data_vars) if "log_likelihood" in tree.children else []
    if len(terms) > 1:
        by_term = power_scaling_by_term(tree, terms, names)
        by_term.to_csv(folder / "psense_terms.csv", index=False, float_format="%.6g")
    return table


def _quantity_names(labels, tree: xr.DataTree) -> list[str]:
    """Posterior variables behind summary labels such as ``median_months[SIRT alone]``."""
    names = {str(q).split("[")[0] for q in labels}
    return sorted(n for n in names if n in tree.posterior.data_vars)


def tidy_rows(run: dict, folder: Path) -> list[dict]:
    """Rows of the tidy table (``sweep.csv``) for one finished fit folder.

    ``run`` holds the run's columns (study, model, priors, endpoint, family, effect, grid
    columns); the rows add each quantity of ``summary.csv`` with the fit's gates and its
    power-scaling sensitivity (computed and saved as ``psense.csv`` when absent).
    """
    return _tidy_rows(run, folder)


def _tidy_rows(run: dict, folder: Path) -> list[dict]:
    summary = pd.read_csv(folder / "summary.csv")
    diag = json.loads((folder / "diagnostics.json").read_text())
    sense = _psense_table(folder)
    rows = []
    for rec in summary.to_dict("records"):
        q = rec["quantity"]
        has = q in sense.index
        rows.append(
            {
                **run,
                "quantity": q,
                "median": rec.get("median", float("nan")),
                "ci_low": rec.get("eti95_lb"),
                "ci_high": rec.get("eti95_ub"),
                "hdi_low": rec.get("hdi95_lb", float("nan")),
                "hdi_high": rec.get("hdi95_ub", float("nan")),
                "mean": rec.get("mean"),
                "sd": rec.get("sd"),
                "r_hat": rec.get("r_hat"),
                "ess_bulk": rec.get("ess_bulk"),
                "ess_tail": rec.get("ess_tail"),
                "gates_passed": diag["passed"],
                "divergences": diag["divergences"],
                "diagnosis": diag.get("diagnosis", {}).get("message", ""),
                "psense_prior": sense.at[q, "psense_prior"] if has else float("nan"),
                "psense_likelihood": sense.at[q, "psense_likelihood"] if has else float("nan"),
                "psense_diagnosis": sense.at[q, "psense_diagnosis"] if has else "",
            }
        )
    return rows


def _write_plan_record(plan: Plan, out_dir: Path, command: str) -> None:
    files = [*plan.studies, *plan.models, *(p for p in plan.priors if not _is_auto(p))]
    record = {
        "name": plan.name,
        "title": plan.title,
        "plan": plan.path,
        "studies": [str(p) for p in plan.studies],
        "models": [str(p) for p in plan.models],
        "priors": [str(p) for p in plan.priors],
        "seed": plan.seed,
        "sampler": {k: getattr(plan.settings, k) for k in ("draws", "tune", "chains")},
        "grids": [dataclasses.asdict(g) for g in plan.grids],
        "digitization": plan.digitization.as_dict(),
        "primary": [{"model": str(m), "priors": p} for m, p in plan.primary],
        **(
            {
                "model_studies": {
                    str(m): list(ids)
                    for m, ids in zip(plan.models, plan.model_studies, strict=True)
                    if ids
                }
            }
            if any(plan.model_studies)
            else {}
        ),
        **(
            {
                "model_priors": {
                    str(m): list(names)
                    for m, names in zip(plan.models, plan.model_priors, strict=True)
                    if names
                }
            }
            if any(plan.model_priors)
            else {}
        ),
        "versions": package_versions(),
        "hashes": {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
        "command": command or f"resurv sweep {plan.path} --out {out_dir}",
    }
    (out_dir / "plan.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _accepts(spec, argument: str) -> bool:
    """Whether a prior has ``argument`` (so a grid over it applies), whatever its value range.

    The arguments are the prior's own (``PriorSpec.values``): a distribution's arguments; for a
    robust mixture ``weight``, ``inf_<arg>``, ``vague_<arg>`` and a bare ``<arg>`` of the
    informative component (as :func:`resurv.io.priors.with_argument` reads them). Whether a
    grid's values are in range is checked separately, value by value.
    """
    names = set(spec.values())
    if spec.dist == "robust":
        names |= set(spec.informative.values())
    return argument in names


def _settings_for(
    plan: Plan, spec, priors: PriorFile, n_arms: int = 2
) -> list[tuple[Grid | None, float | None]]:
    """The runs of one (model, prior file): the file as written, then each grid value.

    A grid applies only to a parameter the model has for a study of ``n_arms`` arms (a
    single-arm study has no log HR and one arm's parameters).
    """
    from resurv.models.binomial import PARAMETERS
    from resurv.models.survival import for_arms, required_parameters

    if spec.likelihood == "binomial":
        params = list(PARAMETERS[:n_arms])
    else:
        params = required_parameters(for_arms(spec, n_arms))
    out: list[tuple[Grid | None, float | None]] = [(None, None)]
    for grid in plan.grids:
        if grid.applies(spec.endpoint, params, priors.name):
            prior = priors.for_endpoint(grid.endpoint).get(grid.parameter)
            if prior is not None and _accepts(prior, grid.argument):
                out += [(grid, v) for v in grid.values]
    return out


def _with_setting(priors: PriorFile, grid: Grid | None, value: float | None) -> PriorFile:
    if grid is None:
        return priors
    spec = priors.for_endpoint(grid.endpoint)[grid.parameter]
    return priors.replace(grid.endpoint, grid.parameter, with_argument(spec, grid.argument, value))


@dataclass(frozen=True)
class PendingRun:
    """A sweep's run to fit: model, priors, study, folder and record (see :func:`_fit_run`)."""

    spec: object
    priors: PriorFile
    study: object
    seed: int
    folder: Path
    record: dict
    files: tuple
    auto: object = None
    perturb: tuple | None = None
    #: the model structure's key (runs sharing it share one compiled model) and the run, first
    #: in the plan's order, whose data a serial sweep compiles it with: (spec, priors, study,
    #: folder name); set for runs fitted on a cluster (:func:`fit_pending_runs`)
    structure: str = ""
    compiled_with: tuple | None = None

    @property
    def label(self) -> str:
        """The run in words, e.g. ``os_weibull × literature [log_hr.sigma=0.5]``."""
        setting = self.record["setting"]
        return f"{self.record['model']} × {self.record['priors']}" + (
            f" [{setting}]" if setting else ""
        )

    def fit(self, fitter: Fitter) -> None:
        """Fit the run with ``fitter`` and write its folder.

        A failed fit raises :class:`SamplingError` naming the run (model, priors, setting).
        """
        from resurv.api import build

        try:
            _fit_run(
                build(self.spec, self.priors, self.study),
                fitter,
                self.seed,
                self.folder,
                dict(self.record),
                self.files,
                self.auto,
                self.perturb,
                prior_check=(self.spec, self.priors, self.study),
            )
        except SamplingError as exc:
            raise SamplingError(f"sweep run {self.label} ({self.folder.name}): {exc}") from exc


def fit_pending_runs(runs: list[PendingRun], settings: SamplerSettings) -> list[str]:
    """Fit a batch of a sweep's runs on a cluster worker (keeping its compiled models).

    Returns the runs' labels.
    """
    from resurv.api import build
    from resurv.inference.cluster import worker_fitter

    for run in runs:
        # the model is compiled with the data of the run a serial sweep compiles it with: the
        # sampler's initial points come from the data the model was compiled with
        spec, priors, study, first = run.compiled_with
        fitter = worker_fitter(settings, (run.structure, first))
        fitter.compiled(build(spec, priors, study))
        run.fit(fitter)
    return [run.label for run in runs]


def run_plan(
    plan: Plan,
    out_dir: str | Path,
    *,
    fitter: Fitter | None = None,
    progress: Callable[[str], None] | None = None,
    command: str = "",
    steps: Callable[[int, int, str], None] | None = None,
    cluster=None,
) -> pd.DataFrame:
    """Fit every (study, model, prior file, grid setting) of ``plan``; return the tidy table.

    ``progress(message)`` is called before each fit (``"fitting <model> × <priors>"``);
    ``steps(done, total, label)`` after each run, fitted or reused (for a progress bar).

    Runs whose inputs (file contents, grid setting, seed, sampler settings, resurv version and
    source code) are unchanged since a previous sweep into the same folder are reused, not
    refitted; a run folder counts as finished only once its ``run.json`` is written (last) and
    its draws (``posterior.nc``) are there, so an interrupted sweep resumes where it stopped.
    Grid settings of one model and prior structure share one compiled model (their prior values
    enter as ``pm.Data``).

    ``cluster`` (:class:`resurv.inference.cluster.ClusterOptions`): fit the runs to do on a
    Dask cluster, in batches of runs of one model structure; the workers write the run folders,
    so ``out_dir`` must be on a file system they share. The table is that of an uninterrupted
    serial sweep: every run has the plan's seed, and each worker compiles a structure with the
    data of the structure's first run in the plan, as the serial sweep does (the sampler's
    initial points depend on the prior values the model was compiled with). ``progress`` gets
    "fitting <run>" before each serial fit, and "fitted <run> (done/total)" as each run
    finishes on a cluster.
    """
    from resurv.api import build
    from resurv.inference import digitization_error

    out_dir = Path(out_dir)
    fits = out_dir / "fits"
    fits.mkdir(parents=True, exist_ok=True)
    _write_plan_record(plan, out_dir, command)
    if cluster is None:
        fitter = fitter or Fitter(plan.settings)
    settings = fitter.settings if fitter is not None else plan.settings
    all_runs = list(_planned_runs(plan))
    total = len(all_runs)
    planned: list[tuple[dict, Path]] = []
    pending: list[PendingRun] = []
    first: dict[str, tuple] = {}
    done = 0
    for study_path, study, model_path, spec, prior_path, auto, priors, grid, value in all_runs:
        setting = "" if grid is None else f"{grid.parameter}.{grid.argument}={value:g}"
        name = f"{study.id}__{spec.name}__{priors.name}"
        folder = fits / (f"{name}__{setting}" if setting else name)
        prior_input = auto.text.encode("utf-8") if auto else prior_path
        perturbed = grid is None and digitization_error.applies(spec, study, plan.digitization)
        hashed = setting + (plan.digitization.key() if perturbed else "")
        digest = _run_hash([study_path, model_path, prior_input], plan.seed, settings, hashed)
        run = {
            "study": study.id,
            "model": spec.name,
            "priors": priors.name,
            "endpoint": spec.endpoint,
            "family": spec.family or "",
            "effect": spec.effect or "",
            "grid_parameter": "" if grid is None else grid.parameter,
            "grid_argument": "" if grid is None else grid.argument,
            "grid_value": float("nan") if grid is None else float(value),
        }
        planned.append((run, folder))
        if cluster is not None:  # the structure, and the data it is compiled with
            key = build(spec, priors, study).key
            first.setdefault(key, (spec, priors, study, folder.name))
        marker = folder / "run.json"
        finished = marker.is_file() and (folder / "posterior.nc").is_file()
        if perturbed:
            finished = finished and (folder / digitization_error.SPREAD_FILE).is_file()
        todo = PendingRun(
            spec,
            priors,
            study,
            plan.seed,
            folder,
            {**run, "setting": setting, "hash": digest},
            (model_path, prior_path, study_path),
            auto,
            (spec, priors, study, plan.digitization) if perturbed else None,
        )
        if finished and json.loads(marker.read_text()).get("hash") == digest:
            log.info("reusing %s", folder.name)
        elif cluster is None:  # fitted in the plan's order, as it is reached
            if progress:
                progress(f"fitting {todo.label}")
            todo.fit(fitter)
        else:
            pending.append(dataclasses.replace(todo, structure=key, compiled_with=first[key]))
            continue
        done += 1
        if steps:
            steps(done, total, todo.label)
    if pending:
        _fit_on_cluster(cluster, pending, settings, progress, steps, done, total)
    rows: list[dict] = []
    for run, folder in planned:
        rows.extend(_tidy_rows(run, folder))
    table = pd.DataFrame(rows)
    table.to_csv(out_dir / "sweep.csv", index=False, float_format="%.6g")
    _to_netcdf(table, out_dir / "sweep.nc")
    return table


def _planned_runs(plan: Plan):
    """Each run of ``plan``, in order.

    Tuples (study path, study, model path, spec, prior path, auto set or None, prior file with
    the grid setting, grid or None, grid value or None).
    """
    from resurv.api import load_data

    for study_path in plan.studies:
        study = load_data(study_path)
        for index, model_path in enumerate(plan.models):
            if plan.study_ids_for(index) and study.id not in plan.study_ids_for(index):
                continue
            spec = load_model_spec(model_path)
            only = plan.prior_names_for(index)
            for prior_path in plan.priors:
                auto = None
                if _is_auto(prior_path):
                    needs = [spec.endpoint] if spec.likelihood == "survival" else []
                    auto = derive_auto_priors(study, needs)
                    base_priors = auto.prior_file
                else:
                    base_priors = load_priors(prior_path)
                if only and base_priors.name not in only:
                    continue
                for grid, value in _settings_for(plan, spec, base_priors, study.n_arms):
                    priors = _with_setting(base_priors, grid, value)
                    yield (
                        study_path,
                        study,
                        model_path,
                        spec,
                        prior_path,
                        auto,
                        priors,
                        grid,
                        value,
                    )


def _fit_on_cluster(
    cluster, pending: list[PendingRun], settings, progress, steps=None, done_before=0, total=0
) -> None:
    """Fit ``pending`` on the Dask cluster of ``cluster``, batched by model structure.

    ``steps(done, total, label)`` as each run finishes, counting on from ``done_before``.
    """
    from resurv.inference.cluster import batches, cluster_client, n_workers, run_batches

    groups: dict[str, list[PendingRun]] = {}
    for run in pending:
        groups.setdefault(run.structure, []).append(run)
    done = 0
    with cluster_client(cluster) as client:
        work = batches(groups.items(), n_workers(client), cluster.batch_size)
        log.info("%d runs in %d batches on the cluster", len(pending), len(work))

        def each(labels: list[str]) -> None:
            nonlocal done
            for label in labels:
                done += 1
                if progress:
                    progress(f"fitted {label} ({done}/{len(pending)})")
                if steps:
                    steps(done_before + done, total, label)

        run_batches(client, fit_pending_runs, work, settings, on_result=each)


def _fit_run(
    built,
    fitter: Fitter,
    seed: int,
    folder: Path,
    record: dict,
    files,
    auto=None,
    perturb=None,
    prior_check=None,
) -> None:
    """Sample one run and write its folder; ``run.json`` last, as the mark of a finished run.

    ``auto``: the prior set derived from the study (recorded in the provenance and written as
    ``priors_auto.toml``), when the plan's prior entry is ``auto``. ``perturb``: ``(spec,
    priors, study, DigitizationSettings)`` of a fit on digitized curves, refitted on perturbed
    digitizations (:mod:`resurv.inference.digitization_error`) with the same seed.
    ``prior_check``: ``(spec, priors, study)``, for the prior predictive check of each published
    statistic (``prior_predictive.csv``, :mod:`resurv.checks.prior_predictive`).
    """
    model_path, prior_path, study_path = files
    start = time.perf_counter()
    attrs = provenance(
        model_file=str(model_path),
        prior_file=str(prior_path),
        data_file=str(study_path),
        seed=seed,
    )
    if auto is not None:
        attrs.update(auto.provenance())
    if record["setting"]:
        attrs["resurv_grid_setting"] = record["setting"]
    tree = fitter.sample(built, seed=seed)
    write_posterior(tree, folder, attrs)  # the draws first: nothing derived can lose them
    model = (record["family"] or None, record["effect"] or None)
    result = make_result(built, tree, seed, diagnose_as=model)
    write_fit(result, folder, attrs)
    if auto is not None:
        auto.write(folder)
    _write_psense(tree, _quantity_names(result.summary.index, tree), folder)
    if prior_check is not None:
        from resurv.checks.prior_predictive import write_prior_predictive

        write_prior_predictive(built, *prior_check, folder, seed=seed)
    if perturb is not None:
        from resurv.inference import digitization_error

        spec, priors, study, settings = perturb
        fits = digitization_error.refit_perturbed(
            fitter, spec, priors, study, seed, settings, tree.posterior.to_dataset()
        )
        digitization_error.write(fits, folder)
        record["digitization"] = settings.as_dict()
    record["seconds"] = round(time.perf_counter() - start, 2)
    (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")


def _to_netcdf(table: pd.DataFrame, path: Path) -> None:
    """The tidy table as a netCDF file (text columns as strings, one ``row`` dimension)."""
    frame = table.reset_index(drop=True)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].fillna("").astype(str)
        elif frame[col].dtype == bool:
            frame[col] = frame[col].astype("int8")
    ds = xr.Dataset.from_dataframe(frame.rename_axis("row"))
    ds.to_netcdf(path)
