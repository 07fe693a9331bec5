"""The SPSS-style Kaplan–Meier mean: the area under the curve up to the last observed time.

When an arm's median is not reached, papers (typically from SPSS) report instead a "mean survival
time" ± SE: the area under the Kaplan–Meier step function up to the arm's largest observed time
τ (event or censored), a restricted mean with a data-dependent horizon.

References: Miller RG. Survival Analysis, Wiley, 1981, pp. 70–71 and 195–196. Therneau T. R
package ``survival``, ``print.survfit(rmean = "individual")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from resurv.statistics.km import kaplan_meier

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
        See :func:`resurv.statistics.km.as_trials`.

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
# T3 (resurv statistical design, section 4). Two horizons:
#
# * a fixed horizon τ (an administrative cut): mean RMST_j(τ) = ∫₀^τ S_j and influence integrand
#   a_j(u) = −1{u ≤ τ} A_j(u) / π_j(u), A_j(u) = ∫_u^τ S_j, so the variance is ∫₀^τ A_j² h_j/π_j du;
# * τ the arm's largest observed time (the SPSS mean; τ latent with its exact law,
#   resurv.statistics.notreached). Given τ, one patient is at risk over all of [0, τ) and the other
#   n − 1 observed times are i.i.d. from Y | Y < τ (Y = min(T, C)); the mean and variance of the
#   KM area are those of that conditional experiment (ConditionalArea), and so is its
#   covariance with the log-rank Z; the influence integrand above gives the others.
# Reference: Miller RG. Survival Analysis, 1981.

import pytensor.tensor as pt  # noqa: E402

from resurv.statistics.base import (  # noqa: E402
    ArmInfluence,
    ModelStatistic,
    TrialModel,
)

__all__ += [
    "ConditionalArea",
    "conditional_area",
    "conditional_area_moments",
    "influence",
    "model_mean",
    "model_statistic",
]

#: Grid points per piece ([0, min(F, τ)] graded as s², [min(F, τ), τ] uniform) on which the
#: moments of the KM area given its largest observed time are accumulated (trapezoid rule in
#: the cumulative hazard, error O(1/N²); against 1024 points: benchmarks/bench_summary_nodes.py).
CONDITIONAL_GRID_POINTS = 64


def model_mean(trial: TrialModel, arm: int, horizon_months):
    """RMST_j(τ) = ∫₀^τ S_j(t) dt (the KM area's mean at a fixed horizon τ)."""
    return pt.exp(trial.log_rmst(arm, horizon_months))


#: Floor of the scaled inner area on a piece (it can round to ≤ 0 at the last node of a piece
#: over which S falls by more than ~1e13; the integrand there is negligible).
_TINY_AREA = 1e-300


def influence(trial: TrialModel, arm: int, horizon_months) -> ArmInfluence:
    """T3 integrand on [0, τ]: sign −1, log|a_j(u)| = log ∫_u^τ S_j − log π_j(u).

    At a single point u the inner area ∫_u^τ S_j is a Gauss–Legendre sum (in log space). On the
    nodes u_i of a quadrature piece [a, b] (b ≤ τ) it is split as

        ∫_{u_i}^τ S_j = ∫_{u_i}^b S_j + ∫_b^τ S_j,

    the first part for all nodes at once by spectral integration of S_j's values at the nodes
    (:func:`resurv.statistics.quadrature.tail_weights`, scaled by the largest value so nothing
    underflows),
    the second one Gauss–Legendre sum per piece: n + 1 evaluations of S_j instead of n².
    """
    tau = pt.as_tensor_variable(horizon_months, dtype="float64")

    def log_abs(u):
        return trial.log_rmst(arm, tau, lower=u) - trial.log_at_risk(arm, u)

    def log_abs_on_piece(u, piece):
        log_survival = trial.log_survival(arm, u)
        top = pt.max(log_survival, axis=-1, keepdims=True)
        scaled = piece.tail_integral(pt.exp(log_survival - top), pt)
        log_within = top + pt.log(pt.maximum(scaled, _TINY_AREA))
        log_beyond = trial.log_rmst(arm, tau, lower=piece.upper)
        log_area = pt.logaddexp(log_within, pt.shape_padright(log_beyond))
        return log_area - trial.log_at_risk(arm, u)

    return ArmInfluence(sign=-1.0, log_abs=log_abs, upper=tau, log_abs_on_piece=log_abs_on_piece)


def _trapezoid_weights(steps):
    """(w, r): node weights of the trapezoid rule over increments ``steps`` (one shorter).

    w_i = (s_{i−1} + s_i)/2 and r_i = s_i/2, with s_{−1} = s_{n−1} = 0, so that the trapezoid sum
    is Σ_i v_i w_i and its running sums are cumsum(v w) − v r. Every sum over one grid is then
    one elementwise product and one reduction of the values as they are, with no shifted
    copies (v[1:], v[:-1]) per sum: the weights of a grid are built once (PyTensor merges the
    identical expressions of each ``steps``), and each sum's gradient is a product, not an
    increment of a slice.
    """
    zero = pt.zeros((1,))
    right = 0.5 * pt.concatenate([steps, zero])
    left = 0.5 * pt.concatenate([zero, steps])
    return left + right, right


def _cumulative_trapezoid(values, steps):
    """[0, cumulative trapezoid sums] of ``values`` over increments ``steps`` (one shorter).

    C_k = Σ_{i<k} (v_i + v_{i+1}) s_i / 2 = Σ_{i≤k} v_i w_i − v_k r_k (:func:`_trapezoid_weights`);
    C_0 = v_0 s_0/2 − v_0 s_0/2 = 0 exactly.
    """
    weights, right = _trapezoid_weights(steps)
    return pt.cumsum(values * weights) - values * right


def _trapezoid(values, steps):
    """Σ_i (v_i + v_{i+1}) s_i / 2 = Σ_i v_i w_i (:func:`_trapezoid_weights`)."""
    weights, _ = _trapezoid_weights(steps)
    return pt.sum(values * weights)


@dataclass
class ConditionalArea:
    """The KM area up to τ given that τ is the arm's largest observed time (PyTensor).

    Given τ, one patient is observed at τ and the other n − 1 observed times Y_i are i.i.d. with
    survival S_Y(u) = (SG(u) − SG(τ)) / (1 − SG(τ)) and event sub-density
    f₁(u) = h(u) S(u) G(u) / (1 − SG(τ)) on [0, τ). With ε = 1/(n − 1) the KM hazard increments
    dN/(1 + Y_o) converge to dΛ_c = f₁ du / (ε + S_Y), so

        E[area | τ] ≈ ∫₀^τ S_c(u) du,   S_c = exp(−Λ_c),

    and, with A_c(u) = ∫_u^τ S_c, the influence of one of the n − 1 observations (y, δ) is

        φ(y, δ) = −δ a(y) + B(y),  a = A_c / (ε + S_Y),  B(y) = ∫₀^y A_c f₁ / (ε + S_Y)² du

    (the second term is the at-risk fluctuation that the extra patient at τ does not cancel), so
    Var[area | τ] ≈ Var φ / (n − 1) with E φ² = ∫ B² dF_Y − 2 ∫ a B f₁ + ∫ a² f₁ and
    E φ = ∫ B dF_Y − ∫ a f₁ (:attr:`mean`, :attr:`variance`).

    A statistic X with influence integrand a_X on this arm (X − x ≈ Σ_i ψ_i over the arm's
    patients, ψ(y, δ) = δ a_X(y) − ∫₀^y a_X h du) has Cov(area, X | τ) = Cov(φ, ψ)
    (:meth:`covariance`; the influence integral rescaled to the conditional variance keeps the
    fixed-horizon correlation: 12-24% too large a covariance with the log-rank Z at
    n = 15/12; docs/statistics.md, T3).

    Integrals are accumulated with the trapezoid rule in the cumulative hazard
    (f₁ du = SG dH / (1 − SG(τ))), which is finite where h is not (Weibull shape < 1), on
    :data:`CONDITIONAL_GRID_POINTS` points per piece.

    References
    ----------
    Miller RG. Survival Analysis, 1981 (the estimator); van der Vaart AW. Asymptotic Statistics,
    1998, ch. 20 (influence functions of functionals of the empirical distribution).
    """

    grid: Any
    n_patients: float
    d_time: Any
    d_hazard: Any
    d_distribution: Any
    survival: Any
    event_weight: Any
    observed_survival: Any
    jump: Any
    drift: Any
    mean: Any
    variance: Any
    mean_influence: Any

    def _on_grid(self, other: ArmInfluence):
        """a_X at the grid points, for X with integrand ``other`` (over all follow-up)."""
        if other.upper is not None:
            raise ValueError("the conditional covariance needs an integrand over all follow-up")
        # a_X at the grid's first point (u = 0) is taken from the second one: a curve's
        # cumulative hazard (t/σ)^k has a nan shape-gradient at t = 0, and that piece of the
        # trapezoid sum is O(first step) (the grid is graded as s² from 0)
        inner = self.grid[1:]
        a_x = other.sign * pt.exp(other.log_abs(inner))
        if other.factor is not None:
            a_x = a_x * other.factor(inner)
        return pt.concatenate([a_x[:1], a_x])

    def influence_products(self, other: ArmInfluence):
        """(⟨a, a⟩, ⟨a, a_X⟩) of the fixed-horizon integrand a(u) = −A(u)/π(u), A = ∫_u^τ S.

        ⟨a, a⟩ = ∫₀^τ A² h/π du and ⟨a, a_X⟩ = −∫₀^τ A a_X h du (π = n S G), by the trapezoid
        rule in the cumulative hazard on this grid: the inner products of the T3 integrand
        (:func:`influence`) that :func:`resurv.statistics.base.covariance_pieces` needs when the
        log-rank Z is the only other statistic on the arm, without integrating A at every
        quadrature node (within 1% of the quadrature: 0.65% at worst, for Weibull shapes near
        4; tests/statistics/test_rmean_conditional.py).
        """
        area_to = _cumulative_trapezoid(self.survival, self.d_time)
        remaining = area_to[-1] - area_to
        at_risk = self.n_patients * self.observed_survival
        own = _trapezoid(remaining**2 / at_risk, self.d_hazard)
        cross = -_trapezoid(remaining * self._on_grid(other), self.d_hazard)
        return own, cross

    def covariance(self, other: ArmInfluence):
        """Cov(area, X | τ) = E[φ ψ] − E φ E ψ for X with integrand ``other`` on this arm.

        E[φ ψ] = −∫ a a_X f₁ + ∫ a C f₁ + ∫ B a_X f₁ − ∫ B C dF_Y, C(y) = ∫₀^y a_X dH, and
        E ψ = ∫ a_X f₁ − ∫ C dF_Y. ``other`` must span the whole follow-up (``upper`` None).
        """
        a_x = self._on_grid(other)
        weight, d_h, d_f = self.event_weight, self.d_hazard, self.d_distribution
        c_x = _cumulative_trapezoid(a_x, d_h)
        mean_x = _trapezoid(a_x * weight, d_h) - _trapezoid(c_x, d_f)
        cross = (
            -_trapezoid(self.jump * a_x * weight, d_h)
            + _trapezoid(self.jump * c_x * weight, d_h)
            + _trapezoid(self.drift * a_x * weight, d_h)
            - _trapezoid(self.drift * c_x, d_f)
        )
        return cross - self.mean_influence * mean_x


def conditional_area(trial: TrialModel, arm: int, largest_time_months) -> ConditionalArea:
    """The conditional experiment of :class:`ConditionalArea` for ``arm`` and τ."""
    n = float(trial.n_per_arm[arm])
    if n < 2:
        raise ValueError(f"an SPSS mean needs at least 2 patients in arm {arm}; got {n:g}")
    eps = 1.0 / (n - 1.0)
    tau = pt.as_tensor_variable(largest_time_months, dtype="float64")
    split = pt.minimum(trial.design.followup_months, tau)
    s = np.linspace(0.0, 1.0, CONDITIONAL_GRID_POINTS)
    grid = pt.concatenate([split * s**2, split + (tau - split) * s[1:]])
    # H(0) = 0 exactly (a Weibull H = (t/σ)^k has a nan shape-gradient at t = 0)
    cum_hazard = pt.concatenate([pt.zeros((1,)), trial.cum_hazard(arm, grid[1:])])
    survival = pt.exp(-cum_hazard)
    sg = survival * trial.design.censoring_survival(grid, xp=pt)
    below = 1.0 - sg[-1]  # P(Y < τ)
    survival_y = (sg - sg[-1]) / below
    d_hazard = pt.diff(cum_hazard)
    d_distribution = -pt.diff(survival_y)  # dF_Y
    d_time = pt.diff(grid)
    event_weight = sg / below  # f₁ du = event_weight · dH
    at_risk = eps + survival_y
    survival_c = pt.exp(-_cumulative_trapezoid(event_weight / at_risk, d_hazard))
    area_to = _cumulative_trapezoid(survival_c, d_time)
    mean = area_to[-1]
    area_after = mean - area_to
    jump = area_after / at_risk
    drift = _cumulative_trapezoid(area_after * event_weight / at_risk**2, d_hazard)
    first = _trapezoid(drift, d_distribution) - _trapezoid(jump * event_weight, d_hazard)
    second = (
        _trapezoid(drift**2, d_distribution)
        - 2.0 * _trapezoid(jump * drift * event_weight, d_hazard)
        + _trapezoid(jump**2 * event_weight, d_hazard)
    )
    return ConditionalArea(
        grid=grid,
        n_patients=n,
        d_time=d_time,
        d_hazard=d_hazard,
        d_distribution=d_distribution,
        survival=survival,
        event_weight=event_weight,
        observed_survival=sg,
        jump=jump,
        drift=drift,
        mean=mean,
        variance=(second - first**2) * eps,
        mean_influence=first,
    )


def conditional_area_moments(trial: TrialModel, arm: int, largest_time_months):
    """(mean, variance) of the KM area up to τ given that τ is the largest observed time.

    See :class:`ConditionalArea`. Without the conditioning (mean ∫₀^τ S, variance ∫ A² h/π)
    the marginal variance of the SPSS mean is 18–33% too small at n = 15 (docs/statistics.md,
    T3).
    """
    area = conditional_area(trial, arm, largest_time_months)
    return area.mean, area.variance


def model_statistic(
    trial: TrialModel, reported, horizon_months, *, largest_time: bool = True
) -> ModelStatistic:
    """Mean, variance and influence of a reported SPSS-style mean with horizon τ_j.

    With ``largest_time`` (the SPSS mean) τ_j is the arm's largest observed time and the mean and
    variance are :func:`conditional_area_moments`; otherwise τ_j is a fixed cut, the mean is
    ∫₀^τ S_j and the variance the influence integral. Either way the influence integrand gives
    the covariances with the other statistics (rescaled to the variance used), except that the
    SPSS mean's covariance with the log-rank Z is the conditional one
    (:meth:`ConditionalArea.covariance`; the rescaled one is 12-24% too large at n = 15/12),
    built into the matrix so that it stays positive definite (:class:`ModelStatistic`,
    ``covariance_with``; docs/statistics.md, T3).
    """
    arm_influence = influence(trial, reported.index, horizon_months)
    if not largest_time:
        return ModelStatistic(
            label=reported.label,
            mean=model_mean(trial, reported.index, horizon_months),
            influence={reported.index: arm_influence},
        )
    area = conditional_area(trial, reported.index, horizon_months)
    arm_influence.products_with = area.influence_products
    return ModelStatistic(
        label=reported.label,
        mean=area.mean,
        influence={reported.index: arm_influence},
        variance=area.variance,
        covariance_with=area.covariance,
    )
