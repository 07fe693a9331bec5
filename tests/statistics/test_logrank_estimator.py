import numpy as np
import pytest
from estimator_cases import (
    all_cases,
    numpy_warns,  # noqa: F401  (autouse fixture)
    small_trials,
)
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test

from resurv.statistics.logrank import logrank_test

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_lifelines(case):
    _, time, event, arm = case
    result = logrank_test(time, event, arm)
    reference = lifelines_logrank(time[arm == 0], time[arm == 1], event[arm == 0], event[arm == 1])
    np.testing.assert_allclose(result.chisq[0], reference.test_statistic, rtol=1e-10)
    np.testing.assert_allclose(result.p_value[0], reference.p_value, rtol=1e-8, atol=1e-300)
    multi = multivariate_logrank_test(time, arm, event)
    np.testing.assert_allclose(result.chisq[0], multi.test_statistic, rtol=1e-10)
    np.testing.assert_allclose(result.z[0] ** 2, result.chisq[0], rtol=1e-12)


def test_u_and_variance_from_definition():
    # brute force over distinct event times: hypergeometric mean and variance of arm-1 deaths
    _, time, event, arm = CASES[5]
    u = v = 0.0
    for t in np.unique(time[event]):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & (arm == 1)).sum()
        d = ((time == t) & event).sum()
        d1 = ((time == t) & event & (arm == 1)).sum()
        u += d1 - d * n1 / n
        if n > 1:
            v += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    result = logrank_test(time, event, arm)
    np.testing.assert_allclose(result.u[0], u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.variance[0], v, rtol=1e-12)
    np.testing.assert_allclose(result.observed_1[0], (event & (arm == 1)).sum())
    np.testing.assert_allclose(result.expected_1[0], result.observed_1[0] - u, rtol=1e-12)


def test_direction():
    # arm 1 lives clearly longer: fewer deaths than expected, U < 0, direction -1
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    event = np.ones(10, bool)
    arm = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    assert logrank_test(time, event, arm).direction[0] == -1
    assert logrank_test(time, event, 1 - arm).direction[0] == 1
    # a boolean mask marks arm 1
    assert logrank_test(time, event, arm == 1).direction[0] == -1


def test_vectorized_equals_single_dataset():
    time, event, arm = small_trials(seed=17, n_sets=30)
    batch = logrank_test(time, event, arm)
    for r in range(30):
        one = logrank_test(time[r], event[r], arm[r])
        for field in ("u", "variance", "chisq", "p_value", "direction"):
            np.testing.assert_allclose(getattr(batch, field)[r], getattr(one, field)[0], rtol=1e-14)


def test_undefined_without_information():
    time = np.array([1.0, 2.0, 3.0, 4.0])
    no_events = logrank_test(time, np.zeros(4, bool), np.array([0, 0, 1, 1]))
    assert np.isnan(no_events.p_value[0]) and no_events.direction[0] == 0
    one_arm = logrank_test(time, np.ones(4, bool), np.array([0, 0, 0, 0]))
    assert np.isnan(one_arm.chisq[0])
