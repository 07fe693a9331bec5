"""Generalized gamma family (Prentice 1974), parametrized by the median m, σ > 0 and Q ∈ ℝ.

With μ the Prentice location, w = (log t − μ)/σ, k = 1/Q², x = Q w, u = k eˣ:

    S(t) = Q(k, u) (Q > 0),  P(k, u) (Q < 0),  Φ(−w) (Q = 0, the log-normal limit),
    log f(t) = −log(σ t) + ℓ(Q) − ŵ²/2,   ŵ = w √E₂(x),  E₂(x) = 2(eˣ − 1 − x)/x²,
    ℓ(Q) = log|Q| + k log k − k − log Γ(k)  (→ −½ log 2π as Q → 0; Stirling series),

where P, Q are the regularized incomplete gamma functions and k(eˣ − 1 − x) = ŵ²/2.
Q = 1 is the Weibull, Q = σ the gamma, Q = 0 the log-normal family.

**Parametrization by the median.** μ = log m − σ w½(Q) with w½ = log(Q² γ½(k))/Q, γ½ the
median of Gamma(k, 1) (the same for Q < 0 by monotonicity). NumPy takes γ½ from scipy's
``gammaincinv``; PyTensor (whose ``gammaincinv`` has no gradient in k) solves P(k, γ) = ½ by
Newton's method from a closed-form start, so that its gradient is the implicit-function
gradient −∂ₖP/∂ᵧP. For |Q| < 0.05 the expansion
γ½ − k = −1/3 + 8/(405k) + 184/(25515k²) + 2248/(3444525k³) (Choi 1994) is used.

**Numerics.** Three regions, each fed only values where it is finite (double ``where``):

* |Q| < 0.05 and |Q ŵ| < 1.5: Temme's uniform expansion (DLMF 8.12.3–8.12.4),
  S = Φ(−ŵ) + Q φ(ŵ)[c₀(η) + Q² c₁(η)], η = Q ŵ, c₀ = 1/(eˣ−1) − 1/η,
  c₁ = 1/η³ − 1/(eˣ−1)³ − 1/(eˣ−1)² − 1/(12(eˣ−1)) (Taylor series near η = 0),
  so Q → 0 is smooth and gradients never see k = 1/Q² → ∞; error O(Q⁵ φ(ŵ));
* ŵ > 35 (S below about e⁻⁶⁰⁰) elsewhere: the Legendre continued fraction for Q(k, u)
  (Q > 0) or the power series for P(k, u) (Q < 0), written as −ŵ²/2 + ℓ(Q) + … so that
  log S stays finite however far out t is;
* otherwise ``gammaincc``/``gammainc``, with log1p of the complement where S > ½.

The inverse cumulative hazard is NumPy-only (scipy ``gammainccinv``/``gammaincinv``).
References: Prentice RL. Biometrika 1974;61:539. Cox C et al. Stat Med 2007;26:4352.
Temme NM. SIAM J Math Anal 1979;10:757. DLMF §8.12. Choi KP. Proc AMS 1994;121:245.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special as sc

from resurv.families._base import Family, Parameter
from resurv.families._math import (
    backend,
    e2,
    log1p_over,
    numpy_quiet,
    safe,
)

__all__ = [
    "GENGAMMA",
    "cum_hazard",
    "inv_cum_hazard",
    "location_mu",
    "log_hazard",
    "mean",
    "median_standardized",
]

_Q_TEMME = 0.05  # |Q| below which Temme's expansion is used (while |η| < _ETA_TEMME)
_ETA_TEMME = 1.5
_FAR_TAIL = 35.0  # ŵ beyond which (S < e⁻⁶⁰⁰) the continued fraction / power series is used
# Few terms suffice that far out (u/k > e^{2.4} or < e^{−2.4}): 3 continued-fraction terms are
# exact to 1e-12 and 8 series terms to 3e-10 for every Q; long chains would make PyTensor's
# graph rewriting (and so model compilation) slow.
_N_CF = 3
_N_SERIES = 8
_N_NEWTON = 4  # Newton steps for the gamma median (quadratic convergence from ≤ 15% off)
_W_CLIP = 1e6
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_q_stirling(q, xp):
    """ℓ(Q) = log|Q| + k log k − k − log Γ(k), k = 1/Q² (Stirling series for |Q| < 0.3)."""
    m = backend(xp)
    small = m.abs(q) < 0.3
    qs = safe(small, q, 0.0, xp)
    ql = safe(small, 1.0, q, xp)
    q2 = qs * qs
    series = -_LOG_SQRT_2PI - q2 / 12.0 + q2**3 / 360.0 - q2**5 / 1260.0 + q2**7 / 1680.0
    k = 1.0 / (ql * ql)
    direct = m.log(m.abs(ql)) + k * m.log(k) - k - m.gammaln(k)
    return m.where(small, series, direct)


def median_standardized(q, xp=np):
    """w½(Q): the median of w = (log T − μ)/σ; w½ = log(Q² γ½(1/Q²))/Q, 0 at Q = 0."""
    m = backend(xp)
    q = m.asarray(q)
    small = m.abs(q) < _Q_TEMME
    qs = safe(small, q, 0.0, xp)
    ql = safe(small, 1.0, q, xp)
    q2 = qs * qs
    # γ½ − k by Choi's expansion; w½ = log1p(Q²(γ½ − k))/Q = Q (γ½ − k) log1p_over(Q²(γ½ − k))
    shift = -1 / 3 + q2 * (8 / 405 + q2 * (184 / 25515 + q2 * 2248 / 3444525))
    series = qs * shift * log1p_over(q2 * shift, xp)
    k = 1.0 / (ql * ql)
    gamma_median = sc.gammaincinv(k, 0.5) if xp is np else _gamma_median_newton(k, xp)
    # log(Q² γ½): as log1p(Q²(γ½ − k)) while γ½ ≈ k (|Q| < 1), directly otherwise.
    near_k = m.abs(ql) < 1.0
    log_near = m.log1p(safe(near_k, ql * ql * (gamma_median - k), 0.0, xp))
    log_far = m.log(safe(near_k, 1.0, ql * ql * gamma_median, xp))
    direct = m.where(near_k, log_near, log_far) / ql
    return m.where(small, series, direct)


def _gamma_median_newton(k, xp):
    """Median of Gamma(k, 1) as a differentiable graph: Newton's method on P(k, eʸ) = ½.

    Start: k − 1/3 + 8/(405k) + 184/(25515k²) for k ≥ 0.5 (Choi 1994), (Γ(k+1)/2)^{1/k}
    below (from P(k, x) ≈ x^k/Γ(k+1)); then ``_N_NEWTON`` steps
    y ← y − (P(k, eʸ) − ½)/exp(k y − eʸ − log Γ(k)) in y = log γ. The gradient in k flows
    through P (whose k-derivative PyTensor implements) and converges with the iteration to
    the implicit-function derivative −∂ₖP/∂ᵧP; ``gammaincinv`` has no k-gradient, and
    wrapping it in ``disconnected_grad`` does not survive the rewrites samplers apply before
    differentiating.
    """
    m = backend(xp)
    large = k >= 0.5
    k_l = safe(large, k, 1.0, xp)
    k_s = safe(large, 0.25, k, xp)
    start_large = m.log(k_l - 1 / 3 + 8 / (405 * k_l) + 184 / (25515 * k_l * k_l))
    start_small = (m.gammaln(k_s + 1.0) - math.log(2.0)) / k_s
    y = m.where(large, start_large, start_small)
    log_gamma_k = m.gammaln(k)
    for _ in range(_N_NEWTON):
        g = m.exp(y)
        y = y - (m.gammainc(k, g) - 0.5) / m.exp(k * y - g - log_gamma_k)
    return m.exp(y)


def location_mu(median, sigma, q, xp=np):
    """Prentice μ from the median: μ = log m − σ w½(Q)."""
    m = backend(xp)
    return m.log(m.asarray(median)) - sigma * median_standardized(q, xp)


def _standardized(t, median, sigma, q, xp):
    """Standardized log time w = (log t − μ)/σ, clipped to ±10⁶.

    Beyond the clip S is 1 or 0 to any precision; the clip makes t = 0 and t = inf give
    H = 0 and a huge H rather than NaN from 0·∞ in Q w.
    """
    m = backend(xp)
    w = (m.log(m.asarray(t)) - m.log(median)) / sigma + median_standardized(q, xp)
    return m.minimum(m.maximum(w, -_W_CLIP), _W_CLIP)


def _temme_coefficients(x, eta, xp):
    """c₀(η), c₁(η) of Temme's expansion, with x = log λ, e^x − 1 = λ − 1."""
    m = backend(xp)
    near = m.abs(x) < 0.05
    eta_s = safe(near, eta, 0.0, xp)
    x_l = safe(near, 1.0, x, xp)
    eta_l = safe(near, 1.0, eta, xp)
    c0_series = -1 / 3 + eta_s * (1 / 12 + eta_s * (-2 / 135 + eta_s * (1 / 864)))
    c1_series = -1 / 540 + eta_s * (-1 / 288 + eta_s * (1 / 378))
    mu_l = m.expm1(x_l)
    c0_direct = 1.0 / mu_l - 1.0 / eta_l
    c1_direct = 1.0 / eta_l**3 - 1.0 / mu_l**3 - 1.0 / mu_l**2 - 1.0 / (12.0 * mu_l)
    # The direct c₁ cancels badly below |x| ≈ 0.3: use the series to 0.05, direct above.
    return m.where(near, c0_series, c0_direct), m.where(near, c1_series, c1_direct)


def _log_survival_temme(x, w_hat, eta, q, xp):
    """(log S, log S + ŵ²/2) from Temme's expansion (small |Q|, moderate |η|)."""
    m = backend(xp)
    c0, c1 = _temme_coefficients(x, eta, xp)
    corr = q * (c0 + q * q * c1)
    pos = w_hat > 0
    wp = safe(pos, w_hat, 1.0, xp)
    wn = safe(pos, -1.0, w_hat, xp)
    mills = math.sqrt(0.5 * math.pi) * m.erfcx(wp / math.sqrt(2.0))
    upper = m.log(mills + corr) - _LOG_SQRT_2PI  # reduced
    phi_n = m.exp(-0.5 * wn * wn - _LOG_SQRT_2PI)
    lower = m.log1p(-0.5 * m.erfc(-wn / math.sqrt(2.0)) + phi_n * corr)  # log S
    half_sq = 0.5 * w_hat * w_hat
    return m.where(pos, upper - half_sq, lower), m.where(pos, upper, lower + half_sq)


def _log_upper_tail_cf(k, u, xp):
    """Log of the Legendre continued fraction f with Γ(k, u) = e^{−u} u^k / f (u ≫ k)."""
    f = u + (2 * _N_CF + 1) - k
    for n in range(_N_CF, 0, -1):
        f = u + (2 * n - 1) - k - n * (n - k) / f
    return backend(xp).log(f)


def _log_lower_tail_series(k, u, xp):
    """Log Σₙ uⁿ/((k+1)…(k+n)), with P(k, u) = u^k e^{−u}/Γ(k+1) · Σ (u ≪ k)."""
    term = 1.0
    total = 1.0
    for n in range(1, _N_SERIES + 1):
        term = term * u / (k + n)
        total = total + term
    return backend(xp).log(total)


def _log_survival_gamma(x, w_hat, log_q_term, q, xp):
    """(log S, log S + ŵ²/2) from the incomplete gamma functions and far-tail expansions."""
    m = backend(xp)
    k = 1.0 / (q * q)
    far = w_hat > _FAR_TAIL
    upper = q > 0
    # Far tail, written around −ŵ²/2 + ℓ(Q) so that it never underflows.
    u_far = k * m.exp(safe(far, x, 0.0, xp))
    u_cf = safe(far & upper, u_far, k + 100.0, xp)
    u_ser = safe(far & ~upper, u_far, 0.5 * k, xp)
    log_abs_q = m.log(m.abs(q))
    far_value = m.where(
        upper,
        log_q_term - log_abs_q - _log_upper_tail_cf(k, u_cf, xp),
        log_q_term + log_abs_q + _log_lower_tail_series(k, u_ser, xp),
    )
    # Bulk: the regularized incomplete gamma functions themselves.
    u_bulk = k * m.exp(safe(far, 0.0, x, xp))
    big_q = m.gammaincc(k, u_bulk)
    small_p = m.gammainc(k, u_bulk)
    surv = m.where(upper, big_q, small_p)
    complement = m.where(upper, small_p, big_q)
    high = surv > 0.5
    bulk = m.where(
        high,
        m.log1p(-safe(high, complement, 0.0, xp)),
        m.log(safe(high, 0.5, surv, xp)),
    )
    half_sq = 0.5 * w_hat * w_hat
    return m.where(far, far_value - half_sq, bulk), m.where(far, far_value, bulk + half_sq)


def _log_hazard_and_survival(t, median, sigma, q, xp):
    """(log h(t), log S(t)), sharing w, ŵ, η and ℓ(Q) between the two.

    Each branch returns log S and r = log S + ŵ²/2, each computed directly where it is the
    small quantity, so that log h = −log(σt) + ℓ(Q) − r has no cancellation of the huge
    −ŵ²/2 in the far tail and log S keeps its relative accuracy near t = 0.
    """
    m = backend(xp)
    q = m.asarray(q)
    w = _standardized(t, median, sigma, q, xp)
    x = q * w
    root_e2 = m.sqrt(e2(x, xp))
    w_hat = w * root_e2
    eta = x * root_e2
    log_q_term = _log_q_stirling(q, xp)
    temme = (m.abs(q) < _Q_TEMME) & (m.abs(eta) < _ETA_TEMME)
    log_s_t, reduced_t = _log_survival_temme(x, w_hat, eta, safe(temme, q, 0.0, xp), xp)
    log_s_g, reduced_g = _log_survival_gamma(x, w_hat, log_q_term, safe(temme, 1.0, q, xp), xp)
    reduced = m.where(temme, reduced_t, reduced_g)
    log_haz = -m.log(sigma * m.asarray(t)) + log_q_term - reduced
    return log_haz, m.where(temme, log_s_t, log_s_g)


@numpy_quiet
def cum_hazard(t, median, *, sigma, q, xp=np):
    """H(t) = −log S(t)."""
    return -_log_hazard_and_survival(t, median, sigma, q, xp)[1]


@numpy_quiet
def log_hazard(t, median, *, sigma, q, xp=np):
    """Log h(t) = log f(t) − log S(t)."""
    return _log_hazard_and_survival(t, median, sigma, q, xp)[0]


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, sigma, q, xp=np):
    """H⁻¹(H) (NumPy only): invert S = e^{−H} with scipy's incomplete-gamma inverses."""
    if xp is not np:
        raise NotImplementedError("gengamma: H⁻¹ is available in NumPy only")
    cum_haz, median, sigma, q = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (cum_haz, median, sigma, q))
    )
    surv = np.exp(-cum_haz)
    event = -np.expm1(-cum_haz)
    lognormal = np.abs(q) < 1e-8
    qg = np.where(lognormal, 1.0, q)
    k = 1.0 / (qg * qg)
    low_surv = surv < 0.5
    # Q > 0: S = Q(k, u); Q < 0: S = P(k, u).
    u_pos = np.where(low_surv, sc.gammainccinv(k, surv), sc.gammaincinv(k, event))
    u_neg = np.where(low_surv, sc.gammaincinv(k, surv), sc.gammainccinv(k, event))
    u = np.where(qg > 0, u_pos, u_neg)
    w_gamma = (np.log(u) - np.log(k)) / qg
    w_ln = np.where(low_surv, -sc.ndtri(surv), sc.ndtri(event))
    w = np.where(lognormal, w_ln, w_gamma)
    return np.exp(location_mu(median, sigma, q) + sigma * w)


def _median(median, *, sigma, q, xp=np):
    return median


def mean(median, sigma, q):
    """Mean survival time (NumPy).

    e^μ Q^{2σ/Q} Γ(k + σ/Q)/Γ(k) for k + σ/Q > 0, else inf; e^{μ+σ²/2} for |Q| < 10⁻⁴
    (log-normal limit, relative error O(|Q|σ³)).
    """
    median, sigma, q = (np.asarray(v, dtype=float) for v in (median, sigma, q))
    mu = location_mu(median, sigma, q)
    tiny = np.abs(q) < 1e-4
    qg = np.where(tiny, 1.0, q)
    k = 1.0 / (qg * qg)
    shift = k + sigma / qg
    with np.errstate(all="ignore"):
        log_mean = mu + 2.0 * sigma / qg * np.log(np.abs(qg)) + sc.gammaln(shift) - sc.gammaln(k)
    gamma_mean = np.where(shift > 0, np.exp(log_mean), np.inf)
    return np.where(tiny, np.exp(mu + 0.5 * sigma * sigma), gamma_mean)


GENGAMMA = Family(
    name="gengamma",
    parameters=(
        Parameter("median", "positive", "median survival, months"),
        Parameter("sigma", "positive", "Prentice scale σ"),
        Parameter("q", "real", "Prentice shape Q (0: log-normal, 1: Weibull)"),
    ),
    natural_effect="aft",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    mean_fn=mean,
    median_fn=_median,
    inverse_numpy_only=True,
    description="Prentice generalized gamma, located by its median",
)
