"""Median follow-up: model values against closed forms and simulation, the sampling SD against
the SD across simulated trials, the reverse-KM estimator against lifelines, the study-file rules.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import optimize

from helpers import Weibull
from resurv.errors import StudyValidationError
from resurv.io.study import Arm
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import median_followup as mf
from resurv.statistics.base import TrialModel
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import from_table
from resurv.statistics.published.base import TrialData
from resurv.statistics.published.median_followup import POOLED, MedianFollowUp

CURVES = [Weibull(14.0, 1.3), Weibull(21.0, 0.8)]
SIZES = [100, 96]
ARMS = {"control": Arm("control", "control", 100, 0), "treated": Arm("treated", "treated", 96, 1)}
#: Medians of every method and group lie well inside (F, A + F): the observed-time density is
#: continuous there (it jumps at F, where the first-order variance does not hold).
DESIGN = FollowUp(30.0, 6.0, 0.01)
GROUPS = {"arm0": [0], "arm1": [1], "pooled": [0, 1]}
CASES = [(method, group) for method in mf.METHODS for group in GROUPS]


@pytest.fixture(scope="module")
def model_values():
    """Model median and SD of every method and group at DESIGN, from one compiled function."""
    trial = TrialModel(CURVES, SIZES, DESIGN)
    outputs = []
    for method, group in CASES:
        m, variance = mf.model_median_followup(trial, GROUPS[group], method)
        outputs += [m, pt.sqrt(variance)]
    values = pytensor.function([], outputs)()
    return {case: (float(values[2 * i]), float(values[2 * i + 1])) for i, case in enumerate(CASES)}


@pytest.fixture(scope="module")
def simulated():
    """2000 trials of the design; each method's estimate per trial and group."""
    rng = np.random.default_rng(881)
    trials = simulate_trials(rng, [c.inv_cum_hazard for c in CURVES], SIZES, DESIGN, n_trials=2000)
    estimates = {}
    for method, group in CASES:
        index = None if group == "pooled" else GROUPS[group][0]
        estimates[method, group] = mf.followup_median_estimate(
            trials.time, trials.event, trials.arm, method, index
        )
    return trials, estimates


def _survival(arms, t):
    return sum(SIZES[j] * np.exp(-CURVES[j].cum_hazard(t, np)) for j in arms)


def test_reverse_km_model_median_solves_g_equal_half():
    designs = [FollowUp(30.0, 6.0, 0.0), FollowUp(30.0, 6.0, 0.01), FollowUp(20.0, 40.0, 0.03)]
    medians = [
        mf.model_median_followup(TrialModel(CURVES, SIZES, d), [0], "reverse_km")[0]
        for d in designs
    ]
    values = pytensor.function([], medians)()
    expected = [
        6.0 + 30.0 / 2,  # closed form without dropout: F + A/2
        optimize.brentq(lambda t: designs[1].censoring_survival(t) - 0.5, 1e-9, 36.0),
        np.log(2) / 0.03,  # dropout halves follow-up before accrual's end matters: log 2 / ρ
    ]
    np.testing.assert_allclose(values, expected, rtol=1e-9)


def test_all_and_survivors_model_medians_solve_their_equations_by_scipy(model_values):
    from scipy import integrate

    for group, arms in GROUPS.items():
        total = sum(SIZES[j] for j in arms)
        m_all = optimize.brentq(
            lambda t, arms=arms, total=total: (
                _survival(arms, t) * DESIGN.censoring_survival(t) - total / 2
            ),
            1e-9,
            DESIGN.max_followup_months - 1e-9,
        )
        np.testing.assert_allclose(model_values["all", group][0], m_all, rtol=1e-8)

        def censored(t, arms=arms):
            return integrate.quad(
                lambda u: _survival(arms, u) * DESIGN.censoring_density(u),
                0,
                t,
                points=[DESIGN.followup_months] if t > DESIGN.followup_months else None,
                epsabs=0,
                epsrel=1e-12,
                limit=200,
            )[0]

        half = censored(DESIGN.max_followup_months) / 2
        m_surv = optimize.brentq(
            lambda t, half=half: censored(t) - half, 1e-6, DESIGN.max_followup_months
        )
        np.testing.assert_allclose(model_values["survivors", group][0], m_surv, rtol=1e-6)


@pytest.mark.parametrize(("method", "group"), CASES)
def test_model_median_is_the_median_of_simulated_estimates(model_values, simulated, method, group):
    _, estimates = simulated
    m, sd = model_values[method, group]
    est = estimates[method, group]
    assert np.isfinite(est).all()
    # the sample median of R estimates has SE ≈ 1.2533 sd / √R (normal limit)
    se = 1.2533 * sd / np.sqrt(est.size)
    assert abs(np.median(est) - m) < 4 * se, (np.median(est), m, se)


@pytest.mark.parametrize(("method", "group"), CASES)
def test_model_sd_matches_the_sd_across_simulated_trials(model_values, simulated, method, group):
    _, estimates = simulated
    _, sd = model_values[method, group]
    est = estimates[method, group]
    empirical = est.std(ddof=1)
    # SE of an SD over R near-normal replicates: sd / √(2(R − 1))
    se = empirical / np.sqrt(2 * (est.size - 1))
    assert abs(empirical - sd) < 4 * se, (empirical, sd, se)


def test_reverse_km_estimate_equals_lifelines_on_swapped_events(simulated):
    from lifelines import KaplanMeierFitter

    trials, estimates = simulated
    for r in range(5):
        time, event = trials.time[r], trials.event[r]
        for group, arms in GROUPS.items():
            mask = np.isin(trials.arm, arms)
            kmf = KaplanMeierFitter().fit(time[mask], ~event[mask])
            assert estimates["reverse_km", group][r] == kmf.median_survival_time_


def test_survivors_and_all_estimates_are_plain_medians(simulated):
    trials, estimates = simulated
    time, event = trials.time[0], trials.event[0]
    mask = trials.arm == 1
    assert estimates["all", "arm1"][0] == np.median(time[mask])
    assert estimates["survivors", "arm1"][0] == np.median(time[mask & ~event])
    assert estimates["survivors", "pooled"][0] == np.median(time[~event])


def _record(**fields):
    table = {"endpoint": "os", "statistic": "median_followup", **fields}
    return from_table(table, ARMS, file="trial.toml", prefix="survival[4]")


def test_parse_defaults_reduce_and_usage(simulated):
    record = _record(value=22.5, range=[0.3, 35.1])
    assert isinstance(record, MedianFollowUp)
    assert (record.method, record.index, record.arm) == ("reverse_km", POOLED, None)
    assert record.observed_event_time() == 35.1
    assert [u[:2] for u in record.usage()] == [
        ("value", "likelihood"),
        ("range", "check"),
    ]
    trials, estimates = simulated
    replica = record.reduce(TrialData(trials.time[:1], trials.event[:1], trials.arm[None, :]), None)
    assert replica.value == estimates["reverse_km", "pooled"][0] and replica.range is None
    arm_record = _record(value=20.0, arm="treated", method="survivors")
    assert arm_record.index == 1 and arm_record.observed_event_time() == 20.0


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"value": 0.0}, "value", "must be > 0"),
        ({"value": -3.0}, "value", "must be > 0"),
        ({"value": 20.0, "method": "median_km"}, "method", "must be one of reverse_km"),
        ({"value": 20.0, "range": [22.0, 40.0]}, "range", "does not contain the value 20"),
        ({"value": 20.0, "range": [2.0, 19.0]}, "range", "does not contain the value 20"),
        ({"value": 20.0, "range": [30.0, 2.0]}, "range", "[min, max]"),
        ({"value": 20.0, "arm": "placebo"}, "arm", "unknown arm 'placebo'"),
    ],
)
def test_bad_forms_are_refused_naming_file_field_and_rule(fields, field, rule):
    with pytest.raises(StudyValidationError) as info:
        _record(**fields)
    message = str(info.value)
    assert "trial.toml" in message and f"survival[4].{field}" in message and rule in message


FIXED_DESIGN_STUDY = """\
reference_arm = "control"
unknown = []
reported_without_numbers = []

[study]
id = "fixed"
title = "fixed design"
citation = "test"

[[arms]]
id = "control"
n = 100

[[arms]]
id = "treated"
n = 96

[followup]
accrual_months = 24.0
followup_months = 12.0

[[survival]]
endpoint = "os"
statistic = "median"
arm = "control"
value = 14.0

"""

MODEL = """\
name = "os_exponential_small"
endpoint = "os"
likelihood = "survival"
family = "exponential"
effect = "ph"
description = "Small test model."
rmst_horizons = [24.0]
landmarks = [12.0]
"""


@pytest.mark.parametrize(
    "entry",
    [
        'statistic = "median_followup"\nvalue = 40.0\n',
        'statistic = "median_followup"\nvalue = 20.0\nrange = [0.5, 37.0]\n',
        'statistic = "at_risk"\narm = "treated"\ntimes = [12.0, 38.0]\nnumbers = [70, 2]\n',
    ],
    ids=["median-beyond-design", "range-beyond-design", "at-risk-beyond-design"],
)
def test_follow_up_longer_than_a_fixed_design_allows_is_refused(tmp_path, capsys, entry):
    from helpers import PRIORS, assert_refused
    from resurv.cli import main

    study = tmp_path / "study.toml"
    study.write_text(FIXED_DESIGN_STUDY + '[[survival]]\nendpoint = "os"\n' + entry)
    model = tmp_path / "model.toml"
    model.write_text(MODEL)
    out = tmp_path / "fit"
    argv = ["fit", str(model), "--data", str(study), "--priors", str(PRIORS / "vague.toml")]
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert_refused(
        code, err, out, "study.toml", "followup", "accrual_months + followup_months = 36"
    )
