"""The saved results of a sweep folder, as the report reads them (no refitting).

A sweep folder (:func:`resurv.inference.sweep.run_plan`) holds ``plan.json``, ``sweep.csv`` and one
folder
per run under ``fits/`` with ``run.json``, ``summary.csv``, ``published_vs_posterior.csv``,
``diagnostics.json`` and, when kept, ``posterior.nc``. :func:`load_runs` returns them in plan
order (models, then prior files); the posterior draws are opened only when a figure needs them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from resurv.io.modelspec import ModelSpec, load_model_spec
from resurv.io.priors import PriorFile, load_priors

__all__ = ["Run", "SweepResults", "load_runs"]

log = logging.getLogger(__name__)


@dataclass
class Run:
    """One fit of the sweep: its record, folder, model specification and prior file."""

    record: dict
    folder: Path
    spec: ModelSpec | None
    priors: PriorFile | None
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
    def has_posterior(self) -> bool:
        """Whether the posterior draws (``posterior.nc``) were kept."""
        return (self.folder / "posterior.nc").is_file()

    def posterior(self) -> xr.Dataset:
        """The posterior group, loaded into memory once."""
        if self._posterior is None:
            tree = xr.open_datatree(self.folder / "posterior.nc")
            try:
                self._posterior = tree.posterior.to_dataset().load()
            finally:
                tree.close()
        return self._posterior

    def log_likelihood_names(self) -> list[str]:
        """Variables of the saved ``log_likelihood`` group (empty when none)."""
        tree = xr.open_datatree(self.folder / "posterior.nc")
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
    prior_files: list[PriorFile]

    def by_model(self) -> dict[str, list[Run]]:
        """Runs grouped by model, in plan order."""
        out: dict[str, list[Run]] = {}
        for run in self.runs:
            out.setdefault(run.model, []).append(run)
        return out


def load_runs(sweep_dir: str | Path, study_id: str | None = None) -> SweepResults:
    """Read a sweep folder's plan, tidy table and finished runs (those with a ``run.json``).

    Runs of grid settings (a prior argument swept over values) are left out of the per-run
    sections; they appear in the tidy table. Run folders of models or prior files that the plan
    no longer lists are left out. Runs are ordered as the plan lists models, then
    prior files.
    """
    sweep_dir = Path(sweep_dir)
    plan = json.loads((sweep_dir / "plan.json").read_text())
    table = pd.read_csv(sweep_dir / "sweep.csv")
    specs = {}
    for path in plan["models"]:
        spec = load_model_spec(path)
        specs[spec.name] = spec
    prior_files = [load_priors(p) for p in plan["priors"]]
    priors = {p.name: p for p in prior_files}
    model_order = {name: i for i, name in enumerate(specs)}
    prior_order = {name: i for i, name in enumerate(priors)}
    runs = []
    for marker in sorted((sweep_dir / "fits").glob("*/run.json")):
        record = json.loads(marker.read_text())
        if record.get("setting") or (study_id and record["study"] != study_id):
            continue
        if record["model"] not in specs or record["priors"] not in priors:
            log.info("%s: not in the plan, left out of the report", marker.parent.name)
            continue
        runs.append(
            Run(record, marker.parent, specs.get(record["model"]), priors.get(record["priors"]))
        )
    runs.sort(key=lambda r: (model_order.get(r.model, 99), prior_order.get(r.prior_name, 99)))
    return SweepResults(sweep_dir, plan, table, runs, prior_files)
