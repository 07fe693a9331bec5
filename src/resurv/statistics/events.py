"""Reported event counts, model side (PyTensor): a statistic of the joint normal.

Patient i of arm j is observed to die with probability p_j = ∫₀^{A+F} f_j G dt (f_j = h_j S_j),
independently of the others, so the arm's count D_j = Σ_i δ_i has

    E D_j = d_j = n_j ∫₀^{A+F} f_j G dt = ∫₀^{A+F} π_j h_j dt,
    Var D_j = n_j p_j (1 − p_j) = d_j − d_j² / n_j      (binomial, exact).

Influence integrand. With the patient's own death and censoring martingales M and M^c,
δ − p = ∫ a^D dM + ∫ b dM^c, where a^D(u) = 1 − E(u)/π(u) is the change in the chance of a death
being observed when a death happens at u rather than later, and b(u) = −E(u)/π(u) the same for a
censoring, with E(u) = ∫_u^{A+F} π h ds the deaths still to be observed after u. Since
π(u) − E(u) = C(u) = n ∫_u^{A+F} S g ds (the patients at risk at u who will end censored),

    a^D_j(u) = C_j(u) / π_j(u) ∈ [0, 1],

computed from C (a sum of positive terms; no cancellation when almost every patient dies). Every
other statistic X of the joint normal is a sum of death-martingale integrals ∫ a^X dM, which
are orthogonal to the censoring martingales, so

    Cov(D_j, X) = ∫ a^D_j a^X_j π_j h_j du = ∫ a^X_j h_j C_j du,

and ∫ (a^D_j)² π_j h_j du ≤ Var D_j; the remainder (the censoring part ∫ b² π g/G du) is
independent of every other statistic (:class:`~resurv.statistics.base.ModelStatistic`,
``exact_variance``). With no censoring, C = 0: D_j = n_j is known and carries nothing; with only
administrative censoring at one time τ, a^D_j = S_j(τ)/S_j(u) and the remainder is 0. The naive
integrand a = 1 (the counting process itself, Var = d_j as for a Poisson count) overstates the
variance by n_j/(n_j − d_j) and every covariance by π/C. References: Andersen PK et al.
Statistical Models Based on Counting Processes, 1993, section II.4 (martingale representation);
tests/statistics/test_events_influence.py (simulation).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from resurv.statistics.base import ArmInfluence, ModelStatistic, TrialModel

__all__ = [
    "expected_events",
    "influence",
    "log_expected_events",
    "model_statistic",
]

#: Floor of a censoring density or a scaled censored mass before its logarithm (g = 0 before
#: the minimum follow-up when there is no dropout).
_TINY = 1e-300


def log_expected_events(trial: TrialModel, arm: int):
    """Log d_j = log ∫₀^{A+F} π_j(t) h_j(t) dt, in log space."""
    return trial.log_integral(
        lambda u: trial.log_at_risk(arm, u) + trial.log_hazard(arm, u), trial.max_followup
    )


def expected_events(trial: TrialModel, arm: int):
    """d_j = n_j ∫₀^{A+F} f_j G dt."""
    return pt.exp(log_expected_events(trial, arm))


def _log_survival_censoring(trial: TrialModel, arm: int, s):
    """Log S_j(s) g(s) (g floored at :data:`_TINY`)."""
    return trial.log_survival(arm, s) + pt.log(pt.maximum(trial.censoring_density(s), _TINY))


def _log_censored_after(trial: TrialModel, arm: int, lower):
    """Log ∫_lower^{A+F} S_j g ds (per patient; ``lower`` a scalar or an array)."""
    return trial.log_integral(
        lambda s: _log_survival_censoring(trial, arm, s), trial.max_followup, lower=lower
    )


def influence(trial: TrialModel, arm: int) -> ArmInfluence:
    """a^D_j(u) = C_j(u)/π_j(u) on [0, A+F], C_j(u) = n_j ∫_u^{A+F} S_j g ds; sign +1.

    On the nodes u_i of a quadrature piece [a, b], ∫_{u_i}^{A+F} = ∫_{u_i}^b + ∫_b^{A+F}: the
    first for all nodes at once by spectral integration of S_j g at the nodes (g is smooth on
    each piece: the pieces are split at F), the second one Gauss–Legendre sum per piece.
    """
    log_n = np.log(float(trial.n_per_arm[arm]))

    def log_abs(u):
        return log_n + _log_censored_after(trial, arm, u) - trial.log_at_risk(arm, u)

    def log_abs_on_piece(u, piece):
        log_values = _log_survival_censoring(trial, arm, u)
        top = pt.max(log_values, axis=-1, keepdims=True)
        scaled = piece.tail_integral(pt.exp(log_values - top), pt)
        log_within = top + pt.log(pt.maximum(scaled, _TINY))
        log_beyond = _log_censored_after(trial, arm, piece.upper)
        log_censored = pt.logaddexp(log_within, pt.shape_padright(log_beyond))
        return log_n + log_censored - trial.log_at_risk(arm, u)

    return ArmInfluence(sign=1.0, log_abs=log_abs, log_abs_on_piece=log_abs_on_piece)


def model_statistic(trial: TrialModel, label: str, arms) -> ModelStatistic:
    """D = Σ_{j ∈ arms} D_j: mean Σ d_j, integrands a^D_j, exact variance Σ (d_j − d_j²/n_j)."""
    arms = list(arms)
    expected = [expected_events(trial, j) for j in arms]
    variance = sum(
        d - d**2 / float(trial.n_per_arm[j]) for d, j in zip(expected, arms, strict=True)
    )
    return ModelStatistic(
        label=label,
        mean=sum(expected),
        influence={j: influence(trial, j) for j in arms},
        exact_variance=variance,
    )
