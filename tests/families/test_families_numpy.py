"""Families in NumPy against scipy.stats, closed forms, explicit loops and quadrature."""

import math

import numpy as np
import pytest
from families_cases import (
    CASES,
    CUTS,
    LN2,
    LOG_RATES,
    case_id,
    cure_fraction,
    median_of,
    pwexp_reference_cum_hazard,
    pwexp_reference_hazard,
    scipy_dist,
)
from scipy import integrate, stats

from resurv.families import FAMILIES, UnknownFamilyError, get_family
from resurv.families.cure import UNCURED_FAMILIES

SCIPY_CASES = [c for c in CASES if scipy_dist(*c) is not None]
MULTIPLES = np.array([0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0])


@pytest.mark.parametrize("case", SCIPY_CASES, ids=case_id)
def test_logsf_logpdf_median_match_scipy(case):
    name, params = case
    family, dist = get_family(name), scipy_dist(name, params)
    t = median_of(name, params) * MULTIPLES
    ref_logsf = dist.logsf(t)
    ref_logpdf = dist.logpdf(t)
    usable = np.isfinite(ref_logsf) & (ref_logsf > -600) & np.isfinite(ref_logpdf)
    assert usable.sum() >= 5
    np.testing.assert_allclose(
        family.log_survival(t, **params)[usable], ref_logsf[usable], rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(
        family.log_density(t, **params)[usable], ref_logpdf[usable], rtol=1e-8, atol=1e-9
    )
    np.testing.assert_allclose(family.median_months(**params), dist.median(), rtol=1e-9)
    np.testing.assert_allclose(
        family.quantile(np.array([0.1, 0.5, 0.9]), **params),
        dist.ppf([0.1, 0.5, 0.9]),
        rtol=1e-8,
    )


@pytest.mark.parametrize("case", SCIPY_CASES, ids=case_id)
def test_mean_matches_scipy(case):
    name, params = case
    dist = scipy_dist(name, params)
    expected = dist.mean()
    got = get_family(name).mean(**params)
    if np.isfinite(expected):
        np.testing.assert_allclose(got, expected, rtol=1e-7)
    else:
        assert np.isinf(got)


def test_loglogistic_mean_is_infinite_for_shape_at_most_one():
    assert np.isinf(get_family("loglogistic").mean(median=10.0, shape=0.9))
    assert np.isinf(get_family("gompertz").mean(median=10.0, rate_shape=-0.1))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_log_survival_finite_far_tail(case):
    name, params = case
    family = get_family(name)
    t = median_of(name, params) * np.array([100.0, 1e3, 1e4])
    log_s = family.log_survival(t, **params)
    log_h = family.log_hazard(t, **params)
    finite = np.isfinite(log_s)
    assert finite[0], f"{name}: log S(100 × median) is not finite"
    assert np.all(np.diff(log_s[finite]) <= 1e-12 * np.abs(log_s[finite][1:]))
    assert np.all(np.isfinite(log_h))


def test_far_tail_against_closed_forms():
    t = np.array([1e2, 1e3, 1e4, 1e6])
    # Weibull: log S = −ln2 (t/m)^k; reaches −1e9 without underflow.
    np.testing.assert_allclose(
        get_family("weibull").log_survival(t, median=10.0, shape=1.5),
        -LN2 * (t / 10.0) ** 1.5,
        rtol=1e-13,
    )
    # Log-normal: scipy's norm.logsf is accurate in the far tail.
    z = (np.log(t) - np.log(5.0)) / 0.4
    np.testing.assert_allclose(
        get_family("lognormal").log_survival(t, median=5.0, sdlog=0.4),
        stats.norm.logsf(z),
        rtol=1e-12,
    )
    # Log-normal hazard: h = φ(z)/(s t Φ(−z)) from scipy's log pdf and log sf.
    np.testing.assert_allclose(
        get_family("lognormal").log_hazard(t, median=5.0, sdlog=0.4),
        stats.norm.logpdf(z) - stats.norm.logsf(z) - np.log(0.4 * t),
        rtol=1e-12,
    )
    # Log-logistic: log S = −log(1 + (t/m)^β).
    np.testing.assert_allclose(
        get_family("loglogistic").log_survival(t, median=3.0, shape=4.0),
        -np.log1p((t / 3.0) ** 4.0),
        rtol=1e-13,
    )
    # Gompertz, a > 0: H = (b/a)(e^{at} − 1) written directly.
    a, m = 0.05, 12.0
    b = a * LN2 / math.expm1(a * m)
    t_g = np.array([120.0, 600.0, 1200.0])
    np.testing.assert_allclose(
        get_family("gompertz").cum_hazard(t_g, median=m, rate_shape=a),
        b / a * np.expm1(a * t_g),
        rtol=1e-12,
    )


# Reference log S and log h for the generalized gamma far into its tail, computed with
# mpmath 1.3 at 60 digits from the definitions: k = 1/Q², γ½ the root of the regularized lower
# incomplete gamma at ½, μ = log m − σ log(Q² γ½)/Q, w = (log t − μ)/σ, u = k e^{Qw};
# S = Γ(k, u)/Γ(k) (Q > 0) or γ(k, u)/Γ(k) (Q < 0); log f from Prentice's density
# −log(σt) + log|Q|(1 − 2k) + k(Qw − e^{Qw}) − log Γ(k). Values reach S ≈ e^{−4.8·10⁷}.
GENGAMMA_TAIL = [
    # (median, sigma, q, t, log S, log h)
    (15, 0.5, 2.4, 1500.0, -47545103.140988436, 11.932584564041022),
    (15, 0.5, 2.4, 150.0, -760.68822136567549, 3.1838558212429066),
    (15, 0.6, -0.7, 1500.0, -10.595709273178871, -6.4483453299778938),
    (15, 0.6, -0.7, 150000.0, -21.555072149446359, -11.050902183879787),
    (15, 0.8, 0.9, 1500.0, -162.62860006711391, -2.0974773656544591),
    (15, 0.8, 0.9, 15000.0, -2184.0204083145854, -1.8083381358224927),
    (15, 0.3, 0.3, 1500.0, -1022.7141851525152, -0.33980867231020718),
    (15, 0.2, -0.2, 1500.0, -93.232872534591337, -4.1038739496760054),
    (15, 0.25, 0.06, 1500.0, -257.84996656974009, -2.4095790327658718),
    (15, 0.1, 0.04, 1500.0, -2171.2284389183246, -0.12252374195817446),
    (15, 0.05, -0.045, 150.0, -595.8906724020899, 0.95206732600900658),
    (15, 0.05, -0.3, 1500.0, -298.36718635443383, -3.1135153092112645),
    (15, 0.03, -0.06, 100.0, -786.46373740149846, 1.6921533932697387),
    (15, 0.1, -1.2, 1000000.0, -93.097613520738728, -11.695247021764183),
]


@pytest.mark.parametrize("row", GENGAMMA_TAIL, ids=lambda r: f"q={r[2]}-t={r[3]:g}")
def test_gengamma_far_tail_against_mpmath(row):
    median, sigma, q, t, log_s, log_h = row
    family = get_family("gengamma")
    assert family.log_survival(t, median=median, sigma=sigma, q=q) == pytest.approx(log_s, rel=1e-9)
    assert family.log_hazard(t, median=median, sigma=sigma, q=q) == pytest.approx(
        log_h, rel=1e-8, abs=1e-8
    )


def test_gengamma_matches_scipy_across_q_zero_boundary():
    """Q from −0.2 to 0.2: continuity of log S in Q and agreement with scipy where it works."""
    family = get_family("gengamma")
    t = np.array([0.5, 3.0, 12.0, 40.0, 150.0])
    for q in [-0.2, -0.06, -0.049, -0.02, -0.011, 0.011, 0.02, 0.049, 0.051, 0.2]:
        dist = scipy_dist("gengamma", {"median": 12.0, "sigma": 0.6, "q": q})
        np.testing.assert_allclose(
            family.log_survival(t, median=12.0, sigma=0.6, q=q),
            dist.logsf(t),
            rtol=2e-8,
            atol=1e-12,
            err_msg=f"q={q}",
        )
        np.testing.assert_allclose(
            family.log_hazard(t, median=12.0, sigma=0.6, q=q),
            dist.logpdf(t) - dist.logsf(t),
            rtol=2e-8,
            atol=1e-10,
            err_msg=f"q={q}",
        )
    # Q → 0: log S is smooth in Q through 0; its slope at 0 matches the Richardson
    # extrapolation of scipy's symmetric differences at Q = ±0.01, ±0.02 (error O(Q⁴)),
    # and Q = 0 is the log-normal.
    log_s0 = family.log_survival(t, median=12.0, sigma=0.6, q=0.0)
    np.testing.assert_allclose(log_s0, stats.lognorm(s=0.6, scale=12.0).logsf(t), rtol=1e-13)

    def symmetric_difference(h):
        plus = scipy_dist("gengamma", {"median": 12.0, "sigma": 0.6, "q": h})
        minus = scipy_dist("gengamma", {"median": 12.0, "sigma": 0.6, "q": -h})
        return (plus.logsf(t) - minus.logsf(t)) / (2 * h)

    slope_ref = (4 * symmetric_difference(0.01) - symmetric_difference(0.02)) / 3
    for q in [1e-8, -1e-6, 1e-4]:
        slope = (family.log_survival(t, median=12.0, sigma=0.6, q=q) - log_s0) / q
        np.testing.assert_allclose(slope, slope_ref, rtol=2e-3, atol=1e-9, err_msg=f"q={q}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_inverse_cum_hazard_round_trips(case):
    name, params = case
    family = get_family(name)
    t = median_of(name, params) * np.array([0.05, 0.3, 1.0, 2.5, 7.0])
    cum_haz = family.cum_hazard(t, **params)
    np.testing.assert_allclose(family.inv_cum_hazard(cum_haz, **params), t, rtol=1e-9)
    h_grid = np.array([1e-6, 0.05, 0.5, LN2, 2.0, 6.0])
    if name == "gompertz" and params["rate_shape"] < 0:
        h_grid = h_grid[h_grid < LN2 / -math.expm1(params["rate_shape"] * params["median"])]
    if cure_fraction(params) > 0:  # S never falls below π: H never reaches −log π
        h_grid = h_grid[h_grid < -math.log(cure_fraction(params))]
    times = family.inv_cum_hazard(h_grid, **params)
    np.testing.assert_allclose(family.cum_hazard(times, **params), h_grid, rtol=1e-9)


def test_gompertz_plateau_inverse_is_infinite():
    family = get_family("gompertz")
    a, m = -0.1, 8.0
    plateau_h = LN2 / -math.expm1(a * m)
    got = family.inv_cum_hazard(
        np.array([0.5 * plateau_h, plateau_h * 1.01, np.inf]), median=m, rate_shape=a
    )
    assert np.isfinite(got[0]) and np.isinf(got[1]) and np.isinf(got[2])
    assert np.isclose(np.exp(-family.cum_hazard(1e6, median=m, rate_shape=a)), np.exp(-plateau_h))
    assert family.cum_hazard(np.inf, median=m, rate_shape=a) == pytest.approx(plateau_h)
    assert family.cum_hazard(np.inf, median=m, rate_shape=0.01) == np.inf


def test_gompertz_shape_zero_is_exponential():
    t = np.array([0.1, 5.0, 50.0, 500.0])
    gompertz = get_family("gompertz")
    for a in [0.0, 1e-14, -1e-14]:  # H differs from ln2·t/m by a relative a(t − m)/2
        np.testing.assert_allclose(
            gompertz.cum_hazard(t, median=7.0, rate_shape=a), LN2 * t / 7.0, rtol=1e-10
        )
        np.testing.assert_allclose(
            gompertz.log_hazard(t, median=7.0, rate_shape=a), np.log(LN2 / 7.0), rtol=1e-10
        )
    for a in [2e-4, -3e-5, 1e-3]:  # H = ln2 (e^{at} − 1)/(e^{am} − 1), straight from the table
        np.testing.assert_allclose(
            gompertz.cum_hazard(t, median=7.0, rate_shape=a),
            LN2 * np.expm1(a * t) / math.expm1(a * 7.0),
            rtol=1e-12,
        )


def test_pwexp_against_explicit_loop():
    family = get_family("pwexp")
    t = np.array([0.0, 1.0, 2.999, 3.0, 3.5, 9.0, 12.0, 18.0, 40.0, 400.0])
    expected_h = [pwexp_reference_cum_hazard(x, LOG_RATES, CUTS) for x in t]
    expected_log_h = [math.log(pwexp_reference_hazard(x, LOG_RATES, CUTS)) for x in t]
    np.testing.assert_allclose(
        family.cum_hazard(t, log_rate=LOG_RATES, cuts=CUTS), expected_h, rtol=1e-13
    )
    np.testing.assert_allclose(
        family.log_hazard(t, log_rate=LOG_RATES, cuts=CUTS), expected_log_h, rtol=1e-13
    )
    median = family.median_months(log_rate=LOG_RATES, cuts=CUTS)
    assert median == pytest.approx(
        median_of("pwexp", {"log_rate": LOG_RATES, "cuts": CUTS}), rel=1e-10
    )
    # Mean = ∫₀^∞ S by quadrature over each interval.
    edges = [0.0, *CUTS, np.inf]
    by_quad = sum(
        integrate.quad(lambda x: math.exp(-pwexp_reference_cum_hazard(x, LOG_RATES, CUTS)), lo, hi)[
            0
        ]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    )
    assert family.mean(log_rate=LOG_RATES, cuts=CUTS) == pytest.approx(by_quad, rel=1e-8)


def test_pwexp_broadcasts_replicates():
    family = get_family("pwexp")
    rng = np.random.default_rng(3)
    log_rate = LOG_RATES + rng.normal(0, 0.3, size=(5, 1, 4))
    t = rng.uniform(0, 30, size=(5, 7))
    got = family.cum_hazard(t, log_rate=log_rate, cuts=CUTS)
    assert got.shape == (5, 7)
    for r in range(5):
        for i in range(7):
            assert got[r, i] == pytest.approx(
                pwexp_reference_cum_hazard(t[r, i], log_rate[r, 0], CUTS), rel=1e-12
            )
    times = family.inv_cum_hazard(got, log_rate=log_rate, cuts=CUTS)
    np.testing.assert_allclose(times, t, rtol=1e-10)
    with pytest.raises(ValueError, match="increasing"):
        family.cum_hazard(t, log_rate=LOG_RATES, cuts=np.array([5.0, 3.0, 9.0]))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rmst_matches_quad(case):
    name, params = case
    family = get_family(name)
    median = median_of(name, params)
    for tau in [0.3 * median, 2.0 * median, 10.0 * median, 100.0 * median]:
        points = [c for c in params.get("cuts", []) if c < tau]
        expected, _ = integrate.quad(
            lambda x: float(family.survival(x, **params)),
            0.0,
            tau,
            points=points or None,
            limit=200,
            epsabs=1e-13,
            epsrel=1e-12,
        )
        got = family.rmst(tau, **params)
        assert got == pytest.approx(expected, rel=2e-7), f"tau={tau}"


def test_rmst_broadcasts_over_tau_and_parameters():
    family = get_family("weibull")
    median = np.array([[8.0], [12.0], [20.0]])
    tau = np.array([5.0, 10.0, 30.0, 60.0])
    got = family.rmst(tau, median=median, shape=1.3)
    assert got.shape == (3, 4)
    loglogistic = get_family("loglogistic")
    got_gl = loglogistic.rmst(tau, median=median, shape=np.array([[1.5], [2.0], [0.7]]))
    assert got_gl.shape == (3, 4)
    expected = integrate.quad(lambda x: 1 / (1 + (x / 20.0) ** 0.7), 0, 60.0)[0]
    assert got_gl[2, 3] == pytest.approx(expected, rel=1e-6)


def test_registry_and_errors():
    assert set(FAMILIES) == {
        "exponential",
        "weibull",
        "gompertz",
        "lognormal",
        "loglogistic",
        "gengamma",
        "pwexp",
        "rp_spline",
        *(f"cure_{base}" for base in UNCURED_FAMILIES),
    }
    for name, family in FAMILIES.items():
        assert family.name == name
        assert family.natural_effect in ("ph", "aft")
        assert set(family.effects) <= {"ph", "aft", "separate"}
        assert all(p.domain in ("positive", "real", "vector") for p in family.parameters)
    assert get_family("weibull").parameter_names == ("median", "shape")
    assert get_family("gengamma").domains == {
        "median": "positive",
        "sigma": "positive",
        "q": "real",
    }
    assert get_family("pwexp").constants == ("cuts",)
    with pytest.raises(KeyError, match="known: cure_exponential, .*exponential, gengamma"):
        get_family("weibul")
    with pytest.raises(UnknownFamilyError):
        get_family("cox")
    with pytest.raises(KeyError, match="missing"):
        get_family("weibull").check_params({"median": 1.0})


def test_no_floating_point_warnings_at_edges():
    """t = 0 and t = inf give ±inf or 0 without warnings (pytest turns warnings into errors)."""
    for name, params in CASES:
        family = get_family(name)
        t = np.array([0.0, np.inf])
        family.log_survival(t, **params)
        family.log_hazard(t, **params)
        assert family.cum_hazard(np.array([0.0]), **params)[0] == 0.0
        assert family.log_survival(np.array([1e300]), **params)[0] < -1.0
