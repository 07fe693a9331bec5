import numpy as np
import pytest
from estimator_cases import (
    all_cases,
    lifelines_km,
    numpy_warns,  # noqa: F401  (autouse fixture)
    small_trials,
)

from resurv.statistics.landmark import km_landmark

CASES = all_cases()


@pytest.mark.parametrize("case", CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_matches_lifelines_and_greenwood(case):
    _, time, event, arm = case
    for t_star in np.quantile(time, [0.1, 0.5, 0.9]):
        result = km_landmark(time, event, t_star, arm)
        for j in (0, 1):
            kmf = lifelines_km(time[arm == j], event[arm == j])
            survival = kmf.survival_function_at_times(t_star).iloc[0]
            np.testing.assert_allclose(result.survival[0, j], survival, rtol=0, atol=1e-12)
            # Greenwood from lifelines' event table, summed here
            table = kmf.event_table
            table = table[(table.index <= t_star) & (table["observed"] > 0)]
            n, d = table["at_risk"].to_numpy(float), table["observed"].to_numpy(float)
            keep = n > d
            greenwood = np.sum(d[keep] / (n[keep] * (n[keep] - d[keep])))
            np.testing.assert_allclose(
                result.se[0, j], survival * np.sqrt(greenwood), rtol=1e-12, atol=1e-15
            )


def test_death_at_landmark_counts_and_per_trial_times():
    time = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    event = np.ones((2, 4), bool)
    result = km_landmark(time, event, np.array([2.0, 1.999]))
    np.testing.assert_allclose(result.survival, [0.5, 0.75])
    # Greenwood at t = 2: 0.5 * sqrt(1/(4*3) + 1/(3*2)) = 0.5 * sqrt(0.25)
    np.testing.assert_allclose(result.se[0], 0.25, rtol=1e-14)


def test_vectorized_equals_single_dataset():
    time, event, arm = small_trials(seed=23, n_sets=20)
    batch = km_landmark(time, event, 6.0, arm)
    assert batch.survival.shape == (20, 2)
    for r in range(20):
        one = km_landmark(time[r], event[r], 6.0, arm[r])
        np.testing.assert_array_equal(batch.survival[r], one.survival[0])
        np.testing.assert_array_equal(batch.se[r], one.se[0])


@pytest.mark.parametrize("case", CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_loglog_limits_match_lifelines(case):
    """The log(-log) limits equal lifelines' default ("exponential Greenwood") interval."""
    from resurv.statistics.landmark import loglog_interval

    _, time, event, arm = case
    for t_star in np.quantile(time, [0.1, 0.5, 0.9]):
        result = km_landmark(time, event, t_star, arm)
        lower, upper = loglog_interval(result.survival[0], result.se[0], 1.959963984540054)
        for j in (0, 1):
            kmf = lifelines_km(time[arm == j], event[arm == j])
            ci = kmf.confidence_interval_survival_function_
            row = ci[ci.index <= t_star].iloc[-1]
            np.testing.assert_allclose(lower[j], row.iloc[0], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(upper[j], row.iloc[1], rtol=1e-9, atol=1e-12)


def test_loglog_limits_at_the_ends_are_the_point():
    from resurv.statistics.landmark import loglog_interval

    lower, upper = loglog_interval(np.array([1.0, 0.0, 0.5]), np.array([0.0, 0.0, 0.1]), 1.96)
    np.testing.assert_array_equal(lower[:2], [1.0, 0.0])
    np.testing.assert_array_equal(upper[:2], [1.0, 0.0])
    assert 0.0 < lower[2] < 0.5 < upper[2] < 1.0
