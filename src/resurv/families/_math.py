"""Math back ends: the same survival formula runs on NumPy arrays and on PyTensor graphs.

``backend(xp)`` maps the module the caller passes (``numpy`` or ``pytensor.tensor``) to a small
namespace of the functions the families need, under one set of names. NumPy's side uses
``scipy.special``. The module also holds the numerically stable helpers every family shares
(log Φ(−z) via ``erfcx``, log((eˣ−1)/x), log(1+x)/x, …), each written once against that namespace.

Functions evaluated on NumPy run inside ``numpy_quiet`` so that values which are meant to be
±inf (log 0 at t = 0, a survival beyond a plateau) raise no floating-point warnings.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
from scipy import special as sc

__all__ = [
    "LN2",
    "backend",
    "e2",
    "is_numpy",
    "log_abs_expm1",
    "log_expm1",
    "log_exprel",
    "log_mills",
    "log_ndtr_upper",
    "log1p_over",
    "numpy_quiet",
    "safe",
]

LN2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_SQRT2 = math.sqrt(2.0)


def _np_log1mexp(x):
    """log(1 − eˣ) for x ≤ 0 (Mächler 2012: expm1 near 0, log1p further out)."""
    x = np.asarray(x, dtype=float)
    return np.where(x > -LN2, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


_NUMPY = SimpleNamespace(
    name="numpy",
    asarray=lambda x: np.asarray(x, dtype=float),
    where=np.where,
    exp=np.exp,
    log=np.log,
    log1p=np.log1p,
    expm1=np.expm1,
    sqrt=np.sqrt,
    abs=np.abs,
    sign=np.sign,
    maximum=np.maximum,
    minimum=np.minimum,
    sum=np.sum,
    stack=np.stack,
    expand_dims=np.expand_dims,
    cumsum=np.cumsum,
    concatenate=np.concatenate,
    zeros=np.zeros,
    static_shape=np.shape,
    erfc=sc.erfc,
    erfcx=sc.erfcx,
    erfcinv=sc.erfcinv,
    gammaln=sc.gammaln,
    gammainc=sc.gammainc,
    gammaincc=sc.gammaincc,
    log1mexp=_np_log1mexp,
    softplus=lambda x: np.logaddexp(0.0, x),
)


def _tensor_float64(x):
    """A PyTensor variable for ``x``; numbers become float64 constants.

    ``pt.as_tensor_variable(9.0)`` is a float32 constant (9.0 is exact in float32), and
    log(9.0) would then be computed in single precision.
    """
    from pytensor.graph.basic import Variable

    if isinstance(x, Variable):
        return x
    import pytensor.tensor as pt

    return pt.as_tensor_variable(np.asarray(x, dtype=np.float64))


@functools.cache
def _tensor_backend():
    import pytensor.tensor as pt

    return SimpleNamespace(
        name="pytensor",
        module=pt,
        asarray=_tensor_float64,
        where=pt.where,
        exp=pt.exp,
        log=pt.log,
        log1p=pt.log1p,
        expm1=pt.expm1,
        sqrt=pt.sqrt,
        abs=pt.abs,
        sign=pt.sign,
        maximum=pt.maximum,
        minimum=pt.minimum,
        sum=pt.sum,
        stack=pt.stack,
        expand_dims=pt.expand_dims,
        cumsum=pt.cumsum,
        concatenate=pt.concatenate,
        zeros=pt.zeros,
        static_shape=lambda x: x.type.shape,
        erfc=pt.erfc,
        erfcx=pt.erfcx,
        erfcinv=pt.erfcinv,
        gammaln=pt.gammaln,
        gammainc=pt.gammainc,
        gammaincc=pt.gammaincc,
        log1mexp=pt.log1mexp,
        softplus=pt.softplus,
    )


def is_numpy(xp) -> bool:
    """True when ``xp`` is the NumPy module."""
    return xp is np


def backend(xp) -> SimpleNamespace:
    """Return the function namespace for ``xp`` (``numpy`` or ``pytensor.tensor``)."""
    if xp is np:
        return _NUMPY
    tensor = _tensor_backend()
    if xp is tensor.module:
        return tensor
    raise TypeError(f"xp must be numpy or pytensor.tensor, got {xp!r}")


def numpy_quiet(func):
    """Prepare the arguments of a family function for its back end.

    With ``xp=numpy`` the function runs under ``np.errstate(all="ignore")``: families return
    ±inf on purpose (log h(0) for a Weibull with k < 1, the time at which a Gompertz curve
    with a plateau reaches a cumulative hazard it never reaches), and branches of ``where``
    that are discarded may overflow; neither is an error. With ``xp=pytensor.tensor`` plain
    numbers and arrays among the arguments become float64 constants (see ``_tensor_float64``).
    """

    @functools.wraps(func)
    def wrapper(*args, xp=np, **kwargs):
        if xp is np:
            with np.errstate(all="ignore"):
                return func(*args, xp=xp, **kwargs)
        backend(xp)  # raises for an unknown xp
        args = tuple(_tensor_float64(a) for a in args)
        kwargs = {k: v if k in ("cuts", "knots") else _tensor_float64(v) for k, v in kwargs.items()}
        return func(*args, xp=xp, **kwargs)

    return wrapper


def safe(cond, x, fallback, xp):
    """``where(cond, x, fallback)``: feed a branch only values at which it is finite.

    Used twice around a ``where`` (the "double where") so that a discarded branch can produce
    neither NaN values nor NaN gradients.
    """
    return backend(xp).where(cond, x, fallback)


def log_ndtr_upper(z, xp):
    """Log Φ(−z) = log S of a standard normal, accurate for all z.

    For z > 0, Φ(−z) = erfcx(z/√2) e^{−z²/2} / 2, so log Φ(−z) = log(erfcx(z/√2)/2) − z²/2
    never underflows; for z ≤ 0, log Φ(−z) = log1p(−erfc(−z/√2)/2) keeps its relative accuracy
    near 0.
    """
    m = backend(xp)
    pos = z > 0
    zp = safe(pos, z, 1.0, xp)
    zn = safe(pos, -1.0, z, xp)
    upper = m.log(0.5 * m.erfcx(zp / _SQRT2)) - 0.5 * zp * zp
    lower = m.log1p(-0.5 * m.erfc(-zn / _SQRT2))
    return m.where(pos, upper, lower)


def log_mills(z, xp):
    """log(φ(z) / Φ(−z)), the log hazard of a standard normal (inverse Mills ratio)."""
    m = backend(xp)
    pos = z > 0
    zp = safe(pos, z, 1.0, xp)
    zn = safe(pos, -1.0, z, xp)
    upper = -m.log(_SQRT_HALF_PI * m.erfcx(zp / _SQRT2))
    lower = -0.5 * zn * zn - _LOG_SQRT_2PI - m.log1p(-0.5 * m.erfc(-zn / _SQRT2))
    return m.where(pos, upper, lower)


def log_expm1(x, xp):
    """log(eˣ − 1) for x > 0, without overflow for large x."""
    m = backend(xp)
    big = x > 1.0
    xb = safe(big, x, 2.0, xp)
    xs = safe(big, 0.5, x, xp)
    return m.where(big, xb + m.log1mexp(-xb), m.log(m.expm1(xs)))


def log_abs_expm1(x, xp):
    """log|eˣ − 1| for x ≠ 0, stable for large |x|."""
    m = backend(xp)
    pos = x > 0
    xp_ = safe(pos, x, 1.0, xp)
    xn = safe(pos, -1.0, x, xp)
    return m.where(pos, xp_ + m.log1mexp(-xp_), m.log1mexp(xn))


def log_exprel(x, xp):
    """log((eˣ − 1)/x) for every real x; x/2 + x²/24 − x⁴/2880 for |x| < 10⁻³."""
    m = backend(xp)
    small = m.abs(x) < 1e-3
    xs = safe(small, x, 0.0, xp)
    xl = safe(small, 1.0, x, xp)
    series = xs / 2.0 + xs * xs / 24.0 - xs**4 / 2880.0
    return m.where(small, series, log_abs_expm1(xl, xp) - m.log(m.abs(xl)))


def log1p_over(x, xp):
    """log(1 + x)/x for x > −1 (1 − x/2 + x²/3 − x³/4 near 0)."""
    m = backend(xp)
    small = m.abs(x) < 1e-4
    xs = safe(small, x, 0.0, xp)
    xl = safe(small, 1.0, x, xp)
    return m.where(small, 1.0 - xs / 2.0 + xs * xs / 3.0 - xs**3 / 4.0, m.log1p(xl) / xl)


def e2(x, xp):
    """2(eˣ − 1 − x)/x², the relative second-order remainder of eˣ (1 at x = 0)."""
    m = backend(xp)
    small = m.abs(x) < 0.1
    xs = safe(small, x, 0.0, xp)
    xl = safe(small, 1.0, x, xp)
    series = 1.0 + xs * (
        1 / 3 + xs * (1 / 12 + xs * (1 / 60 + xs * (1 / 360 + xs * (1 / 2520 + xs / 20160))))
    )
    return m.where(small, series, 2.0 * (m.expm1(xl) - xl) / (xl * xl))
