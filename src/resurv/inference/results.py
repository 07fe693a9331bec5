"""Tables of a fit and their files: summary, published vs posterior, diagnostics, provenance.

Files written by :func:`write_fit` (the contract of ``resurv fit``):

- ``posterior.nc``: the DataTree with provenance in its attributes;
- ``summary.csv``: ArviZ summary (95% equal-tailed intervals) of every named quantity, plus rows
  for posterior probabilities such as P(HR < 1);
- ``published_vs_posterior.csv``: ``statistic,arm,published,posterior_median,ci_low,ci_high,ppp``;
- ``frequentist.csv``: the frequentist counterparts computed from the published numbers;
- ``diagnostics.json``: the convergence gates.

Everything is first written to a temporary folder beside ``DIR`` and moved into place only when
complete, so a failure leaves no partial output.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from resurv.checks.ppc import two_sided_ppp
from resurv.errors import ConvergenceWarning
from resurv.inference.diagnostics import Diagnostics, check_convergence
from resurv.inference.fit import package_versions
from resurv.models.built import BuiltModel

__all__ = [
    "FitResult",
    "published_vs_posterior",
    "summarize",
    "write_fit",
]

CI_PROB = 0.95
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


def summarize(built: BuiltModel, tree: xr.DataTree) -> pd.DataFrame:
    """ArviZ summary of the named quantities plus posterior-probability rows."""
    names = built.summary_vars or None
    table = az.summary(tree, var_names=names, ci_prob=CI_PROB, ci_kind="eti", round_to="none")
    table = pd.DataFrame(table)
    post = tree.posterior.to_dataset()
    rows = {}
    for label, fn in built.probabilities.items():
        hits = np.asarray(fn(post), dtype=float)
        p = hits.mean()
        rows[label] = {"mean": p, "mcse_mean": np.sqrt(p * (1 - p) / hits.size)}
    if rows:
        table = pd.concat([table, pd.DataFrame.from_dict(rows, orient="index")])
    table.index.name = "quantity"
    return table


def published_vs_posterior(built: BuiltModel, tree: xr.DataTree, seed: int) -> pd.DataFrame:
    """One row per published value: its posterior counterpart and predictive p-value."""
    post = tree.posterior.to_dataset()
    rng = np.random.default_rng([seed, 7])
    rows = []
    lo_q, hi_q = (1 - CI_PROB) / 2, 1 - (1 - CI_PROB) / 2
    for pv in built.published:
        row = {"statistic": pv.statistic, "arm": pv.arm, "published": pv.published}
        if pv.posterior is not None:
            draws = np.asarray(pv.posterior(post), dtype=float)
            draws = draws[np.isfinite(draws)]
            row.update(
                posterior_median=np.median(draws),
                ci_low=np.quantile(draws, lo_q),
                ci_high=np.quantile(draws, hi_q),
            )
        if pv.predictive is not None:
            row["ppp"] = two_sided_ppp(pv.predictive(post, rng), pv.observed_for_check)
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
        if p.is_file() and p.stat().st_size < 200_000:
            attrs[f"resurv_{key}_content"] = p.read_text(encoding="utf-8")
        if p.is_file():
            import hashlib

            attrs[f"resurv_{key}_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    if command:
        attrs["resurv_command"] = command
    return attrs


def make_result(built: BuiltModel, tree: xr.DataTree, seed: int) -> FitResult:
    """Tables and diagnostics of a sampled tree."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        diag = check_convergence(tree, [v.name for v in built.model.free_RVs])
    return FitResult(
        tree=tree,
        summary=summarize(built, tree),
        published=published_vs_posterior(built, tree, seed),
        frequentist=pd.DataFrame(built.frequentist),
        diagnostics=diag,
    )


def write_fit(result: FitResult, out_dir: str | Path, attrs: dict[str, str]) -> Path:
    """Write the fit's files into ``out_dir`` atomically (all files or none)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tree = result.tree.copy()
        tree.attrs.update(attrs)
        tree.to_netcdf(tmp / "posterior.nc")
        result.summary.to_csv(tmp / "summary.csv", float_format="%.6g")
        result.published.to_csv(
            tmp / "published_vs_posterior.csv", index=False, float_format="%.6g"
        )
        result.frequentist.to_csv(tmp / "frequentist.csv", index=False, float_format="%.6g")
        (tmp / "diagnostics.json").write_text(
            json.dumps(result.diagnostics.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
