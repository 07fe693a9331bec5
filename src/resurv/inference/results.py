"""Tables of a fit and their files: summary, published vs posterior, diagnostics, provenance.

Files written by :func:`write_fit` (the contract of ``resurv fit``):

- ``posterior.nc``: the DataTree with provenance in its attributes (the model, prior and data
  files' contents and SHA-256, the seed, package versions, the command), and the published
  values with their draws (below);
- ``summary.csv``: posterior median, 95% equal-tailed and highest-density intervals (then mean,
  SD and the diagnostics; :data:`SUMMARY_COLUMNS`) of every named quantity, plus rows for
  posterior probabilities such as P(HR < 1);
- ``published_vs_posterior.csv``: ``statistic,arm,published,posterior_median,ci_low,ci_high,ppp``,
  computed from the groups below only;
- ``frequentist.csv``: the frequentist counterparts computed from the published numbers;
- ``diagnostics.json``: the convergence gates.

**Predictive checks as data.** Every published value of a fit is one entry of the dimension
``statistic`` (coordinate values ``<statistic> (<arm>)``, e.g. ``os_median_months (SIRT alone)``;
non-index coordinates ``statistic_name``, ``arm``, ``published`` (the printed value) and ``note``)
in three groups of ``posterior.nc``, each with the variable ``published_statistic``:

- ``observed_data``: (statistic) the value the predictive check compares with: the published
  value, or the exact value behind a rounded print (e.g. 100·13/15 behind "86.6%");
- ``posterior_predictive``: (chain, draw, statistic) the statistic computed with the paper's
  estimator on one replicate trial of the published size per posterior draw;
- ``published_numbers``: (number) every number of the study file and what the fit did with it
  (:mod:`resurv.models.inventory`: record, field, endpoint, arm, published, role, how);
- ``posterior_counterpart``: (chain, draw, statistic) the model's counterpart of the published
  value (e.g. the arm's model median; for design-dependent statistics the predictive
  distribution itself, as the ``note`` says). It is kept out of ``posterior`` so that the
  posterior group holds the model's quantities alone.

A row without a predictive check (or without a counterpart) is absent from that group. Draws may
be +inf (a KM median not reached) or NaN (a landmark beyond the replicate's follow-up): the
interval is taken over the finite counterpart draws and the ppp leaves NaN draws out. ArviZ reads
them directly, e.g. ``az.plot_ppc_dist(tree, coords={"statistic": ["os_logrank_z (between
arms)"]})`` or ``az.summary(tree, group="posterior_predictive")``. Survival fits to patient data
declare no published values: their groups have an empty ``statistic`` dimension.

``posterior.nc`` is written first, as soon as sampling ends (:func:`write_posterior`), and again
with the predictive groups before the tables: a failure after sampling never loses the draws.
Each file is written to a temporary file or folder and moved into place when complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from resurv.checks.conflict import Diagnosis, diagnose
from resurv.checks.ppc import two_sided_ppp
from resurv.errors import ConvergenceWarning
from resurv.inference.diagnostics import Diagnostics, check_convergence
from resurv.inference.fit import package_versions
from resurv.models.built import BuiltModel

__all__ = [
    "FitResult",
    "add_predictive_groups",
    "make_result",
    "predictive_groups",
    "provenance",
    "published_vs_posterior",
    "SUMMARY_COLUMNS",
    "summarize",
    "write_fit",
    "write_posterior",
]

log = logging.getLogger(__name__)

CI_PROB = 0.95
#: Input files up to this size are copied whole into the provenance (the report reads them).
MAX_CONTENT_BYTES = 50_000_000
#: The groups of the published values and their draws, and their variable and dimension.
PREDICTIVE_GROUP = "posterior_predictive"
OBSERVED_GROUP = "observed_data"
COUNTERPART_GROUP = "posterior_counterpart"
PUBLISHED_VAR = "published_statistic"
STATISTIC_DIM = "statistic"
PUBLISHED_COLUMNS = [
    "statistic",
    "arm",
    "published",
    "posterior_median",
    "ci_low",
    "ci_high",
    "ppp",
]


@dataclass
class FitResult:
    """A sampled model with its tables."""

    tree: xr.DataTree
    summary: pd.DataFrame
    published: pd.DataFrame
    frequentist: pd.DataFrame
    diagnostics: Diagnostics
    #: which published statistics the model cannot reconcile (empty unless asked for)
    diagnosis: Diagnosis = field(default_factory=Diagnosis)


#: Columns of ``summary.csv`` in order: the posterior median and the 95% equal-tailed and
#: highest-density intervals lead; mean and SD follow (meaningful for probabilities and bounded
#: quantities, not for heavy-tailed ones such as a median that may not be reached); then the
#: convergence diagnostics.
SUMMARY_COLUMNS = [
    "median",
    "eti95_lb",
    "eti95_ub",
    "hdi95_lb",
    "hdi95_ub",
    "mean",
    "sd",
    "mad",
    "ess_bulk",
    "ess_tail",
    "r_hat",
    "mcse_median",
    "mcse_mean",
    "mcse_sd",
]


def summarize(built: BuiltModel, tree: xr.DataTree) -> pd.DataFrame:
    """Summary of the named quantities plus posterior-probability rows.

    Columns :data:`SUMMARY_COLUMNS`: posterior median, 95% equal-tailed interval (quantiles
    2.5% and 97.5%) and 95% highest-density interval (ArviZ ``summary`` with ``kind``
    ``stats_median`` and ``ci_kind`` ``hdi``), then mean, SD, MAD and the diagnostics. A
    probability row (e.g. ``P(HR < 1)``) has its value in ``median`` and ``mean`` (the share of
    draws) and its Monte Carlo SE √(p(1 − p)/S) in ``mcse_mean``.
    """
    names = built.summary_vars or None

    def part(**kwargs) -> pd.DataFrame:
        return pd.DataFrame(
            az.summary(tree, var_names=names, ci_prob=CI_PROB, round_to="none", **kwargs)
        )

    table = part(kind="all", ci_kind="eti")
    by_median = part(kind="all_median")
    highest = part(kind="stats", ci_kind="hdi")
    table = table.assign(
        median=by_median["median"],
        mad=by_median["mad"],
        mcse_median=by_median["mcse_median"],
        hdi95_lb=highest["hdi95_lb"],
        hdi95_ub=highest["hdi95_ub"],
    )
    post = tree.posterior.to_dataset()
    rows = {}
    for label, fn in built.probabilities.items():
        hits = np.asarray(fn(post), dtype=float)
        p = hits.mean()
        rows[label] = {"median": p, "mean": p, "mcse_mean": np.sqrt(p * (1 - p) / hits.size)}
    if rows:
        table = pd.concat([table, pd.DataFrame.from_dict(rows, orient="index")])
    table = table[[c for c in SUMMARY_COLUMNS if c in table]]
    table.index.name = "quantity"
    return table


def _row_ids(published) -> list[str]:
    """Unique ``statistic (arm)`` labels of the published values (`` #2``, ... on repeats)."""
    ids, seen = [], {}
    for pv in published:
        base = f"{pv.statistic} ({pv.arm})"
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return ids


def _chain_draw(values, shape: tuple[int, int], pv, what: str) -> np.ndarray:
    """Draws of one published value, one per posterior draw, as a (chain, draw) array."""
    values = np.asarray(values, dtype=float)
    if values.size != shape[0] * shape[1]:
        raise ValueError(
            f"the {what} draws of {pv.statistic} ({pv.arm}) have {values.size} values for "
            f"{shape[0]} × {shape[1]} posterior draws"
        )
    return values.reshape(shape)


def predictive_groups(built: BuiltModel, tree: xr.DataTree, seed: int) -> dict[str, xr.Dataset]:
    """The published values and their draws, as the groups :func:`add_predictive_groups` adds.

    For each published value, in the builder's order, the posterior counterpart is evaluated
    first and then the replicate statistic, with one generator ``default_rng([seed, 7])`` shared
    by all rows (the order and generator of every resurv version, so the draws are the same).
    """
    post = tree.posterior.to_dataset()
    shape = (post.sizes["chain"], post.sizes["draw"])
    rng = np.random.default_rng([seed, 7])
    ids = _row_ids(built.published)
    counterpart, predictive = {}, {}
    for sid, pv in zip(ids, built.published, strict=True):
        if pv.posterior is not None:
            counterpart[sid] = _chain_draw(pv.posterior(post), shape, pv, "posterior")
        if pv.predictive is not None:
            predictive[sid] = _chain_draw(pv.predictive(post, rng), shape, pv, "predictive")
    by_id = dict(zip(ids, built.published, strict=True))

    def coords(which: list[str]) -> dict:
        rows = [by_id[s] for s in which]
        return {
            STATISTIC_DIM: np.array(which, dtype=object),
            "statistic_name": (STATISTIC_DIM, np.array([r.statistic for r in rows], dtype=object)),
            "arm": (STATISTIC_DIM, np.array([r.arm for r in rows], dtype=object)),
            "published": (STATISTIC_DIM, np.array([float(r.published) for r in rows])),
            "note": (STATISTIC_DIM, np.array([r.note for r in rows], dtype=object)),
        }

    def draws(table: dict[str, np.ndarray]) -> xr.Dataset:
        which = list(table)
        values = np.stack(list(table.values()), axis=-1) if which else np.empty((*shape, 0))
        return xr.Dataset(
            {PUBLISHED_VAR: (("chain", "draw", STATISTIC_DIM), values)},
            coords={"chain": post["chain"].values, "draw": post["draw"].values, **coords(which)},
        )

    observed = xr.Dataset(
        {
            PUBLISHED_VAR: (
                (STATISTIC_DIM,),
                np.array([float(pv.observed_for_check) for pv in built.published]),
            )
        },
        coords=coords(ids),
    )
    return {
        PREDICTIVE_GROUP: draws(predictive),
        OBSERVED_GROUP: observed,
        COUNTERPART_GROUP: draws(counterpart),
    }


def add_predictive_groups(built: BuiltModel, tree: xr.DataTree, seed: int) -> xr.DataTree:
    """Add ``posterior_predictive``, ``observed_data`` and ``posterior_counterpart`` to ``tree``.

    Each holds the variable ``published_statistic`` along the dimension ``statistic`` (see the
    module docstring); variables already in those groups are kept. Returns ``tree``.
    """
    for name, ds in predictive_groups(built, tree, seed).items():
        if name in tree.children:
            ds = tree[name].to_dataset().merge(ds)
        tree[name] = xr.DataTree(ds)
    if built.usage:
        from resurv.models.inventory import USAGE_GROUP, usage_dataset

        tree[USAGE_GROUP] = xr.DataTree(usage_dataset(built.usage))
    return tree


def published_vs_posterior(tree: xr.DataTree) -> pd.DataFrame:
    """One row per published value: its posterior counterpart and predictive p-value.

    Read from the tree's ``observed_data``, ``posterior_counterpart`` and
    ``posterior_predictive`` groups only (:func:`add_predictive_groups`): the posterior median
    and 95% equal-tailed interval of the finite counterpart draws, and the two-sided ppp
    (:func:`resurv.checks.ppc.two_sided_ppp`, NaN draws left out, ±inf kept) of the value the
    check compares with among the replicate draws.
    """
    if OBSERVED_GROUP not in tree.children or PUBLISHED_VAR not in tree[OBSERVED_GROUP]:
        return pd.DataFrame(columns=PUBLISHED_COLUMNS)
    observed = tree[OBSERVED_GROUP].to_dataset()
    groups = {}
    for name in (COUNTERPART_GROUP, PREDICTIVE_GROUP):
        ds = tree[name].to_dataset() if name in tree.children else xr.Dataset()
        if PUBLISHED_VAR in ds:
            var = ds[PUBLISHED_VAR].transpose(STATISTIC_DIM, "chain", "draw")
            groups[name] = dict(zip(ds[STATISTIC_DIM].values.tolist(), var.values, strict=True))
        else:
            groups[name] = {}
    lo_q, hi_q = (1 - CI_PROB) / 2, 1 - (1 - CI_PROB) / 2
    rows = []
    for k, sid in enumerate(observed[STATISTIC_DIM].values.tolist()):
        row = {
            "statistic": str(observed["statistic_name"].values[k]),
            "arm": str(observed["arm"].values[k]),
            "published": float(observed["published"].values[k]),
        }
        if sid in groups[COUNTERPART_GROUP]:
            draws = groups[COUNTERPART_GROUP][sid].ravel()
            draws = draws[np.isfinite(draws)]
            row.update(
                posterior_median=np.median(draws),
                ci_low=np.quantile(draws, lo_q),
                ci_high=np.quantile(draws, hi_q),
            )
        if sid in groups[PREDICTIVE_GROUP]:
            observed_value = float(observed[PUBLISHED_VAR].values[k])
            row["ppp"] = two_sided_ppp(groups[PREDICTIVE_GROUP][sid].ravel(), observed_value)
        rows.append(row)
    return pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)


def provenance(
    *, model_file: str, prior_file: str, data_file: str, seed: int, command: str | None = None
) -> dict[str, str]:
    """Attributes recording what produced a fit: file contents, seed, versions."""
    attrs = {"resurv_seed": str(seed), "resurv_versions": json.dumps(package_versions())}
    for key, path in (("model", model_file), ("priors", prior_file), ("data", data_file)):
        p = Path(path)
        attrs[f"resurv_{key}_file"] = str(path)
        if p.is_file() and p.stat().st_size < MAX_CONTENT_BYTES:
            attrs[f"resurv_{key}_content"] = p.read_text(encoding="utf-8")
        if p.is_file():
            import hashlib

            attrs[f"resurv_{key}_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    if command:
        attrs["resurv_command"] = command
    return attrs


def make_result(
    built: BuiltModel,
    tree: xr.DataTree,
    seed: int,
    *,
    diagnose_as: tuple[str, str] | None = None,
) -> FitResult:
    """Tables and diagnostics of a sampled tree; adds the predictive groups to ``tree``.

    The published values' draws go into ``tree`` first (:func:`add_predictive_groups`); the
    published-vs-posterior table is then computed from those groups alone.

    ``diagnose_as`` = (family, arm effect) of the model: the saved groups are also searched for
    published statistics the model cannot reconcile (:func:`resurv.checks.conflict.diagnose`);
    a finding is logged as a warning, kept in the tree's attribute ``resurv_diagnosis`` and in
    ``diagnostics.json``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        diag = check_convergence(tree, [v.name for v in built.model.free_RVs])
    summary = summarize(built, tree)
    add_predictive_groups(built, tree, seed)
    diagnosis = Diagnosis()
    if diagnose_as is not None and built.published:
        family, effect = diagnose_as
        diagnosis = diagnose(tree, diag.passed, family=family, effect=effect)
        if diagnosis.found:
            log.warning("model %s: %s", built.key, diagnosis.message)
            tree.attrs["resurv_diagnosis"] = json.dumps(diagnosis.to_dict())
    return FitResult(
        tree=tree,
        summary=summary,
        published=published_vs_posterior(tree),
        frequentist=pd.DataFrame(built.frequentist),
        diagnostics=diag,
        diagnosis=diagnosis,
    )


def write_posterior(tree: xr.DataTree, out_dir: str | Path, attrs: dict[str, str]) -> Path:
    """Replace ``out_dir`` by a folder holding ``posterior.nc`` alone (the draws, ``attrs``).

    Called as soon as sampling ends, before anything is derived from the draws, so that a later
    failure never loses them. The new folder is written beside ``out_dir`` and swapped in by
    renames: at every moment either the previous fit or the new draws are in place.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tree = tree.copy()
        tree.attrs.update(attrs)
        tree.to_netcdf(tmp / "posterior.nc")
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            old.rmdir()
            out_dir.rename(old)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out_dir


def _replace_file(path: Path, write) -> None:
    """Write ``path`` through a temporary file beside it, moved into place when complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _diagnostics_record(result: FitResult) -> dict:
    """The gates, with the mode search and the diagnosis of the fit where they were made."""
    record = result.diagnostics.to_dict()
    if "mode_search" in result.tree.attrs:
        record["mode_search"] = json.loads(result.tree.attrs["mode_search"])
    if result.diagnosis.found:
        record["diagnosis"] = result.diagnosis.to_dict()
    return record


def write_fit(result: FitResult, out_dir: str | Path, attrs: dict[str, str]) -> Path:
    """Write the fit's files into ``out_dir``: ``posterior.nc`` first, then the tables.

    ``out_dir`` is replaced by a folder holding the posterior (:func:`write_posterior`, with the
    predictive groups of ``result.tree``); each table is then written whole or not at all, so a
    failure while writing them leaves the draws and the tables written before it.
    """
    out_dir = write_posterior(result.tree, out_dir, attrs)
    tables = {
        "summary.csv": lambda p: result.summary.to_csv(p, float_format="%.6g"),
        "published_vs_posterior.csv": lambda p: result.published.to_csv(
            p, index=False, float_format="%.6g"
        ),
        "frequentist.csv": lambda p: result.frequentist.to_csv(p, index=False, float_format="%.6g"),
        "diagnostics.json": lambda p: p.write_text(
            json.dumps(_diagnostics_record(result), indent=2) + "\n", encoding="utf-8"
        ),
    }
    for name, write in tables.items():
        _replace_file(out_dir / name, write)
    return out_dir
