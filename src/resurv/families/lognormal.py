"""Log-normal family, parametrized by the median m (months) and the log-scale SD s > 0.

    z = (log t − log m)/s,  log S(t) = log Φ(−z),  H(t) = −log Φ(−z),
    log h(t) = log(φ(z)/Φ(−z)) − log(s t),
    H⁻¹(H) = m exp(s z_H),  z_H = −Φ⁻¹(e^{−H}) = √2 erfc⁻¹(2e^{−H})  (or, for H < ln 2,
    z_H = −√2 erfc⁻¹(−2 expm1(−H)), which keeps small H accurate),
    RMST(τ) = τ Φ(−z_τ) + m e^{s²/2} Φ(z_τ − s),  mean = m e^{s²/2}.

log Φ(−z) uses erfcx for z > 0: log Φ(−z) = log(erfcx(z/√2)/2) − z²/2, finite at any t.
The natural arm effect is AFT (TR = m₁/m₀).
"""

from __future__ import annotations

import math

import numpy as np

from resurv.families._base import Family, Parameter
from resurv.families._math import (
    backend,
    log_mills,
    log_ndtr_upper,
    numpy_quiet,
    safe,
)

__all__ = ["LOGNORMAL", "cum_hazard", "inv_cum_hazard", "log_hazard", "mean", "rmst"]

_SQRT2 = math.sqrt(2.0)


def _z(t, median, sdlog, xp):
    m = backend(xp)
    return (m.log(m.asarray(t)) - m.log(median)) / sdlog


@numpy_quiet
def log_hazard(t, median, *, sdlog, xp=np):
    """Log h(t) = log(φ(z)/Φ(−z)) − log(s t)."""
    m = backend(xp)
    return log_mills(_z(t, median, sdlog, xp), xp) - m.log(sdlog * m.asarray(t))


@numpy_quiet
def cum_hazard(t, median, *, sdlog, xp=np):
    """H(t) = −log Φ(−z)."""
    return -log_ndtr_upper(_z(t, median, sdlog, xp), xp)


def standard_z_from_cum_hazard(cum_haz, xp=np):
    """Z with −log Φ(−z) = H: the standard-normal quantile of 1 − e^{−H}, stable at both ends."""
    m = backend(xp)
    cum_haz = m.asarray(cum_haz)
    early = cum_haz < math.log(2.0)
    h_early = safe(early, cum_haz, 0.1, xp)
    h_late = safe(early, 1.0, cum_haz, xp)
    z_early = -_SQRT2 * m.erfcinv(-2.0 * m.expm1(-h_early))
    z_late = _SQRT2 * m.erfcinv(2.0 * m.exp(-h_late))
    return m.where(early, z_early, z_late)


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, sdlog, xp=np):
    """H⁻¹(H) = m exp(s z_H)."""
    m = backend(xp)
    return median * m.exp(sdlog * standard_z_from_cum_hazard(cum_haz, xp))


def _ndtr(x, xp):
    return 0.5 * backend(xp).erfc(-x / _SQRT2)


@numpy_quiet
def rmst(tau, median, *, sdlog, xp=np):
    """RMST(τ) = τ Φ(−z_τ) + m e^{s²/2} Φ(z_τ − s)."""
    m = backend(xp)
    z = _z(tau, median, sdlog, xp)
    return m.asarray(tau) * _ndtr(-z, xp) + median * m.exp(0.5 * sdlog * sdlog) * _ndtr(
        z - sdlog, xp
    )


def mean(median, sdlog):
    """Mean = m e^{s²/2}."""
    sdlog = np.asarray(sdlog, dtype=float)
    return np.asarray(median, dtype=float) * np.exp(0.5 * sdlog * sdlog)


LOGNORMAL = Family(
    name="lognormal",
    parameters=(
        Parameter("median", "positive", "median survival, months"),
        Parameter("sdlog", "positive", "SD of log survival time"),
    ),
    natural_effect="aft",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    rmst_fn=rmst,
    mean_fn=mean,
    description="log T ~ Normal(log median, sdlog)",
)
