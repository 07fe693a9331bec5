"""A landmark's printed CI as data: its transform, its limits, the law of its SE.

* :func:`interval` on the log and plain scales against their formulas, loglog against lifelines.
* ŝ back-transformed from the CI on each scale; the law of log ŝ (Greenwood's SE Ŝ σ̂: log Ŝ
  and log σ̂ strongly anticorrelated, far from the sum-over-deaths law) against simulation.
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
from resurv.statistics.base import TrialModel, covariance_pieces, log_se_variance
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


DESIGNS = {
    "30+30, t 12": (
        12.0,
        [Weibull(14.0, 1.2), Weibull(20.0, 1.2)],
        [30, 30],
        FollowUp(24.0, 12.0, 0.02),
    ),
    "150+150, t 12": (
        12.0,
        [Weibull(14.0, 1.2), Weibull(20.0, 1.2)],
        [150, 150],
        FollowUp(24.0, 12.0, 0.02),
    ),
    "40+80, t 6": (
        6.0,
        [Weibull(8.0, 0.8), Weibull(5.0, 0.8)],
        [40, 80],
        FollowUp(12.0, 6.0, 0.05),
    ),
}


@pytest.mark.parametrize("design", list(DESIGNS))
def test_greenwood_log_se_law(design):
    """τ within 0.97–1.10 of the empirical SD of log ŝ, the bias within 0.1 τ + 3 MC SEs.

    Also: log Ŝ and log σ̂ are strongly anticorrelated, and the sum-over-deaths law τ₁ would
    overstate the spread more than twice (why the landmark has its own law).
    """
    t_star, curves, n, follow = DESIGNS[design]
    trial = TrialModel(curves, n, follow)
    statistic = landmark.model_statistic(trial, Landmark(0, t_star, 0.5))
    variance = covariance_pieces(trial, [statistic])[0, 0]
    record = Landmark(0, t_star, 0.5, (0.4, 0.6))  # the law without rounding: set δ = 0 below
    bias, tau2 = record.log_se_law(trial, statistic, variance)
    first_order, _ = log_se_variance(trial, statistic)
    variance, bias, tau2, first_order = pytensor.function([], [variance, bias, tau2, first_order])()
    tau2 -= record._ci_resolution**2 / (12.0 * 2 * Z**2) / variance
    tau = math.sqrt(tau2)
    rng = np.random.default_rng(5)
    trials = simulate_trials(rng, [_inverse(c) for c in curves], n, follow, n_trials=2000)
    est = landmark.km_landmark(trials.time, trials.event, t_star, trials.arm)
    survival, se = est.survival[:, 0], est.se[:, 0]
    assert (se > 0).all()
    log_se = np.log(se)
    assert np.corrcoef(np.log(survival), np.log(se / survival))[0, 1] < -0.9
    assert math.sqrt(first_order) > 2.0 * log_se.std()
    assert 0.97 < tau / log_se.std() < 1.10, (tau, log_se.std())
    measured = log_se.mean() - 0.5 * math.log(variance)
    mc = log_se.std() / math.sqrt(log_se.size)
    assert abs(measured - bias) < 0.1 * tau + 3.0 * mc, (measured, bias)


@pytest.mark.parametrize("transform", ["log", "loglog", "plain"])
def test_se_back_transformed_from_the_ci(transform):
    value, se = 0.62, 0.071
    lower, upper = landmark.interval(value, se, Z, transform)
    record = Landmark(0, 12.0, value, (float(lower), float(upper)), transform)
    assert record.printed_log_se()[0] == pytest.approx(math.log(se), rel=1e-9)
    clipped = Landmark(0, 12.0, 0.97, (0.9, 1.0), transform)
    assert clipped._ci_sides() == (True, False) and clipped.printed_log_se() is not None


ARMS = {"a": Arm(id="a", index=0, n=50, label="A"), "b": Arm(id="b", index=1, n=50, label="B")}


def parse(**fields):
    table = {"endpoint": "os", "arm": "a", "t_months": 12.0, "value": 0.6, **fields}
    return Landmark.parse(TableReader(table, "s.toml", "survival[2]", StudyValidationError), ARMS)


def test_transform_and_usage():
    record = parse(ci=[0.45, 0.72], ci_transform="log")
    assert record.ci_transform == "log" and parse(ci=[0.45, 0.72]).ci_transform == "loglog"
    roles = {(f, r) for f, r, _ in record.usage()}
    assert roles == {
        ("value", "likelihood"),
        ("t_months", "likelihood"),
        ("ci", "likelihood"),
        ("ci", "check"),
    }


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


def test_printed_landmark_ci_informs_the_follow_up():
    """S(24) of a 150-patient arm with F = 12 < 24: the CI's width depends on the censoring
    before 24 months, so with it the posterior of F (log F ~ N(log 12, 0.7), curves fixed,
    evaluated exactly on a grid) is narrower than with S(24) alone."""
    import pymc as pm
    import pytensor.tensor as pt

    from resurv.statistics.likelihood import add_summary_likelihood

    curves, n_arm, t_star = [Weibull(14.0, 1.2), Weibull(20.0, 1.2)], (150, 150), 24.0
    trial = TrialModel(curves, n_arm, FollowUp(24.0, 12.0, 0.0))
    statistic = landmark.model_statistic(trial, Landmark(0, t_star, 0.5))
    value, variance = pytensor.function(
        [], [statistic.mean, covariance_pieces(trial, [statistic])[0, 0]]
    )()
    value = round(float(value), 2)
    lower, upper = landmark.interval(value, math.sqrt(variance), Z, "loglog")
    ci = (round(float(lower), 2), round(float(upper), 2))
    grid = np.geomspace(2.0, 60.0, 80)

    def posterior(record):
        with pm.Model() as model:
            log_f = pm.Normal("log_f", math.log(12.0), 0.7)
            design = FollowUp(24.0, pt.exp(log_f), 0.0)
            add_summary_likelihood("os", curves, n_arm, design, [record], n_nodes=16)
        logp = model.compile_logp(jacobian=False)
        values = np.array([logp({"log_f": math.log(f)}) for f in grid])
        weights = np.exp(values - values.max())
        weights /= weights.sum()
        centre = np.sum(weights * np.log(grid))
        return math.sqrt(np.sum(weights * (np.log(grid) - centre) ** 2))

    alone = posterior(Landmark(0, t_star, value))
    with_ci = posterior(Landmark(0, t_star, value, ci))
    assert with_ci < 0.8 * alone, (with_ci, alone)
