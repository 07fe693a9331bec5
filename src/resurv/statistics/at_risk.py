"""Numbers at risk: the table printed under a Kaplan–Meier plot, estimator and model side.

Estimator. The number at risk of arm j at time t is N_j(t) = #{i in arm j : X_i ≥ t}, X_i the
observed time (event or censoring): the patients still under observation just before t. This is
the ``at_risk`` column of lifelines' ``KaplanMeierFitter.event_table`` at t; lifelines'
``add_at_risk_counts`` (and R's ``survminer``) print #{X_i > t}, which differs only when an
observed time equals t exactly (a null event for continuous times).

Model (resurv statistical design, section 4). Under independent censoring each patient of arm j
is still at risk at t with probability π_j(t) = P(T > t) P(C > t) = S_j(t) G(t), G the
censoring survival of the follow-up design (:mod:`resurv.statistics.followup`). Because
{X ≥ t_k} ⊂ {X ≥ t_{k−1}} for t_{k−1} < t_k and patients are independent, the printed numbers
form a binomial chain, exactly (no asymptotics):

    N(t_1) ~ Bin(n_j, π_j(t_1)),
    N(t_k) | N(t_{k−1}) ~ Bin(N(t_{k−1}), π_j(t_k) / π_j(t_{k−1})),   k = 2 … K,

so that log p(N) = Σ_k [log C(N_{k−1}, N_k) + N_k log q_k + (N_{k−1} − N_k) log(1 − q_k)]
with N_0 = n_j, q_k = π_j(t_k)/π_j(t_{k−1}) and π_j(t_0 = 0) = 1. The expected numbers are
E N(t) = n_j S_j(t) G(t). Reference: Kalbfleisch JD, Prentice RL. The Statistical Analysis of
Failure Time Data, 2nd ed., 2002, section 1.3 (independent censoring); the chain is the
multinomial of the K + 1 intervals the observed times fall in, written sequentially.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from resurv.statistics.base import TrialModel

__all__ = [
    "LOG_PI_FLOOR",
    "at_risk_log_likelihood",
    "expected_at_risk",
    "numbers_at_risk",
]

#: Floor of log π_j(t) in the chain: beyond the end of follow-up G(t) = 0 and log π = −inf;
#: floored, each number still at risk there costs 1000 nats (e^{−1000} is zero in any
#: comparison) and no term becomes NaN (0 · (−inf)). Numbers > 0 after A + F are refused by the
#: design (the follow-up must extend beyond the last time with patients at risk).
LOG_PI_FLOOR = 1000.0
#: Upper bound of log q_k: q_k < 1 keeps log(1 − q_k) finite where π is flat (a cured tail
#: without censoring); changes nothing where the hazard or censoring is positive.
_LOG_Q_CAP = -1e-12


def numbers_at_risk(time, arm_mask, times) -> np.ndarray:
    """N(t_k) = #{i : X_i ≥ t_k} among the patients marked by ``arm_mask``, per trial.

    Parameters
    ----------
    time : array_like, shape (R, n) or (n,)
        Observed times (event or censoring).
    arm_mask : array_like of bool, shape (n,) or (R, n)
        The patients of the arm.
    times : sequence of float
        The times t_k.

    Returns
    -------
    ndarray of int, shape (R, K)
    """
    time = np.atleast_2d(np.asarray(time, dtype=float))
    mask = np.broadcast_to(np.asarray(arm_mask, dtype=bool), time.shape)
    grid = np.asarray(times, dtype=float)
    at_risk = (time[:, :, None] >= grid[None, None, :]) & mask[:, :, None]
    return at_risk.sum(axis=1)


def expected_at_risk(curve, design, n: int, times, xp=np):
    """E N(t) = n S(t) G(t) for a curve with ``cum_hazard(t, xp)`` and a FollowUp ``design``."""
    times = xp.as_tensor_variable(times) if xp is pt else np.asarray(times, dtype=float)
    return n * xp.exp(-curve.cum_hazard(times, xp)) * design.censoring_survival(times, xp=xp)


def at_risk_log_likelihood(trial: TrialModel, arm: int, times, numbers):
    """Log p(N(t_1), …, N(t_K)) of the binomial chain (PyTensor scalar).

    ``times``: floats t_1 < … < t_K (> 0); ``numbers``: a float tensor (or array) of the K
    numbers at risk, non-increasing and at most n_j. The binomial coefficients are computed from
    ``numbers`` in the graph, so that swapping the numbers (a data container) keeps the value
    exact.
    """
    grid = pt.as_tensor_variable(np.asarray(times, dtype=float))
    numbers = pt.as_tensor_variable(numbers, dtype="float64")
    n = float(trial.n_per_arm[arm])
    log_pi = trial.log_survival(arm, grid) + trial.log_censoring(grid)
    log_pi = pt.maximum(log_pi, -LOG_PI_FLOOR)
    log_previous = pt.concatenate([pt.zeros((1,)), log_pi[:-1]])
    log_q = pt.minimum(log_pi - log_previous, _LOG_Q_CAP)
    previous = pt.concatenate([pt.as_tensor_variable(np.array([n])), numbers[:-1]])
    leaving = previous - numbers
    log_choose = pt.gammaln(previous + 1.0) - pt.gammaln(numbers + 1.0) - pt.gammaln(leaving + 1.0)
    return pt.sum(log_choose + numbers * log_q + leaving * pt.log1mexp(log_q))
