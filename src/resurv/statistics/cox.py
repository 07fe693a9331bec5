"""The two-arm Cox proportional-hazards model: log hazard ratio and its standard error.

Papers report a hazard ratio of arm 1 versus arm 0 with a confidence interval, from a Cox model
with the arm as the only covariate.

References: Cox DR. JRSS B 1972;34:187. Efron B. JASA 1977;72:557 (ties). Therneau TM, Grambsch
PM. Modeling Survival Data, 2000, section 3.3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from resurv.statistics.km import risk_table

__all__ = ["CoxEstimate", "cox_two_arm", "efron_log_likelihood"]

logger = logging.getLogger(__name__)


# --- estimator (NumPy) ---


@dataclass(frozen=True)
class CoxEstimate:
    """Cox log hazard ratio (arm 1 vs arm 0) of R trials; arrays of shape (R,).

    ``log_hr`` and ``se`` are nan where the maximum partial likelihood estimate does not exist
    (see :func:`cox_two_arm`) or Newton's method did not converge; ``converged`` says which.
    """

    log_hr: np.ndarray
    se: np.ndarray
    converged: np.ndarray


def _efron_pieces(beta, n0, n1, d0, d1, max_deaths):
    """Efron log partial likelihood, score and information for a binary covariate.

    All count arrays have shape (R, K) (distinct-time grid, d = d₀ + d₁); ``beta`` has shape
    (R,). For l = 0..d−1, a_l = n₀ − l d₀/d and b_l = n₁ − l d₁/d; the tied-death risk weight is
    φ_l = a_l + e^β b_l and p_l = e^β b_l / φ_l. Then

        ℓ = Σ_t [β d₁ − Σ_l log φ_l],  score = Σ_t [d₁ − Σ_l p_l],
        information = Σ_t Σ_l p_l (1 − p_l).
    """
    deaths = d0 + d1
    safe_d = np.where(deaths > 0, deaths, 1)
    b = beta[:, None]
    loglik = (b * d1).sum(axis=1)
    score = d1.sum(axis=1).astype(float)
    information = np.zeros_like(beta)
    with np.errstate(divide="ignore"):
        for step in range(max_deaths):
            active = step < deaths
            fraction = step / safe_d
            log_a = np.log(np.where(active, n0 - fraction * d0, 1.0))
            log_b = np.log(np.where(active, n1 - fraction * d1, 1.0))
            log_phi = np.logaddexp(log_a, b + log_b)
            p = np.exp(b + log_b - log_phi)
            loglik -= np.where(active, log_phi, 0.0).sum(axis=1)
            score -= np.where(active, p, 0.0).sum(axis=1)
            information += np.where(active, p * (1.0 - p), 0.0).sum(axis=1)
    return loglik, score, information


def efron_log_likelihood(time, event, arm, log_hr):
    """Efron log partial likelihood ℓ(β) of the two-arm Cox model at β = ``log_hr``.

    Parameters
    ----------
    time, event, arm
        See :func:`resurv.statistics.km.as_trials`; ``arm`` codes in {0, 1}.
    log_hr : float or array_like of shape (R,)
        β, the log hazard ratio of arm 1 vs arm 0.

    Returns
    -------
    loglik, score, information : ndarray, shape (R,)
    """
    n0, n1, d0, d1 = _counts(time, event, arm)
    beta = np.broadcast_to(np.asarray(log_hr, dtype=float), (n0.shape[0],)).copy()
    max_deaths = int((d0 + d1).max(initial=0))
    return _efron_pieces(beta, n0, n1, d0, d1, max_deaths)


def _counts(time, event, arm):
    arm = np.asarray(arm)
    if arm.dtype == bool:
        arm = arm.astype(np.int64)
    table = risk_table(time, event, arm)
    n0, n1 = table.n_at_risk[..., 0], table.n_at_risk[..., 1]
    d0, d1 = table.n_events[..., 0], table.n_events[..., 1]
    return n0, n1, d0, d1


def cox_two_arm(time, event, arm, tol=1e-12, max_iter=100) -> CoxEstimate:
    """Cox PH log hazard ratio of arm 1 vs arm 0 (Efron ties) and its SE, vectorized over trials.

    Maximizes the Efron log partial likelihood ℓ(β) (see :func:`efron_log_likelihood`) by
    Newton's method from β = 0 with step halving whenever ℓ would decrease; ℓ is concave, so this
    converges wherever the maximum exists. Stops when |Δβ| < ``tol``. SE = I(β̂)^{-1/2}, the
    observed information. Ties use Efron's approximation, as lifelines' ``CoxPHFitter`` and R's
    ``coxph`` do by default.

    The maximum exists (is finite) if and only if some arm-0 death happens while arm-1 patients
    are at risk and some arm-1 death happens while arm-0 patients are at risk. Otherwise ℓ keeps
    increasing as β → ±∞ (no events, all events in one arm, or complete separation of the
    follow-up) and ``log_hr`` and ``se`` are nan.

    Parameters
    ----------
    time, event
        See :func:`resurv.statistics.km.as_trials`.
    arm : array_like, shape (n,) or (R, n)
        Arm codes in {0, 1} (or a boolean mask of arm 1).
    tol : float
        Convergence tolerance on the Newton step.
    max_iter : int
        Maximum Newton iterations.

    Returns
    -------
    CoxEstimate
    """
    n0, n1, d0, d1 = _counts(time, event, arm)
    n_trials = n0.shape[0]
    finite = ((d0 > 0) & (n1 > 0)).any(axis=1) & ((d1 > 0) & (n0 > 0)).any(axis=1)
    beta = np.zeros(n_trials)
    converged = np.zeros(n_trials, dtype=bool)
    information = np.full(n_trials, np.nan)
    rows = np.flatnonzero(finite)
    for _ in range(max_iter):
        if rows.size == 0:
            break
        args = (n0[rows], n1[rows], d0[rows], d1[rows])
        max_deaths = int((args[2] + args[3]).max())
        loglik, score, info = _efron_pieces(beta[rows], *args, max_deaths)
        step = score / info
        done = np.abs(step) < tol
        # accept the last (tiny) step and record the information at the optimum
        beta[rows[done]] += step[done]
        converged[rows[done]] = True
        if done.any():
            _, _, info_done = _efron_pieces(beta[rows[done]], *(a[done] for a in args), max_deaths)
            information[rows[done]] = info_done
        keep = ~done
        rows, step, loglik = rows[keep], step[keep], loglik[keep]
        args = tuple(a[keep] for a in args)
        for _halving in range(60):
            if rows.size == 0:
                break
            trial_loglik, _, _ = _efron_pieces(beta[rows] + step, *args, max_deaths)
            worse = trial_loglik < loglik - 1e-12 * np.abs(loglik)
            if not worse.any():
                break
            step = np.where(worse, step / 2.0, step)
        beta[rows] += step
    failed = finite & ~converged
    if failed.any():
        logger.warning("Cox fit did not converge in %d of %d trials", failed.sum(), n_trials)
    log_hr = np.where(converged, beta, np.nan)
    se = np.where(converged, 1.0 / np.sqrt(information), np.nan)
    return CoxEstimate(log_hr=log_hr, se=se, converged=converged)
