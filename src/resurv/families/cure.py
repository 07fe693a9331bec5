"""Mixture cure families: a cured fraction π that never has the event, any family for the rest.

With π = logistic(c) (``cure_logit`` = c, the log odds of cure) and an uncured family with
cumulative hazard H_u, hazard h_u and the median m of the *uncured* (the family's ``median``):

    S(t) = π + (1 − π) S_u(t),   S_u = e^{−H_u},
    H(t) = −log(π + (1 − π) e^{−H_u(t)}) = −logaddexp(log π, log(1 − π) − H_u(t)),
    log h(t) = log(1 − π) + log h_u(t) − H_u(t) + H(t),
    H⁻¹(H) = H_u⁻¹(−log((e^{−H} − π)/(1 − π))) for e^{−H} > π, inf beyond the plateau,
    RMST(τ) = π τ + (1 − π) RMST_u(τ),   mean = inf (π > 0).

log π = −softplus(−c) and log(1 − π) = −softplus(c) keep every term finite for any c. The arm
effects are the generic ones: ``separate`` gives each arm its own cure fraction and uncured
curve (the usual mixture cure model with arm as covariate of both parts); ``ph`` multiplies the
whole population's hazard by HR (π₁ = π₀^HR); ``aft`` scales time (π₁ = π₀).

Reference: Boag JW. Maximum likelihood estimates of the proportion of patients cured by cancer
therapy. J R Stat Soc B 1949;11:15–53; Lambert PC, Thompson JR, Weston CL, Dickman PW.
Estimating and modeling the cure fraction in population-based cancer survival analysis.
Biostatistics 2007;8:576–594 (mixture form); flexsurvcure (Amdahl J) for the parametrization.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from resurv.families._base import Family, Parameter, expand_for_nodes, gauss_legendre_rmst
from resurv.families._math import backend, numpy_quiet, safe
from resurv.families.parametrization import MedianShapes

__all__ = ["CURE_FAMILIES", "UNCURED_FAMILIES", "mixture_cure"]

#: Families a cure model can use for the uncured (scalar parameters, no design constants).
UNCURED_FAMILIES = ("exponential", "weibull", "gompertz", "lognormal", "loglogistic", "gengamma")


def _log_fractions(cure_logit, xp):
    """(log π, log(1 − π)) for π = logistic(cure_logit)."""
    m = backend(xp)
    c = m.asarray(cure_logit)
    return -m.softplus(-c), -m.softplus(c)


def mixture_cure(base: Family) -> Family:
    """The mixture cure family whose uncured patients follow ``base``."""

    @numpy_quiet
    def cum_hazard(t, *, cure_logit, xp=np, **params):
        """H(t) = −logaddexp(log π, log(1 − π) − H_u(t))."""
        m = backend(xp)
        log_pi, log_1mpi = _log_fractions(cure_logit, xp)
        a = log_pi + 0.0 * m.asarray(t)
        b = log_1mpi - base.cum_hazard_fn(t, xp=xp, **params)
        top = m.maximum(a, b)
        return -(top + m.log1p(m.exp(-m.abs(a - b))))

    @numpy_quiet
    def log_hazard(t, *, cure_logit, xp=np, **params):
        """Log h(t) = log(1 − π) + log h_u(t) − H_u(t) + H(t)."""
        _, log_1mpi = _log_fractions(cure_logit, xp)
        cum_u = base.cum_hazard_fn(t, xp=xp, **params)
        return (
            log_1mpi
            + base.log_hazard_fn(t, xp=xp, **params)
            - cum_u
            + cum_hazard(t, cure_logit=cure_logit, xp=xp, **params)
        )

    @numpy_quiet
    def inv_cum_hazard(cum_haz, *, cure_logit, xp=np, **params):
        """H_u⁻¹(−log((e^{−H} − π)/(1 − π))); inf where e^{−H} ≤ π."""
        m = backend(xp)
        log_pi, log_1mpi = _log_fractions(cure_logit, xp)
        cum_haz = m.asarray(cum_haz)
        reachable = -cum_haz > log_pi
        # log(e^{−H} − π) = −H + log(1 − e^{log π + H})
        gap = safe(reachable, log_pi + cum_haz, -1.0, xp)
        cum_u = -(-cum_haz + m.log1mexp(gap) - log_1mpi)
        cum_u = safe(reachable, cum_u, 1.0, xp)
        t = base.inv_cum_hazard_fn(cum_u, xp=xp, **params)
        return m.where(reachable, t, np.inf)

    def rmst(tau, *, cure_logit, xp=np, **params):
        """RMST(τ) = π τ + (1 − π) RMST_u(τ)."""
        m = backend(xp)
        pi = m.exp(_log_fractions(cure_logit, xp)[0])
        if base.rmst_fn is not None:
            uncured = base.rmst_fn(tau, xp=xp, **params)
        else:
            expanded = expand_for_nodes(base, params, xp)
            uncured = gauss_legendre_rmst(
                lambda t: m.exp(-base.cum_hazard_fn(t, xp=xp, **expanded)), tau, xp=xp
            )
        return pi * m.asarray(tau) + (1.0 - pi) * uncured

    def mean(cure_logit, **params):
        """inf: a cured fraction never has the event."""
        shape = np.broadcast(np.asarray(cure_logit), *map(np.asarray, params.values())).shape
        return np.full(shape, np.inf)

    shapes = tuple(n for n in base.parameter_names if n != "median")
    return Family(
        name=f"cure_{base.name}",
        parameters=(
            *base.parameters,
            Parameter("cure_logit", "real", "log odds of the cured fraction"),
        ),
        natural_effect=base.natural_effect,
        log_hazard_fn=log_hazard,
        cum_hazard_fn=cum_hazard,
        inv_cum_hazard_fn=inv_cum_hazard,
        rmst_fn=rmst,
        mean_fn=mean,
        inverse_numpy_only=base.inverse_numpy_only,
        parametrization=MedianShapes((*shapes, "cure_logit")),
        description=f"mixture cure: S = pi + (1 - pi) S_{base.name}, median of the uncured",
    )


def _build() -> MappingProxyType:
    from resurv.families.exponential import EXPONENTIAL
    from resurv.families.gengamma import GENGAMMA
    from resurv.families.gompertz import GOMPERTZ
    from resurv.families.loglogistic import LOGLOGISTIC
    from resurv.families.lognormal import LOGNORMAL
    from resurv.families.weibull import WEIBULL

    bases = (EXPONENTIAL, WEIBULL, GOMPERTZ, LOGNORMAL, LOGLOGISTIC, GENGAMMA)
    assert tuple(b.name for b in bases) == UNCURED_FAMILIES
    return MappingProxyType({f"cure_{b.name}": mixture_cure(b) for b in bases})


#: ``cure_weibull``, ``cure_lognormal``, …: one mixture cure family per uncured family.
CURE_FAMILIES = _build()
