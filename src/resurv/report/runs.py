"""The saved results of a sweep folder, as the report reads them (no refitting).

A sweep folder (:func:`resurv.inference.sweep.run_plan`) holds ``plan.json``, ``sweep.csv`` and one
folder per run under ``fits/`` with ``run.json``, ``posterior.nc``, ``summary.csv``,
``published_vs_posterior.csv`` and ``diagnostics.json``. :func:`load_runs` returns the finished
runs in plan order (models, then prior files).

The report is a pure function of these saved files: each run's model file, prior file and study
file are read from the provenance its ``posterior.nc`` records (the files' contents as they were
fitted, :func:`resurv.inference.results.provenance`), never from the files on disk today, and
the predictive checks from its ``observed_data`` and ``posterior_predictive`` groups; no model is
rebuilt.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from resurv.errors import InputError
from resurv.inference.results import OBSERVED_GROUP, PREDICTIVE_GROUP, PUBLISHED_VAR
from resurv.io.modelspec import ModelSpec, model_spec_from_text
from resurv.io.priors import PriorFile, priors_from_text
from resurv.io.study import Study, study_from_text
from resurv.models.survival import for_arms

__all__ = [
    "Run",
    "SweepResults",
    "distinct_prior_files",
    "load_fit",
    "load_runs",
    "provenance_of",
    "study_from_provenance",
]

log = logging.getLogger(__name__)


def provenance_of(path: str | Path) -> dict[str, str]:
    """The provenance attributes (``resurv_*``) of a saved ``posterior.nc``."""
    tree = xr.open_datatree(path)
    try:
        return {k: str(v) for k, v in tree.attrs.items() if k.startswith("resurv_")}
    finally:
        tree.close()


def _content(attrs: dict[str, str], key: str, where: Path) -> tuple[str, str, str]:
    """(text, file name, sha256) of one input file recorded in a fit's provenance."""
    if f"resurv_{key}_content" not in attrs:
        raise InputError(
            where,
            f"resurv_{key}_content",
            f"the fit's provenance has no copy of its {key} file, which the report reads; "
            "refit to record it",
        )
    return (
        attrs[f"resurv_{key}_content"],
        attrs.get(f"resurv_{key}_file", f"{key}.toml"),
        attrs.get(f"resurv_{key}_sha256", ""),
    )


def study_from_provenance(attrs: dict[str, str], where: Path) -> Study:
    """The study (study file or patient-data CSV) a fit recorded in its provenance."""
    text, name, sha = _content(attrs, "data", where)
    if Path(name).suffix.lower() == ".csv":
        import dataclasses

        from resurv.errors import StudyValidationError
        from resurv.io.patient_data import study_from_csv
        from resurv.io.tables import load_from_text

        study = load_from_text(study_from_csv, text, name, StudyValidationError)
        return dataclasses.replace(study, path=name, sha256=sha or study.sha256)
    return study_from_text(text, name, sha)


@dataclass
class Run:
    """One fit of the sweep: its record, folder, provenance, model specification and priors."""

    record: dict
    folder: Path
    spec: ModelSpec
    priors: PriorFile
    provenance: dict[str, str] = field(default_factory=dict, repr=False)
    _posterior: xr.Dataset | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        """Model name."""
        return self.record["model"]

    @property
    def prior_name(self) -> str:
        """Prior-set name."""
        return self.record["priors"]

    @property
    def label(self) -> str:
        """``model · prior set``."""
        return f"{self.model} · {self.prior_name}"

    @property
    def path(self) -> Path:
        """The run's ``posterior.nc``."""
        return self.folder / "posterior.nc"

    def posterior(self) -> xr.Dataset:
        """The posterior group, loaded into memory once."""
        if self._posterior is None:
            tree = xr.open_datatree(self.path)
            try:
                self._posterior = tree.posterior.to_dataset().load()
            finally:
                tree.close()
        return self._posterior

    def predictive_checks(self) -> list[tuple[str, np.ndarray, float]]:
        """``(statistic · arm, replicate draws, value compared)`` per published value checked.

        Read from the saved ``posterior_predictive`` and ``observed_data`` groups, in the order
        the fit declared the published values; draws flattened in (chain, draw) order.
        """
        tree = xr.open_datatree(self.path)
        try:
            if OBSERVED_GROUP not in tree.children or PREDICTIVE_GROUP not in tree.children:
                return []
            observed = tree[OBSERVED_GROUP].to_dataset().load()
            predicted = tree[PREDICTIVE_GROUP].to_dataset().load()
        finally:
            tree.close()
        if PUBLISHED_VAR not in predicted:
            return []
        draws = predicted[PUBLISHED_VAR].transpose("statistic", "chain", "draw")
        items = []
        for k, sid in enumerate(draws["statistic"].values.tolist()):
            row = observed.sel(statistic=sid)
            label = f"{row['statistic_name'].item()} · {row['arm'].item()}"
            items.append((label, draws.values[k].ravel(), float(row[PUBLISHED_VAR].item())))
        return items

    def published_numbers(self) -> pd.DataFrame:
        """The fit's inventory of the study file's numbers (empty when the fit saved none).

        Read from the saved group :data:`resurv.models.inventory.USAGE_GROUP`.
        """
        from resurv.models.inventory import USAGE_GROUP, usage_frame

        tree = xr.open_datatree(self.path)
        try:
            if USAGE_GROUP not in tree.children:
                return usage_frame(None)
            return usage_frame(tree[USAGE_GROUP].to_dataset().load())
        finally:
            tree.close()

    def joint_ppp(self, statistics: tuple[str, ...]) -> float:
        """Joint predictive p-value of these published statistics in this fit's saved groups.

        :func:`resurv.checks.conflict.joint_ppp_in` (NaN when the fit does not check them all).
        """
        from resurv.checks.conflict import joint_ppp_in

        tree = xr.open_datatree(self.path)
        try:
            return joint_ppp_in(tree, statistics)
        finally:
            tree.close()

    def log_likelihood_names(self) -> list[str]:
        """Variables of the saved ``log_likelihood`` group (empty when none)."""
        tree = xr.open_datatree(self.path)
        try:
            if "log_likelihood" not in tree.children:
                return []
            return sorted(str(v) for v in tree["log_likelihood"].data_vars)
        finally:
            tree.close()

    def table(self, name: str) -> pd.DataFrame:
        """A CSV of the run folder (empty frame when absent or without columns)."""
        path = self.folder / name
        if not path.is_file() or path.stat().st_size <= 1:
            return pd.DataFrame()
        return pd.read_csv(path)

    def diagnostics(self) -> dict:
        """The run's ``diagnostics.json``."""
        return json.loads((self.folder / "diagnostics.json").read_text())


@dataclass
class SweepResults:
    """Everything a report reads from one sweep folder."""

    folder: Path
    plan: dict
    table: pd.DataFrame
    runs: list[Run]
    #: every distinct prior file of the runs (by content: each study's ``auto`` set is one)
    prior_files: list[PriorFile]
    #: SHA-256 of a prior file -> ids of the studies fitted under it
    prior_studies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def by_model(self) -> dict[str, list[Run]]:
        """Runs grouped by model, in plan order."""
        out: dict[str, list[Run]] = {}
        for run in self.runs:
            out.setdefault(run.model, []).append(run)
        return out

    def study(self, path: str) -> Study:
        """The study of the plan's file ``path``, as the first of its runs recorded it."""
        for run in self.runs:
            if run.provenance.get("resurv_data_file") == str(path):
                return study_from_provenance(run.provenance, run.path)
        raise InputError(
            self.folder / "fits",
            None,
            f"no finished fit of the study {path} (a run folder with run.json and posterior.nc)",
        )


def load_runs(sweep_dir: str | Path, study_id: str | None = None) -> SweepResults:
    """Read a sweep folder's plan, tidy table and finished runs.

    A run is finished when its folder has ``run.json`` and ``posterior.nc``. Its model file and
    prior file are read from the provenance of its ``posterior.nc``; the model spec is the one
    fitted to the study's arms (:func:`resurv.models.survival.for_arms`: a single-arm study's
    model has no arm effect, whatever the model file says). Runs of grid settings (a
    prior argument swept over values) are left out of the per-run sections; they appear in the
    tidy table. Runs whose model or prior file the plan no longer lists are left out. Runs are
    ordered as the plan lists models, then prior files; the prior sets are those of the runs.
    """
    sweep_dir = Path(sweep_dir)
    plan = json.loads((sweep_dir / "plan.json").read_text())
    table = pd.read_csv(sweep_dir / "sweep.csv")
    model_order = {str(p): i for i, p in enumerate(plan["models"])}
    prior_order = {str(p): i for i, p in enumerate(plan["priors"])}
    runs = []
    for marker in sorted((sweep_dir / "fits").glob("*/run.json")):
        record = json.loads(marker.read_text())
        if record.get("setting") or (study_id and record["study"] != study_id):
            continue
        path = marker.parent / "posterior.nc"
        if not path.is_file():
            log.info("%s: no posterior.nc (an unfinished run), left out", marker.parent.name)
            continue
        attrs = provenance_of(path)
        files = (attrs.get("resurv_model_file"), attrs.get("resurv_priors_file"))
        if files[0] not in model_order or files[1] not in prior_order:
            log.info("%s: not in the plan, left out of the report", marker.parent.name)
            continue
        spec = model_spec_from_text(*_content(attrs, "model", path)[:2])
        spec = for_arms(spec, study_from_provenance(attrs, path).n_arms)
        priors = priors_from_text(*_content(attrs, "priors", path))
        runs.append(Run(record, marker.parent, spec, priors, attrs))

    def order(run: Run) -> tuple[int, int]:
        p = run.provenance
        return model_order[p["resurv_model_file"]], prior_order[p["resurv_priors_file"]]

    runs.sort(key=order)
    prior_files, prior_studies = distinct_prior_files(runs, order)
    return SweepResults(sweep_dir, plan, table, runs, prior_files, prior_studies)


def load_fit(folder: str | Path) -> SweepResults:
    """One fit folder (``resurv fit --out DIR``) read as a sweep of that one run.

    The plan is made from the fit's provenance (its model, prior and study files, seed, versions
    and command); the tidy table from its ``summary.csv`` and ``diagnostics.json``
    (:func:`resurv.inference.sweep.tidy_rows`).
    """
    from resurv.inference.sweep import tidy_rows

    folder = Path(folder)
    path = folder / "posterior.nc"
    if not path.is_file():
        raise InputError(
            folder,
            None,
            "neither a run folder (plan.json, sweep.csv, fits/) nor a fit folder (posterior.nc)",
        )
    attrs = provenance_of(path)
    study = study_from_provenance(attrs, path)
    spec = for_arms(model_spec_from_text(*_content(attrs, "model", path)[:2]), study.n_arms)
    priors = priors_from_text(*_content(attrs, "priors", path))
    record = {
        "study": study.id,
        "model": spec.name,
        "priors": priors.name,
        "endpoint": spec.endpoint,
        "family": spec.family or "",
        "effect": spec.effect or "",
        "grid_parameter": "",
        "grid_argument": "",
        "grid_value": float("nan"),
    }
    run = Run(record, folder, spec, priors, attrs)
    files = {key: attrs.get(f"resurv_{key}_file", "") for key in ("data", "model", "priors")}
    plan = {
        "name": folder.name,
        "studies": [files["data"]],
        "models": [files["model"]],
        "priors": [files["priors"]],
        "seed": int(attrs.get("resurv_seed", "0")),
        "versions": json.loads(attrs.get("resurv_versions", "{}")),
        "hashes": {
            files[key]: attrs[f"resurv_{key}_sha256"]
            for key in files
            if attrs.get(f"resurv_{key}_sha256")
        },
        "command": attrs.get("resurv_command", "resurv fit"),
    }
    table = pd.DataFrame(tidy_rows(record, folder))
    prior_files, prior_studies = distinct_prior_files([run])
    return SweepResults(folder, plan, table, [run], prior_files, prior_studies)


def distinct_prior_files(runs: list[Run], order=None) -> tuple[list[PriorFile], dict]:
    """The prior files of ``runs``, each distinct file once (by SHA-256), in plan order.

    Files of one name but different content (the ``auto`` set, derived from each study of a
    plan) are each kept. Returns the files and, per file's SHA-256, the ids of the studies
    fitted under it.
    """
    ranked = sorted(runs, key=lambda r: order(r)[1]) if order is not None else list(runs)
    files: dict[str, PriorFile] = {}
    studies: dict[str, list[str]] = {}
    for run in ranked:
        files.setdefault(run.priors.sha256, run.priors)
        fitted = studies.setdefault(run.priors.sha256, [])
        if run.record["study"] not in fitted:
            fitted.append(run.record["study"])
    return list(files.values()), {sha: tuple(ids) for sha, ids in studies.items()}
