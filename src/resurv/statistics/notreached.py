"""Median not reached (T2) and the latent largest observed time τ_j, model side (PyTensor).

T2 (resurv statistical design, section 4): the KM curve of arm j stayed above ½ up to the arm's
largest observed time τ_j. Its factor is

    Φ((S_j(τ_j) − ½) / sd_j),   sd_j² = S_j(τ_j)² ∫₀^{τ_j} h_j / (n_j S_j G) du,

an inequality, kept as its own factor. τ_j = max_i min(T_i, C_i) is latent with its exact
distribution under the model, P(τ_j ≤ x) = (1 − S_j(x) G(x))^{n_j}, so

    log p(τ_j) = log n_j + (n_j − 1) log(1 − S_j G) + log(f_j(τ_j) G(τ_j) + S_j(τ_j) g(τ_j)),

g the censoring density. The same τ_j is the horizon of an SPSS-style mean (T3).

In the model τ_j is sampled non-centred, as the quantile τ_j = F_τ⁻¹(u) of a uniform u
(:func:`largest_time_quantile`): the prior part of τ_j is then uniform whatever the curves and
the follow-up, so NUTS does not meet the funnel between a horizon near A + F and the shapes.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.distributions.dist_math import normal_lcdf
from pytensor.gradient import disconnected_grad
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.op import RandomVariable

from resurv.statistics.base import TrialModel

_LOG_INV_SD_CAP = 30.0
#: Bisection steps for the quantile of τ_j: the bracket (0, A + F) shrinks by 2⁻⁴⁸ (below 1e-12
#: months for follow-up under 300 months) before the final Newton step.
_BISECTION_STEPS = 48

__all__ = [
    "largest_time_quantile",
    "log_largest_time_density",
    "log_not_reached_factor",
    "log_not_reached_sd",
]


def log_not_reached_sd(trial: TrialModel, arm: int, horizon_months):
    """Log sd_j = log S_j(τ) + ½ log ∫₀^τ h_j/(n_j S_j G) du (Greenwood, in log space)."""
    tau = pt.as_tensor_variable(horizon_months, dtype="float64")
    log_greenwood = trial.log_integral(
        lambda u: trial.log_hazard(arm, u) - trial.log_at_risk(arm, u), trial.cap(tau)
    )
    return trial.log_survival(arm, tau) + 0.5 * log_greenwood


def log_not_reached_factor(trial: TrialModel, arm: int, horizon_months):
    """Log Φ((S_j(τ) − ½)/sd_j), the T2 log-likelihood factor."""
    tau = pt.as_tensor_variable(horizon_months, dtype="float64")
    survival = pt.exp(trial.log_survival(arm, tau))
    # 1/sd, smoothly capped at e^30: far in the tail sd underflows (S_j(τ) → 0) and the exact
    # z = −½/sd is −inf; capped, log Φ(z) stays finite (≈ −1e26) with a finite gradient.
    log_inv_sd = _LOG_INV_SD_CAP - pt.softplus(
        _LOG_INV_SD_CAP + log_not_reached_sd(trial, arm, tau)
    )
    return normal_lcdf(0.0, 1.0, (survival - 0.5) * pt.exp(log_inv_sd))


def log_largest_time_density(trial: TrialModel, arm: int, horizon_months):
    """Log p(τ_j): density of the largest observed time (event or censored) of the arm."""
    tau = pt.as_tensor_variable(horizon_months, dtype="float64")
    n = float(trial.n_per_arm[arm])
    log_s = trial.log_survival(arm, tau)
    log_g = trial.log_censoring(tau)
    log_tail = pt.log(pt.exp(trial.log_hazard(arm, tau) + log_g) + trial.censoring_density(tau))
    return np.log(n) + (n - 1.0) * pt.log1mexp(log_s + log_g) + log_s + log_tail


def largest_time_quantile(trial: TrialModel, arm: int, log_u):
    """τ_j = F_τ⁻¹(u): the u-quantile of the arm's largest observed time, differentiable.

    F_τ(x) = (1 − S_j(x) G(x))^{n_j}, so τ_j solves ψ(x) = log S_j(x) + log G(x) − c = 0 with
    c = log(1 − u^{1/n_j}); ψ falls strictly from −c > 0 at 0 to −∞ at A + F. The root is
    bracketed by bisection (no gradient), then one Newton step x* − ψ(x*)/ψ′(x*) carries the
    implicit-function gradient dτ/dθ = −(∂ψ/∂θ)/ψ′, with ψ′ = −h_j − g/G.
    """
    log_u = pt.as_tensor_variable(log_u, dtype="float64")
    n = float(trial.n_per_arm[arm])
    target = pt.log1mexp(log_u / n)

    def psi(x):
        return trial.log_survival(arm, x) + trial.log_censoring(x) - target

    def slope(x):
        return -pt.exp(trial.log_hazard(arm, x)) - trial.censoring_density(x) * pt.exp(
            -trial.log_censoring(x)
        )

    return solve_decreasing(psi, slope, trial.max_followup)


def solve_decreasing(psi, slope, upper, point_name: str = "bisection_point"):
    """The root of a decreasing ψ on (0, ``upper``): bisection (no gradient), then one Newton step.

    The bisection runs in a scan, which keeps the graph (and its compile time) small; its inner
    graph is cut at random variables (passed in explicitly), so that PyMC can replace them by
    their values. The Newton step x* − ψ(x*)/ψ′(x*) (``slope`` = ψ′) carries the
    implicit-function gradient −(∂ψ/∂θ)/ψ′.
    """
    point = pt.dscalar(point_name)
    psi_point = psi(point)
    cut = [
        v
        for v in ancestors([psi_point])
        if v.owner is not None and isinstance(v.owner.op, RandomVariable)
    ]

    def halve(low, high, *inner):
        mid = 0.5 * (low + high)
        value = graph_replace(psi_point, {point: mid, **dict(zip(cut, inner, strict=True))})
        above = value > 0.0
        return pt.switch(above, mid, low), pt.switch(above, high, mid)

    (lows, highs) = pytensor.scan(
        halve,
        outputs_info=[pt.zeros_like(upper), upper],
        non_sequences=cut,
        n_steps=_BISECTION_STEPS,
        return_updates=False,
    )
    root = disconnected_grad(0.5 * (lows[-1] + highs[-1]))
    return root - psi(root) / slope(root)
