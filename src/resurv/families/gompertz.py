"""Gompertz family, parametrized by the median m (months) and the shape a ∈ ℝ (per month).

    h(t) = b e^{at},  b = a ln 2 / (e^{am} − 1)  (b = ln 2 / m at a = 0),
    H(t) = (b/a)(e^{at} − 1) = ln 2 · (e^{at} − 1)/(e^{am} − 1)
         = ln 2 · (t/m) · E(at)/E(am),  E(x) = (eˣ − 1)/x,
    log h(t) = log ln 2 + a t − log m − log E(am),
    H⁻¹(H) = y · log(1 + a y)/(a y),  y = H m E(am)/ln 2  (inf when 1 + a y ≤ 0).

log E(x) is evaluated stably for every x (series near 0, log|expm1| elsewhere), so a → 0 is the
exponential limit without a special case. For a < 0 the hazard decays and S has a plateau
(cure fraction) exp(−ln 2/(1 − e^{am})); the inverse is inf beyond it and the mean is inf.
Natural arm effect: PH with shared a (b₁ = b₀·HR). Reference: Gompertz B. Phil Trans R Soc
1825;115:513; Klein JP, Moeschberger ML. Survival Analysis, 2003, table 2.2.
"""

from __future__ import annotations

import numpy as np
from scipy import special as sc

from resurv.families._base import Family, Parameter
from resurv.families._math import LN2, backend, log1p_over, log_exprel, numpy_quiet, safe

__all__ = ["GOMPERTZ", "cum_hazard", "inv_cum_hazard", "log_hazard", "mean"]


@numpy_quiet
def log_hazard(t, median, *, rate_shape, xp=np):
    """Log h(t) = log ln 2 + a t − log m − log E(am)."""
    m = backend(xp)
    return (
        np.log(LN2)
        + rate_shape * m.asarray(t)
        - m.log(median)
        - log_exprel(rate_shape * median, xp)
    )


@numpy_quiet
def cum_hazard(t, median, *, rate_shape, xp=np):
    """H(t) = ln 2 · (t/m) · E(at)/E(am); H(∞) = ln 2/(1 − e^{am}) for a < 0, else ∞."""
    m = backend(xp)
    t = m.asarray(t)
    finite = t < np.inf
    t_f = safe(finite, t, 1.0, xp)
    log_e_m = log_exprel(rate_shape * median, xp)
    value = LN2 * (t_f / median) * m.exp(log_exprel(rate_shape * t_f, xp) - log_e_m)
    negative = rate_shape < 0
    a_neg = safe(negative, rate_shape, -1.0, xp)
    plateau = m.where(negative, -LN2 / m.expm1(a_neg * median), np.inf)
    return m.where(finite, value, plateau)


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, rate_shape, xp=np):
    """H⁻¹(H) = y log(1 + a y)/(a y), y = H m E(am)/ln 2; inf beyond the plateau."""
    m = backend(xp)
    y = m.asarray(cum_haz) * median * m.exp(log_exprel(rate_shape * median, xp)) / LN2
    x = rate_shape * y
    reachable = x > -1.0
    x_safe = safe(reachable, x, 0.0, xp)
    return m.where(reachable, y * log1p_over(x_safe, xp), np.inf)


def _scaled_exp1(c):
    """e^c E₁(c) for c > 0 (asymptotic series beyond c = 50)."""
    c = np.asarray(c, dtype=float)
    big = c > 50.0
    cs = np.where(big, 1.0, c)
    cb = np.where(big, c, 100.0)
    direct = np.exp(cs) * sc.exp1(cs)
    series = (1.0 - 1.0 / cb + 2.0 / cb**2 - 6.0 / cb**3 + 24.0 / cb**4) / cb
    return np.where(big, series, direct)


def mean(median, rate_shape):
    """Mean survival time (NumPy).

    (1/a) e^c E₁(c), c = b/a = ln 2/(e^{am} − 1), for a > 0; m/ln 2 at a = 0; inf for a < 0
    (plateau).
    """
    median = np.asarray(median, dtype=float)
    a = np.asarray(rate_shape, dtype=float)
    pos = a > 0
    a_pos = np.where(pos, a, 1.0)
    c = LN2 / np.expm1(a_pos * median)
    value = np.where(pos, _scaled_exp1(c) / a_pos, np.inf)
    return np.where(a == 0, median / LN2, value)


GOMPERTZ = Family(
    name="gompertz",
    parameters=(
        Parameter("median", "positive", "median survival, months"),
        Parameter("rate_shape", "real", "Gompertz shape a per month (a < 0: plateau)"),
    ),
    natural_effect="ph",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    mean_fn=mean,
    description="h = b exp(a t), b fixed by the median",
)
