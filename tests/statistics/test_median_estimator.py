from fractions import Fraction

import numpy as np
import pytest
from estimator_cases import (
    all_cases,
    exact_km,
    lifelines_km,
    numpy_warns,  # noqa: F401  (autouse fixture)
    small_trials,
)
from lifelines.utils import median_survival_times

from resurv.statistics.km import kaplan_meier
from resurv.statistics.median import km_median, log_log_band

CASES = all_cases()


def exact_median(time, event):
    """Smallest event time with the exact (rational) Kaplan–Meier value <= 1/2, else inf."""
    for t, survival in exact_km(time, event):
        if survival <= Fraction(1, 2):
            return t
    return np.inf


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_median_and_ci_match_lifelines(case):
    _, time, event, arm = case
    result = km_median(time, event, arm)
    for j in (0, 1):
        t_j, e_j = time[arm == j], event[arm == j]
        kmf = lifelines_km(t_j, e_j)
        ci = median_survival_times(kmf.confidence_interval_).to_numpy()[0]
        np.testing.assert_allclose(result.ci_low[0, j], ci[0], rtol=0, atol=1e-8)
        np.testing.assert_allclose(result.ci_high[0, j], ci[1], rtol=0, atol=1e-8)
        # the median is the smallest time with S <= 1/2 in exact arithmetic ...
        assert result.median[0, j] == exact_median(t_j, e_j)
        assert result.reached[0, j] == np.isfinite(exact_median(t_j, e_j))
        # ... which is lifelines' answer except when S is exactly 1/2 and lifelines' floating
        # point S rounds above 1/2 (it then reports the next event time)
        if result.median[0, j] != kmf.median_survival_time_:
            exact = dict(exact_km(t_j, e_j))
            assert exact[result.median[0, j]] == Fraction(1, 2)
            assert kmf.survival_function_.loc[result.median[0, j]].iloc[0] > 0.5
            assert kmf.median_survival_time_ > result.median[0, j]


def test_exactly_half_counts_as_reached():
    # 44 uncensored deaths at 1..44: S(22) = 22/44 = 1/2 exactly, but exp(Σ log) rounds above 1/2
    time = np.arange(1.0, 45.0)
    event = np.ones(44, dtype=bool)
    kmf = lifelines_km(time, event)
    assert kmf.survival_function_.loc[22.0].iloc[0] > 0.5  # lifelines' rounding
    assert kmf.median_survival_time_ == 23.0
    assert km_median(time, event).median[0] == 22.0


def test_band_matches_lifelines_confidence_interval():
    _, time, event, arm = CASES[2]
    curve = kaplan_meier(time, event, arm == 0)
    lower, upper = log_log_band(curve.survival, curve.greenwood_sum)
    kmf = lifelines_km(time[arm == 0], event[arm == 0])
    ci = kmf.confidence_interval_
    grid = ci.index.to_numpy()[1:]
    positions = np.searchsorted(curve.time[0], grid, side="right") - 1
    np.testing.assert_allclose(lower[0, positions, 0], ci.iloc[1:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper[0, positions, 0], ci.iloc[1:, 1], rtol=0, atol=1e-12)


def test_not_reached_and_all_censored():
    time = np.array([3.0, 5.0, 8.0, 9.0, 12.0])
    result = km_median(time, [1, 0, 0, 0, 0])
    assert not result.reached[0] and np.isinf(result.median[0]) and np.isinf(result.ci_high[0])
    result = km_median(time, np.zeros(5, bool))
    assert not result.reached[0] and np.isinf(result.ci_low[0])


def test_all_die_ci_upper_is_last_time():
    # with every patient dead the upper band drops to 0 at the last death
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    result = km_median(time, np.ones(6, bool))
    kmf = lifelines_km(time, np.ones(6, bool))
    ci = median_survival_times(kmf.confidence_interval_).to_numpy()[0]
    assert result.median[0] == 3.0
    assert (result.ci_low[0], result.ci_high[0]) == (ci[0], ci[1])


def test_vectorized_equals_single_dataset():
    time, event, arm = small_trials(seed=11, n_sets=30)
    batch = km_median(time, event, arm)
    assert batch.median.shape == (30, 2)
    for r in range(30):
        one = km_median(time[r], event[r], arm[r])
        for field in ("median", "reached", "ci_low", "ci_high"):
            np.testing.assert_array_equal(getattr(batch, field)[r], getattr(one, field)[0])


def test_alpha_changes_width():
    _, time, event, arm = CASES[0]
    wide = km_median(time, event, arm, alpha=0.01)
    narrow = km_median(time, event, arm, alpha=0.5)
    assert np.all(wide.ci_low <= narrow.ci_low)


def test_exact_half_cases_in_random_data():
    # integer times with moderate censoring hit S = 1/2 exactly fairly often; where lifelines'
    # rounding then moves the median, resurv keeps the exact-arithmetic answer
    rng = np.random.default_rng(1)
    arm = np.repeat([0, 1], [15, 12])
    moved = 0
    for _ in range(30):
        time = np.maximum(np.round(rng.exponential(10, 27)), 0.5)
        event = rng.random(27) < 0.5
        result = km_median(time, event, arm)
        for j in (0, 1):
            t_j, e_j = time[arm == j], event[arm == j]
            assert result.median[0, j] == exact_median(t_j, e_j)
            moved += result.median[0, j] != lifelines_km(t_j, e_j).median_survival_time_
    assert moved >= 1
