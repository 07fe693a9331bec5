"""The Kaplan–Meier median survival time and its confidence interval.

Papers report the Kaplan–Meier median of each arm with a 95% confidence interval, or say that the
median was "not reached" when the curve stays above one half.

References: Brookmeyer R, Crowley J. Biometrics 1982;38:29. Kalbfleisch JD, Prentice RL. The
Statistical Analysis of Failure Time Data, 2002 (log(−log) pointwise band).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from resurv.statistics.km import kaplan_meier

__all__ = [
    "CI_TRANSFORMS",
    "HALF_TOLERANCE",
    "KMMedianEstimate",
    "confidence_band",
    "km_median",
    "log_log_band",
]

#: Transforms g of a pointwise Kaplan–Meier band: "log" (R survival's default), "loglog"
#: (lifelines' default) and "plain".
CI_TRANSFORMS = ("log", "loglog", "plain")


# --- estimator (NumPy) ---

#: Ŝ(t) counts as ≤ ½ when Ŝ(t) ≤ ½ + HALF_TOLERANCE. Ŝ is a ratio of integers computed in
#: floating point (error ≈ 1e-16 per factor); a curve that is exactly ½ in exact arithmetic must
#: count as having reached ½. Distinct Kaplan–Meier values differ from ½ by far more than this for
#: the trial sizes resurv handles.
HALF_TOLERANCE = 1e-12


@dataclass(frozen=True)
class KMMedianEstimate:
    """Kaplan–Meier medians; arrays of shape (R,) or (R, 2) (one column per arm).

    ``median`` is inf where ``reached`` is False; ``ci_high`` (``ci_low``) is inf where the
    upper (lower) band never reaches ½.
    """

    median: np.ndarray
    reached: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def log_log_band(survival, greenwood_sum, alpha=0.05):
    """Pointwise log(−log) confidence band of a Kaplan–Meier curve.

    lower, upper = exp(−exp(log(−log Ŝ) ∓ z σ / log Ŝ)), σ² = Σ d/(n(n − d)) (the Greenwood sum),
    z = Φ⁻¹(1 − α/2); set to 1 where Ŝ = 1 (as lifelines ``KaplanMeierFitter`` does) and 0 where
    Ŝ = 0.

    Returns
    -------
    lower, upper : ndarray, shape of ``survival``
    """
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        log_minus_log = np.log(-log_s)
        shift = z * np.sqrt(greenwood_sum) / log_s
        lower = np.exp(-np.exp(log_minus_log - shift))
        upper = np.exp(-np.exp(log_minus_log + shift))
    return np.nan_to_num(lower, nan=1.0), np.nan_to_num(upper, nan=1.0)


def confidence_band(survival, greenwood_sum, transform="loglog", alpha=0.05):
    """Pointwise (1 − α) band of a Kaplan–Meier curve on the scale g = ``transform``.

    With σ² the Greenwood sum Σ d/(n(n − d)) (the variance of log Ŝ) and z = Φ⁻¹(1 − α/2):

    * "log": Ŝ exp(∓z σ), the upper limit at most 1 (R ``survfit``'s default ``conf.type``);
    * "loglog": :func:`log_log_band` (lifelines' default);
    * "plain": Ŝ ∓ z Ŝ σ, kept inside [0, 1].

    Where Ŝ = 0 both limits are 0 (and the curve is below ½ anyway).
    Reference: Klein JP, Moeschberger ML. Survival Analysis, 2003, section 4.3.
    """
    if transform == "loglog":
        return log_log_band(survival, greenwood_sum, alpha)
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    sigma = np.sqrt(greenwood_sum)
    if transform == "log":
        lower, upper = survival * np.exp(-z * sigma), np.minimum(survival * np.exp(z * sigma), 1.0)
    elif transform == "plain":
        lower = np.clip(survival * (1.0 - z * sigma), 0.0, 1.0)
        upper = np.clip(survival * (1.0 + z * sigma), 0.0, 1.0)
    else:
        raise ValueError(f"transform must be one of {', '.join(CI_TRANSFORMS)}; got {transform!r}")
    dead = survival <= 0.0
    return np.where(dead, 0.0, lower), np.where(dead, 0.0, upper)


def _first_time_at_or_below_half(grid, curve, tolerance):
    """Smallest grid time with curve ≤ ½ (+ tolerance), inf where there is none."""
    below = curve <= 0.5 + tolerance
    reached = below.any(axis=1)
    index = np.argmax(below, axis=1)
    times = np.take_along_axis(grid[..., None], index[:, None, :], axis=1)[:, 0, :]
    return np.where(reached, times, np.inf), reached


def km_median(time, event, arm=None, alpha=0.05, transform="loglog") -> KMMedianEstimate:
    """Kaplan–Meier median with the Brookmeyer–Crowley-type confidence interval.

    The median is the smallest observed time t with Ŝ(t) ≤ ½ (lifelines' convention; R's
    ``survival`` takes instead the midpoint of a flat stretch at exactly ½). It is "reached" when
    such a time exists. The (1 − α) interval is Brookmeyer and Crowley's: the set of t with
    |g(Ŝ(t)) − g(½)| ≤ z se_g(t) (Greenwood), which is the inversion of the pointwise band of
    :func:`confidence_band` on the scale g = ``transform``: its lower (upper) limit is the
    smallest time at which the lower (upper) band is ≤ ½, as
    ``lifelines.utils.median_survival_times(kmf.confidence_interval_)`` computes for "loglog".

    lifelines decides Ŝ(t) ≤ ½ on its floating-point Ŝ, so when Ŝ is exactly ½ in exact arithmetic
    but rounds to ½ + 1e-16 it moves the median to the next event time; resurv counts such a curve
    as having reached ½ (see :data:`HALF_TOLERANCE`). The two agree everywhere else.

    Parameters
    ----------
    time, event, arm
        See :func:`resurv.statistics.km.as_trials`.
    alpha : float
        1 − confidence level.
    transform : {"log", "loglog", "plain"}
        Scale g of the band (default "loglog", lifelines' default).

    Returns
    -------
    KMMedianEstimate

    References
    ----------
    Brookmeyer R, Crowley J. Biometrics 1982;38:29.
    """
    curve = kaplan_meier(time, event, arm)
    lower, upper = confidence_band(curve.survival, curve.greenwood_sum, transform, alpha)
    median, reached = _first_time_at_or_below_half(curve.time, curve.survival, HALF_TOLERANCE)
    ci_low, _ = _first_time_at_or_below_half(curve.time, lower, 0.0)
    ci_high, _ = _first_time_at_or_below_half(curve.time, upper, 0.0)
    finish = curve.table.finish
    return KMMedianEstimate(
        median=finish(median),
        reached=finish(reached),
        ci_low=finish(ci_low),
        ci_high=finish(ci_high),
    )


# --- model side (PyTensor) ---
#
# T1 (resurv statistical design, section 4): the log KM median of arm j has mean log m_j (plus
# its small-sample shift, :func:`small_sample_shift`) and
# influence integrand a_j(u) = −1{u ≤ m_j} / (π_j(u) h_j(m_j) m_j), so that its variance is the
# Greenwood/delta-method v_j = ∫₀^{m_j} h_j/(n_j S_j G) du / (m_j h_j(m_j))² (Brookmeyer and
# Crowley 1982). The indicator is carried by the integration limit m_j.

import pytensor.tensor as pt  # noqa: E402
from pytensor.gradient import disconnected_grad  # noqa: E402

from resurv.statistics.base import (  # noqa: E402
    ArmInfluence,
    ModelStatistic,
    TrialModel,
    log_se_variance,
)

__all__ += [
    "curve_median",
    "influence",
    "log_support_factor",
    "model_mean",
    "model_statistic",
    "small_sample_shift",
]

_LOG_LN2 = float(np.log(np.log(2.0)))


def curve_median(curve, n_newton: int = 4):
    """Median m of a survival curve, H(m) = ln 2, as a differentiable PyTensor scalar.

    Uses the curve's own ``median_months`` (attribute, or method taking ``xp``) when it has one.
    Otherwise solves log H(e^s) = log ln 2 for s = log m: a grid bracket on s ∈ [log 1e−4,
    log 1e5], Newton steps (slope d log H / d s = t h(t) / H(t)) on a gradient-stopped copy,
    then one last Newton step carrying gradients, which gives the implicit-function derivative
    dm/dθ = −(∂H/∂θ)(m) / h(m).
    """
    own = getattr(curve, "median_months", None)
    if own is not None:
        return own(pt) if callable(own) else pt.as_tensor_variable(own)

    def step(s):
        t = pt.exp(s)
        log_cum = pt.log(curve.cum_hazard(t, pt))
        slope = pt.exp(s + curve.log_hazard(t, pt) - log_cum)
        return s - (log_cum - _LOG_LN2) / slope

    grid = pt.as_tensor_variable(np.linspace(np.log(1e-4), np.log(1e5), 60))
    log_cum_grid = pt.log(curve.cum_hazard(pt.exp(grid), pt))
    idx = pt.clip(pt.sum(log_cum_grid < _LOG_LN2) - 1, 0, 58)
    lo, hi = log_cum_grid[idx], log_cum_grid[idx + 1]
    frac = pt.clip((_LOG_LN2 - lo) / (hi - lo), 0.0, 1.0)
    s = disconnected_grad(grid[idx] + (grid[idx + 1] - grid[idx]) * frac)
    for _ in range(n_newton):
        s = disconnected_grad(step(s))
    return pt.exp(step(s))


def model_mean(trial: TrialModel, arm: int):
    """Log m_j, the model value of a reported log KM median."""
    return pt.log(curve_median(trial.curves[arm]))


def influence(trial: TrialModel, arm: int) -> ArmInfluence:
    """T1 integrand on [0, m_j]: sign −1, log|a_j(u)| = −log π_j(u) − log h_j(m_j) − log m_j."""
    m = curve_median(trial.curves[arm])
    log_scale = trial.log_hazard(arm, m) + pt.log(m)
    return ArmInfluence(
        sign=-1.0, log_abs=lambda u: -trial.log_at_risk(arm, u) - log_scale, upper=m
    )


def small_sample_shift(trial: TrialModel, arm: int):
    """E[log m̂_j] − log m_j to order 1/n_j where no patient is censored before the median.

    Two terms of order 1/n_j that the normal approximation leaves out:

    * curvature: m̂_j ≈ Q_j(U) with U = F_j(m̂_j) ≈ ½ and Var U = (m_j f_j(m_j))² v_j (the
      Bahadur representation), so E log m̂_j − log m_j ≈ ½ (log Q_j)''(½) Var U
      = −½ (1 + m_j h_j'(m_j)/h_j(m_j) − m_j h_j(m_j)) v_j, v_j the T1 variance;
    * discreteness: with no censoring the KM curve of an even n_j lands exactly on ½ at the
      (n_j/2)-th death, and the estimator (the smallest time with Ŝ ≤ ½) is that death: it
      takes the curve at level ½ + 1/(2n_j), a shift of −1/(2 n_j m_j f_j(m_j))
      = −1/(n_j m_j h_j(m_j)) in log time. For odd n_j the level is ½ on average.

    Both are exact to order 1/n_j when no patient is censored before the median. A censoring
    before it mostly breaks the exact landing on ½ and the curvature term is then no longer the
    whole second-order bias, so both are weighted by w_j = (1 − π_c)^{n_j}, the probability that
    none of the n_j patients is censored before both the median and their event,
    π_c = ∫₀^{m_j} S_j g du. Simulated against the KM median of 60 000 arms per design
    (n 10-25, Weibull shapes 0.8 and 1.3; tests/statistics/test_median_small_sample.py): where
    w_j ≈ 1 the bias, 0.01-0.22 without the shift, is below 0.005 with it; with censoring before
    the median it is smaller than without the shift, but even-sized arms keep part of it
    (n = 12, F = 6 < m: −0.064 without, −0.046 with): their curves still land on ½ more often
    than w_j says.

    References: Bahadur RR. Ann Math Stat 1966;37:577 (sample quantiles); David HA, Nagaraja HN.
    Order Statistics, 2003, section 4.6 (expansions of moments of order statistics).
    """
    n = float(trial.n_per_arm[arm])
    m = curve_median(trial.curves[arm])
    own = influence(trial, arm)
    log_v = trial.log_variance_piece(arm, own.log_abs, own.log_abs, trial.cap(m))
    # d log h / d log t at t = m: the gradient with respect to a copy t of m, through which only
    # the hazard's time argument depends on it (the curve's parameters may be m itself)
    t = pt.cast(m, "float64").copy()
    log_h = trial.log_hazard(arm, t)
    elasticity = m * pt.grad(log_h, t, disconnected_inputs="ignore")
    m_h = m * pt.exp(log_h)
    curvature = -0.5 * (1.0 + elasticity - m_h) * pt.exp(log_v)
    discreteness = -1.0 / (n * m_h) if int(n) % 2 == 0 else 0.0
    censored_first = trial.integral(
        lambda u: pt.exp(trial.log_survival(arm, u)) * trial.censoring_density(u), trial.cap(m)
    )
    weight = pt.exp(n * pt.log1p(-pt.clip(censored_first, 0.0, 1.0 - 1e-12)))
    return weight * (curvature + discreteness)


def model_statistic(trial: TrialModel, reported) -> ModelStatistic:
    """Mean and influence of a reported (reached) median.

    The mean is log m_j plus its small-sample shift (:func:`small_sample_shift`).
    """
    return ModelStatistic(
        label=reported.label,
        mean=model_mean(trial, reported.index) + small_sample_shift(trial, reported.index),
        influence={reported.index: influence(trial, reported.index)},
    )


def log_support_factor(trial: TrialModel, arm: int, median_months):
    """Log P(some patient of arm j is still observed at the reported median x_j).

    A reached Kaplan–Meier median is the time of an observed event, so at least one of the n_j
    patients was at risk at x_j: with π_j(x)/n_j = S_j(x) G(x) the chance that one patient is,

        log P = log[1 − (1 − S_j(x_j) G(x_j))^{n_j}].

    The normal approximation of T1 is a large-sample one and takes no account of this: where the
    end of follow-up A + F nears x_j its variance grows without bound and it keeps a positive
    density even for A + F < x_j, where the published median could not have been observed. The
    factor is ≈ 1 where the approximation holds (e.g. 0.98 for n_j = 12, S_j = ½, G = ½) and
    goes to 0 as A + F ↓ x_j; it is −∞ beyond, as the data say.
    """
    x = pt.as_tensor_variable(median_months, dtype="float64")
    log_one_at_risk = trial.log_survival(arm, x) + trial.log_censoring(x)
    n = float(trial.n_per_arm[arm])
    return pt.log1mexp(n * pt.log1mexp(log_one_at_risk))


__all__ += ["ci_log_se_law"]

#: Φ⁻¹(0.975), the z of a printed 95% interval.
_Z975 = float(stats.norm.isf(0.025))


def ci_log_se_law(trial: TrialModel, arm: int, statistic: ModelStatistic, variance, sides=2):
    """(b, τ²) of log ŝ, ŝ = the printed 95% CI half-width of the median on the log scale / z.

    ŝ = (log U − log L)/(2z) (``sides`` = 2), or (log m̂ − log L)/z when the upper limit was not
    reached (``sides`` = 1). The Brookmeyer–Crowley limits are where the KM curve crosses
    ½ ± c, c ≈ z σ_S (whatever the transform, to first order), so the width W = U − L ≈
    2 z m √C (C = ``variance``, the model variance of log m̂) has two sources of noise:

    * the Greenwood SE σ̂ that sets c (W ∝ σ̂): Var log σ̂ = τ₁², the sum-over-deaths term of
      :func:`resurv.statistics.base.log_se_variance` for the median's integrand (1/π_j on
      [0, m]: the Greenwood sum);
    * the KM process between the two crossing times: Ŝ(U) − Ŝ(L) has variance
      S² ∫_L^U h/π du ≈ S² h W/π, so W varies by W/(π h) (divided by f² = S² h²), and
      Var log W = 1/(W π(m) h(m)) = 1/(2 z m √C π(m) h(m)); one side (L to m̂) has half the
      window: 1/(z m √C π h).

    b = 0. Checked against simulation (tests/statistics/test_printed_se.py): at 150 per arm
    τ is 10% above the empirical SD of log ŝ, and 20-40% above at 30-80 per arm where the
    KM steps are coarse (a conservative spread); the measured bias is within ±0.1 for the
    log and loglog transforms (up to −0.18 for "plain" at 40 per arm), small against τ ≈ 0.3.
    """
    first_order, _ = log_se_variance(trial, statistic)
    m = curve_median(trial.curves[arm])
    log_rate = trial.log_at_risk(arm, m) + trial.log_hazard(arm, m)
    window = pt.exp(-log_rate) / (sides * _Z975 * m * pt.sqrt(variance))
    return pt.as_tensor_variable(0.0), first_order + window


__all__ += ["conditioned_remainder_variance"]

#: Smallest π_j(m) h_j(m) (deaths per month at the median) in the remainder's denominator.
_MIN_DEATH_RATE = 1e-8


def conditioned_remainder_variance(trial: TrialModel, arm: int, log_median, variance, times):
    """Variance of log m̂ left beyond first order given the arm's numbers at risk at ``times``.

    Given the number at risk at a printed time t (so the KM curve there, to first order), the KM
    median is where the curve, from t, has lost what it still had above ½: the deaths between t
    and m̂ are a Poisson count at rate π_j(m) h_j(m), so Var(m̂ | N(t)) ≈ E|m̂ − t| / (π_j h_j)(m).
    The first-order (linear) conditional law has |m − t| in its place; the difference,

        v = (E|Y| − |μ|) / (π_j(m) h_j(m) m²),  Y ~ N(μ, σ²), μ = m − t, σ = m √Var(log m̂),
        E|Y| − |μ| = σ √(2/π) e^{−μ²/2σ²} − 2|μ| Φ(−|μ|/σ),

    on the log scale, at the printed time nearest the median (largest v), is added. It is the
    Bahadur–Kiefer remainder of a sample quantile (Kiefer J. Ann Math Stat 1967;38:1323) where
    t = m, and vanishes for |m − t| ≫ σ. Against 2,000 simulated trials of 150 per arm
    (tests/statistics/test_at_risk_conditioning.py) the conditional variance of log m̂ is then
    within −5% to +23% of the simulated one at t = m and t = m ± 1 month (without it, 80% below
    at t = m).
    """
    m = pt.exp(log_median)
    sigma = m * pt.sqrt(variance)
    grid = pt.as_tensor_variable(np.asarray(times, dtype=float))
    mu = pt.abs(m - grid)
    excess = sigma * np.sqrt(2.0 / np.pi) * pt.exp(-0.5 * pt.sqr(mu / sigma)) - mu * pt.erfc(
        mu / sigma / np.sqrt(2.0)
    )
    rate = pt.exp(trial.log_at_risk(arm, m) + trial.log_hazard(arm, m))
    return pt.max(excess) / (pt.maximum(rate, _MIN_DEATH_RATE) * pt.sqr(m))
