"""Convergence gates: R-hat, bulk and tail ESS, divergences (ArviZ).

Gates follow Vehtari A et al. Bayesian Analysis 2021;16:667: rank-normalized split R-hat ≤ 1.01
and bulk/tail ESS ≥ 400 (100 per chain for 4 chains); any divergent transition fails.
A failed gate is logged as a warning and raised as :class:`~resurv.errors.ConvergenceWarning`,
never silently passed.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr

from resurv.errors import ConvergenceWarning

__all__ = ["Diagnostics", "check_convergence", "passes_gates"]

log = logging.getLogger(__name__)

RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class Diagnostics:
    """Worst-case convergence numbers over every posterior quantity, and the gate verdicts."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    draws: int
    rhat_ok: bool
    ess_ok: bool
    divergences_ok: bool

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return self.rhat_ok and self.ess_ok and self.divergences_ok

    def failures(self) -> list[str]:
        """Human-readable list of failed gates."""
        out = []
        if not self.rhat_ok:
            out.append(f"max R-hat {self.max_rhat:.3f} > {RHAT_MAX}")
        if not self.ess_ok:
            out.append(
                f"min ESS bulk/tail {self.min_ess_bulk:.0f}/{self.min_ess_tail:.0f} < {ESS_MIN}"
            )
        if not self.divergences_ok:
            out.append(f"{self.divergences} divergent transitions")
        return out

    def to_dict(self) -> dict:
        """JSON-ready form, with ``passed``."""
        return {**asdict(self), "passed": self.passed, "failures": self.failures()}


def _finite_values(ds: xr.Dataset) -> np.ndarray:
    values = np.concatenate([np.ravel(ds[v].values) for v in ds.data_vars]) if ds.data_vars else []
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def check_convergence(tree: xr.DataTree, var_names: list[str] | None = None) -> Diagnostics:
    """Compute the gates over the free parameters (or ``var_names``) of a sampled tree.

    Quantities that are constant across draws (R-hat undefined) are left out.
    """
    post = tree.posterior.to_dataset()
    if var_names:
        post = post[var_names]
    rhat = _finite_values(az.rhat(post))
    ess_bulk = _finite_values(az.ess(post, method="bulk"))
    ess_tail = _finite_values(az.ess(post, method="tail"))
    divergences = int(np.asarray(tree.sample_stats["diverging"].values).sum())
    draws = int(post.sizes["chain"] * post.sizes["draw"])
    max_rhat = float(rhat.max()) if rhat.size else float("nan")
    min_bulk = float(ess_bulk.min()) if ess_bulk.size else float("nan")
    min_tail = float(ess_tail.min()) if ess_tail.size else float("nan")
    diag = Diagnostics(
        max_rhat=max_rhat,
        min_ess_bulk=min_bulk,
        min_ess_tail=min_tail,
        divergences=divergences,
        draws=draws,
        rhat_ok=bool(max_rhat <= RHAT_MAX),
        ess_ok=bool(min_bulk >= ESS_MIN and min_tail >= ESS_MIN),
        divergences_ok=divergences == 0,
    )
    if not diag.passed:
        message = "convergence gates failed: " + "; ".join(diag.failures())
        log.warning(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return diag


def passes_gates(fit) -> bool:
    """Whether a fit passed every convergence gate.

    ``fit``: a fit folder (its ``diagnostics.json``), a :class:`Diagnostics`, the dictionary
    of a ``diagnostics.json``, or any object with a ``diagnostics()`` method returning one (a
    report's run). A fit that fails its gates is to be left out of conclusions, tables and
    figures, or marked wherever it appears.
    """
    if isinstance(fit, Diagnostics):
        return fit.passed
    if isinstance(fit, (str, Path)):
        fit = json.loads((Path(fit) / "diagnostics.json").read_text())
    elif hasattr(fit, "diagnostics") and callable(fit.diagnostics):
        fit = fit.diagnostics()
    return bool(fit["passed"])
