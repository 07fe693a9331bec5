"""The same formulas as PyTensor graphs: values agree with NumPy, gradients are finite and right."""

import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from families_cases import CASES, CONSTANTS, case_id, median_of
from pytensor.compile.mode import Mode

from resurv.families import get_family

MULTIPLES = np.array([0.01, 0.2, 0.7, 1.0, 1.5, 4.0, 15.0, 100.0])
# The graphs as written, evaluated op by op: compiles in about a second. The default
# (rewritten, compiled) mode is checked once per family in the slow test at the end.
PLAIN = Mode(linker="py", optimizer=None)


def _symbolic(params):
    """PyTensor inputs for the parameters (constants such as cuts stay NumPy)."""
    inputs, sym = [], {}
    for key, value in params.items():
        if key in CONSTANTS:
            sym[key] = value
            continue
        var = pt.dvector(key) if np.ndim(value) else pt.dscalar(key)
        inputs.append(var)
        sym[key] = var
    return inputs, sym


def _values(params):
    return [np.asarray(v, dtype=float) for k, v in params.items() if k not in CONSTANTS]


def _compile(name, params, with_grad, mode=PLAIN):
    """Compile log h, H (and their gradients) once per family and parameter layout."""
    layout = tuple((k, np.ndim(v)) for k, v in params.items() if k not in CONSTANTS)
    constants = tuple((k, tuple(np.atleast_1d(params[k]))) for k in CONSTANTS if k in params)
    return _compiled(name, layout, constants, with_grad, "plain" if mode is PLAIN else mode)


@functools.cache
def _compiled(name, layout, constants, with_grad, mode):
    params = {k: np.zeros(ndim * (1,)) for k, ndim in layout}
    for key, value in constants:
        params[key] = np.array(value)
    mode = PLAIN if mode == "plain" else mode
    family = get_family(name)
    t = pt.dvector("t")
    inputs, sym = _symbolic(params)
    log_h = family.log_hazard(t, xp=pt, **sym)
    cum_h = family.cum_hazard(t, xp=pt, **sym)
    outputs = [log_h, cum_h]
    if with_grad:
        outputs += pytensor.grad(log_h.sum(), inputs) + pytensor.grad(cum_h.sum(), inputs)
    return pytensor.function([t, *inputs], outputs, on_unused_input="ignore", mode=mode)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numpy_and_pytensor_agree(case):
    name, params = case
    family = get_family(name)
    t = median_of(name, params) * MULTIPLES
    fn = _compile(name, params, with_grad=True)
    log_h, cum_h, *grads = fn(t, *_values(params))
    np.testing.assert_allclose(log_h, family.log_hazard(t, **params), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cum_h, family.cum_hazard(t, **params), rtol=1e-10, atol=1e-300)
    for g in grads:
        assert np.all(np.isfinite(g)), f"{name}: non-finite gradient"


def _finite_difference(func, params, key, step):
    value = np.asarray(params[key], dtype=float)
    if value.ndim == 0:
        up, down = dict(params), dict(params)
        up[key], down[key] = value + step, value - step
        return (func(**up) - func(**down)) / (2 * step)
    out = []
    for j in range(value.size):
        bump = np.zeros_like(value)
        bump[j] = step
        up, down = dict(params), dict(params)
        up[key], down[key] = value + bump, value - bump
        out.append((func(**up) - func(**down)) / (2 * step))
    return np.array(out)


GRADIENT_CASES = [
    *CASES,
    ("gompertz", {"median": 10.0, "rate_shape": 0.0}),
    ("gompertz", {"median": 10.0, "rate_shape": -2e-4}),
    ("gengamma", {"median": 15.0, "sigma": 0.7, "q": 1e-7}),
    ("gengamma", {"median": 15.0, "sigma": 0.7, "q": -0.0499}),
    ("gengamma", {"median": 15.0, "sigma": 0.7, "q": 0.0501}),
    ("gengamma", {"median": 15.0, "sigma": 0.9, "q": -1.6}),
]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
def test_gradients_match_finite_differences(case):
    """pytensor.grad of Σ log h and Σ H against central differences of the NumPy functions,
    at typical times and far in the tail (up to 100 × median)."""
    name, params = case
    family = get_family(name)
    t = median_of(name, params) * MULTIPLES
    fn = _compile(name, params, with_grad=True)
    _, _, *grads = fn(t, *_values(params))
    keys = [k for k in params if k not in CONSTANTS]
    n = len(keys)
    for which, func in ((0, family.log_hazard), (1, family.cum_hazard)):
        for key, grad in zip(keys, grads[which * n : (which + 1) * n], strict=True):
            assert np.all(np.isfinite(grad)), f"{key}: non-finite gradient"
            value = float(np.max(np.abs(params[key])))
            step = 1e-6 * max(value, 1.0)
            reference = _finite_difference(
                lambda _f=func, **p: np.sum(_f(t, **p)),
                params,
                key,
                step,
            )
            np.testing.assert_allclose(
                grad,
                reference,
                rtol=2e-5,
                atol=1e-6 * max(1.0, np.max(np.abs(reference))),
                err_msg=f"d {'log h' if which == 0 else 'H'} / d {key}",
            )


def test_gengamma_median_gradient_survives_pregradient_rewrites():
    """Samplers (nutpie) rewrite the log density with canonicalize/stabilize before taking
    its gradient; the median map must still have a gradient in Q afterwards."""
    from pytensor.graph.rewriting.utils import rewrite_graph

    from resurv.families.gengamma import median_standardized

    q = pt.dscalar("q")
    w_half = rewrite_graph(median_standardized(q, xp=pt), include=("canonicalize", "stabilize"))
    grad = pytensor.function([q], pytensor.grad(w_half, q), mode=PLAIN)
    h = 1e-6
    from scipy import special

    def reference(qv):
        return np.log(qv**2 * special.gammaincinv(1 / qv**2, 0.5)) / qv

    for qv in [-1.3, 0.4, 2.0]:
        assert grad(qv) == pytest.approx(
            (reference(qv + h) - reference(qv - h)) / (2 * h), rel=1e-6
        )


def test_gengamma_median_gradient_through_gamma_quantile():
    """d median-offset / dQ from the Newton iteration equals the derivative of scipy's
    quantile, for |Q| from 0.3 to 10 (Gamma shapes k from 0.01 to 11)."""
    from scipy import special

    from resurv.families.gengamma import median_standardized

    q = pt.dscalar("q")
    w_half = median_standardized(q, xp=pt)
    fn = pytensor.function([q], [w_half, pytensor.grad(w_half, q)], mode=PLAIN)

    def reference(qv):
        k = 1 / qv**2
        return np.log(qv**2 * special.gammaincinv(k, 0.5)) / qv

    for qv in [-10.0, -2.0, -0.4, 0.3, 1.0, 3.0, 7.0]:
        value, grad = fn(qv)
        assert value == pytest.approx(reference(qv), rel=1e-12)
        h = 1e-6
        assert grad == pytest.approx((reference(qv + h) - reference(qv - h)) / (2 * h), rel=1e-6)
    for qv in [-0.03, 1e-9, 0.03]:  # series branch; slope −1/3 at 0
        value, grad = fn(qv)
        assert np.isfinite(value) and np.isfinite(grad)
        assert grad == pytest.approx(-1 / 3, abs=0.01)


def test_pwexp_vector_parameter_broadcasts_in_pytensor():
    family = get_family("pwexp")
    cuts = np.array([4.0, 10.0])
    # PyTensor broadcasts only along axes declared of length 1.
    log_rate = pt.tensor3("log_rate", shape=(None, 1, None), dtype="float64")  # (R, 1, J)
    t = pt.dmatrix("t")  # (R, n)
    fn = pytensor.function(
        [t, log_rate], family.cum_hazard(t, xp=pt, log_rate=log_rate, cuts=cuts), mode=PLAIN
    )
    rng = np.random.default_rng(1)
    lr = np.log(rng.uniform(0.02, 0.1, size=(3, 1, 3)))
    tv = rng.uniform(0, 20, size=(3, 5))
    np.testing.assert_allclose(
        fn(tv, lr), family.cum_hazard(tv, log_rate=lr, cuts=cuts), rtol=1e-12
    )


def test_rmst_in_pytensor_matches_numpy():
    for name, params in CASES:
        family = get_family(name)
        inputs, sym = _symbolic(params)
        tau = pt.dscalar("tau")
        fn = pytensor.function([tau, *inputs], family.rmst(tau, xp=pt, **sym), mode=PLAIN)
        tv = 2.5 * median_of(name, params)
        assert fn(tv, *_values(params)) == pytest.approx(family.rmst(tv, **params), rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_default_compiled_mode_agrees(name):
    """The rewritten and compiled graph (default mode, as PyMC uses it) gives the same values
    and gradients; one compilation per family, evaluated at every case of that family."""
    cases = [params for case_name, params in CASES if case_name == name]
    for params in cases:
        fast = _compile(name, params, with_grad=True, mode=None)
        plain = _compile(name, params, with_grad=True)
        t = median_of(name, params) * MULTIPLES
        for got, expected in zip(
            fast(t, *_values(params)), plain(t, *_values(params)), strict=True
        ):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
