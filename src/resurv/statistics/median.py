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


# --- the KM median given the same arm's landmark survivals (T1b) ---
#
# log Ŝ is, to first order, −H_j plus a martingale M with independent increments,
# Var[M(b) − M(a)] = V(a, b) = ∫_a^b h_j/π_j du (Greenwood). The KM median m̂ is the first time
# log Ŝ ≤ −log 2, a stopping time of that process, and Ŝ(t*) ≤ ½ ⇔ m̂ ≤ t*. Near t* the two are
# almost the same functional of the curve, and their joint normal (T1 and the landmark's
# Greenwood row) is almost singular; the law of m̂ given the landmarks is not.

__all__ += ["GIVEN_LANDMARKS_FIELDS", "log_density_given_landmarks", "overshoot_moments"]

#: The data vector of a median given landmarks, in order: log m̂; the landmark just before m̂
#: (time, log Ŝ, 1 if there is one, the variance δ²/12 of its printed rounding δ);
#: the landmark at or after m̂ (the same four).
GIVEN_LANDMARKS_FIELDS = (
    "log_median",
    "left_time",
    "left_log_survival",
    "has_left",
    "left_rounding_variance",
    "right_time",
    "right_log_survival",
    "has_right",
    "right_rounding_variance",
)


def overshoot_moments(trial: TrialModel, arm: int, x):
    """Mean and variance of the overshoot O = −log 2 − log Ŝ(m̂) ≥ 0 of the KM curve below ½.

    The KM curve crosses ½ by a jump. With no patient censored before the crossing (probability
    w = (1 − ∫₀^x S_j g du)^{n_j}) its values are k/n_j: an even-sized arm lands on ½ exactly
    (O = 0), an odd-sized one on (n_j − 1)/(2 n_j) (O = log(n_j/(n_j − 1))). Otherwise the
    level before the jump is taken uniform on the jump's log-width 1/Y, Y ≈ π_j(x) the number at
    risk: O ~ U(0, 1/Y), mean 1/(2Y), variance 1/(12 Y²). The two are mixed with weights w, 1 − w.
    """
    n = float(trial.n_per_arm[arm])
    lattice = 0.0 if int(n) % 2 == 0 else float(np.log(n / (n - 1.0)))
    censored_first = trial.integral(
        lambda u: pt.exp(trial.log_survival(arm, u)) * trial.censoring_density(u), trial.cap(x)
    )
    weight = pt.exp(n * pt.log1p(-pt.clip(censored_first, 0.0, 1.0 - 1e-12)))
    uniform_mean = 0.5 * pt.exp(-trial.log_at_risk(arm, x))
    mean = weight * lattice + (1.0 - weight) * uniform_mean
    variance = (1.0 - weight) * uniform_mean**2 / 3.0
    variance = variance + weight * (1.0 - weight) * (lattice - uniform_mean) ** 2
    return mean, variance


#: Width (months) of the smooth minimum of the model's crossing time and the observed median.
_SOFT_WIDTH = 0.05


def _normal_logpdf(x, mean, variance):
    return -0.5 * (x - mean) ** 2 / variance - 0.5 * pt.log(2.0 * np.pi * variance)


def _effective_at_risk(delta_h, greenwood):
    """Y with Var[Ŝ(b)/Ŝ(a)] of a binomial of Y patients equal to Greenwood's over (a, b].

    r = e^{−ΔH}: r(1 − r)/Y = r² V, Y = (1 − r)/(r V); Y is the number at risk at a when no
    one is censored in (a, b] (then V = (e^{ΔH} − 1)/Y), and smaller with censoring.
    """
    return pt.maximum(pt.expm1(delta_h) / greenwood, 1.0 + 1e-6)


def _time_at_cum_hazard(curve, log_target, n_newton: int = 4):
    """The time t with H(t) = e^{log_target}, found as :func:`curve_median` finds m (any curve)."""

    def step(s):
        t = pt.exp(s)
        log_cum = pt.log(curve.cum_hazard(t, pt))
        slope = pt.exp(s + curve.log_hazard(t, pt) - log_cum)
        return s - (log_cum - log_target) / slope

    grid = pt.as_tensor_variable(np.linspace(np.log(1e-4), np.log(1e5), 60))
    log_cum_grid = pt.log(curve.cum_hazard(pt.exp(grid), pt))
    idx = pt.clip(pt.sum(log_cum_grid < log_target) - 1, 0, 58)
    lo, hi = log_cum_grid[idx], log_cum_grid[idx + 1]
    frac = pt.clip((log_target - lo) / (hi - lo), 0.0, 1.0)
    s = disconnected_grad(grid[idx] + (grid[idx + 1] - grid[idx]) * frac)
    for _ in range(n_newton):
        s = disconnected_grad(step(s))
    return pt.exp(step(s))


def _log_first_passage(
    trial: TrialModel, arm: int, x, delta_h, window_delta_h, greenwood, l_left, o_mean
):
    """Log density (in log x) of the first time after t_L that the KM curve is ≤ ½.

    Of Y patients at risk at t_L (effective: :func:`_effective_at_risk` over (t_L, x]), each
    dies by x with probability u = 1 − e^{−ΔH}; the curve, at e^{ℓ_L} at t_L, reaches ½ at the
    K-th death, K = Y (1 − ½ e^{−ℓ_L}) plus the overshoot in deaths (E O · Y ½ e^{−ℓ_L}:
    ½ for a crossing by a jump from a uniform level, 0 where an even-sized arm lands on ½). The
    K-th of Y uniform order statistics: u ~ Beta(K, Y − K + 1), K and Y taken continuous; and
    du/d log x = x h_j(x) e^{−ΔH}. Without censoring and a landmark this is the exact law of the
    sample median of the event times.
    """
    at_risk = _effective_at_risk(window_delta_h, greenwood)
    ratio = 0.5 * pt.exp(-l_left)
    deaths = at_risk * (1.0 - ratio) + o_mean * at_risk * ratio
    deaths = pt.clip(deaths, 1e-3, at_risk - 1e-3)
    log_u = pt.log1mexp(-delta_h)
    log_beta = (
        pt.gammaln(at_risk + 1.0)
        - pt.gammaln(deaths)
        - pt.gammaln(at_risk - deaths + 1.0)
        + (deaths - 1.0) * log_u
        - (at_risk - deaths) * delta_h
    )
    return log_beta - delta_h + pt.log(x) + trial.log_hazard(arm, x)


def _log_deaths_after(trial: TrialModel, arm: int, x, delta_h, l_right):
    """Log density of ℓ_R = log Ŝ(t_R) given the KM median x ≤ t_R: deaths of the Y at risk.

    Of the Y ≈ π_j(x) patients at risk at the crossing, each dies in (x, t_R] with probability
    p = 1 − e^{−ΔH} (ΔH = H_j(t_R) − H_j(x)); k deaths take log Ŝ down by log(Y/(Y − k)) from
    a level half a jump below ½ on average, so k = Y (1 − e^{−Δ}) − ½ with Δ = −log 2 − ℓ_R the
    drop below ½. k ~ Binomial(Y, p), taken continuous (log-gamma coefficients) so that the
    density is smooth in the parameters; dk/dΔ = Y e^{−Δ}. The rounding of the printed
    landmark (0.001) is small against a jump of the curve and left out.
    """
    at_risk = pt.maximum(pt.exp(trial.log_at_risk(arm, x)), 1.0 + 1e-6)
    drop = pt.maximum(-np.log(2.0) - l_right, 0.0)
    deaths = pt.clip(at_risk * (1.0 - pt.exp(-drop)) - 0.5, -0.5 + 1e-6, at_risk - 1e-6)
    log_p = pt.log1mexp(-pt.maximum(delta_h, 1e-12))
    log_binomial = (
        pt.gammaln(at_risk + 1.0)
        - pt.gammaln(deaths + 1.0)
        - pt.gammaln(at_risk - deaths + 1.0)
        + deaths * log_p
        - (at_risk - deaths) * delta_h
    )
    return log_binomial + pt.log(at_risk) - drop


def log_density_given_landmarks(trial: TrialModel, arm: int, data):
    """Log p(log m̂ | the arm's landmarks): the KM median as a first passage of log Ŝ (T1b).

    ``data`` is the vector :data:`GIVEN_LANDMARKS_FIELDS`. With (t_L, ℓ_L) the last landmark
    before m̂ = x (ℓ = log Ŝ(t); (0, 0) when there is none) and (t_R, ℓ_R) the first one at or
    after it, log Ŝ is a Markov process (−H_j plus independent Gaussian increments V), so

        p(x | ℓ_L, ℓ_R) = g(x) q(ℓ_R | x) / r(ℓ_R | ℓ_L),

    * g: the first passage after t_L of the KM curve from e^{ℓ_L} through ½, the K-th death
      of the Y at risk at t_L (:func:`_log_first_passage`: u = 1 − e^{−(H_j(x) − H_j(t_L))}
      ~ Beta(K, Y − K + 1), K = Y (1 − ½ e^{−ℓ_L}) plus the overshoot O of the crossing jump,
      :func:`overshoot_moments`; Y the effective number at risk that gives Greenwood's
      variance V(t_L, t_w) = ∫ h_j/π_j du up to t_w = min(t_c, x) (smooth), t_c the model's
      crossing time, H_j(t_c) = H_j(t_L) + log 2 + ℓ_L);
    * q: the landmark after m̂ given m̂, the deaths among the Y ≈ π_j(x) at risk in (x, t_R]
      (:func:`_log_deaths_after`: a continuous binomial of Y and 1 − e^{−(H_j(t_R) − H_j(x))});
    * r: the same landmark given the one before, in the landmarks' own law, the one the joint
      normal holds (Greenwood: Ŝ(t_R) | Ŝ(t_L) ~ N(Ŝ(t_L) S_j(t_R)/S_j(t_L),
      S_j(t_R)² V(t_L, t_R)) plus the printed roundings), so that with the joint normal's
      p(ℓ_R | ℓ_L) it cancels: the pair's likelihood is p(landmarks) g q / r,

    q and r only when a landmark at or after m̂ exists. The step structure of the KM
    curve (crossings by jumps, no deaths between m̂ and a landmark just after it) is what the
    Beta and binomial laws keep and a Gaussian increment loses. Without censoring and without a
    landmark before m̂, g is the exact law of the sample median of the event times.

    References: Andersen PK et al. Statistical Models Based on Counting Processes, 1993,
    section IV.3 (the KM process and Greenwood's variance); David HA, Nagaraja HN. Order
    Statistics, 2003, section 2.1 (the K-th order statistic of uniforms is Beta(K, n − K + 1)).
    """
    log_x = data[0]
    t_left, l_left, has_left, var_left = data[1], data[2], data[3], data[4]
    t_right, l_right, has_right, var_right = data[5], data[6], data[7], data[8]
    x = pt.exp(log_x)
    left = pt.gt(has_left, 0.5)
    h_left = pt.switch(left, trial.cum_hazard(arm, t_left), 0.0)
    l_left = pt.switch(left, l_left, 0.0)
    h_x, h_right = trial.cum_hazard(arm, x), trial.cum_hazard(arm, t_right)
    # the model's crossing time from ℓ_L: H_j(t_c) = H_j(t_L) + log 2 + ℓ_L
    crossing_drop = pt.maximum(np.log(2.0) + l_left, 1e-6)
    t_c = _time_at_cum_hazard(trial.curves[arm], pt.log(h_left + crossing_drop))

    def log_integrand(u):
        return trial.log_hazard(arm, u) - trial.log_at_risk(arm, u)

    # the window of the passage: up to the model's crossing t_c, or up to the observed x when
    # that is earlier (a t_c late in follow-up, where few remain at risk, would make the
    # effective number at risk, and the law's information, collapse)
    t_window = -_SOFT_WIDTH * pt.logaddexp(-t_c / _SOFT_WIDTH, -x / _SOFT_WIDTH)
    uppers = pt.stack([trial.cap(t_left), trial.cap(t_window), trial.cap(t_right)])
    greenwood = pt.exp(trial.log_integral(log_integrand, uppers))
    v_left = pt.switch(left, greenwood[0], 0.0)
    v_c, v_right = greenwood[1], greenwood[2]
    o_mean, _ = overshoot_moments(trial, arm, x)
    log_g = _log_first_passage(
        trial,
        arm,
        x,
        pt.maximum(h_x - h_left, 1e-12),
        pt.maximum(trial.cum_hazard(arm, t_window) - h_left, 1e-12),
        pt.maximum(v_c - v_left, 1e-12),
        l_left,
        o_mean,
    )
    log_q = _log_deaths_after(trial, arm, x, h_right - h_x, l_right)
    # r on the landmarks' own scale, as the joint normal holds them (Greenwood's covariance
    # S_L S_R V_L): Ŝ(t_R) given Ŝ(t_L) is N(Ŝ(t_L) S_R/S_L, S_R² (V_R − V_L)), plus the
    # printed roundings; the Jacobian e^{ℓ_R} makes it a density of ℓ_R
    survival_right = pt.exp(-h_right)
    v_r = survival_right**2 * pt.maximum(v_right - v_left, 0.0)
    v_r = v_r + var_left * pt.exp(2.0 * (h_left - h_right)) + var_right
    v_r = v_r + 1e-12
    log_r = _normal_logpdf(pt.exp(l_right), pt.exp(l_left - (h_right - h_left)), v_r) + l_right
    return log_g + pt.switch(pt.gt(has_right, 0.5), log_q - log_r, 0.0)
