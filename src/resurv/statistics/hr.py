"""Reported hazard ratio (Cox model), model side (PyTensor).

The Cox estimate β̂ of arm 1 versus arm 0 converges to the root β* of the expected score

    s(β) = ∫ π₀π₁ (h₁ − e^β h₀) / (π₀ + π₁e^β) du = 0,

which is the true log HR for proportional-hazards families and the model's implied value
otherwise. Under PH its influence integrands are a₁(u) = (1 − ē(u))/I and a₀(u) = −ē(u)/I with
ē = π₁e^β/(π₀ + π₁e^β) and I = ∫ ē(1 − ē)(π₀h₀ + π₁h₁) du (the information; the log-rank
integrands divided by V, resurv statistical design section 4, T5); otherwise they carry an
at-risk term (:func:`influence`). The reported CI
width is a check target only. References: Struthers CA, Kalbfleisch JD. Biometrika 1986;73:363
(Cox under misspecification); Andersen PK, Gill RD. Ann Stat 1982;10:1100.
"""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad

from resurv.statistics.base import ArmInfluence, ModelStatistic, TrialModel

__all__ = [
    "influence",
    "model_mean",
    "model_statistic",
]


def _score_and_log_information(trial: TrialModel, log_hr):
    def score(u):
        log_pi0 = trial.log_at_risk(0, u)
        log_pi1 = trial.log_at_risk(1, u)
        log_den = pt.logaddexp(log_pi0, log_pi1 + log_hr)
        h1 = pt.exp(trial.log_hazard(1, u))
        h0e = pt.exp(trial.log_hazard(0, u) + log_hr)
        return pt.exp(log_pi0 + log_pi1 - log_den) * (h1 - h0e)

    def log_info(u):
        log_pi0 = trial.log_at_risk(0, u)
        log_pi1 = trial.log_at_risk(1, u)
        log_den = pt.logaddexp(log_pi0, log_pi1 + log_hr)
        log_deaths = pt.logaddexp(
            log_pi0 + trial.log_hazard(0, u), log_pi1 + trial.log_hazard(1, u)
        )
        return log_pi0 + log_pi1 + log_hr + log_deaths - 2.0 * log_den

    s = trial.integral(score, trial.max_followup)
    return s, trial.log_integral(log_info, trial.max_followup)


def model_mean(trial: TrialModel, n_newton: int = 2):
    """β*, the limit of the Cox estimate, by Newton steps β ← β + s(β)/I(β).

    The start is the log-rank (Peto) value E[U]/V, which is exactly one Newton step from β = 0.
    All steps but the last are gradient-stopped; the last carries the implicit-function
    gradient dβ*/dθ = (∂s/∂θ)/I.
    """
    log_hr = pt.as_tensor_variable(0.0)
    for _ in range(n_newton):
        s, log_i = _score_and_log_information(trial, log_hr)
        log_hr = disconnected_grad(log_hr + s * pt.exp(-log_i))
    s, log_i = _score_and_log_information(trial, log_hr)
    return log_hr + s * pt.exp(-log_i)


def influence(trial: TrialModel, log_hr=None) -> dict[int, ArmInfluence]:
    """Integrands of log HR̂ on [0, A+F]: the score's martingale part plus its at-risk part.

    The score at β* is Σ_j ∫ (1{j = 1} − ē) dM_j + ∫ ψ(Y₀, Y₁) du with
    ψ = Y₀Y₁(h₁ − e^β h₀)/(Y₀ + Y₁e^β), which is 0 under PH but not otherwise; its at-risk
    fluctuation adds −B_j(s) = −∫_s^{A+F} (∂ψ/∂Y_j)(u) π_j(u)/π_j(s) du (see
    :func:`resurv.statistics.logrank.influence`), with ∂ψ/∂Y₀ = ē² D e^{−β}, ∂ψ/∂Y₁ = (1 − ē)² D,
    D = h₁ − e^β h₀. So a₁ = [(1 − ē) − B₁]/I and a₀ = [−ē − B₀]/I.
    """
    if log_hr is None:
        log_hr = model_mean(trial)
    _, log_i = _score_and_log_information(trial, log_hr)
    inv_info = pt.exp(-log_i)
    end = trial.max_followup

    def parts(u):
        log_pi0 = trial.log_at_risk(0, u)
        log_pi1 = trial.log_at_risk(1, u) + log_hr
        e_bar = pt.exp(log_pi1 - pt.logaddexp(log_pi0, log_pi1))
        excess = pt.exp(trial.log_hazard(1, u)) - pt.exp(trial.log_hazard(0, u) + log_hr)
        return e_bar, excess

    def tail(arm, u):
        log_pi_u = trial.log_at_risk(arm, u)[..., None]

        def f(t):
            e_bar, excess = parts(t)
            ratio = pt.exp(trial.log_at_risk(arm, t) - log_pi_u)
            if arm == 1:
                return (1.0 - e_bar) ** 2 * excess * ratio
            return e_bar**2 * excess * pt.exp(-log_hr) * ratio

        return trial.integral(f, end, lower=u)

    def arm1(u):
        e_bar, _ = parts(u)
        return (1.0 - e_bar - tail(1, u)) * inv_info

    def arm0(u):
        e_bar, _ = parts(u)
        return (-e_bar - tail(0, u)) * inv_info

    return {
        0: ArmInfluence(sign=1.0, log_abs=pt.zeros_like, factor=arm0),
        1: ArmInfluence(sign=1.0, log_abs=pt.zeros_like, factor=arm1),
    }


def influence_table(trial: TrialModel, log_hr=None) -> dict[int, ArmInfluence]:
    """Design-table integrands of log HR̂: arm 1 +(1 − ē)/I, arm 0 −ē/I, on [0, A+F].

    Exact under PH; otherwise they leave out the at-risk terms of :func:`influence`.
    """
    if log_hr is None:
        log_hr = model_mean(trial)
    _, log_i = _score_and_log_information(trial, log_hr)

    def parts(u):
        log_pi0 = trial.log_at_risk(0, u)
        log_pi1 = trial.log_at_risk(1, u) + log_hr
        return log_pi0, log_pi1, pt.logaddexp(log_pi0, log_pi1)

    def arm1(u):
        log_pi0, _, log_den = parts(u)
        return log_pi0 - log_den - log_i

    def arm0(u):
        _, log_pi1, log_den = parts(u)
        return log_pi1 - log_den - log_i

    return {0: ArmInfluence(sign=-1.0, log_abs=arm0), 1: ArmInfluence(sign=1.0, log_abs=arm1)}


def model_statistic(trial: TrialModel, reported=None) -> ModelStatistic:
    """Mean and influence of a reported log hazard ratio."""
    log_hr = model_mean(trial)
    integrands = (
        influence(trial, log_hr) if trial.influence == "full" else influence_table(trial, log_hr)
    )
    return ModelStatistic(label="log_hr", mean=log_hr, influence=integrands)
