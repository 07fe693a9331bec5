"""A printed uncertainty (CI, Wald p) as the statistic log ŝ: formulas, sampling law, information.

* ŝ from a printed HR CI or Wald p against scipy's normal quantiles; the p's printed interval
  (rounding, "<x", ">x", "NS") against its definition.
* The law of log ŝ of the Cox SE against simulation at three designs: the model SE s(θ) plus the
  small-sample bias b, and the spread τ (tolerances in :func:`test_cox_log_se_law`).
* The information a printed CI adds: the posterior of the minimum follow-up F (all else fixed,
  evaluated exactly on a grid) is much narrower with the CI than with the HR alone.
"""

import math

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats
from summary_curves import Exponential, Weibull

from resurv.errors import StudyValidationError
from resurv.io.tables import TableReader
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import hr
from resurv.statistics.base import TrialModel, covariance_pieces, log_se_variance
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.likelihood import add_summary_likelihood, se_structure, structure_key
from resurv.statistics.published import HazardRatio


def parse_hr(**fields):
    table = {"endpoint": "os", **fields}
    reader = TableReader(table, "study.toml", "survival[1]", StudyValidationError)
    return HazardRatio.parse(reader, {})


# --- formulas ------------------------------------------------------------------------------


def test_se_from_hr_ci_both_limits_and_upper_nr():
    record = parse_hr(value=0.68, ci=[0.52, 0.89])
    expected = (math.log(0.89) - math.log(0.52)) / (2.0 * stats.norm.ppf(0.975))
    assert record.printed_log_se() == pytest.approx((math.log(expected),) * 2, rel=1e-12)
    assert se_structure(record) == ("se", "point")
    one_side = parse_hr(value=0.68, ci=[0.52, "NR"])
    expected = (math.log(0.68) - math.log(0.52)) / stats.norm.ppf(0.975)
    assert one_side.printed_log_se()[0] == pytest.approx(math.log(expected), rel=1e-12)


@pytest.mark.parametrize(
    ("printed", "sided", "p_interval"),
    [
        (0.027, "two", (0.0265, 0.0275)),
        ("0.20", "two", (0.195, 0.205)),
        ("0.20", "one", (0.195, 0.205)),
        ("<0.001", "two", (0.0, 0.001)),
        (">0.05", "two", (0.05, 1.0)),
        ("NS", "two", (0.05, 1.0)),
    ],
)
def test_se_from_wald_p_is_interval_of_printed_p(printed, sided, p_interval):
    record = parse_hr(value=0.7, p_value=printed, p_sided=sided)
    scale = 2.0 if sided == "two" else 1.0
    log_hr = abs(math.log(0.7))
    with np.errstate(divide="ignore"):
        z_high, z_low = stats.norm.isf(np.array(p_interval) / scale)
    lower, upper = record.printed_log_se()
    expected_lower = math.log(log_hr / z_high) if np.isfinite(z_high) else -np.inf
    expected_upper = math.log(log_hr / z_low) if z_low > 0 else np.inf
    assert lower == pytest.approx(expected_lower, rel=1e-12)
    assert upper == pytest.approx(expected_upper, rel=1e-12)


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"p_value": "<0"}, "p_value", "strictly between 0 and 1"),
        ({"p_value": "<1.5"}, "p_value", "strictly between 0 and 1"),
        ({"p_value": "small"}, "p_value", "must be a number"),
        ({"p_value": "NS", "ci": [0.5, 0.9]}, "p_value", "excludes 1"),
        ({"p_value": 0.03, "p_test": "logrank", "p_sided": "one"}, "p_sided", "two-sided only"),
        ({"p_value": 0.03, "p_test": "wilcoxon"}, "p_test", "must be one of"),
        ({"p_sided": "one"}, "p_sided", "none is given"),
        ({"ci": [0.8, 0.9]}, "ci", "does not contain"),
        ({"ci": [0.5, "open"]}, "ci[1]", '"NR"'),
        ({"alpha": 0.1, "p_value": 0.2}, "alpha", "NS"),
    ],
)
def test_bad_printed_uncertainty_is_refused(fields, field, rule):
    with pytest.raises(StudyValidationError) as err:
        parse_hr(value=0.7, **fields)
    assert "study.toml" in str(err.value) and field in str(err.value) and rule in str(err.value)


def test_structure_names_the_se_form():
    plain = parse_hr(value=0.7)
    with_ci = parse_hr(value=0.7, ci=[0.5, 0.98])
    below = parse_hr(value=0.7, p_value="<0.001")
    above = parse_hr(value=0.7, p_value="NS")
    keys = {structure_key([s]) for s in (plain, with_ci, below, above)}
    assert len(keys) == 4
    assert se_structure(below) == ("se", "below") and se_structure(above) == ("se", "above")


def test_usage_lists_every_number():
    record = parse_hr(value=0.68, ci=[0.52, 0.89], p_value=0.004)
    fields = {(field, role) for field, role, _ in record.usage()}
    assert fields == {
        ("value", "likelihood"),
        ("ci", "likelihood"),
        ("ci", "check"),
        ("p_value", "check"),
    }
    alone = parse_hr(value=0.68, p_value="<0.001")
    assert ("p_value", "likelihood") in {(f, r) for f, r, _ in alone.usage()}


# --- sampling law of log ŝ against simulation -------------------------------------------------


def _inverse(curve):
    scale = curve.median / np.log(2.0) ** (1.0 / curve.shape)
    return lambda h: scale * h ** (1.0 / curve.shape)


DESIGNS = {
    "30+30": ([Weibull(14.0, 1.2), Weibull(20.0, 1.2)], [30, 30], FollowUp(24.0, 12.0, 0.02)),
    "150+150": ([Weibull(14.0, 1.2), Weibull(20.0, 1.2)], [150, 150], FollowUp(24.0, 12.0, 0.02)),
    "40+80": ([Weibull(8.0, 0.8), Weibull(5.0, 0.8)], [40, 80], FollowUp(12.0, 6.0, 0.05)),
}


@pytest.mark.parametrize("design", list(DESIGNS))
def test_cox_log_se_law(design):
    """E log ŝ = log s(θ) + b and SD(log ŝ) = τ, as the likelihood term uses them.

    Tolerances (R = 3000 trials): the bias within 0.1 τ plus 3 Monte Carlo SEs; τ between 0.97
    and 1.10 times the empirical SD (Monte Carlo SE of an SD ≈ 1.3%; the small-sample term
    16 τ_P⁴ is conservative: τ₁ alone is 6-10% below the empirical SD at 30 per arm).
    """
    curves, n, follow = DESIGNS[design]
    trial = TrialModel(curves, n, follow)
    statistic = hr.model_statistic(trial)
    first_order, poisson = log_se_variance(trial, statistic)
    variance, first_order, poisson = pytensor.function(
        [], [covariance_pieces(trial, [statistic])[0, 0], first_order, poisson]
    )()
    bias_coef, extra = HazardRatio.se_small_sample
    tau = math.sqrt(first_order + extra * poisson**2)
    rng = np.random.default_rng(7)
    trials = simulate_trials(rng, [_inverse(c) for c in curves], n, follow, n_trials=3000)
    log_se = np.log(cox_two_arm(trials.time, trials.event, trials.arm).se)
    assert np.isfinite(log_se).all()
    bias = log_se.mean() - 0.5 * math.log(variance)
    mc_se = log_se.std() / math.sqrt(log_se.size)
    assert abs(bias - bias_coef * poisson) < 0.1 * tau + 3.0 * mc_se, (bias, bias_coef * poisson)
    assert 0.97 < tau / log_se.std() < 1.10, (tau, log_se.std())


# --- information added by the printed CI --------------------------------------------------------

N_ARM = (150, 150)
MEDIANS = (14.0, 20.0)


def _grid_posterior(statistics, grid):
    """Posterior of F on a grid (log F ~ N(log 12, 0.7), medians and A fixed at the truth)."""
    with pm.Model() as model:
        log_f = pm.Normal("log_f", math.log(12.0), 0.7)
        design = FollowUp(24.0, pt.exp(log_f), 0.0)
        curves = [Exponential(MEDIANS[0]), Exponential(MEDIANS[1])]
        add_summary_likelihood("os", curves, N_ARM, design, statistics, n_nodes=16)
    logp = model.compile_logp(jacobian=False)
    values = np.array([logp({"log_f": math.log(f)}) for f in grid])
    weights = np.exp(values - values.max())
    return weights / weights.sum()


def test_printed_ci_pins_the_follow_up():
    """The true F = 12; a CI as the Cox SE of that design sharpens F's posterior a lot."""
    trial = TrialModel([Exponential(m) for m in MEDIANS], N_ARM, FollowUp(24.0, 12.0, 0.0))
    statistic = hr.model_statistic(trial)
    log_hr, variance = pytensor.function(
        [], [statistic.mean, covariance_pieces(trial, [statistic])[0, 0]]
    )()
    half = stats.norm.ppf(0.975) * math.sqrt(variance)
    value = round(math.exp(log_hr), 2)
    ci = [round(math.exp(log_hr - half), 2), round(math.exp(log_hr + half), 2)]
    grid = np.geomspace(1.0, 80.0, 120)
    alone = _grid_posterior([HazardRatio(value)], grid)
    with_ci = _grid_posterior([HazardRatio(value, tuple(ci))], grid)

    def sd(weights):
        mean = np.sum(weights * np.log(grid))
        return math.sqrt(np.sum(weights * (np.log(grid) - mean) ** 2))

    assert sd(with_ci) < 0.5 * sd(alone), (sd(with_ci), sd(alone))
    centre = math.exp(np.sum(with_ci * np.log(grid)))
    assert 6.0 < centre < 24.0, centre
    # a Wald p printed to three decimals instead of the CI: the same information, censored
    p_value = f"{2.0 * stats.norm.sf(abs(log_hr) / math.sqrt(variance)):.3f}"
    with_p = _grid_posterior([parse_hr(value=value, p_value=p_value)], grid)
    assert sd(with_p) < 0.5 * sd(alone), (sd(with_p), sd(alone))


def test_a_logrank_p_with_the_hr_is_the_logrank_statistic():
    """p_test = "logrank": the likelihood is that of the HR plus a log-rank test signed by the HR
    (HR < 1: the comparator did better, Z < 0), the same as writing both records."""
    import pymc as pm

    from resurv.statistics.published import LogRank

    record = parse_hr(value=0.7, p_value=0.03, p_test="logrank")
    (companion,) = record.companions()
    assert companion.direction == -1 and companion.p_printed.text == "0.03"
    assert record.printed_log_se() is None  # the p is the log-rank Z, not an SE
    assert ("p_value", "likelihood") in {(f, r) for f, r, _ in record.usage()}
    separate = [HazardRatio(0.7, decimals=record.decimals), companion]
    assert structure_key([record]) == structure_key(separate)

    def loglik(statistics):
        with pm.Model() as model:
            log_f = pm.Normal("log_f", math.log(12.0), 0.7)
            design = FollowUp(24.0, pt.exp(log_f), 0.0)
            curves = [Exponential(14.0), Exponential(20.0)]
            add_summary_likelihood("os", curves, (100, 100), design, statistics, n_nodes=16)
        return model.compile_logp(jacobian=False)

    together, apart = loglik([record]), loglik(separate)
    for f in (6.0, 12.0, 30.0):
        assert together({"log_f": math.log(f)}) == pytest.approx(apart({"log_f": math.log(f)}))
    # a separate log-rank record of the endpoint is refused, naming it
    assert "log-rank p once" in record.conflict(LogRank(0.03, -1, "b", endpoint="os"))
    assert record.conflict(companion) is None
