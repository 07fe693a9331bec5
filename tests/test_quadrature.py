import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate as sint

from resurv.statistics.quadrature import (
    _nodes,
    gauss_legendre,
    integrate,
    log_integrate,
    segments,
    tail_weights,
)


def test_rule_is_exact_for_polynomials():
    x, w = gauss_legendre(8)
    # an n-point rule integrates polynomials of degree 2n - 1 exactly
    for degree in range(16):
        exact = (1 - (-1) ** (degree + 1)) / (degree + 1)
        assert np.isclose(np.sum(w * x**degree), exact, atol=1e-13)


@pytest.mark.parametrize("upper", [0.3, 2.0, 17.5])
def test_smooth_integrand_matches_quad(upper):
    def f(u):
        return np.exp(-0.3 * u) * (1 + np.sin(u))

    ref, _ = sint.quad(f, 0, upper)
    assert np.isclose(integrate(f, 0.0, upper, 32), ref, rtol=1e-10)


def test_vectorized_limits():
    uppers = np.array([0.5, 3.0, 9.0])
    got = integrate(lambda u: u * np.exp(-u), 0.0, uppers, 24)
    ref = [sint.quad(lambda u: u * np.exp(-u), 0, b)[0] for b in uppers]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_kink_needs_breakpoint():
    # G(t) = min(1, (A + F - t) / A) has a kink at F; 1/G-type integrands are steep near A + F
    a_, f_ = 24.0, 12.0

    def g(u):
        return np.minimum(1.0, np.maximum(0.0, (a_ + f_ - u) / a_)) * np.exp(-0.05 * u)

    for upper in [6.0, 20.0, 34.0]:
        ref, _ = sint.quad(g, 0, upper, points=[f_] if upper > f_ else None)
        split = integrate(g, 0.0, upper, 16, breakpoints=[f_])
        assert np.isclose(split, ref, rtol=1e-12)
    unsplit = integrate(g, 0.0, 34.0, 16)
    ref, _ = sint.quad(g, 0, 34.0, points=[f_])
    assert abs(unsplit - ref) > 1e3 * abs(integrate(g, 0.0, 34.0, 16, [f_]) - ref)


def test_indicator_truncated_integrand_via_limit():
    # ∫ 1{u <= m} e^{-u} / G(u) du over [0, A + F]: integrate on [0, m] instead of the indicator
    a_, f_, m = 30.0, 6.0, 14.2

    def integrand(u):
        return np.exp(-0.1 * u) / np.minimum(1.0, (a_ + f_ - u) / a_)

    ref, _ = sint.quad(lambda u: integrand(u) * (u <= m), 0, a_ + f_, points=[f_, m], limit=200)
    got = integrate(integrand, 0.0, m, 32, breakpoints=[f_])
    assert np.isclose(got, ref, rtol=1e-10)
    # the indicator version on the full range with the same budget is far worse
    naive = integrate(lambda u: integrand(u) * (u <= m), 0.0, a_ + f_, 32, breakpoints=[f_])
    assert abs(naive - ref) > 1e-4 * ref


def test_log_integrate_matches_quad_and_survives_underflow():
    ref, _ = sint.quad(lambda u: np.exp(-2.0 * u), 0.0, 5.0)
    got = log_integrate(lambda u: -2.0 * u, 0.0, 5.0, 32, xp=np)
    assert np.isclose(got, np.log(ref), rtol=1e-12)
    # integrand exp(-800 - u) underflows to 0 in linear space; its log integral does not
    got = log_integrate(lambda u: -800.0 - u, 0.0, 3.0, 32, xp=np)
    assert np.isclose(got, -800.0 + np.log1p(-np.exp(-3.0)), rtol=1e-12)


def test_log_integrate_pytensor_gradient_in_the_limit():
    # d/db log ∫_0^b f = f(b) / ∫_0^b f
    b = pt.dscalar("b")
    out = log_integrate(lambda u: -0.5 * u + pt.log(1.0 + u), 0.0, b, 32, breakpoints=[2.0])
    fn = pytensor.function([b], [out, pytensor.grad(out, b)])
    for b_val in [0.7, 1.999, 2.001, 6.0]:
        value, grad = fn(b_val)
        ref, _ = sint.quad(lambda u: np.exp(-0.5 * u) * (1 + u), 0, b_val)
        assert np.isclose(value, np.log(ref), rtol=1e-11)
        assert np.isclose(grad, np.exp(-0.5 * b_val) * (1 + b_val) / ref, rtol=1e-8)


def test_zero_length_piece_has_finite_gradient():
    b = pt.dscalar("b")
    out = log_integrate(lambda u: -u, 0.0, b, 16, breakpoints=[5.0])
    value, grad = pytensor.function([b], [out, pytensor.grad(out, b)])(3.0)
    assert np.isfinite(value) and np.isfinite(grad)
    assert np.isclose(grad, np.exp(-3.0) / (1 - np.exp(-3.0)), rtol=1e-8)


def test_segments_clip_breakpoints():
    assert segments(0.0, 3.0, [5.0]) == [(0.0, 3.0), (3.0, 3.0)]
    assert segments(0.0, 8.0, [5.0]) == [(0.0, 5.0), (5.0, 8.0)]


@pytest.mark.parametrize("degree", [0, 1, 7, 15])
def test_tail_weights_integrate_polynomials_exactly_to_the_end_of_the_piece(degree):
    # ungraded piece [a, b]: ∫_{u_i}^b u^d du for d < n is exact
    a, b, n = 2.0, 7.0, 16
    u, half, _ = _nodes(a, b, n, np)
    got = half * tail_weights(n, 1) @ u**degree
    want = (b ** (degree + 1) - u ** (degree + 1)) / (degree + 1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("shape", [0.05, 0.7, 1.3, 3.0])
def test_graded_tail_weights_match_quad_for_weibull_survival(shape):
    # the piece from 0 is graded (u = b s³); S = exp(−(u/10)^k) with k small is singular at 0.
    # The rule's error is absolute: within 1e-8 of the whole piece's integral at every node
    b, n = 20.0, 32
    u, half, _ = _nodes(0.0, b, n, np, power=3)
    got = half * tail_weights(n, 3) @ np.exp(-((u / 10.0) ** shape))
    want = np.array(
        [sint.quad(lambda t: np.exp(-((t / 10.0) ** shape)), x, b, limit=200)[0] for x in u]
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8 * want[0])


def test_integrand_sees_its_piece():
    pieces = []

    def log_f(u, piece):
        pieces.append(piece)
        return -u

    got = log_integrate(log_f, 0.0, 5.0, 16, breakpoints=[2.0], xp=np, with_piece=True)
    assert np.isclose(got, np.log(1 - np.exp(-5.0)), rtol=1e-12)
    assert [(p.lower, float(p.upper), p.power) for p in pieces] == [(0.0, 2.0, 3), (2.0, 5.0, 1)]
