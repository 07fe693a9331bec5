import logging

import numpy as np
import pytest
from estimator_cases import (
    all_cases,
    lifelines_cox,
    numpy_warns,  # noqa: F401  (autouse fixture)
    small_trials,
)

from resurv.statistics.cox import cox_two_arm, efron_log_likelihood

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_lifelines(case):
    _, time, event, arm = case
    result = cox_two_arm(time, event, arm)
    reference = lifelines_cox(time, event, arm)
    assert result.converged[0]
    np.testing.assert_allclose(result.log_hr[0], reference.params_["arm"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.se[0], reference.standard_errors_["arm"], rtol=0, atol=1e-8)
    loglik, score, _ = efron_log_likelihood(time, event, arm, result.log_hr)
    np.testing.assert_allclose(loglik[0], reference.log_likelihood_, rtol=1e-12)
    assert abs(score[0]) < 1e-9


def test_information_is_minus_second_derivative():
    _, time, event, arm = CASES[4]
    beta = np.array([-0.7, 0.0, 0.4, 2.0])
    step = 1e-4
    _, score, info = efron_log_likelihood(np.tile(time, (4, 1)), event, arm, beta)
    up, _, _ = efron_log_likelihood(np.tile(time, (4, 1)), event, arm, beta + step)
    mid, _, _ = efron_log_likelihood(np.tile(time, (4, 1)), event, arm, beta)
    down, _, _ = efron_log_likelihood(np.tile(time, (4, 1)), event, arm, beta - step)
    np.testing.assert_allclose(score, (up - down) / (2 * step), rtol=1e-6)
    np.testing.assert_allclose(info, -(up - 2 * mid + down) / step**2, rtol=1e-4)


def test_vectorized_equals_single_dataset():
    time, event, arm = small_trials(seed=19, n_sets=30)
    batch = cox_two_arm(time, event, arm)
    for r in range(30):
        one = cox_two_arm(time[r], event[r], arm[r])
        np.testing.assert_allclose(batch.log_hr[r], one.log_hr[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(batch.se[r], one.se[0], rtol=1e-10)


@pytest.mark.parametrize(
    "time, event, arm",
    [
        # no events
        ([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 0], [0, 0, 1, 1]),
        # all events in arm 0
        ([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0], [0, 0, 1, 1]),
        # arm 1 dies at 1 and 2, arm 0 only after arm 1 has left the risk set: no arm-0 death
        # while arm 1 is at risk, so the partial likelihood increases without bound in beta
        ([5.0, 6.0, 1.0, 2.0], [1, 1, 1, 1], [0, 0, 1, 1]),
        # one arm empty
        ([1.0, 2.0, 3.0], [1, 1, 1], [0, 0, 0]),
    ],
)
def test_no_finite_estimate_gives_nan(time, event, arm):
    result = cox_two_arm(np.array(time), np.array(event), np.array(arm))
    assert np.isnan(result.log_hr[0]) and np.isnan(result.se[0]) and not result.converged[0]


def test_separated_case_is_monotone():
    # arm 1 dies at 1 and 2, arm 0 at 5 and 6: no arm-0 death while arm 1 is at risk
    time, event, arm = np.array([5.0, 6.0, 1.0, 2.0]), np.ones(4, bool), np.array([0, 0, 1, 1])
    loglik, score, _ = efron_log_likelihood(
        np.tile(time, (3, 1)), event, arm, np.array([1.0, 5.0, 20.0])
    )
    assert np.all(np.diff(loglik) > 0) and np.all(score > 0)


def test_large_but_finite_effect_converges():
    # one arm-0 death while arm 1 is at risk keeps the estimate finite but large
    time = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0])
    event = np.ones(7, bool)
    arm = np.array([1, 1, 0, 1, 0, 0, 0])
    result = cox_two_arm(time, event, arm)
    reference = lifelines_cox(time, event, arm)
    assert result.converged[0] and result.log_hr[0] > 1.5
    np.testing.assert_allclose(result.log_hr[0], reference.params_["arm"], atol=1e-8)


def test_nonconvergence_is_logged(caplog):
    _, time, event, arm = CASES[0]
    with caplog.at_level(logging.WARNING, logger="resurv.statistics.cox"):
        result = cox_two_arm(time, event, arm, max_iter=1)
    assert not result.converged[0] and np.isnan(result.log_hr[0])
    assert "did not converge" in caplog.text
