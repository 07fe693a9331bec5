"""Landmark survival: the Kaplan–Meier survival probability at a fixed time t*.

Papers report, e.g., "1-year survival 62% (SE 9%)" per arm.

References: Kaplan EL, Meier P. JASA 1958;53:457. Greenwood M. 1926.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resurv.statistics.km import kaplan_meier

__all__ = ["LandmarkEstimate", "interval", "km_landmark", "loglog_interval"]


# --- estimator (NumPy) ---


@dataclass(frozen=True)
class LandmarkEstimate:
    """Ŝ(t*) and its Greenwood SE; arrays of shape (R,) or (R, 2) (one column per arm)."""

    survival: np.ndarray
    se: np.ndarray


def loglog_interval(survival, se, z: float):
    """The log(−log) ("exponential Greenwood") confidence limits of a KM survival probability.

    θ = log(−log Ŝ) with SE(θ) = SE(Ŝ) / (Ŝ |log Ŝ|) (delta method), so the limits are
    Ŝ^exp(+z SE(θ)) (lower) and Ŝ^exp(−z SE(θ)) (upper); they stay inside [0, 1]. Where Ŝ is 1
    or 0 the interval is that point. Kalbfleisch JD, Prentice RL. The Statistical Analysis of
    Failure Time Data, 2nd ed., 2002, section 1.4; lifelines' and Stata's default.
    """
    survival = np.asarray(survival, dtype=float)
    inner = (survival > 0.0) & (survival < 1.0)
    safe = np.where(inner, survival, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(inner, np.asarray(se, dtype=float) / (safe * np.abs(np.log(safe))), 0.0)
    lower = np.where(inner, safe ** np.exp(z * scale), survival)
    upper = np.where(inner, safe ** np.exp(-z * scale), survival)
    return lower, upper


def interval(survival, se, z: float, transform: str = "loglog"):
    """Confidence limits of a KM survival probability on the scale ``transform``.

    "loglog": :func:`loglog_interval`; "log": Ŝ exp(∓z σ), σ = SE/Ŝ the SE of log Ŝ, the
    upper limit at most 1 (R ``survfit``'s default); "plain": Ŝ ∓ z SE inside [0, 1].
    Klein JP, Moeschberger ML. Survival Analysis, 2003, section 4.3.
    """
    if transform == "loglog":
        return loglog_interval(survival, se, z)
    survival = np.asarray(survival, dtype=float)
    se = np.asarray(se, dtype=float)
    if transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = np.where(survival > 0.0, se / np.where(survival > 0, survival, 1.0), 0.0)
        return survival * np.exp(-z * sigma), np.minimum(survival * np.exp(z * sigma), 1.0)
    if transform == "plain":
        return np.clip(survival - z * se, 0.0, 1.0), np.clip(survival + z * se, 0.0, 1.0)
    raise ValueError(f"transform must be log, loglog or plain; got {transform!r}")


def km_landmark(time, event, t_star, arm=None) -> LandmarkEstimate:
    """Kaplan–Meier survival at ``t_star`` with the Greenwood standard error.

    Ŝ(t*) = Π_{t_i ≤ t*} (1 − d_i/n_i),  SE = Ŝ(t*) · sqrt(Σ_{t_i ≤ t*} d_i / (n_i (n_i − d_i))).

    Ŝ(t*) is the value of the right-continuous step function, so deaths at exactly t* count.
    Beyond an arm's last observed time the last value is carried forward (as lifelines does);
    callers that need "not estimable" there can compare t* with the arm's largest time.

    Parameters
    ----------
    time, event, arm
        See :func:`resurv.statistics.km.as_trials`.
    t_star : float or array_like of shape (R,)
        Landmark time, one for all trials or one per trial.

    Returns
    -------
    LandmarkEstimate
    """
    curve = kaplan_meier(time, event, arm)
    n_trials = curve.time.shape[0]
    t_star = np.broadcast_to(np.asarray(t_star, dtype=float), (n_trials,))[:, None]
    survival, variance = curve.at(t_star)
    return LandmarkEstimate(survival=survival[:, 0], se=np.sqrt(variance[:, 0]))


# --- model side (PyTensor) ---
#
# The KM survival of arm j at t* has mean S_j(t*) and influence integrand
# a_j(u) = −S_j(t*) 1{u ≤ t*} / π_j(u), so its variance is Greenwood's
# S_j(t*)² ∫₀^{t*} h_j/(n_j S_j G) du (resurv statistical design, section 4; Andersen PK et al.
# Statistical Models Based on Counting Processes, 1993, section IV.3).

import pytensor.tensor as pt  # noqa: E402

from resurv.statistics.base import ArmInfluence, ModelStatistic, TrialModel  # noqa: E402

__all__ += ["influence", "model_mean", "model_statistic"]


def model_mean(trial: TrialModel, arm: int, t_months):
    """S_j(t*), the model value of the KM survival at t*."""
    return pt.exp(trial.log_survival(arm, pt.as_tensor_variable(t_months, dtype="float64")))


def influence(trial: TrialModel, arm: int, t_months) -> ArmInfluence:
    """Integrand on [0, t*]: sign −1, log|a_j(u)| = log S_j(t*) − log π_j(u)."""
    t_star = pt.as_tensor_variable(t_months, dtype="float64")
    log_s = trial.log_survival(arm, t_star)
    return ArmInfluence(
        sign=-1.0, log_abs=lambda u: log_s - trial.log_at_risk(arm, u), upper=t_star
    )


def model_statistic(trial: TrialModel, reported) -> ModelStatistic:
    """Mean and influence of a reported landmark survival."""
    return ModelStatistic(
        label=reported.label,
        mean=model_mean(trial, reported.index, reported.t_months),
        influence={reported.index: influence(trial, reported.index, reported.t_months)},
    )


__all__ += ["printed_se_log_variance"]


def printed_se_log_variance(trial: TrialModel, arm: int, t_months):
    """τ² = Var log ŝ of Greenwood's SE ŝ = Ŝ(t*) √Σ̂ of a KM survival probability.

    Σ̂ = Σ_{t_i ≤ t*} d_i/(Y_i(Y_i − d_i)) ≈ ∫₀^{t*} dN/Y². To first order, with π = n p the
    expected number at risk (p = S G) and Σ = ∫₀^{t*} h/π du, both log Ŝ and Σ̂ are sums of
    independent patients' terms: δ log Ŝ = −∫ dM/π and δΣ̂ = ∫ dM/π² − ∫ (Y − π) h/π² du (the
    at-risk process's own fluctuation enters Σ̂, unlike a sum over deaths with fixed weights).
    So δ log ŝ = Σ_i g_i, g_i = ∫ f₁ dM_i + ∫ Y_i f₂ du, f₁ = −1/π + 1/(2Σπ²),
    f₂ = −h/(2Σπ²), and

        τ² = n Var g_i = n [∫ f₁² p h du + 2∫ f₂(v) p(v) F₂(v) dv − (∫ f₂ p du)²
                            − 2∫ f₂(v) p(v) F₁(v) dv],

    F₂(v) = ∫₀^v f₂ du, F₁(v) = ∫₀^v f₁ h du (E[Y_i(u) Y_i(v)] = p(max(u, v)); a patient at risk
    at v has had no event before it, so E[(∫₀^v f₁ dM_i) Y_i(v)] = −p(v) F₁(v)). All integrals
    run over [0, min(t*, A + F)]. Checked against simulation:
    tests/statistics/test_landmark_ci.py.
    """
    n = float(trial.n_per_arm[arm])
    upper = trial.cap(pt.as_tensor_variable(t_months, dtype="float64"))

    def p(u):
        return pt.exp(trial.log_at_risk(arm, u)) / n

    def h(u):
        return pt.exp(trial.log_hazard(arm, u))

    sigma = trial.integral(lambda u: h(u) / (n * p(u)), upper)

    def f1(u):
        pi = n * p(u)
        return -1.0 / pi + 1.0 / (2.0 * sigma * pi**2)

    def f2(u):
        pi = n * p(u)
        return -h(u) / (2.0 * sigma * pi**2)

    martingale = trial.integral(lambda u: f1(u) ** 2 * p(u) * h(u), upper)

    def at_risk_pairs(v):
        inner = trial.integral(f2, v)
        return f2(v) * p(v) * inner

    def cross(v):
        inner = trial.integral(lambda u: f1(u) * h(u), v)
        return f2(v) * p(v) * inner

    at_risk = (
        2.0 * trial.integral(at_risk_pairs, upper)
        - trial.integral(lambda u: f2(u) * p(u), upper) ** 2
    )
    covariance = -trial.integral(cross, upper)
    return n * (martingale + at_risk + 2.0 * covariance)
