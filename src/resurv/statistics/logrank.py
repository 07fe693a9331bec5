"""The two-arm log-rank test.

Papers report the log-rank p-value (sometimes the chi-square) and which arm did better.

References: Mantel N. Cancer Chemother Rep 1966;50:163. Peto R, Peto J. JRSS A 1972;135:185.
Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2002, section 7.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from resurv.statistics.km import risk_table

__all__ = ["LogrankEstimate", "logrank_test"]


# --- estimator (NumPy) ---


@dataclass(frozen=True)
class LogrankEstimate:
    """Log-rank statistics of R trials; every array has shape (R,).

    ``direction`` is sign(U): −1 when arm 1 had fewer events than expected under the null (arm 1
    did better), +1 when it had more, 0 when U = 0 or the test is undefined.
    """

    observed_1: np.ndarray
    expected_1: np.ndarray
    u: np.ndarray
    variance: np.ndarray
    z: np.ndarray
    chisq: np.ndarray
    p_value: np.ndarray
    direction: np.ndarray


def logrank_test(time, event, arm) -> LogrankEstimate:
    """Two-arm log-rank test, vectorized over trials.

    At each distinct event time with n_j at risk and d_j events in arm j (n = n₀ + n₁,
    d = d₀ + d₁):

        U = O₁ − E₁ = Σ (d₁ − d n₁/n),
        V = Σ n₀ n₁ d (n − d) / (n² (n − 1))   (hypergeometric variance, exact with ties),

    Z = U / √V, χ² = U²/V on 1 degree of freedom, two-sided p = P(χ²₁ > χ²). Where V = 0 (no
    events, or never both arms at risk at an event time) Z, χ² and p are nan.

    Parameters
    ----------
    time, event
        See :func:`resurv.statistics.km.as_trials`.
    arm : array_like, shape (n,) or (R, n)
        Arm codes in {0, 1} (or a boolean mask of arm 1).

    Returns
    -------
    LogrankEstimate
    """
    arm = np.asarray(arm)
    if arm.dtype == bool:
        arm = arm.astype(np.int64)
    table = risk_table(time, event, arm)
    n0, n1 = table.n_at_risk[..., 0], table.n_at_risk[..., 1]
    d1 = table.n_events[..., 1]
    deaths = table.n_events.sum(axis=-1)
    n_risk = n0 + n1
    has_death = deaths > 0
    safe_n = np.where(has_death, n_risk, 1)
    expected_1 = np.where(has_death, deaths * n1 / safe_n, 0.0).sum(axis=1)
    informative = has_death & (n_risk > 1)
    safe_n2 = np.where(informative, n_risk, 2)
    var_terms = n0 * n1 * deaths * (safe_n2 - deaths) / (safe_n2**2 * (safe_n2 - 1.0))
    variance = np.where(informative, var_terms, 0.0).sum(axis=1)
    observed_1 = d1.sum(axis=1).astype(float)
    u = observed_1 - expected_1
    defined = variance > 0
    safe_v = np.where(defined, variance, 1.0)
    z = np.where(defined, u / np.sqrt(safe_v), np.nan)
    chisq = np.where(defined, u**2 / safe_v, np.nan)
    p_value = np.where(defined, stats.chi2.sf(np.where(defined, chisq, 0.0), df=1), np.nan)
    direction = np.where(defined, np.sign(u), 0.0).astype(np.int64)
    return LogrankEstimate(
        observed_1=observed_1,
        expected_1=expected_1,
        u=u,
        variance=variance,
        z=z,
        chisq=chisq,
        p_value=p_value,
        direction=direction,
    )


# --- model side (PyTensor) ---
#
# T4 (resurv statistical design, section 4). With U = O₁ − E₁ (arm 1 the comparator),
#     E[U] = ∫ π₀π₁ (h₁ − h₀) / (π₀ + π₁) du,
#     V    = ∫ π₀π₁ (π₀h₀ + π₁h₁) / (π₀ + π₁)² du   (the variance the test uses),
# and influence integrands a₁(u) = π₀/(π₀ + π₁), a₀(u) = −π₁/(π₀ + π₁). The reported statistic
# is Z = U/√V: mean E[U]/√V, influence a_j/√V. Every weight is computed in log space
# (log π_j = log n_j − H_j + log G, then logaddexp), which stays finite when both survival
# curves underflow. Under PH and a small effect, log HR ≈ Z/√V (Tierney JF et al. Trials
# 2007;8:16). References: Schoenfeld D. Biometrika 1981;68:316; Lakatos E. Biometrics
# 1988;44:229.

import pytensor.tensor as pt  # noqa: E402

from resurv.statistics.base import ArmInfluence, ModelStatistic, TrialModel  # noqa: E402

__all__ += ["expected_score", "influence", "log_variance", "model_mean", "model_statistic"]


def _log_weights(trial: TrialModel, u):
    log_pi0 = trial.log_at_risk(0, u)
    log_pi1 = trial.log_at_risk(1, u)
    return log_pi0, log_pi1, pt.logaddexp(log_pi0, log_pi1)


def expected_score(trial: TrialModel):
    """E[U] = ∫₀^{A+F} π₀π₁(h₁ − h₀)/(π₀ + π₁) du."""

    def f(u):
        log_pi0, log_pi1, log_total = _log_weights(trial, u)
        hazard_diff = pt.exp(trial.log_hazard(1, u)) - pt.exp(trial.log_hazard(0, u))
        return pt.exp(log_pi0 + log_pi1 - log_total) * hazard_diff

    return trial.integral(f, trial.max_followup)


def log_variance(trial: TrialModel):
    """Log V, V = ∫₀^{A+F} π₀π₁(π₀h₀ + π₁h₁)/(π₀ + π₁)² du."""

    def log_f(u):
        log_pi0, log_pi1, log_total = _log_weights(trial, u)
        log_deaths = pt.logaddexp(
            log_pi0 + trial.log_hazard(0, u), log_pi1 + trial.log_hazard(1, u)
        )
        return log_pi0 + log_pi1 + log_deaths - 2.0 * log_total

    return trial.log_integral(log_f, trial.max_followup)


def model_mean(trial: TrialModel):
    """E[Z] = E[U]/√V."""
    return expected_score(trial) * pt.exp(-0.5 * log_variance(trial))


def _probabilities(trial: TrialModel, u):
    """p₀ = π₀/(π₀+π₁), p₁ = π₁/(π₀+π₁) (from log π_j), and h₀, h₁."""
    log_pi0, log_pi1, log_total = _log_weights(trial, u)
    p0, p1 = pt.exp(log_pi0 - log_total), pt.exp(log_pi1 - log_total)
    return p0, p1, pt.exp(trial.log_hazard(0, u)), pt.exp(trial.log_hazard(1, u))


def _at_risk_derivatives(trial: TrialModel, u):
    """∂ψ/∂Y_j and ∂φ/∂Y_j at u for the compensators ψ of U and φ of V̂ (see :func:`influence`)."""
    p0, p1, h0, h1 = _probabilities(trial, u)
    diff = h1 - h0
    deaths = p0 * h0 + p1 * h1
    return {
        "psi0": p1**2 * diff,
        "psi1": p0**2 * diff,
        "phi0": p1 * (deaths * (p1 - p0) + p0 * h0),
        "phi1": p0 * (deaths * (p0 - p1) + p1 * h1),
    }


def influence(trial: TrialModel) -> dict[int, ArmInfluence]:
    """Integrands of Z = U/√V̂ on [0, A+F], including the at-risk and V̂ fluctuations.

    The table of the statistical design gives U's martingale integrands a₁ = π₀/(π₀+π₁),
    a₀ = −π₁/(π₀+π₁). Two first-order terms are missing from it when E[U] ≠ 0 (checked by
    simulation, tests/statistics/test_influence_model.py): U's compensator ∫ ψ(Y₀, Y₁) du,
    ψ = Y₀Y₁(h₁ − h₀)/(Y₀+Y₁), moves with the at-risk counts, and the test's variance V̂ is
    random too. The at-risk count moves as δY_j(u) = −π_j(u) ∫₀^u (dM_j + dM_j^c)/π_j (deaths
    and censoring; the KM-type representation of Y_j/n_j − S_j G), so the death part of
    ∫ c(u) δY_j(u) du is −∫ dM_j(s) B_j^c(s), B_j^c(s) = ∫_s^{A+F} c(u) π_j(u)/π_j(s) du, and

        a_j^U(s) = a_j(s) − B_j^{∂ψ/∂Y_j}(s),
        a_j^V(s) = p₀p₁(s) − B_j^{∂φ/∂Y_j}(s),   φ = Y₀Y₁(Y₀h₀ + Y₁h₁)/(Y₀+Y₁)²,
        a_j^Z    = a_j^U/√V − ½ E[U] V^{−3/2} a_j^V,

    with ∂ψ/∂Y₀ = p₁²(h₁ − h₀), ∂ψ/∂Y₁ = p₀²(h₁ − h₀),
    ∂φ/∂Y₀ = p₁[(p₀h₀ + p₁h₁)(p₁ − p₀) + p₀h₀], ∂φ/∂Y₁ = p₀[(p₀h₀ + p₁h₁)(p₀ − p₁) + p₁h₁].
    Under the null (h₀ = h₁) they reduce to the table. The censoring-martingale part, which
    only adds to Var Z, is left out (Var Z = Var U/V as in the design).
    """
    log_v = log_variance(trial)
    inv_sqrt_v = pt.exp(-0.5 * log_v)
    v_coefficient = -0.5 * expected_score(trial) * pt.exp(-1.5 * log_v)
    end = trial.max_followup

    def tail(key, u):
        arm = int(key[-1])
        log_pi_u = trial.log_at_risk(arm, u)[..., None]

        def f(t):
            ratio = pt.exp(trial.log_at_risk(arm, t) - log_pi_u)
            return _at_risk_derivatives(trial, t)[key] * ratio

        return trial.integral(f, end, lower=u)

    def arm1(u):
        p0, p1, _, _ = _probabilities(trial, u)
        a_u = p0 - tail("psi1", u)
        a_v = p0 * p1 - tail("phi1", u)
        return a_u * inv_sqrt_v + v_coefficient * a_v

    def arm0(u):
        p0, p1, _, _ = _probabilities(trial, u)
        a_u = -p1 - tail("psi0", u)
        a_v = p0 * p1 - tail("phi0", u)
        return a_u * inv_sqrt_v + v_coefficient * a_v

    return {
        0: ArmInfluence(sign=1.0, log_abs=pt.zeros_like, factor=arm0),
        1: ArmInfluence(sign=1.0, log_abs=pt.zeros_like, factor=arm1),
    }


def influence_table(trial: TrialModel) -> dict[int, ArmInfluence]:
    """Design-table integrands of Z: arm 1 +π₀/(π₀+π₁)/√V, arm 0 −π₁/(π₀+π₁)/√V, on [0, A+F].

    Exact under the null; when E[U] ≠ 0 they leave out the terms of :func:`influence`.
    """
    half_log_v = 0.5 * log_variance(trial)

    def arm1(u):
        log_pi0, _, log_total = _log_weights(trial, u)
        return log_pi0 - log_total - half_log_v

    def arm0(u):
        _, log_pi1, log_total = _log_weights(trial, u)
        return log_pi1 - log_total - half_log_v

    return {0: ArmInfluence(sign=-1.0, log_abs=arm0), 1: ArmInfluence(sign=1.0, log_abs=arm1)}


def model_statistic(trial: TrialModel, reported=None) -> ModelStatistic:
    """Mean and influence of the log-rank Z (Z > 0 when arm 1 had more deaths than expected)."""
    integrands = influence(trial) if trial.influence == "full" else influence_table(trial)
    return ModelStatistic(label="logrank_z", mean=model_mean(trial), influence=integrands)
