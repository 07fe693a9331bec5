"""Sweeps: studies × models × prior files, compiled once per model structure, resumable.

A plan file (TOML) lists what to fit::

    name = "nmc2020_sirt_prrt"
    studies = ["data/studies/nmc2020_sirt_prrt.toml"]
    models = ["models/response.toml", "models/os_weibull_ph.toml"]
    priors = ["priors/vague.toml", "priors/literature.toml"]
    seed = 20201242
    [sampler]
    draws = 2000
    tune = 1000
    chains = 4

Paths are relative to the plan file's folder's parent when they do not exist relative to the
current directory. Each run (study, model, prior file, seed) is written to
``DIR/fits/<study>__<model>__<priors>/`` with a ``run.json`` holding the hash of its inputs; a
rerun whose hash matches is reused, so an interrupted sweep resumes where it stopped.
The tidy table of every run's key quantities is ``DIR/sweep.csv`` (and ``sweep.nc``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from ._schema import TableReader, read_toml
from .errors import InputError
from .fit import Fitter, SamplerSettings, package_versions
from .modelspec import load_model_spec
from .priors import load_priors
from .results import make_result, provenance, write_fit

__all__ = ["Plan", "load_plan", "run_plan"]

log = logging.getLogger(__name__)


class PlanError(InputError):
    """A plan file breaks a rule."""


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


def _resolve(reader: TableReader, key: str, base: Path) -> tuple[Path, ...]:
    value = reader.raw(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise reader.fail(key, "must be a non-empty list of file paths")
    out = []
    for i, v in enumerate(value):
        candidates = [Path(v), base / v, base.parent / v]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise reader.fail(f"{key}[{i}]", f"file not found: {v}")
        out.append(found)
    return tuple(out)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    path = Path(path)
    top = TableReader(read_toml(path, PlanError), path, "", PlanError)
    top.only(["name", "studies", "models", "priors", "seed", "sampler", "description"])
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
    return Plan(
        name=top.string("name", path.stem),
        studies=_resolve(top, "studies", base),
        models=_resolve(top, "models", base),
        priors=_resolve(top, "priors", base),
        seed=top.number("seed", 1, integer=True, nonnegative=True),
        settings=settings,
        path=str(path),
    )


def _run_hash(files: list[Path], seed: int, settings: SamplerSettings) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    h.update(json.dumps([seed, settings.draws, settings.tune, settings.chains]).encode())
    h.update(package_versions()["resurv"].encode())
    return h.hexdigest()[:20]


def _tidy_rows(run: dict, folder: Path) -> list[dict]:
    summary = pd.read_csv(folder / "summary.csv")
    diag = json.loads((folder / "diagnostics.json").read_text())
    rows = []
    for rec in summary.to_dict("records"):
        rows.append(
            {
                **run,
                "quantity": rec["quantity"],
                "mean": rec.get("mean"),
                "sd": rec.get("sd"),
                "ci_low": rec.get("eti95_lb"),
                "ci_high": rec.get("eti95_ub"),
                "r_hat": rec.get("r_hat"),
                "ess_bulk": rec.get("ess_bulk"),
                "gates_passed": diag["passed"],
                "divergences": diag["divergences"],
            }
        )
    return rows


def _write_plan_record(plan: Plan, out_dir: Path, command: str) -> None:
    files = [*plan.studies, *plan.models, *plan.priors]
    record = {
        "name": plan.name,
        "plan": plan.path,
        "studies": [str(p) for p in plan.studies],
        "models": [str(p) for p in plan.models],
        "priors": [str(p) for p in plan.priors],
        "seed": plan.seed,
        "sampler": {k: getattr(plan.settings, k) for k in ("draws", "tune", "chains")},
        "versions": package_versions(),
        "hashes": {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
        "command": command or f"resurv sweep {plan.path} --out {out_dir}",
    }
    (out_dir / "plan.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def run_plan(
    plan: Plan,
    out_dir: str | Path,
    *,
    fitter: Fitter | None = None,
    progress: Callable[[str], None] | None = None,
    command: str = "",
) -> pd.DataFrame:
    """Fit every (study, model, prior file) of ``plan`` into ``out_dir``; return the tidy table.

    Runs whose inputs (file contents, seed, sampler settings, resurv version) are unchanged
    since a previous sweep into the same folder are reused, not refitted.
    """
    from .api import build, load_data

    out_dir = Path(out_dir)
    fits = out_dir / "fits"
    fits.mkdir(parents=True, exist_ok=True)
    _write_plan_record(plan, out_dir, command)
    fitter = fitter or Fitter(plan.settings)
    rows: list[dict] = []
    for study_path in plan.studies:
        study = load_data(study_path)
        for model_path in plan.models:
            spec = load_model_spec(model_path)
            for prior_path in plan.priors:
                priors = load_priors(prior_path)
                folder = fits / f"{study.id}__{spec.name}__{priors.name}"
                digest = _run_hash([study_path, model_path, prior_path], plan.seed, fitter.settings)
                run = {
                    "study": study.id,
                    "model": spec.name,
                    "priors": priors.name,
                    "endpoint": spec.endpoint,
                    "family": spec.family or "",
                    "effect": spec.effect or "",
                }
                marker = folder / "run.json"
                if marker.is_file() and json.loads(marker.read_text()).get("hash") == digest:
                    log.info("reusing %s", folder.name)
                else:
                    if progress:
                        progress(f"fitting {spec.name} × {priors.name}")
                    start = time.perf_counter()
                    built = build(spec, priors, study)
                    tree = fitter.sample(built, seed=plan.seed)
                    result = make_result(built, tree, plan.seed)
                    attrs = provenance(
                        model_file=str(model_path),
                        prior_file=str(prior_path),
                        data_file=str(study_path),
                        seed=plan.seed,
                    )
                    write_fit(result, folder, attrs)
                    seconds = time.perf_counter() - start
                    (folder / "run.json").write_text(
                        json.dumps({**run, "hash": digest, "seconds": round(seconds, 2)}, indent=2)
                        + "\n"
                    )
                rows.extend(_tidy_rows(run, folder))
    table = pd.DataFrame(rows)
    table.to_csv(out_dir / "sweep.csv", index=False, float_format="%.6g")
    xr.Dataset.from_dataframe(table).to_netcdf(out_dir / "sweep.nc")
    return table
