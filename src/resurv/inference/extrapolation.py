"""Posterior survival, hazard and RMST of each arm to a horizon beyond the follow-up.

For each posterior draw the arm curves of the fitted model give, on a time grid to the horizon,

    S(t) = exp(−H(t)),   h(t) = exp(log h(t)),   RMST(τ) = ∫₀^τ S(t) dt,

and, when the model file gives a background hazard (relative-survival form, see
``resurv.families.background``), the all-cause versions H = H_pop + H_excess, h = h_pop + h_excess
(the family is then the excess hazard). RMST uses the graded Gauss–Legendre rule of
``resurv.families._base`` on the all-cause S. The summary is the posterior median and the 95%
equal-tailed interval at each time; each row says whether the time lies beyond the end of the
data (the largest observed time of the patient data, or for published summaries the largest
follow-up the study's design allows), where the numbers are extrapolation by the family alone.
With a background hazard, the RMST integral is split at its steps (kinks of S).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resurv.families import gauss_legendre_rmst
from resurv.io.modelspec import ModelSpec
from resurv.models.survival import curves_from_posterior

__all__ = ["Extrapolation", "data_end_months", "extrapolate", "extrapolate_fit"]

QUANTILES = (0.025, 0.5, 0.975)
_PIECE_NODES = 40


@dataclass
class Extrapolation:
    """Curves (one row per arm and time) and RMST (one row per arm and horizon) summaries."""

    curves: pd.DataFrame
    rmst: pd.DataFrame
    data_end: float | None


def _all_cause(curve, t, background):
    """(log h, H) of one arm at times t (draws × times), background added when given."""
    log_h, cum_h = curve.log_hazard(t), curve.cum_hazard(t)
    if background is not None:
        log_h, cum_h = background.add_to(log_h, cum_h, t)
    return log_h, cum_h


def _rmst(cum_hazard_at, tau: float, n_draws: int, background) -> np.ndarray:
    """∫₀^τ exp(−H(t)) dt per draw.

    The graded rule on [0, c₁], Gauss–Legendre on each later interval of the background hazard
    (its steps put kinks in S, which one rule over [0, τ] integrates only to about 10⁻⁵).
    """
    cuts = [] if background is None else [c for c in background.times[1:] if c < tau]
    first = cuts[0] if cuts else tau
    total = gauss_legendre_rmst(lambda x: np.exp(-cum_hazard_at(x)), np.full(n_draws, first))
    nodes, weights = np.polynomial.legendre.leggauss(_PIECE_NODES)
    for lo, hi in zip(cuts, [*cuts[1:], tau], strict=False):
        t = np.broadcast_to(lo + (hi - lo) * (nodes + 1.0) / 2.0, (n_draws, nodes.size))
        total = total + (hi - lo) / 2.0 * np.sum(np.exp(-cum_hazard_at(t)) * weights, axis=-1)
    return total


def extrapolate(
    spec: ModelSpec,
    posterior,
    arm_labels,
    horizons,
    *,
    n_grid: int = 121,
    data_end: float | None = None,
) -> Extrapolation:
    """Posterior S, h on a grid to max(horizons) and RMST at each horizon, per arm.

    ``posterior``: the fit's posterior (an ``xarray`` dataset of draws).
    """
    horizons = [float(h) for h in horizons]
    background = spec.background
    curves = curves_from_posterior(spec, posterior)
    grid = np.linspace(0.0, max(horizons), n_grid)[1:]
    curve_rows, rmst_rows = [], []
    with np.errstate(all="ignore"):
        for label, curve in zip(arm_labels, curves, strict=False):
            n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]
            t = np.broadcast_to(grid, (n_draws, grid.size))
            log_h, cum_h = _all_cause(curve, t, background)
            surv_q = np.quantile(np.exp(-cum_h), QUANTILES, axis=0)
            haz_q = np.quantile(np.exp(log_h), QUANTILES, axis=0)
            for j, time in enumerate(grid):
                curve_rows.append(
                    {
                        "arm": label,
                        "time": time,
                        "survival": surv_q[1, j],
                        "survival_low": surv_q[0, j],
                        "survival_high": surv_q[2, j],
                        "hazard": haz_q[1, j],
                        "hazard_low": haz_q[0, j],
                        "hazard_high": haz_q[2, j],
                        "extrapolated": data_end is not None and time > data_end,
                    }
                )
            for tau in horizons:
                values = _rmst(
                    lambda x, c=curve: _all_cause(c, x, background)[1], tau, n_draws, background
                )
                q = np.quantile(values, QUANTILES)
                rmst_rows.append(
                    {
                        "arm": label,
                        "horizon": tau,
                        "rmst": q[1],
                        "rmst_low": q[0],
                        "rmst_high": q[2],
                        "extrapolated": data_end is not None and tau > data_end,
                    }
                )
    return Extrapolation(pd.DataFrame(curve_rows), pd.DataFrame(rmst_rows), data_end)


def data_end_months(study, endpoint: str) -> float | None:
    """Where the data end, in months (None when the study does not say).

    The largest observed time of the endpoint's patient data, or for published summaries the
    longest follow-up of the design (accrual + minimum follow-up, each fixed or its prior's
    median).
    """
    if study.has_patient_data(endpoint):
        from resurv.io.patient_data import load_ipd_for

        return float(np.max(load_ipd_for(study, endpoint).time))
    longest = 0.0
    for key in ("accrual_months", "followup_months"):
        spec = study.followup_priors.get(key)
        if spec is None or spec.dist == "robust":
            return None
        longest += (
            float(spec.args["value"])
            if spec.dist == "fixed"
            else float(spec.scipy_frozen().median())
        )
    return longest


def extrapolate_fit(fit_dir, horizons, *, n_grid: int = 121) -> Extrapolation:
    """:func:`extrapolate` for a saved fit folder (its ``posterior.nc`` and provenance)."""
    from pathlib import Path

    import xarray as xr

    from resurv.io.modelspec import model_spec_from_text
    from resurv.models.survival import for_arms
    from resurv.report.runs import provenance_of, study_from_provenance

    path = Path(fit_dir) / "posterior.nc"
    attrs = provenance_of(path)
    spec = model_spec_from_text(attrs["resurv_model_content"], attrs["resurv_model_file"])
    study = study_from_provenance(attrs, path)
    spec = for_arms(spec, study.n_arms)
    tree = xr.open_datatree(path)
    posterior = tree.posterior.to_dataset()
    labels = [a.label for a in study.arms]
    return extrapolate(
        spec,
        posterior,
        labels,
        horizons,
        n_grid=n_grid,
        data_end=data_end_months(study, spec.endpoint),
    )
