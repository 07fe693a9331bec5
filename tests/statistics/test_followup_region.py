"""A reached median is an observed time: follow-up must extend beyond it (design truncation, T1 support)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats
from summary_curves import Weibull

from helpers import MODELS, PRIORS, STUDY, edit_study
from resurv.api import build
from resurv.errors import StudyValidationError
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.models.summary_data import DESIGN_REGION_TERM
from resurv.statistics.base import TrialModel
from resurv.statistics.followup import FollowUp
from resurv.statistics.median import log_support_factor

# the bundled study: accrual ~ U(24, 96), minimum follow-up ~ U(3, 48), largest OS median 67.5
LARGEST_MEDIAN = 67.5


def _design_logp(model, names=("accrual_months", "followup_months")):
    """log p(A) + log p(F) + the region term, on the natural scale, as a function of (A, F)."""
    import pymc as pm
    from pytensor.graph.replace import graph_replace

    rvs = [model[n] for n in names]
    values = [pt.dscalar(n) for n in names]
    total = model[DESIGN_REGION_TERM] + sum(
        pm.logp(rv, v) for rv, v in zip(rvs, values, strict=True)
    )
    return pytensor.function(
        values, graph_replace(total, dict(zip(rvs, values, strict=True)), strict=False)
    )


def _study_with_fixed(tmp_path, **values):
    """The bundled study with the named follow-up entries (inline tables) set to fixed values."""
    text = STUDY.read_text()
    for name, value in values.items():
        start = text.index(f"{name} = {{")
        end = text.index("}", start) + 1
        text = text[:start] + f"{name} = {value}" + text[end:]
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_support_factor_is_the_chance_that_a_patient_is_observed_at_the_median(rng):
    curve, n, accrual, follow = Weibull(40.0, 1.2), 12, 36.0, 30.0
    design = FollowUp(accrual, follow, 0.0)
    trial = TrialModel((curve, curve), (n, n), design)
    x = pt.dscalar("x")
    factor = pytensor.function([x], pt.exp(log_support_factor(trial, 0, x)))
    reps = 100_000
    times = curve.sample(rng, (reps, n))
    cens = design.sample_censoring_times(rng, size=(reps, n))
    observed = np.minimum(times, cens)
    for median_months in (30.0, 45.0, 60.0, 64.0):
        closed = (
            1
            - (1 - curve.survival_np(median_months) * design.censoring_survival(median_months)) ** n
        )
        assert np.isclose(factor(median_months), closed, rtol=1e-12)
        simulated = np.mean((observed >= median_months).any(axis=1))
        assert abs(simulated - closed) < 4 * np.sqrt(closed * (1 - closed) / reps) + 1e-9
    assert factor(accrual + follow + 1.0) == 0.0  # no one is followed beyond A + F


def test_bundled_os_design_is_the_prior_restricted_to_follow_up_beyond_the_medians():
    spec = load_model_spec(MODELS / "os_weibull.toml")
    built = build(spec, load_priors(PRIORS / "literature.toml"), load_study(STUDY))
    logp = _design_logp(built.model)
    uniform = stats.uniform(24, 72).logpdf(50.0) + stats.uniform(3, 45).logpdf(30.0)
    # inside the region the density is the untruncated prior's (constant for two uniforms)
    for a, f in [(50.0, 30.0), (30.0, 40.0), (90.0, 4.0), (64.0, 3.6), (25.0, 47.0)]:
        assert a + f > LARGEST_MEDIAN
        assert np.isclose(logp(a, f), uniform, rtol=1e-12), (a, f)
    # the sampler's variable for F is bounded below by 67.5 − A: A + F < 67.5 is unreachable
    assert built.model.rvs_to_transforms[built.model["followup_months"]] is not None
    # PFS reports no reached median: no truncation there
    pfs = build(
        load_model_spec(MODELS / "pfs_weibull_separate.toml"),
        load_priors(PRIORS / "literature.toml"),
        load_study(STUDY),
    )
    assert DESIGN_REGION_TERM not in {p.name for p in pfs.model.potentials}


def test_truncated_lognormal_follow_up_keeps_the_prior_density_and_a_finite_gradient(tmp_path):
    path = edit_study(
        tmp_path,
        'followup_months = { dist = "uniform", lower = 3.0, upper = 48.0,',
        'followup_months = { dist = "lognormal", mu = 2.5, sigma = 0.8,',
    )
    built = build(
        load_model_spec(MODELS / "os_exponential.toml"),
        load_priors(PRIORS / "vague.toml"),
        load_study(path),
    )
    logp = _design_logp(built.model)
    for a, f in [(30.0, 40.0), (50.0, 20.0), (90.0, 0.5)]:
        expected = stats.uniform(24, 72).logpdf(a) + stats.lognorm(0.8, scale=np.exp(2.5)).logpdf(f)
        assert np.isclose(logp(a, f), expected, rtol=1e-10), (a, f)
    model = built.model
    dlogp = model.compile_dlogp()
    point = model.initial_point()
    # A from near its lower end (bound 67.5 − A ≈ 43 inside F's support) to near its upper end
    for shift in (-3.0, 0.0, 3.0):
        point["accrual_months_interval__"] = np.asarray(shift)
        assert np.all(np.isfinite(dlogp(point)))


@pytest.mark.parametrize(("followup", "ok"), [(60.0, True), (40.0, False)])
def test_fixed_follow_up_shorter_than_a_reported_median_is_refused(tmp_path, followup, ok):
    path = _study_with_fixed(tmp_path, accrual_months=20.0, followup_months=followup)
    spec = load_model_spec(MODELS / "os_exponential.toml")
    study = load_study(path)
    if ok:
        build(spec, load_priors(PRIORS / "vague.toml"), study)
        return
    with pytest.raises(StudyValidationError) as err:
        build(spec, load_priors(PRIORS / "vague.toml"), study)
    message = str(err.value)
    assert "followup" in message and "67.5" in message and "60" in message and str(path) in message


def test_random_accrual_with_fixed_follow_up_is_truncated_at_the_median_minus_follow_up(tmp_path):
    path = _study_with_fixed(tmp_path, followup_months=12.0)
    built = build(
        load_model_spec(MODELS / "os_exponential.toml"),
        load_priors(PRIORS / "vague.toml"),
        load_study(path),
    )
    model = built.model
    fn = _design_logp(model, ("accrual_months",))
    # A ~ U(24, 96) restricted to A > 67.5 − 12 = 55.5
    for a in (56.0, 70.0, 95.0):
        assert np.isclose(fn(a), stats.uniform(24, 72).logpdf(a), rtol=1e-12)
    lower = float(
        model.rvs_to_transforms[model["accrual_months"]]
        .backward(np.asarray(-30.0), *model["accrual_months"].owner.inputs)
        .eval()
    )
    assert np.isclose(lower, 55.5, atol=1e-6)


def test_the_log_prior_group_holds_the_restricted_design_prior(fitter):
    """Sampled draws: log_prior of A and F plus the region term equals the untruncated prior."""
    spec = load_model_spec(MODELS / "os_exponential.toml")
    built = build(spec, load_priors(PRIORS / "literature.toml"), load_study(STUDY))
    tree = fitter.sample(built, seed=3)
    log_prior = tree.log_prior.to_dataset()
    assert DESIGN_REGION_TERM in log_prior and DESIGN_REGION_TERM not in tree.log_likelihood
    design = (
        log_prior["accrual_months"] + log_prior["followup_months"] + log_prior[DESIGN_REGION_TERM]
    )
    expected = stats.uniform(24, 72).logpdf(50.0) + stats.uniform(3, 45).logpdf(30.0)
    assert np.allclose(design.values, expected, rtol=1e-10)
    post = tree.posterior.to_dataset()
    assert float((post["accrual_months"] + post["followup_months"]).min()) > LARGEST_MEDIAN


def _study_with_followup_upper(tmp_path, upper):
    """The bundled study with minimum follow-up ~ U(3, upper)."""
    return edit_study(
        tmp_path,
        'followup_months = { dist = "uniform", lower = 3.0, upper = 48.0,',
        f'followup_months = {{ dist = "uniform", lower = 3.0, upper = {upper},',
    )


def test_accrual_too_short_for_any_follow_up_is_cut_from_the_prior_not_a_wall(tmp_path):
    # F ~ U(3, 30): follow-up beyond the 67.5-month median needs A > 37.5, inside A ~ U(24, 96)
    spec = load_model_spec(MODELS / "os_exponential.toml")
    built = build(
        spec,
        load_priors(PRIORS / "vague.toml"),
        load_study(_study_with_followup_upper(tmp_path, 30.0)),
    )
    model = built.model
    logp = _design_logp(model)
    uniform = stats.uniform(24, 72).logpdf(50.0) + stats.uniform(3, 27).logpdf(20.0)
    # the restricted prior p(A) p(F) 1{A + F > 67.5}: constant inside the region
    for a, f in [(50.0, 20.0), (38.0, 29.9), (95.0, 3.5), (40.0, 28.0)]:
        assert a + f > LARGEST_MEDIAN
        assert np.isclose(logp(a, f), uniform, rtol=1e-12), (a, f)
    # the sampler's A is bounded below by 67.5 − 30 = 37.5: no A without room for F
    lower = float(
        model.rvs_to_transforms[model["accrual_months"]]
        .backward(np.asarray(-30.0), *model["accrual_months"].owner.inputs)
        .eval()
    )
    assert np.isclose(lower, 37.5, atol=1e-6)
    # the design's log density on the sampler's scale (Jacobians included) and its gradient:
    # finite everywhere (before, accruals below 37.5 gave −inf)
    rvs = [model["accrual_months"], model["followup_months"]]
    values = [model.rvs_to_values[rv] for rv in rvs]
    total = pt.sum(model.logp(vars=rvs, sum=False)) + model[DESIGN_REGION_TERM]
    fn = pytensor.function(values, [total, *pt.grad(total, values)])
    for a_raw in (-8.0, -2.0, 0.0, 4.0):
        for f_raw in (-8.0, 0.0, 8.0):
            outputs = fn(np.asarray(a_raw), np.asarray(f_raw))
            assert all(np.isfinite(v) for v in outputs), (a_raw, f_raw)
    # a different structure from the untruncated model: its own compile key
    bundled = build(spec, load_priors(PRIORS / "vague.toml"), load_study(STUDY))
    assert "design__accrual_lower_bound" not in bundled.model.named_vars
    assert bundled.key != built.key


def test_design_priors_that_cannot_reach_a_reported_median_are_refused(tmp_path):
    # A <= 96 and F <= 30 can reach 67.5 ...; with A ~ U(24, 30) they cannot
    path = _study_with_followup_upper(tmp_path, 30.0)
    text = path.read_text().replace(
        'accrual_months = { dist = "uniform", lower = 24.0, upper = 96.0,',
        'accrual_months = { dist = "uniform", lower = 24.0, upper = 30.0,',
    )
    path.write_text(text)
    with pytest.raises(StudyValidationError) as err:
        build(
            load_model_spec(MODELS / "os_exponential.toml"),
            load_priors(PRIORS / "vague.toml"),
            load_study(path),
        )
    message = str(err.value)
    assert str(path) in message and "followup" in message and "67.5" in message
