"""Royston–Parmar spline and mixture cure families against independent references.

References: lifelines' ``SplineFitter`` (the same restricted cubic spline in log time, its own
basis code and optimizer) on GBSG2; scipy's Weibull and log-normal for the uncured part of the
cure models; scipy quadrature for ∫h = H and the RMST; a dense grid for the spline's minimum
slope.
"""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from resurv.families import get_family
from resurv.families.rp_spline import knots_at_event_quantiles, min_slope

LN2 = math.log(2.0)
RP = get_family("rp_spline")


@pytest.fixture(scope="module")
def gbsg2():
    from lifelines.datasets import load_gbsg2

    data = load_gbsg2()
    return data["time"].to_numpy(float), data["cens"].to_numpy(int)


def _rp_loglik(time, event, median, spline, knots):
    log_h = RP.log_hazard(time, median=median, spline=spline, knots=knots)
    cum_h = RP.cum_hazard(time, median=median, spline=spline, knots=knots)
    return float(np.sum(np.where(event == 1, log_h, 0.0) - cum_h))


def test_rp_spline_matches_lifelines_spline_fitter(gbsg2):
    """lifelines' SplineFitter has H(t) = exp(φ₀ + φ₁ log t + φ₂ v(log t)) with the same
    restricted cubic basis: at its maximum-likelihood φ our H and log-likelihood are its own,
    and our maximum of the log-likelihood is its maximum."""
    from lifelines import SplineFitter

    time, event = gbsg2
    knots = knots_at_event_quantiles(time, event, 1)
    fitter = SplineFitter(knots).fit(time, event)
    phi = fitter.params_.to_numpy()
    spline = phi[1:]
    median = optimize.brentq(
        lambda t: float(fitter.cumulative_hazard_at_times([t]).iloc[0]) - LN2, 1.0, 1e5, xtol=1e-12
    )
    grid = np.array([80.0, 300.0, 700.0, 1500.0, 2400.0, 5000.0])
    expected = fitter.cumulative_hazard_at_times(grid).to_numpy()
    got = RP.cum_hazard(grid, median=median, spline=spline, knots=knots)
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert _rp_loglik(time, event, median, spline, knots) == pytest.approx(
        fitter.log_likelihood_, rel=1e-9
    )

    def negative(theta):
        return -_rp_loglik(time, event, math.exp(theta[0]), theta[1:], knots)

    start = np.array([math.log(1000.0), 1.0, 0.0])
    best = optimize.minimize(
        negative,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20000},
    )
    assert -best.fun == pytest.approx(fitter.log_likelihood_, abs=1e-4)
    np.testing.assert_allclose(best.x[1:], spline, rtol=2e-3)
    assert math.exp(best.x[0]) == pytest.approx(median, rel=1e-3)


def test_rp_spline_knots_follow_flexsurv():
    """Boundary knots at the extreme event times, interior ones at quantiles of log event time
    (flexsurvspline's default), only events counted."""
    time = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 100.0])
    event = np.array([1, 1, 1, 1, 1, 0])
    knots = knots_at_event_quantiles(time, event, 1)
    np.testing.assert_allclose(knots, [1.0, 4.0, 16.0])  # log-midpoint of 2⁰…2⁴
    with pytest.raises(ValueError, match="two events"):
        knots_at_event_quantiles(time, np.array([1, 0, 0, 0, 0, 0]), 1)


RP_PARAMS = {"median": 20.0, "spline": np.array([1.2, 0.05, -0.08]), "knots": [2.0, 10, 30, 80]}
CURE_CASES = [
    ("cure_weibull", {"median": 10.0, "shape": 1.3, "cure_logit": -0.5}),
    ("cure_lognormal", {"median": 12.0, "sdlog": 0.8, "cure_logit": 0.7}),
]


@pytest.mark.parametrize(
    ("name", "params"), [("rp_spline", RP_PARAMS), *CURE_CASES], ids=["rp", "cure_wei", "cure_ln"]
)
def test_hazard_integrates_to_cum_hazard_and_density_to_one_minus_survival(name, params):
    family = get_family(name)
    for t in (0.5, 7.0, 25.0, 90.0, 300.0):
        h_int = integrate.quad(
            lambda u: math.exp(family.log_hazard(u, **params)), 0, t, limit=200, epsabs=0
        )[0]
        assert h_int == pytest.approx(float(family.cum_hazard(t, **params)), rel=1e-7)
        f_int = integrate.quad(
            lambda u: math.exp(family.log_density(u, **params)), 0, t, limit=200, epsabs=0
        )[0]
        assert f_int == pytest.approx(1.0 - float(family.survival(t, **params)), rel=1e-7)
    for tau in (5.0, 60.0, 240.0):
        reference = integrate.quad(lambda u: float(family.survival(u, **params)), 0, tau)[0]
        assert float(family.rmst(tau, **params)) == pytest.approx(reference, rel=1e-7)


@pytest.mark.parametrize(("name", "params"), CURE_CASES, ids=["weibull", "lognormal"])
def test_cure_model_against_scipy_mixture(name, params):
    """S = π + (1 − π) S_u and f = (1 − π) f_u with scipy's distribution for the uncured."""
    pi = 1.0 / (1.0 + math.exp(-params["cure_logit"]))
    if name == "cure_weibull":
        k = params["shape"]
        uncured = stats.weibull_min(c=k, scale=params["median"] / LN2 ** (1 / k))
    else:
        uncured = stats.lognorm(s=params["sdlog"], scale=params["median"])
    family = get_family(name)
    t = np.array([0.3, 3.0, 10.0, 40.0, 150.0])
    np.testing.assert_allclose(
        family.survival(t, **params), pi + (1 - pi) * uncured.sf(t), rtol=1e-12
    )
    np.testing.assert_allclose(
        family.log_density(t, **params), np.log((1 - pi) * uncured.pdf(t)), rtol=1e-10
    )
    assert float(family.survival(1e12, **params)) == pytest.approx(pi, rel=1e-12)
    assert np.isinf(family.mean(**params))
    # the population median where it exists (π < 1/2), inf beyond the plateau
    if pi < 0.5:
        expected = uncured.isf((0.5 - pi) / (1 - pi))
        assert float(family.median_months(**params)) == pytest.approx(expected, rel=1e-9)
    else:
        assert np.isinf(family.median_months(**params))


def test_min_slope_is_the_minimum_over_a_dense_grid():
    rng = np.random.default_rng(3)
    knots = [2.0, 6.0, 15.0, 40.0, 90.0]
    spline = rng.normal(0.0, 0.4, size=(200, 4))
    spline[:, 0] = rng.uniform(0.2, 2.0, size=200)
    x = np.linspace(math.log(0.01), math.log(5000.0), 40001)
    from resurv.families.rp_spline import _spline

    dense = np.min(_spline(x[None, :], spline[:, None, :], knots, np, order=1), axis=-1)
    exact = min_slope(spline, knots)
    assert np.all(exact <= dense + 1e-12)
    np.testing.assert_allclose(exact, dense, atol=1e-5)
    assert (exact < 0).any() and (exact > 0).any()
    # where the minimum slope is negative, the hazard is 0 (log h = −inf) somewhere
    row = int(np.argmin(exact))
    assert np.isneginf(RP.log_hazard(np.exp(x), median=20.0, spline=spline[row], knots=knots)).any()


def test_rp_spline_inverse_in_pytensor_matches_numpy_with_implicit_gradient():
    """H⁻¹ by bisection + one Newton step: the comparator's median under PH in a PyTensor graph
    equals NumPy's, and its gradient equals central differences of NumPy's."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    from resurv.families.effects import arm_median

    knots = RP_PARAMS["knots"]
    median, spline, log_hr = pt.dscalar("m"), pt.dvector("g"), pt.dscalar("b")
    out = arm_median(RP, {"median": median, "spline": spline, "knots": knots}, log_hr=log_hr, xp=pt)
    fn = pytensor.function(
        [median, spline, log_hr],
        [out, *pytensor.grad(out, [median, spline, log_hr])],
        mode=Mode(linker="py", optimizer=None),
    )

    def numpy_median(m, g, b):
        return float(arm_median(RP, {"median": m, "spline": g, "knots": knots}, log_hr=b))

    m0, g0 = RP_PARAMS["median"], RP_PARAMS["spline"]
    for b in (-0.7, 0.0, 0.4):
        value, d_m, d_g, d_b = fn(m0, g0, b)
        assert value == pytest.approx(numpy_median(m0, g0, b), rel=1e-12)
        # the median of HR·H₀: H₀(t) = ln 2 / HR, written with the closed form of H₀
        assert float(RP.cum_hazard(value, **RP_PARAMS)) == pytest.approx(LN2 / math.exp(b))
        step = 1e-6
        assert d_b == pytest.approx(
            (numpy_median(m0, g0, b + step) - numpy_median(m0, g0, b - step)) / (2 * step),
            rel=1e-6,
        )
        assert d_m == pytest.approx(
            (numpy_median(m0 + step, g0, b) - numpy_median(m0 - step, g0, b)) / (2 * step),
            rel=1e-6,
        )
        for j in range(g0.size):
            bump = np.zeros_like(g0)
            bump[j] = step
            fd = (numpy_median(m0, g0 + bump, b) - numpy_median(m0, g0 - bump, b)) / (2 * step)
            assert d_g[j] == pytest.approx(fd, rel=1e-5, abs=1e-8)
