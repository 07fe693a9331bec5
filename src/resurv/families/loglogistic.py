"""Log-logistic family, parametrized by the median α = m (months) and the shape β > 0.

    x = log(t/m),  H(t) = log(1 + (t/m)^β) = softplus(βx),
    log h(t) = log(β/m) + (β − 1)x − softplus(βx),
    H⁻¹(H) = m (e^H − 1)^{1/β},
    mean = m (π/β) / sin(π/β) for β > 1, else inf.

The natural arm effect is AFT (equivalently proportional odds: odds ratio TR^{−β}).
Reference: Bennett S. Stat Med 1983;2:273.
"""

from __future__ import annotations

import numpy as np

from resurv.families._base import Family, Parameter
from resurv.families._math import backend, log_expm1, numpy_quiet

__all__ = ["LOGLOGISTIC", "cum_hazard", "inv_cum_hazard", "log_hazard", "mean"]


@numpy_quiet
def log_hazard(t, median, *, shape, xp=np):
    """Log h(t) = log β − log t − softplus(−β log(t/m))."""
    m = backend(xp)
    log_t = m.log(m.asarray(t))
    return m.log(shape) - log_t - m.softplus(-shape * (log_t - m.log(median)))


@numpy_quiet
def cum_hazard(t, median, *, shape, xp=np):
    """H(t) = softplus(β log(t/m))."""
    m = backend(xp)
    return m.softplus(shape * (m.log(m.asarray(t)) - m.log(median)))


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, shape, xp=np):
    """H⁻¹(H) = m exp(log(e^H − 1)/β)."""
    m = backend(xp)
    return median * m.exp(log_expm1(m.asarray(cum_haz), xp) / shape)


def mean(median, shape):
    """Mean = m (π/β)/sin(π/β) for β > 1, else inf."""
    median, shape = np.asarray(median, dtype=float), np.asarray(shape, dtype=float)
    with np.errstate(all="ignore"):
        value = median * (np.pi / shape) / np.sin(np.pi / shape)
    return np.where(shape > 1.0, value, np.inf)


LOGLOGISTIC = Family(
    name="loglogistic",
    parameters=(
        Parameter("median", "positive", "median survival, months"),
        Parameter("shape", "positive", "log-logistic shape β"),
    ),
    natural_effect="aft",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    mean_fn=mean,
    description="S = 1/(1 + (t/median)^shape)",
)
