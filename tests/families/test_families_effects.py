"""Arm effects (PH, AFT, separate) for every family, in NumPy and PyTensor."""

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from families_cases import CASES, case_id, cure_fraction, median_of
from pytensor.compile.mode import Mode
from scipy import integrate

from resurv.families import (
    Curve,
    arm_cum_hazard,
    arm_curves,
    arm_inv_cum_hazard,
    arm_log_density,
    arm_log_hazard,
    arm_median,
    arm_quantile,
    arm_rmst,
    arm_survival,
    get_family,
)

PLAIN = Mode(linker="py", optimizer=None)
LOG_HR = -0.45
LOG_TR = 0.35


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_ph_hazard_ratio_is_constant(case):
    name, params = case
    t = median_of(name, params) * np.array([0.05, 0.5, 1.0, 3.0, 20.0])
    log_h0 = arm_log_hazard(name, t, params)
    log_h1 = arm_log_hazard(name, t, params, effect="ph", log_hr=LOG_HR)
    np.testing.assert_allclose(log_h1 - log_h0, LOG_HR, atol=1e-12)
    ratio = arm_cum_hazard(name, t, params, log_hr=LOG_HR) / arm_cum_hazard(name, t, params)
    np.testing.assert_allclose(ratio, math.exp(LOG_HR), rtol=1e-12)
    # S₁ = S₀^HR, and the arm median solves S₁(m₁) = ½.
    median1 = arm_median(name, params, log_hr=LOG_HR)
    s0 = arm_survival(name, median1, params)
    assert s0 ** math.exp(LOG_HR) == pytest.approx(0.5, rel=1e-9)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_aft_quantile_ratio_is_constant(case):
    name, params = case
    p = np.array([0.05, 0.25, 0.5, 0.7, 0.9])
    if name == "gompertz" and params["rate_shape"] < 0:
        p = p[p < 0.6]  # its plateau: S never falls below exp(−ln2/(1 − e^{am}))
    p = p[p < 1.0 - cure_fraction(params)]  # a cure model's plateau: S never falls below π
    q0 = arm_quantile(name, p, params)
    q1 = arm_quantile(name, p, params, effect="aft", log_tr=LOG_TR)
    np.testing.assert_allclose(q1 / q0, math.exp(LOG_TR), rtol=1e-9)
    assert arm_median(name, params, log_tr=LOG_TR) == pytest.approx(
        math.exp(LOG_TR) * median_of(name, params), rel=1e-9
    )
    # The AFT density is the time-scaled density: f₁(t) = f₀(t/TR)/TR.
    t = median_of(name, params) * np.array([0.1, 1.0, 4.0])
    np.testing.assert_allclose(
        arm_log_density(name, t, params, log_tr=LOG_TR),
        arm_log_density(name, t / math.exp(LOG_TR), params) - LOG_TR,
        rtol=1e-10,
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_arm_inverse_round_trips(case):
    name, params = case
    t = median_of(name, params) * np.array([0.2, 1.0, 2.0])
    for effect in ({"log_hr": LOG_HR}, {"log_tr": LOG_TR}):
        cum_haz = arm_cum_hazard(name, t, params, **effect)
        np.testing.assert_allclose(
            arm_inv_cum_hazard(name, cum_haz, params, **effect), t, rtol=1e-9
        )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_arm_rmst_matches_quad(case):
    name, params = case
    tau = 3.0 * median_of(name, params)
    points = [c for c in params.get("cuts", []) if c < tau] or None
    for effect in ({"log_hr": LOG_HR}, {"log_tr": LOG_TR}, {}):
        expected = integrate.quad(
            lambda x: float(arm_survival(name, x, params, **effect)),  # noqa: B023
            0.0,
            tau,
            points=points,
            limit=200,
            epsabs=1e-13,
            epsrel=1e-10,
        )[0]
        assert arm_rmst(name, tau, params, **effect) == pytest.approx(expected, rel=2e-7)


def test_ph_closed_forms_agree_with_generic_quadrature():
    """Families closed under PH use their closed form; it must equal quadrature of S₀^HR."""
    for name in ("exponential", "weibull", "pwexp"):
        params = next(p for n, p in CASES if n == name)
        family = get_family(name)
        assert family.ph_params_fn is not None
        tau = 2.0 * median_of(name, params)
        shifted = family.ph_params_fn(params, LOG_HR, np)
        np.testing.assert_allclose(
            family.cum_hazard(np.array([1.0, 7.0, 30.0]), **shifted),
            math.exp(LOG_HR) * family.cum_hazard(np.array([1.0, 7.0, 30.0]), **params),
            rtol=1e-12,
        )
        points = [c for c in params.get("cuts", []) if c < tau] or None
        expected = integrate.quad(
            lambda x: float(family.survival(x, **params)) ** math.exp(LOG_HR),  # noqa: B023
            0,
            tau,
            points=points,
            epsabs=1e-13,
        )[0]
        assert arm_rmst(name, tau, params, log_hr=LOG_HR) == pytest.approx(expected, rel=1e-9)


def test_weibull_ph_aft_relations():
    """Weibull: PH with HR equals AFT with TR = HR^(−1/k); exponential: HR = m₀/m₁."""
    params = {"median": 12.0, "shape": 1.4}
    t = np.array([1.0, 6.0, 30.0])
    np.testing.assert_allclose(
        arm_cum_hazard("weibull", t, params, log_hr=LOG_HR),
        arm_cum_hazard("weibull", t, params, log_tr=-LOG_HR / 1.4),
        rtol=1e-12,
    )
    m1 = arm_median("exponential", {"median": 10.0}, log_hr=LOG_HR)
    assert 10.0 / m1 == pytest.approx(math.exp(LOG_HR), rel=1e-12)


def test_broadcasting_replicates_times_patients():
    rng = np.random.default_rng(7)
    n_rep, n_pat = 6, 9
    params = {
        "median": rng.uniform(8, 20, size=(n_rep, 1)),
        "shape": rng.uniform(0.7, 2.0, size=(n_rep, 1)),
    }
    log_hr = rng.normal(0, 0.3, size=(n_rep, 1))
    t = rng.uniform(0.1, 40, size=(n_rep, n_pat))
    cum = arm_cum_hazard("weibull", t, params, log_hr=log_hr)
    assert cum.shape == (n_rep, n_pat)
    r, i = 4, 2
    scalar = arm_cum_hazard(
        "weibull", t[r, i], {k: v[r, 0] for k, v in params.items()}, log_hr=log_hr[r, 0]
    )
    assert cum[r, i] == pytest.approx(scalar, rel=1e-13)
    # Simulated event times by inversion follow the model: H₁(T) ~ Exp(1).
    e = rng.exponential(size=(n_rep, 4000))
    times = arm_inv_cum_hazard("weibull", e, params, log_hr=log_hr)
    assert times.shape == (n_rep, 4000)
    np.testing.assert_allclose(
        arm_cum_hazard("weibull", times, params, log_hr=log_hr), e, rtol=1e-10
    )
    medians = arm_median("weibull", params, log_hr=log_hr)
    assert medians.shape == (n_rep, 1)
    assert arm_rmst("loglogistic", np.full((n_rep, 1), 24.0), params, log_tr=log_hr).shape == (
        n_rep,
        1,
    )


def test_simulated_medians_match_arm_median(rng):
    """Empirical medians of times drawn by inversion match the arm medians (simulation)."""
    for name, params in CASES:
        if name == "gompertz" and params["rate_shape"] < 0:
            continue
        for effect in ({"log_hr": LOG_HR}, {"log_tr": LOG_TR}):
            u = rng.uniform(size=20000)
            times = arm_inv_cum_hazard(name, -np.log(u), params, **effect)
            expected = arm_median(name, params, **effect)
            # Sample median SE ≈ 1/(2 f(m) √n); 5 SE with f from the model.
            dens = math.exp(float(arm_log_density(name, expected, params, **effect)))
            se = 1 / (2 * dens * math.sqrt(u.size))
            assert abs(np.median(times) - expected) < 5 * se, (name, effect)


def test_curve_object_and_pytensor():
    base, comp = arm_curves("lognormal", {"median": 10.0, "sdlog": 0.8}, "aft", log_tr=LOG_TR)
    assert base.effect is None and comp.effect == "aft"
    assert comp.median_months() == pytest.approx(10.0 * math.exp(LOG_TR))
    t = np.array([2.0, 10.0, 50.0])
    np.testing.assert_allclose(comp.log_survival(t), -comp.cum_hazard(t))
    np.testing.assert_allclose(comp.survival(comp.quantile(np.array([0.3]))), 0.7)
    assert comp.rmst(25.0) == pytest.approx(
        integrate.quad(lambda x: float(comp.survival(x)), 0, 25.0)[0], rel=1e-8
    )
    # Same curve with tensor parameters.
    median, log_tr, tt = pt.dscalar("median"), pt.dscalar("log_tr"), pt.dvector("t")
    curve = Curve("lognormal", {"median": median, "sdlog": 0.8}, log_tr=log_tr)
    fn = pytensor.function(
        [tt, median, log_tr],
        [
            curve.log_hazard(tt, xp=pt),
            curve.cum_hazard(tt, xp=pt),
            curve.median_months(xp=pt),
            curve.rmst(25.0, xp=pt),
            *pytensor.grad(curve.log_density(tt, xp=pt).sum(), [median, log_tr]),
        ],
        mode=PLAIN,
    )
    log_h, cum_h, med, rm, g_med, g_tr = fn(t, 10.0, LOG_TR)
    np.testing.assert_allclose(log_h, comp.log_hazard(t), rtol=1e-12)
    np.testing.assert_allclose(cum_h, comp.cum_hazard(t), rtol=1e-12)
    assert med == pytest.approx(comp.median_months())
    assert rm == pytest.approx(comp.rmst(25.0), rel=1e-12)
    assert np.isfinite(g_med) and np.isfinite(g_tr)


def test_pytensor_ph_quadrature_rmst():
    log_hr = pt.dscalar("log_hr")
    shape = pt.dscalar("shape")
    curve = Curve("loglogistic", {"median": 9.0, "shape": shape}, effect="ph", log_hr=log_hr)
    fn = pytensor.function([shape, log_hr], curve.rmst(30.0, xp=pt), mode=PLAIN)
    numpy_curve = Curve("loglogistic", {"median": 9.0, "shape": 1.7}, log_hr=LOG_HR)
    assert fn(1.7, LOG_HR) == pytest.approx(numpy_curve.rmst(30.0), rel=1e-12)


def test_effect_errors():
    params = {"median": 10.0, "shape": 1.2}
    with pytest.raises(ValueError, match="not both"):
        arm_cum_hazard("weibull", 1.0, params, log_hr=0.1, log_tr=0.1)
    with pytest.raises(ValueError, match="needs log_hr"):
        arm_cum_hazard("weibull", 1.0, params, effect="ph")
    with pytest.raises(ValueError, match="neither"):
        arm_cum_hazard("weibull", 1.0, params, effect="separate", log_tr=0.2)
    with pytest.raises(ValueError, match="supports effects"):
        arm_cum_hazard("weibull", 1.0, params, effect="po")
    with pytest.raises(ValueError, match="params_comparator"):
        arm_curves("weibull", params, "separate")
    with pytest.raises(KeyError, match="missing"):
        Curve("weibull", {"median": 3.0})
    base, comp = arm_curves(
        "weibull", params, "separate", params_comparator={"median": 14.0, "shape": 0.9}
    )
    assert comp.median_months() == pytest.approx(14.0)
