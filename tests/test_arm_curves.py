"""One definition of a survival model's arm curves, from three parameter sources.

``ArmCurves(spec)`` builds the (reference, comparator) curves from the random variables of a PyMC
model, from posterior draws and from prior draws; the tests check that the three give the same
curves for the same parameter values, that the PyMC variables and the generator are used in the
declared order, and that the declarations give the prior-file and summary names.
"""

import dataclasses
import math

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from helpers import MODELS, PRIORS
from resurv.families import FAMILIES, Family, Parameter
from resurv.families.parametrization import MedianShapes
from resurv.families.pwexp import PiecewiseLogRates
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.models.built import stacked_draws
from resurv.models.survival import (
    SURVIVAL_VOCABULARY,
    ArmCurves,
    PosteriorDraws,
    PriorDraws,
    add_derived,
    chosen_priors,
    coords_for,
    required_parameters,
)

TIMES = np.array([0.5, 6.0, 12.0, 20.0, 36.0, 50.0, 90.0])
LN2 = math.log(2.0)


def spec_of(model: str, **changes):
    return dataclasses.replace(load_model_spec(MODELS / f"{model}.toml"), **changes)


# --- the declarations ---


@pytest.mark.parametrize(
    ("family", "effect", "required", "summarized"),
    [
        ("exponential", "ph", ["median_reference", "log_hr"], []),
        ("weibull", "ph", ["median_reference", "shape", "log_hr"], ["shape"]),
        ("weibull", "aft", ["median_reference", "shape", "log_tr"], ["shape"]),
        (
            "weibull",
            "separate",
            ["median_reference", "shape", "median_comparator"],
            ["shape_reference", "shape_comparator"],
        ),
        ("gompertz", "ph", ["median_reference", "rate_shape", "log_hr"], ["rate_shape"]),
        ("lognormal", "aft", ["median_reference", "sdlog", "log_tr"], ["sdlog"]),
        ("loglogistic", "aft", ["median_reference", "shape", "log_tr"], ["shape"]),
        (
            "gengamma",
            "separate",
            ["median_reference", "sigma", "q", "median_comparator"],
            ["sigma_reference", "sigma_comparator", "q_reference", "q_comparator"],
        ),
        ("pwexp", "ph", ["median_reference", "rw_sd", "log_hr"], []),
        ("pwexp", "separate", ["median_reference", "rw_sd", "median_comparator"], []),
        (
            "rp_spline",
            "ph",
            ["median_reference", "spline_slope", "spline_coef", "log_hr"],
            ["spline_slope"],
        ),
        (
            "cure_weibull",
            "separate",
            ["median_reference", "shape", "cure_logit", "median_comparator"],
            [
                "shape_reference",
                "shape_comparator",
                "cure_logit_reference",
                "cure_logit_comparator",
            ],
        ),
    ],
)
def test_declarations_give_prior_and_summary_names(family, effect, required, summarized):
    spec = spec_of("os_weibull", family=family, effect=effect)
    if family == "pwexp":
        spec = dataclasses.replace(spec, cuts=(12.0, 36.0))
    assert ArmCurves(spec).required_parameters == required
    assert required_parameters(spec) == required
    assert ArmCurves(spec).summarized == summarized
    assert set(required) <= set(SURVIVAL_VOCABULARY)


def test_families_declare_their_structure():
    for name, family in FAMILIES.items():
        if name == "pwexp":
            assert isinstance(family.parametrization, PiecewiseLogRates)
            assert family.parametrization.arm_priors == ("rw_sd",)
            assert family.parametrization.summarized == ()
        elif name == "rp_spline":
            assert family.parametrization.arm_priors == ("spline_slope", "spline_coef")
            assert family.parametrization.summarized == ("spline_slope",)
        else:
            shapes = tuple(p for p in family.parameter_names if p != "median")
            assert family.parametrization == MedianShapes(shapes)
    assert sorted(SURVIVAL_VOCABULARY) == sorted(
        [
            "median_reference",
            "median_comparator",
            "log_hr",
            "log_tr",
            "shape",
            "sdlog",
            "rate_shape",
            "sigma",
            "q",
            "rw_sd",
            "spline_slope",
            "spline_coef",
            "cure_logit",
        ]
    )
    with pytest.raises(ValueError, match="no median parameter"):
        Family(
            name="nomedian",
            parameters=(Parameter("rate", "positive"),),
            natural_effect="ph",
            log_hazard_fn=None,
            cum_hazard_fn=None,
            inv_cum_hazard_fn=None,
        )


def test_pymc_variables_in_declared_order():
    spec = spec_of("os_pwexp", effect="separate")
    chosen = chosen_priors(spec, load_priors(PRIORS / "literature_robust.toml"))
    with pm.Model(coords=coords_for(spec, ["a", "b"])) as model:
        params = ArmCurves(spec).in_model(chosen)
        add_derived(spec, params)
    assert [v.name for v in model.free_RVs] == [
        "median_reference",
        "rw_sd_reference",
        "log_rate_steps_reference",
        "median_comparator",
        "rw_sd_comparator",
        "log_rate_steps_comparator",
    ]
    assert model["log_rate_steps_reference"].type.shape == (2,)
    assert model["log_rate_reference"] in model.deterministics
    transforms = {v.name: model.rvs_to_transforms[v] for v in model.free_RVs}
    assert transforms["log_rate_steps_comparator"] is None
    assert transforms["rw_sd_reference"] is not None

    spec = spec_of("os_gengamma", effect="aft")
    chosen = chosen_priors(spec, load_priors(PRIORS / "literature.toml"))
    with pm.Model() as model:
        ArmCurves(spec).in_model(chosen)
    assert [v.name for v in model.free_RVs] == ["median_reference", "sigma", "q", "log_tr"]


# --- the three sources agree ---

CASES = [
    ("os_weibull", {}, "literature"),
    ("os_gengamma", {"effect": "aft"}, "literature"),
    ("os_lognormal", {"effect": "separate"}, "literature"),
    ("os_pwexp", {}, "literature"),
    ("os_pwexp", {"effect": "separate", "smoothing": "independent"}, "literature_robust"),
]


def _case_id(case):
    model, changes, priors = case
    return "-".join([model, *map(str, changes.values()), priors])


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_pymc_posterior_and_prior_sources_give_the_same_curves(case):
    model_name, changes, prior_name = case
    spec = spec_of(model_name, **changes)
    chosen = chosen_priors(spec, load_priors(PRIORS / f"{prior_name}.toml"))
    arms = ArmCurves(spec)
    with pm.Model() as model:
        pymc_curves = arms.in_model(chosen).curves
        surv = pt.stack([c.survival(TIMES, xp=pt) for c in pymc_curves])
        draws = pm.sample_prior_predictive(
            draws=6, random_seed=11, compile_kwargs={"mode": "FAST_COMPILE"}
        ).prior.to_dataset()
    at_values = pytensor.function(model.free_RVs, surv, mode="FAST_COMPILE")

    # (a) = (b): the PyMC curves at one draw's values are the posterior source's row for it
    posterior_curves = arms.from_posterior(draws)
    from_posterior = np.stack(
        [c.survival(np.broadcast_to(TIMES, (6, 7))) for c in posterior_curves]
    )
    assert from_posterior.shape == (2, 6, 7)
    for r in range(6):
        values = [stacked_draws(draws, v.name)[r] for v in model.free_RVs]
        np.testing.assert_allclose(at_values(*values), from_posterior[:, r], rtol=1e-12)
    # a derived quantity missing from the draws (log_rate) is computed from the parameters
    derived = {"log_rate", "log_rate_reference", "log_rate_comparator"}
    kept = draws.drop_vars([v for v in draws.data_vars if v in derived])
    recomputed = arms.curves(PosteriorDraws(kept, slice(1, 4)))
    np.testing.assert_allclose(
        np.stack([c.survival(TIMES[None, :]) for c in recomputed]),
        from_posterior[:, 1:4],
        rtol=1e-12,
    )

    # (c) ~ (a): the prior source draws the curves the PyMC prior draws (two-sample KS of S(t)
    # per arm and time, Bonferroni over the 14 tests; fixed seeds)
    n = 2000
    with model:
        pymc_prior = pm.draw(surv, draws=n, random_seed=12)
    prior_curves = arms.curves(PriorDraws(chosen, n, np.random.default_rng(13)))
    drawn = np.stack([c.survival(TIMES[None, :]) for c in prior_curves], axis=1)
    assert drawn.shape == pymc_prior.shape == (n, 2, 7)
    for arm in range(2):
        for j in range(len(TIMES)):
            p = stats.ks_2samp(drawn[:, arm, j], pymc_prior[:, arm, j]).pvalue
            assert p > 0.01 / 14, (arm, TIMES[j], p)


# --- the prior source uses the generator in the declared order ---


def _lognorm(spec):
    return stats.lognorm(spec.args["sigma"], scale=math.exp(spec.args["mu"]))


def _norm(spec):
    return stats.norm(spec.args["mu"], spec.args["sigma"])


def test_prior_draws_weibull_against_scipy_in_order():
    spec = spec_of("os_weibull")
    chosen = chosen_priors(spec, load_priors(PRIORS / "literature.toml"))
    reference, comparator = ArmCurves(spec).from_prior(chosen, 500, np.random.default_rng(5))
    rng = np.random.default_rng(5)  # median, shape, log HR: the order of the PyMC variables
    m = _lognorm(chosen["median_reference"]).rvs(500, random_state=rng)[:, None]
    k = _lognorm(chosen["shape"]).rvs(500, random_state=rng)[:, None]
    log_hr = _norm(chosen["log_hr"]).rvs(500, random_state=rng)[:, None]
    s0 = np.exp(-LN2 * (TIMES / m) ** k)
    np.testing.assert_allclose(reference.survival(TIMES[None, :]), s0, rtol=1e-12)
    np.testing.assert_allclose(
        comparator.survival(TIMES[None, :]), s0 ** np.exp(log_hr), rtol=1e-10
    )


def _pw_survival(t, rates, cuts):
    """S(t) of one piecewise-exponential curve, by an explicit loop over the intervals."""
    edges = [0.0, *cuts, np.inf]
    h = 0.0
    for j, rate in enumerate(rates):
        h += rate * min(max(t - edges[j], 0.0), edges[j + 1] - edges[j])
    return math.exp(-h)


@pytest.mark.parametrize("smoothing", ["random_walk", "independent"])
def test_prior_draws_pwexp_against_scipy_in_order(smoothing):
    spec = spec_of("os_pwexp", smoothing=smoothing, effect="aft")
    chosen = chosen_priors(spec, load_priors(PRIORS / "literature.toml"))
    n = 50
    reference, comparator = ArmCurves(spec).from_prior(chosen, n, np.random.default_rng(8))
    # median, rw_sd, one standard normal per interval (the random walk's first fixed at 0), log TR
    rng = np.random.default_rng(8)
    m = _lognorm(chosen["median_reference"]).rvs(n, random_state=rng)
    sd = stats.halfnorm(scale=chosen["rw_sd"].args["sigma"]).rvs(n, random_state=rng)
    z = rng.standard_normal((n, 3))
    log_tr = _norm(chosen["log_tr"]).rvs(n, random_state=rng)
    if smoothing == "random_walk":
        z[:, 0] = 0.0
        deviation = np.cumsum(sd[:, None] * z, axis=1)
    else:
        deviation = sd[:, None] * z
    rates = LN2 / m[:, None] * np.exp(deviation)
    got0 = reference.survival(TIMES[None, :])
    got1 = comparator.survival(TIMES[None, :])
    for r in range(n):
        s0 = [_pw_survival(t, rates[r], (12.0, 36.0)) for t in TIMES]
        s1 = [_pw_survival(t / math.exp(log_tr[r]), rates[r], (12.0, 36.0)) for t in TIMES]
        np.testing.assert_allclose(got0[r], s0, rtol=1e-10)
        np.testing.assert_allclose(got1[r], s1, rtol=1e-10)
