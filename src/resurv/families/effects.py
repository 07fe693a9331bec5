"""Arm effects, generic for every family: proportional hazards, accelerated failure time, separate.

Given a baseline (reference-arm) family with parameters θ, the comparator arm's curve is

* ``ph``:  log h₁(t) = log h₀(t) + log HR,  H₁(t) = HR · H₀(t),
  H₁⁻¹(H) = H₀⁻¹(H / HR),  median₁ = H₀⁻¹(ln 2 / HR);
* ``aft``: H₁(t) = H₀(t / TR),  log h₁(t) = log h₀(t / TR) − log TR,
  H₁⁻¹(H) = TR · H₀⁻¹(H),  median₁ = TR · median₀,  RMST₁(τ) = TR · RMST₀(τ / TR);
* ``separate``: each arm has its own parameters (no effect parameter).

HR = exp(log_hr), TR = exp(log_tr). Everything broadcasts: parameters and effects of shape
(R, 1) go with times of shape (R, n); ``xp`` is ``numpy`` or ``pytensor.tensor`` (PyTensor
broadcasts only along axes whose length 1 is static, e.g. ``pt.tensor(shape=(None, 1))``).
Reference: Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed.,
2002, sections 2.3.3–2.3.4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from resurv.families._base import (
    DEFAULT_RMST_NODES,
    Family,
    expand_for_nodes,
    gauss_legendre_rmst,
)
from resurv.families._math import LN2, backend
from resurv.families.registry import get_family

__all__ = [
    "Curve",
    "arm_cum_hazard",
    "arm_curves",
    "arm_inv_cum_hazard",
    "arm_log_density",
    "arm_log_hazard",
    "arm_log_survival",
    "arm_median",
    "arm_quantile",
    "arm_rmst",
    "arm_survival",
    "resolve_effect",
]


def resolve_effect(family: Family, effect=None, log_hr=None, log_tr=None) -> str | None:
    """Check the effect against its parameter and the family; return "ph", "aft" or None.

    With ``effect=None`` the effect is read off the parameter given (``log_hr`` → "ph",
    ``log_tr`` → "aft"); with neither, the curve is the baseline itself. "separate" also
    returns None: the arm's own parameters already describe it.
    """
    if log_hr is not None and log_tr is not None:
        raise ValueError("give log_hr (ph) or log_tr (aft), not both")
    if effect is None:
        return "ph" if log_hr is not None else "aft" if log_tr is not None else None
    if effect not in family.effects:
        raise ValueError(
            f"family {family.name!r} supports effects {family.effects}, not {effect!r}"
        )
    wanted = {"ph": log_hr, "aft": log_tr}
    if effect == "separate":
        if log_hr is not None or log_tr is not None:
            raise ValueError("effect 'separate' takes neither log_hr nor log_tr")
        return None
    if wanted[effect] is None:
        raise ValueError(f"effect {effect!r} needs {'log_hr' if effect == 'ph' else 'log_tr'}")
    return effect


def _setup(family, params, effect, log_hr, log_tr):
    fam = get_family(family)
    return fam, dict(params), resolve_effect(fam, effect, log_hr, log_tr)


def _effect_values(log_hr, log_tr, xp):
    """The effect parameters as back-end arrays (float64), None kept as None."""
    m = backend(xp)
    return tuple(None if v is None else m.asarray(v) for v in (log_hr, log_tr))


def arm_log_hazard(family, t, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """Log h₁(t): log h₀(t) + log HR (ph), log h₀(t/TR) − log TR (aft), or log h₀(t)."""
    fam, params, eff = _setup(family, params, effect, log_hr, log_tr)
    m = backend(xp)
    log_hr, log_tr = _effect_values(log_hr, log_tr, xp)
    if eff == "ph":
        return fam.log_hazard(t, xp=xp, **params) + log_hr
    if eff == "aft":
        return fam.log_hazard(m.asarray(t) * m.exp(-log_tr), xp=xp, **params) - log_tr
    return fam.log_hazard(t, xp=xp, **params)


def arm_cum_hazard(family, t, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """H₁(t): HR · H₀(t) (ph), H₀(t/TR) (aft), or H₀(t)."""
    fam, params, eff = _setup(family, params, effect, log_hr, log_tr)
    m = backend(xp)
    log_hr, log_tr = _effect_values(log_hr, log_tr, xp)
    if eff == "ph":
        return m.exp(log_hr) * fam.cum_hazard(t, xp=xp, **params)
    if eff == "aft":
        return fam.cum_hazard(m.asarray(t) * m.exp(-log_tr), xp=xp, **params)
    return fam.cum_hazard(t, xp=xp, **params)


def arm_log_survival(family, t, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """Log S₁(t) = −H₁(t)."""
    return -arm_cum_hazard(family, t, params, effect, log_hr, log_tr, xp=xp)


def arm_survival(family, t, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """S₁(t) = exp(−H₁(t))."""
    return backend(xp).exp(-arm_cum_hazard(family, t, params, effect, log_hr, log_tr, xp=xp))


def arm_log_density(family, t, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """Log f₁(t) = log h₁(t) − H₁(t)."""
    return arm_log_hazard(family, t, params, effect, log_hr, log_tr, xp=xp) - arm_cum_hazard(
        family, t, params, effect, log_hr, log_tr, xp=xp
    )


def arm_inv_cum_hazard(family, cum_haz, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """H₁⁻¹(H): H₀⁻¹(H/HR) (ph), TR · H₀⁻¹(H) (aft), or H₀⁻¹(H)."""
    fam, params, eff = _setup(family, params, effect, log_hr, log_tr)
    m = backend(xp)
    log_hr, log_tr = _effect_values(log_hr, log_tr, xp)
    if eff == "ph":
        return fam.inv_cum_hazard(m.asarray(cum_haz) * m.exp(-log_hr), xp=xp, **params)
    if eff == "aft":
        return m.exp(log_tr) * fam.inv_cum_hazard(cum_haz, xp=xp, **params)
    return fam.inv_cum_hazard(cum_haz, xp=xp, **params)


def arm_quantile(family, p, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """t_p of the arm: H₁⁻¹(−log(1 − p))."""
    cum_haz = -backend(xp).log1p(-backend(xp).asarray(p))
    return arm_inv_cum_hazard(family, cum_haz, params, effect, log_hr, log_tr, xp=xp)


def arm_median(family, params, effect=None, log_hr=None, log_tr=None, xp=np):
    """Median of the arm: H₀⁻¹(ln 2 / HR) (ph), TR · median₀ (aft), or median₀."""
    fam, params, eff = _setup(family, params, effect, log_hr, log_tr)
    m = backend(xp)
    log_hr, log_tr = _effect_values(log_hr, log_tr, xp)
    if eff == "ph":
        return fam.inv_cum_hazard(LN2 * m.exp(-m.asarray(log_hr)), xp=xp, **params)
    if eff == "aft":
        return m.exp(log_tr) * fam.median_months(xp=xp, **params)
    return fam.median_months(xp=xp, **params)


def arm_rmst(
    family,
    tau,
    params,
    effect=None,
    log_hr=None,
    log_tr=None,
    xp=np,
    n_nodes=DEFAULT_RMST_NODES,
):
    """RMST₁(τ) = ∫₀^τ S₁(t) dt.

    AFT: TR · RMST₀(τ/TR) (exact). PH: the family's closed form at its PH-transformed
    parameters where the family is closed under PH, else Gauss–Legendre quadrature of S₁.
    """
    fam, params, eff = _setup(family, params, effect, log_hr, log_tr)
    m = backend(xp)
    log_hr, log_tr = _effect_values(log_hr, log_tr, xp)
    if eff == "aft":
        tr = m.exp(log_tr)
        return tr * fam.rmst(m.asarray(tau) / tr, xp=xp, n_nodes=n_nodes, **params)
    if eff == "ph":
        if fam.ph_params_fn is not None:
            shifted = fam.ph_params_fn(params, log_hr, xp)
            return fam.rmst(tau, xp=xp, n_nodes=n_nodes, **shifted)
        expanded = expand_for_nodes(fam, params, xp)
        log_hr_e = m.expand_dims(m.asarray(log_hr), -1)

        def survival_at(t):
            return m.exp(-m.exp(log_hr_e) * fam.cum_hazard(t, xp=xp, **expanded))

        return gauss_legendre_rmst(survival_at, tau, xp=xp, n_nodes=n_nodes)
    return fam.rmst(tau, xp=xp, n_nodes=n_nodes, **params)


@dataclass(frozen=True)
class Curve:
    """One arm's survival curve: a family, its (baseline) parameters and an optional effect.

    ``Curve("weibull", {"median": 12.0, "shape": 1.3})`` is a reference arm;
    ``Curve("weibull", params, log_hr=-0.4)`` the comparator under PH. Parameters may be
    floats, arrays (broadcasting against times) or PyTensor tensors (``xp=pt``).
    """

    family: Family | str
    params: Mapping = field(default_factory=dict)
    effect: str | None = None
    log_hr: object = None
    log_tr: object = None

    def __post_init__(self):
        fam = get_family(self.family)
        object.__setattr__(self, "family", fam)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        fam.check_params(self.params)
        resolved = resolve_effect(fam, self.effect, self.log_hr, self.log_tr)
        object.__setattr__(self, "effect", resolved)

    def _args(self):
        return self.family, self.params, self.effect, self.log_hr, self.log_tr

    def log_hazard(self, t, xp=np):
        """Log h(t) of this arm."""
        return arm_log_hazard(*self._args()[:1], t, *self._args()[1:], xp=xp)

    def cum_hazard(self, t, xp=np):
        """H(t) of this arm."""
        return arm_cum_hazard(*self._args()[:1], t, *self._args()[1:], xp=xp)

    def log_survival(self, t, xp=np):
        """Log S(t) = −H(t)."""
        return -self.cum_hazard(t, xp=xp)

    def survival(self, t, xp=np):
        """S(t)."""
        return backend(xp).exp(-self.cum_hazard(t, xp=xp))

    def log_density(self, t, xp=np):
        """Log f(t) = log h(t) − H(t)."""
        return self.log_hazard(t, xp=xp) - self.cum_hazard(t, xp=xp)

    def inv_cum_hazard(self, cum_haz, xp=np):
        """H⁻¹(cum_haz)."""
        return arm_inv_cum_hazard(self.family, cum_haz, *self._args()[1:], xp=xp)

    def quantile(self, p, xp=np):
        """Time by which a share p has had the event."""
        return arm_quantile(self.family, p, *self._args()[1:], xp=xp)

    def median_months(self, xp=np):
        """Median survival time of this arm."""
        return arm_median(*self._args(), xp=xp)

    def rmst(self, tau, xp=np, n_nodes=DEFAULT_RMST_NODES):
        """Restricted mean survival time up to ``tau``."""
        return arm_rmst(self.family, tau, *self._args()[1:], xp=xp, n_nodes=n_nodes)


def arm_curves(family, params, effect, log_hr=None, log_tr=None, params_comparator=None):
    """(reference Curve, comparator Curve) for an effect structure.

    ``effect="separate"`` needs ``params_comparator``; "ph"/"aft" use ``params`` for both arms
    and the effect parameter for the comparator.
    """
    fam = get_family(family)
    if effect == "separate":
        if params_comparator is None:
            raise ValueError("effect 'separate' needs params_comparator")
        return Curve(fam, params), Curve(fam, params_comparator)
    if params_comparator is not None:
        raise ValueError(f"effect {effect!r} shares the baseline parameters")
    return Curve(fam, params), Curve(fam, params, effect=effect, log_hr=log_hr, log_tr=log_tr)
