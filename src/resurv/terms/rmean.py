"""The SPSS-style Kaplan–Meier mean: the area under the curve up to the last observed time.

When an arm's median is not reached, papers (typically from SPSS) report instead a "mean survival
time" ± SE: the area under the Kaplan–Meier step function up to the arm's largest observed time
τ (event or censored), a restricted mean with a data-dependent horizon.

References: Miller RG. Survival Analysis, Wiley, 1981, pp. 70–71 and 195–196. Therneau T. R
package ``survival``, ``print.survfit(rmean = "individual")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resurv.terms.km import kaplan_meier

__all__ = ["RestrictedMeanEstimate", "km_restricted_mean"]


# --- estimator (NumPy) ---


@dataclass(frozen=True)
class RestrictedMeanEstimate:
    """SPSS-style means; arrays of shape (R,) or (R, 2) (one column per arm)."""

    rmean: np.ndarray
    se: np.ndarray
    tau: np.ndarray


def km_restricted_mean(time, event, arm=None) -> RestrictedMeanEstimate:
    """Area under the Kaplan–Meier curve up to each arm's largest observed time, with its SE.

    μ̂ = ∫₀^τ Ŝ(u) du, τ = the arm's largest observed time (event or censored), and

        SE² = Σ_{t_i ≤ τ} A_i² d_i / (n_i (n_i − d_i)),   A_i = ∫_{t_i}^τ Ŝ(u) du,

    over the distinct event times t_i with n_i at risk and d_i events; a term with n_i = d_i (the
    last observation is an event and the curve drops to 0 there, where A_i = 0) is skipped, as in
    R ``survival`` (``rmean = "individual"``) and SPSS.

    Parameters
    ----------
    time, event, arm
        See :func:`resurv.terms.km.as_trials`.

    Returns
    -------
    RestrictedMeanEstimate
        ``rmean``, ``se`` and ``tau``; nan for an arm without patients.

    References
    ----------
    Miller RG. Survival Analysis, 1981.
    """
    curve = kaplan_meier(time, event, arm)
    table = curve.table
    tau = table.last_time  # (R, G)
    safe_tau = np.where(np.isnan(tau), 0.0, tau)[:, None, :]
    # Ŝ on [t_{k-1}, t_k): 1 before the first time, then the value after the previous time
    survival_before = np.concatenate(
        [np.ones_like(curve.survival[:, :1]), curve.survival[:, :-1]], axis=1
    )
    edges = np.minimum(table.time[..., None], safe_tau)
    widths = np.diff(edges, axis=1, prepend=0.0)
    area_to = np.cumsum(survival_before * widths, axis=1)  # ∫_0^{min(t_k, τ)} Ŝ
    rmean = area_to[:, -1, :]
    area_after = rmean[:, None, :] - area_to  # A_k = ∫_{t_k}^τ Ŝ
    deaths = table.n_events
    n_risk = table.n_at_risk
    usable = (deaths > 0) & (n_risk > deaths)
    denominator = np.where(usable, n_risk * (n_risk - deaths), 1)
    terms = np.where(usable, area_after**2 * deaths / denominator, 0.0)
    se = np.sqrt(terms.sum(axis=1))
    empty = table.n_total == 0
    rmean = np.where(empty, np.nan, rmean)
    se = np.where(empty, np.nan, se)
    return RestrictedMeanEstimate(
        rmean=table.finish(rmean), se=table.finish(se), tau=table.finish(tau)
    )


# --- model side (PyTensor) ---
#
# T3 (resurv statistical design, section 4): mean RMST_j(τ_j) = ∫₀^{τ_j} S_j and influence
# integrand a_j(u) = −1{u ≤ τ_j} A_j(u) / π_j(u), A_j(u) = ∫_u^{τ_j} S_j, so the model-implied
# variance is ∫₀^{τ_j} A_j² h_j / π_j du (the reported SE is a check target only). τ_j, the arm's
# largest observed time, is latent with its exact law (resurv.terms.notreached). Known shortfall
# at small n: E[area | τ_j] is not ∫₀^{τ_j} S_j (docs/statistics.md, T3).
# Reference: Miller RG. Survival Analysis, 1981.

import pytensor.tensor as pt  # noqa: E402

from resurv.terms.base import (  # noqa: E402
    ArmInfluence,
    ModelStatistic,
    RestrictedMean,
    TrialModel,
)

__all__ += ["influence", "model_mean", "model_statistic"]


def model_mean(trial: TrialModel, arm: int, horizon_months):
    """RMST_j(τ) = ∫₀^τ S_j(t) dt."""
    return pt.exp(trial.log_rmst(arm, horizon_months))


def influence(trial: TrialModel, arm: int, horizon_months) -> ArmInfluence:
    """T3 integrand on [0, τ]: sign −1, log|a_j(u)| = log ∫_u^τ S_j − log π_j(u).

    The inner area ∫_u^τ S_j is itself a Gauss–Legendre sum (in log space) at every node u.
    """
    tau = pt.as_tensor_variable(horizon_months, dtype="float64")

    def log_abs(u):
        return trial.log_rmst(arm, tau, lower=u) - trial.log_at_risk(arm, u)

    return ArmInfluence(sign=-1.0, log_abs=log_abs, upper=tau)


def model_statistic(trial: TrialModel, reported: RestrictedMean, horizon_months) -> ModelStatistic:
    """Mean and influence of a reported SPSS-style mean with (latent) horizon τ_j."""
    return ModelStatistic(
        label=reported.label,
        mean=model_mean(trial, reported.arm, horizon_months),
        influence={reported.arm: influence(trial, reported.arm, horizon_months)},
    )
