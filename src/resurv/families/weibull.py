"""Weibull family, parametrized by the median m (months) and the shape k > 0.

    scale σ = m / (ln 2)^{1/k},  H(t) = (t/σ)^k = ln 2 · (t/m)^k,
    log h(t) = log(k ln 2 / m) + (k − 1) log(t/m),
    H⁻¹(H) = m (H / ln 2)^{1/k},
    RMST(τ) = σ Γ(1 + 1/k) P(1/k, (τ/σ)^k)  (P the regularized lower incomplete gamma),
    mean = σ Γ(1 + 1/k).

PH with shared k: HR = (m₀/m₁)^k; AFT: TR = m₁/m₀. Reference: Klein JP, Moeschberger ML.
Survival Analysis, 2nd ed., 2003, section 2.5.
"""

from __future__ import annotations

import numpy as np
from scipy import special as sc

from resurv.families._base import Family, Parameter
from resurv.families._math import LN2, backend, numpy_quiet

__all__ = ["WEIBULL", "cum_hazard", "inv_cum_hazard", "log_hazard", "mean", "rmst"]


@numpy_quiet
def log_hazard(t, median, *, shape, xp=np):
    """Log h(t) = log(k ln 2 / m) + (k − 1) log(t/m)."""
    m = backend(xp)
    log_ratio = m.log(m.asarray(t)) - m.log(median)
    return m.log(shape * LN2 / median) + (shape - 1.0) * log_ratio


@numpy_quiet
def cum_hazard(t, median, *, shape, xp=np):
    """H(t) = ln 2 · (t/m)^k, computed as ln 2 · exp(k log(t/m))."""
    m = backend(xp)
    return LN2 * m.exp(shape * (m.log(m.asarray(t)) - m.log(median)))


@numpy_quiet
def inv_cum_hazard(cum_haz, median, *, shape, xp=np):
    """H⁻¹(H) = m (H / ln 2)^{1/k}."""
    m = backend(xp)
    return median * m.exp((m.log(m.asarray(cum_haz)) - np.log(LN2)) / shape)


@numpy_quiet
def rmst(tau, median, *, shape, xp=np):
    """RMST(τ) = σ Γ(1 + 1/k) P(1/k, ln 2 (τ/m)^k)."""
    m = backend(xp)
    inv_k = 1.0 / m.asarray(shape)
    scale = median * m.exp(-np.log(LN2) * inv_k)
    return (
        scale
        * m.exp(m.gammaln(1.0 + inv_k))
        * m.gammainc(inv_k, cum_hazard(tau, median, shape=shape, xp=xp))
    )


def mean(median, shape):
    """Mean = σ Γ(1 + 1/k)."""
    median, shape = np.asarray(median, dtype=float), np.asarray(shape, dtype=float)
    return median / LN2 ** (1.0 / shape) * np.exp(sc.gammaln(1.0 + 1.0 / shape))


def _ph_params(params, log_hr, xp=np):
    m = backend(xp)
    shape = params["shape"]
    return {"median": params["median"] * m.exp(-m.asarray(log_hr) / shape), "shape": shape}


WEIBULL = Family(
    name="weibull",
    parameters=(
        Parameter("median", "positive", "median survival, months"),
        Parameter("shape", "positive", "Weibull shape k (k > 1: rising hazard)"),
    ),
    natural_effect="ph",
    log_hazard_fn=log_hazard,
    cum_hazard_fn=cum_hazard,
    inv_cum_hazard_fn=inv_cum_hazard,
    rmst_fn=rmst,
    mean_fn=mean,
    ph_params_fn=_ph_params,
    description="H = ln2 (t/median)^shape",
)
