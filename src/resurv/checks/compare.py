"""Model comparison of survival fits by leave-one-out cross-validation (PSIS-LOO).

For each fit, the expected log pointwise predictive density

    elpd_loo = Σᵢ log p(yᵢ | y₋ᵢ),

is estimated by Pareto-smoothed importance sampling from the pointwise log-likelihood
ℓᵢ = δᵢ log h(tᵢ) − H(tᵢ) + H(aᵢ) stored in the fit's ``log_likelihood`` group (resurv
statistical design, section 2). Fits are ranked by elpd_loo and weighted by stacking of
predictive distributions. The Pareto shape k̂ of each patient's importance weights is the
reliability diagnostic: above 0.7 the estimate for that patient is unreliable
(Vehtari et al. 2024), and a model with many such patients is favoured by a biased estimate.

All fits must be of the same patients (the same observations), e.g. several families fitted
to one patient-data file.

References
----------
Vehtari A, Gelman A, Gabry J. Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. Stat Comput 2017;27:1413.
Vehtari A, Simpson D, Gelman A, Yao Y, Gabry J. Pareto smoothed importance sampling.
J Mach Learn Res 2024;25:1.
Yao Y, Vehtari A, Simpson D, Gelman A. Using stacking to average Bayesian predictive
distributions. Bayesian Anal 2018;13:917.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["PARETO_K_THRESHOLD", "compare_fits", "loo_by_model"]

log = logging.getLogger(__name__)

PARETO_K_THRESHOLD = 0.7
_ARVIZ_K_WARNING = "Estimated shape parameter of Pareto distribution"

_COLUMNS = [
    "model",
    "rank",
    "elpd_loo",
    "se",
    "p_loo",
    "elpd_diff",
    "dse",
    "weight",
    "n_observations",
    "n_pareto_k_high",
    "max_pareto_k",
]


def _finite_posterior(tree: xr.DataTree) -> xr.DataTree:
    """The tree with only the posterior variables whose draws are all finite.

    arviz's LOO estimates the relative efficiency of the draws from every posterior variable; a
    derived quantity that is inf in some draws (a cure model's median when the cured fraction is
    at least ½) would make that estimate nan.
    """
    posterior = tree["posterior"].to_dataset()
    finite = [v for v in posterior.data_vars if bool(np.isfinite(posterior[v]).all())]
    if len(finite) == len(posterior.data_vars):
        return tree
    tree = tree.copy()
    tree["posterior"] = xr.DataTree(posterior[finite])
    return tree


def loo_by_model(fits: Mapping[str, xr.DataTree], *, var_name: str | None = "survival_ipd") -> dict:
    """PSIS-LOO of each fit (``arviz.loo`` with pointwise values).

    Parameters
    ----------
    fits : mapping of str to xarray.DataTree
        Model name → sampled tree with a ``log_likelihood`` group.
    var_name : str or None
        The log-likelihood variable (``None``: the only one in the group).

    Returns
    -------
    dict of str to ELPDData
        Model name → LOO result (``elpd``, ``se``, ``p``, ``pareto_k`` per observation).
    """
    if len(fits) == 0:
        raise ValueError("no fits to compare")
    out = {}
    sizes = {}
    for name, tree in fits.items():
        if "log_likelihood" not in tree.children:
            raise ValueError(f"fit '{name}' has no log_likelihood group")
        with warnings.catch_warnings():
            # high Pareto k are counted and logged by compare_fits instead
            warnings.filterwarnings("ignore", _ARVIZ_K_WARNING, UserWarning)
            result = az.loo(_finite_posterior(tree), pointwise=True, var_name=var_name)
        out[name] = result
        sizes[name] = int(result.n_data_points)
    if len(set(sizes.values())) > 1:
        raise ValueError(f"fits have different numbers of observations: {sizes}")
    return out


def compare_fits(
    fits: Mapping[str, xr.DataTree],
    *,
    var_name: str | None = "survival_ipd",
    method: str = "stacking",
    k_threshold: float = PARETO_K_THRESHOLD,
) -> pd.DataFrame:
    """Rank fits of the same patients by PSIS-LOO, with stacking weights and Pareto-k counts.

    Parameters
    ----------
    fits : mapping of str to xarray.DataTree
        Model name → sampled tree with a ``log_likelihood`` group.
    var_name : str or None
        The log-likelihood variable (``None``: the only one in the group).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ``arviz.compare`` weights the models (stacking: Yao et al. 2018).
    k_threshold : float
        Pareto k̂ above which a patient's LOO estimate counts as unreliable (0.7).

    Returns
    -------
    pandas.DataFrame
        One row per model, best first, columns ``model, rank, elpd_loo, se, p_loo, elpd_diff,
        dse, weight, n_observations, n_pareto_k_high, max_pareto_k``; ``elpd_diff`` is relative
        to the best model (≤ 0) and ``dse`` its standard error. A warning is logged for every
        model with patients above ``k_threshold``.
    """
    loos = loo_by_model(fits, var_name=var_name)
    if len(loos) == 1:
        ((name, res),) = loos.items()
        table = pd.DataFrame(
            {
                "rank": [0],
                "elpd_diff": [0.0],
                "dse": [0.0],
                "weight": [1.0],
                "elpd": [float(res.elpd)],
                "se": [float(res.se)],
                "p": [float(res.p)],
            },
            index=[name],
        )
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _ARVIZ_K_WARNING, UserWarning)
            table = pd.DataFrame(az.compare(dict(loos), method=method, round_to="none"))
    rows = []
    for name, row in table.iterrows():
        k = np.asarray(loos[name].pareto_k, dtype=float).ravel()
        n_high = int(np.sum(k > k_threshold))
        if n_high:
            log.warning(
                "model %s: %d of %d observations have Pareto k > %.2f (max %.2f); "
                "its elpd_loo is unreliable",
                name,
                n_high,
                k.size,
                k_threshold,
                float(np.max(k)),
            )
        rows.append(
            {
                "model": str(name),
                "rank": int(row["rank"]),
                "elpd_loo": float(row["elpd"]),
                "se": float(row["se"]),
                "p_loo": float(row["p"]),
                "elpd_diff": float(row["elpd_diff"]),
                "dse": float(row["dse"]),
                "weight": float(row["weight"]),
                "n_observations": int(k.size),
                "n_pareto_k_high": n_high,
                "max_pareto_k": float(np.max(k)),
            }
        )
    return pd.DataFrame(rows, columns=_COLUMNS).sort_values("rank").reset_index(drop=True)
