"""Exponential family, parametrized by the median m (months).

    λ = ln 2 / m,  h(t) = λ,  H(t) = λ t,  H⁻¹(H) = H / λ,
    RMST(τ) = (1 − e^{−λτ}) / λ,  mean = 1/λ.

PH and AFT coincide: HR = m₀/m₁.
"""

from __future__ import annotations

import numpy as np

from resurv.families._base import Family, Parameter
from resurv.families._math import LN2, backend, numpy_quiet

__all__ = ["EXPONENTIAL", "cum_hazard", "inv_cum_hazard", "log_hazard", "mean", "rmst"]


@numpy_quiet
def log_hazard(t, median, *, xp=np):
    """Log h(t) = log(ln 2 / m), broadcast against t."""
    m = backend(xp)
    t = m.asarray(t)
    return m.log(LN2 / m.asarray(median)) + 0.0 * m.minimum(t, 1.0)


@numpy_quiet
def cum_hazard(t, median, *, xp=np):
    """H(t) = ln 2 · t / m."""
    return LN2 * backend(xp).asarray(t) / median


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, xp=np):
    """H⁻¹(H) = H m / ln 2."""
    return backend(xp).asarray(cum_haz) * median / LN2


@numpy_quiet
def rmst(tau, median, *, xp=np):
    """RMST(τ) = −expm1(−λτ)/λ with λ = ln 2 / m."""
    m = backend(xp)
    rate = LN2 / m.asarray(median)
    return -m.expm1(-rate * tau) / rate


def mean(median):
    """Mean = m / ln 2."""
    return np.asarray(median, dtype=float) / LN2


def _ph_params(params, log_hr, xp=np):
    m = backend(xp)
    return {"median": params["median"] * m.exp(-m.asarray(log_hr))}


EXPONENTIAL = Family(
    name="exponential",
    parameters=(Parameter("median", "positive", "median survival, months"),),
    natural_effect="ph",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    rmst_fn=rmst,
    mean_fn=mean,
    ph_params_fn=_ph_params,
    description="constant hazard ln2/median",
)
