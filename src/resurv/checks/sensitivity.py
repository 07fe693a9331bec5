"""Power-scaling sensitivity of every posterior quantity to the prior and to the likelihood.

How much does a quantity move when the prior or the likelihood is raised to a power α near 1?
For a fit with ``log_prior`` and ``log_likelihood`` groups (:class:`resurv.inference.fit.Fitter`
stores
both), the posterior under p(θ)^α p(y|θ) (prior scaling) or p(θ) p(y|θ)^α (likelihood scaling)
is approximated by Pareto-smoothed importance weights, and the sensitivity of a quantity is the
derivative of the cumulative Jensen–Shannon distance between the base and the scaled posterior
with respect to log₂ α (Kallioinen N, Paananen T, Bürkner P-C, Vehtari A. Stat Comput
2024;34:57; ArviZ ``psense`` / ``psense_summary``). With the threshold 0.05:

- prior ≥ 0.05 and likelihood ≥ 0.05: "prior-data conflict";
- prior > 0.05 and likelihood < 0.05: "strong prior / weak likelihood";
- otherwise "ok".

For summary-data fits with several likelihood terms, :func:`power_scaling_by_term` scales one
term (or a group of terms) at a time.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "DIAGNOSES",
    "THRESHOLD",
    "diagnose",
    "power_scaling",
    "power_scaling_by_term",
]

log = logging.getLogger(__name__)

THRESHOLD = 0.05
DIAGNOSES = ("prior-data conflict", "strong prior / weak likelihood", "ok")


def diagnose(prior: float, likelihood: float, threshold: float = THRESHOLD) -> str:
    """The diagnosis of Kallioinen et al. (2024) from the two sensitivities."""
    if prior >= threshold and likelihood >= threshold:
        return DIAGNOSES[0]
    if prior > threshold > likelihood:
        return DIAGNOSES[1]
    return DIAGNOSES[2]


def _quantities(tree: xr.DataTree, var_names: Sequence[str] | None) -> list[str]:
    post = tree.posterior.to_dataset()
    names = list(var_names) if var_names else list(post.data_vars)
    return [n for n in names if n in post.data_vars]


def _flatten(ds: xr.Dataset) -> pd.Series:
    """A psense Dataset as one value per labelled quantity (``name[coord, ...]``)."""
    out = {}
    for name, da in ds.data_vars.items():
        if not da.dims:
            out[name] = float(da.values)
            continue
        stacked = da.stack(_q=da.dims)
        for i, idx in enumerate(stacked["_q"].values):
            idx = idx if isinstance(idx, tuple) else (idx,)
            out[f"{name}[{', '.join(str(v) for v in idx)}]"] = float(stacked.values[i])
    return pd.Series(out, dtype=float)


#: Spread (log units) of a log prior or likelihood across draws below which power scaling
#: changes no weight by more than ~1e-10 (α = 1 ± 0.01): it counts as constant.
CONSTANT_SPREAD = 1e-8


def _constant(tree, group: str, group_var_names) -> bool:
    """Whether the summed log prior (or log likelihood) is the same in every draw.

    Same up to :data:`CONSTANT_SPREAD`: e.g. the log chance, ≈ −1e-15, that a patient was still
    observed at a median well inside follow-up; ``az.psense`` cannot smooth such weights.
    """
    ds = tree["log_prior" if group == "prior" else "log_likelihood"].to_dataset()
    names = group_var_names or list(ds.data_vars)
    total = sum(ds[n].sum([d for d in ds[n].dims if d not in ("chain", "draw")]) for n in names)
    values = np.asarray(total)
    return bool(np.ptp(values) <= CONSTANT_SPREAD)


def _psense(tree, names, group, group_var_names, alphas) -> pd.Series:
    """``az.psense`` of one group.

    A constant log prior (a uniform prior) is unchanged by power scaling: every sensitivity is
    0 (``az.psense`` cannot smooth its constant weights). Numerical warnings of ``az.psense``
    are logged, not raised.
    """
    if _constant(tree, group, group_var_names):
        zeros = xr.Dataset(
            {n: xr.zeros_like(tree.posterior[n].isel(chain=0, draw=0)) for n in names}
        )
        return _flatten(zeros.drop_vars(["chain", "draw"], errors="ignore"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = az.psense(
            tree, var_names=names, group=group, group_var_names=group_var_names, alphas=alphas
        )
    for w in caught:
        log.info("psense (%s): %s", group, w.message)
    return _flatten(values)


def power_scaling(
    tree: xr.DataTree,
    var_names: Sequence[str] | None = None,
    *,
    prior_var_names: Sequence[str] | None = None,
    likelihood_var_names: Sequence[str] | None = None,
    threshold: float = THRESHOLD,
    alphas: tuple[float, float] = (0.99, 1.01),
) -> pd.DataFrame:
    """Prior and likelihood power-scaling sensitivity of each posterior quantity.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with ``posterior``, ``log_prior`` and ``log_likelihood`` groups.
    var_names : list of str, optional
        Posterior variables (free or derived); default all.
    prior_var_names, likelihood_var_names : list of str, optional
        Which log-prior / log-likelihood terms to scale; default all of each group.
    threshold : float
        Sensitivity above which a component is called informative (0.05).
    alphas : (float, float)
        The powers around 1 for the finite-difference derivative.

    Returns
    -------
    pandas.DataFrame
        Indexed by quantity label (``median_months[SIRT alone]``, as in ``az.summary``), with
        columns ``psense_prior``, ``psense_likelihood``, ``psense_diagnosis``.
    """
    for group in ("log_prior", "log_likelihood"):
        if group not in tree.children:
            raise ValueError(f"the fit has no '{group}' group; power scaling needs it")
    names = _quantities(tree, var_names)
    prior = _psense(tree, names, "prior", _names(prior_var_names), alphas)
    like = _psense(tree, names, "likelihood", _names(likelihood_var_names), alphas)
    table = pd.DataFrame({"psense_prior": prior, "psense_likelihood": like})
    table["psense_diagnosis"] = [
        diagnose(p, li, threshold)
        for p, li in zip(table["psense_prior"], table["psense_likelihood"], strict=True)
    ]
    table.index.name = "quantity"
    flagged = table[table["psense_diagnosis"] != "ok"]
    if len(flagged):
        log.info("power-scaling flags: %s", dict(flagged["psense_diagnosis"]))
    return table


def _names(names: Sequence[str] | None) -> list[str] | None:
    return list(names) if names else None


def power_scaling_by_term(
    tree: xr.DataTree,
    likelihood_terms: Sequence[str | Sequence[str]],
    var_names: Sequence[str] | None = None,
    *,
    alphas: tuple[float, float] = (0.99, 1.01),
) -> pd.DataFrame:
    """Likelihood sensitivity of each quantity to each likelihood term on its own.

    Parameters
    ----------
    tree : xarray.DataTree
        A fit with a ``log_likelihood`` group holding one variable per term.
    likelihood_terms : list
        Names of log-likelihood variables; an entry may itself be a list (scaled together).
    var_names : list of str, optional
        Posterior variables; default all.
    alphas : (float, float)
        The powers around 1 for the finite-difference derivative.

    Returns
    -------
    pandas.DataFrame
        Long table: ``quantity, term, psense_likelihood``.
    """
    available = set(tree["log_likelihood"].to_dataset().data_vars)
    names = _quantities(tree, var_names)
    frames = []
    for term in likelihood_terms:
        group = [term] if isinstance(term, str) else list(term)
        missing = [t for t in group if t not in available]
        if missing:
            raise ValueError(
                f"no log-likelihood term {missing[0]!r}; terms: {', '.join(sorted(available))}"
            )
        values = _psense(tree, names, "likelihood", group, alphas)
        frames.append(
            pd.DataFrame(
                {
                    "quantity": values.index,
                    "term": "+".join(group),
                    "psense_likelihood": values.values,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
