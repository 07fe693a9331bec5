"""A landmark's printed CI: its transform, its limits, and why it stays a check target.

* :func:`interval` on the log and plain scales against their formulas, loglog against lifelines.
* The printed SE Ŝ σ̂ against simulation: log Ŝ and log σ̂ are strongly anticorrelated, so the
  spread of log(Ŝ σ̂) is well below the sum-over-deaths law of ``log_se_variance`` (the reason
  the CI is not used as data; the test fails if that stops being true).
* The study file: ``ci_transform`` and its refusals; usage().
"""

import math

import numpy as np
import pytensor
import pytest
from estimator_cases import all_cases, lifelines_km
from scipy import stats
from summary_curves import Weibull

from resurv.errors import StudyValidationError
from resurv.io.study import Arm
from resurv.io.tables import TableReader
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import landmark
from resurv.statistics.base import TrialModel, log_se_variance
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import Landmark

Z = stats.norm.ppf(0.975)


def test_log_and_plain_limits():
    survival, se = np.array([0.2, 0.6, 0.95]), np.array([0.05, 0.08, 0.04])
    lower, upper = landmark.interval(survival, se, Z, "log")
    np.testing.assert_allclose(np.log(lower), np.log(survival) - Z * se / survival)
    np.testing.assert_allclose(upper, np.minimum(np.exp(np.log(survival) + Z * se / survival), 1))
    lower, upper = landmark.interval(survival, se, Z, "plain")
    np.testing.assert_allclose(lower, survival - Z * se)
    np.testing.assert_allclose(upper, np.minimum(survival + Z * se, 1.0))


def test_loglog_limits_are_lifelines():
    _, time, event, arm = all_cases()[0]
    t_star = float(np.median(time))
    est = landmark.km_landmark(time[arm == 0], event[arm == 0], t_star)
    lower, upper = landmark.interval(est.survival, est.se, Z, "loglog")
    band = lifelines_km(time[arm == 0], event[arm == 0]).confidence_interval_
    row = band[band.index <= t_star].iloc[-1].to_numpy()
    np.testing.assert_allclose([lower[0], upper[0]], row, rtol=1e-6)


def _inverse(curve):
    scale = curve.median / np.log(2.0) ** (1.0 / curve.shape)
    return lambda h: scale * h ** (1.0 / curve.shape)


@pytest.mark.parametrize("n", [30, 150])
def test_printed_se_is_far_less_variable_than_the_sum_over_deaths_law(n):
    curves, follow, t_star = (
        [Weibull(14.0, 1.2), Weibull(20.0, 1.2)],
        FollowUp(24.0, 12.0, 0.02),
        12.0,
    )
    trial = TrialModel(curves, [n, n], follow)
    first_order, _ = log_se_variance(
        trial, landmark.model_statistic(trial, Landmark(0, t_star, 0.5))
    )
    tau = math.sqrt(pytensor.function([], first_order)())
    rng = np.random.default_rng(5)
    trials = simulate_trials(rng, [_inverse(c) for c in curves], [n, n], follow, n_trials=1500)
    est = landmark.km_landmark(trials.time, trials.event, t_star, trials.arm)
    survival, se = est.survival[:, 0], est.se[:, 0]
    log_sigma = np.log(se / survival)
    assert np.corrcoef(np.log(survival), log_sigma)[0, 1] < -0.9
    ratio = np.log(se).std() / tau
    assert 0.25 < ratio < 0.6, ratio


ARMS = {"a": Arm(id="a", index=0, n=50, label="A"), "b": Arm(id="b", index=1, n=50, label="B")}


def parse(**fields):
    table = {"endpoint": "os", "arm": "a", "t_months": 12.0, "value": 0.6, **fields}
    return Landmark.parse(TableReader(table, "s.toml", "survival[2]", StudyValidationError), ARMS)


def test_transform_and_usage():
    record = parse(ci=[0.45, 0.72], ci_transform="log")
    assert record.ci_transform == "log" and parse(ci=[0.45, 0.72]).ci_transform == "loglog"
    roles = {(f, r) for f, r, _ in record.usage()}
    assert roles == {("value", "likelihood"), ("t_months", "likelihood"), ("ci", "check")}


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"ci_transform": "log"}, "ci_transform", "none is given"),
        ({"ci": [0.4, 0.7], "ci_transform": "logit"}, "ci_transform", "must be one of"),
        ({"ci": [0.4, 1.2]}, "ci", "[0, 1]"),
    ],
)
def test_bad_landmark_ci_refused(fields, field, rule):
    with pytest.raises(StudyValidationError) as err:
        parse(**fields)
    assert "s.toml" in str(err.value) and field in str(err.value) and rule in str(err.value)
