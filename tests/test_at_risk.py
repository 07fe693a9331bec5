"""Numbers at risk: the binomial chain against scipy, the expected numbers against simulated
trials, the estimator's convention against lifelines, and the study-file rules."""

from __future__ import annotations

import numpy as np
import pytensor
import pytest
from scipy import stats

from helpers import Weibull
from resurv.errors import StudyValidationError
from resurv.io.study import Arm
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import at_risk as at_risk_math
from resurv.statistics.base import TrialModel
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import from_table
from resurv.statistics.published.at_risk import NumbersAtRisk
from resurv.statistics.published.base import TrialData

CURVES = [Weibull(14.0, 1.3), Weibull(21.0, 0.8)]
DESIGN = FollowUp(24.0, 12.0, 0.015)
SIZES = [100, 96]
ARMS = {"control": Arm("control", "control", 100, 0), "treated": Arm("treated", "treated", 96, 1)}


def probability_at_risk(curve, t):
    """π(t) = S(t) G(t), in NumPy."""
    return np.exp(-curve.cum_hazard(np.asarray(t), np)) * DESIGN.censoring_survival(np.asarray(t))


@pytest.mark.parametrize(
    ("arm", "times", "numbers"),
    [
        (0, [3.0, 6.0, 12.0, 24.0, 30.0], [88, 74, 50, 12, 3]),
        (1, [6.0, 18.0, 33.0], [80, 44, 0]),
        (1, [12.0], [96]),  # nobody left before 12 months: q = π, N = n
    ],
)
def test_chain_equals_the_product_of_scipy_binomials(arm, times, numbers):
    trial = TrialModel(CURVES, SIZES, DESIGN)
    value = at_risk_math.at_risk_log_likelihood(trial, arm, times, np.array(numbers, float))
    pi = probability_at_risk(CURVES[arm], times)
    previous_pi = np.concatenate([[1.0], pi[:-1]])
    previous = np.concatenate([[SIZES[arm]], numbers[:-1]])
    reference = stats.binom.logpmf(numbers, previous, pi / previous_pi).sum()
    assert np.isfinite(reference)
    np.testing.assert_allclose(pytensor.function([], value)(), reference, rtol=1e-10)


def test_chain_equals_the_multinomial_of_the_intervals():
    """The chain is the multinomial of the K + 1 intervals the observed times fall in."""
    trial = TrialModel(CURVES, SIZES, DESIGN)
    times, numbers = [4.0, 10.0, 20.0], np.array([85.0, 66.0, 30.0])
    value = pytensor.function([], at_risk_math.at_risk_log_likelihood(trial, 0, times, numbers))()
    pi = np.concatenate([[1.0], probability_at_risk(CURVES[0], times), [0.0]])
    counts = np.concatenate([[100.0], numbers, [0.0]])
    reference = stats.multinomial.logpmf(-np.diff(counts), 100, -np.diff(pi))
    np.testing.assert_allclose(value, reference, rtol=1e-10)


def test_expected_numbers_match_simulated_trials(rng):
    times = [2.0, 6.0, 12.0, 20.0, 30.0, 35.0]
    trials = simulate_trials(rng, [c.inv_cum_hazard for c in CURVES], SIZES, DESIGN, n_trials=4000)
    for j, (curve, n) in enumerate(zip(CURVES, SIZES, strict=True)):
        counts = at_risk_math.numbers_at_risk(trials.time, trials.arm == j, times)
        expected = at_risk_math.expected_at_risk(curve, DESIGN, n, times)
        pi = expected / n
        se = np.sqrt(n * pi * (1 - pi) / trials.n_trials)  # binomial SE of the mean count
        assert np.all(np.abs(counts.mean(axis=0) - expected) < 4 * se + 1e-9), (j, counts.mean(0))


def test_estimator_counts_observed_times_at_or_after_t_as_lifelines_event_table(rng):
    from lifelines import KaplanMeierFitter

    trials = simulate_trials(rng, [c.inv_cum_hazard for c in CURVES], SIZES, DESIGN, n_trials=1)
    time = np.round(trials.time[0], 1)  # ties, as printed data have them
    event = trials.event[0]
    mask = trials.arm == 0
    kmf = KaplanMeierFitter().fit(time[mask], event[mask])
    table = kmf.event_table
    grid = table.index.to_numpy()[1:]  # observed times (the first row is time 0)
    ours = at_risk_math.numbers_at_risk(time, mask, grid)[0]
    np.testing.assert_array_equal(ours, table["at_risk"].to_numpy()[1:])


def test_reduce_gives_the_simulated_numbers(rng):
    record = from_table(
        {
            "endpoint": "os",
            "statistic": "at_risk",
            "arm": "treated",
            "times": [0.0, 6.0, 12.0],
            "numbers": [96, 70, 50],
        },
        ARMS,
    )
    trials = simulate_trials(rng, [c.inv_cum_hazard for c in CURVES], SIZES, DESIGN, n_trials=1)
    replica = record.reduce(TrialData(trials.time, trials.event, trials.arm[None, :]), None)
    treated = trials.time[0][trials.arm == 1]
    assert replica.numbers == tuple(int((treated >= t).sum()) for t in (0.0, 6.0, 12.0))
    assert replica.numbers[0] == 96


def test_usage_lists_every_number():
    record = from_table(
        {
            "endpoint": "os",
            "statistic": "at_risk",
            "arm": "control",
            "times": [0, 6, 12],
            "numbers": [100, 70, 50],
        },
        ARMS,
    )
    assert isinstance(record, NumbersAtRisk)
    usage = record.usage()
    assert [u[:2] for u in usage] == [("times", "likelihood"), ("numbers", "likelihood")]
    assert "arm size" in usage[1][2]
    assert record.observed_event_time() == 12.0


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"times": [6, 12, 18], "numbers": [70, 72, 40]}, "numbers[1]", "cannot increase"),
        ({"times": [6, 12], "numbers": [101, 72]}, "numbers[0]", "exceeds the arm size n = 100"),
        ({"times": [6, 6, 18], "numbers": [70, 60, 40]}, "times[1]", "strictly increasing"),
        ({"times": [12, 6], "numbers": [70, 60]}, "times[1]", "strictly increasing"),
        ({"times": [6, 12, 18], "numbers": [70, 60]}, "numbers", "one number per time"),
        ({"times": [0, 6], "numbers": [98, 60]}, "numbers[0]", "time 0 must equal the arm size"),
        ({"times": [6, 12], "numbers": [70.5, 60]}, "numbers[0]", "whole number"),
        ({"times": [-1, 12], "numbers": [70, 60]}, "times[0]", ">= 0"),
    ],
)
def test_bad_tables_are_refused_naming_file_field_and_rule(fields, field, rule):
    table = {"endpoint": "os", "statistic": "at_risk", "arm": "control", **fields}
    with pytest.raises(StudyValidationError) as info:
        from_table(table, ARMS, file="trial.toml", prefix="survival[3]")
    message = str(info.value)
    assert "trial.toml" in message and f"survival[3].{field}" in message and rule in message


def test_calibration_replicates_share_the_compiled_model_and_swap_the_numbers(tmp_path, rng):
    """reduce_trial gives each replicate its own numbers in the same graph (compile key)."""
    from helpers import PRIORS
    from resurv.inference.fit import model_data_values
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.io.study import load_study
    from resurv.models.summary_data import build_survival_summary
    from resurv.simulation.calibrate import reduce_trial

    study_file = tmp_path / "study.toml"
    study_file.write_text(
        """\
reference_arm = "control"
unknown = []
reported_without_numbers = []
[study]
id = "replicates"
title = "replicates"
citation = "test"
[[arms]]
id = "control"
n = 100
[[arms]]
id = "treated"
n = 96
[followup]
accrual_months = { dist = "uniform", lower = 6.0, upper = 60.0, source = "test" }
followup_months = { dist = "uniform", lower = 1.0, upper = 36.0, source = "test" }
[[survival]]
endpoint = "os"
statistic = "at_risk"
arm = "control"
times = [0.0, 6.0, 12.0, 24.0]
numbers = [100, 74, 55, 15]
[[survival]]
endpoint = "os"
statistic = "median_followup"
value = 23.8
method = "survivors"
"""
    )
    model_file = tmp_path / "model.toml"
    model_file.write_text(
        'name = "m"\nendpoint = "os"\nlikelihood = "survival"\nfamily = "exponential"\n'
        'effect = "ph"\ndescription = "test"\nrmst_horizons = [24.0]\nlandmarks = [12.0]\n'
    )
    spec, priors = load_model_spec(model_file), load_priors(PRIORS / "vague.toml")
    study = load_study(study_file)
    original = build_survival_summary(spec, priors, study)
    trials = simulate_trials(rng, [c.inv_cum_hazard for c in CURVES], SIZES, DESIGN, n_trials=1)
    replica = reduce_trial(study, "os", trials.time[0], trials.event[0], trials.arm)
    rebuilt = build_survival_summary(spec, priors, replica)
    assert rebuilt.key == original.key
    control = trials.time[0][trials.arm == 0]
    data = model_data_values(rebuilt.model)
    np.testing.assert_array_equal(
        data["os_at_risk_numbers_arm0"], [(control >= t).sum() for t in (6.0, 12.0, 24.0)]
    )
    survivors = np.median(trials.time[0][~trials.event[0]])
    np.testing.assert_allclose(data["os_median_followup_observed_pooled"][0], np.log(survivors))
    assert set(data) == set(model_data_values(original.model))
