import numpy as np
import pytest
from estimator_cases import (
    all_cases,
    lifelines_km,
    numpy_warns,  # noqa: F401  (autouse fixture)
    small_trials,
)
from lifelines.utils import restricted_mean_survival_time

from resurv.statistics.rmean import km_restricted_mean

CASES = all_cases()


def test_hand_example_last_observation_censored():
    # t = 2, 3+, 5, 5, 8+ (+ = censored)
    #   t=2: n=5, d=1 -> S = 4/5 = 0.8
    #   t=5: n=3, d=2 -> S = 0.8 * 1/3 = 0.2667; tau = 8 (largest time, censored)
    # area = 2*1 + (5-2)*0.8 + (8-5)*0.8/3 = 2 + 2.4 + 0.8 = 5.2
    # A(2) = 2.4 + 0.8 = 3.2, A(5) = 0.8
    # SE^2 = 3.2^2 * 1/(5*4) + 0.8^2 * 2/(3*1) = 0.512 + 0.426667 = 0.938667
    result = km_restricted_mean([2.0, 3.0, 5.0, 5.0, 8.0], [1, 0, 1, 1, 0])
    assert result.tau[0] == 8.0
    assert result.rmean[0] == pytest.approx(5.2, rel=1e-14)
    assert result.se[0] == pytest.approx(np.sqrt(0.512 + 1.28 / 3.0), rel=1e-14)


def test_hand_example_last_observation_death():
    # t = 1, 3, 4+, 6: S = 0.75 after 1, 0.5 after 3, 0 after 6 (n = d = 1: term skipped)
    # area = 1 + 2*0.75 + 3*0.5 = 4.0 (= the ordinary KM mean 1*.25 + 3*.25 + 6*.5)
    # A(1) = 3.0, A(3) = 1.5: SE^2 = 9/(4*3) + 2.25/(3*2) = 0.75 + 0.375 = 1.125
    result = km_restricted_mean([1.0, 3.0, 4.0, 6.0], [1, 1, 0, 1])
    assert result.tau[0] == 6.0
    assert result.rmean[0] == pytest.approx(4.0, rel=1e-14)
    assert result.se[0] == pytest.approx(np.sqrt(1.125), rel=1e-14)


def miller_reference(time, event):
    """R survival's print.survfit computation (rmean = "individual"), written out directly."""
    times = np.unique(time)
    surv, hh = [], []
    s = 1.0
    for t in times:
        n = np.sum(time >= t)
        d = np.sum((time == t) & event)
        s *= 1.0 - d / n
        surv.append(s)
        hh.append(0.0 if n == d else d / (n * (n - d)))
    tau = times.max()
    widths = np.diff(np.concatenate([[0.0], times, [tau]]))
    rectangles = widths * np.concatenate([[1.0], surv])
    # A_i = area from times[i] to tau = sum of rectangles after position i
    after = np.array([rectangles[i + 1 :].sum() for i in range(times.size)])
    return rectangles.sum(), np.sqrt(np.sum(after**2 * np.array(hh))), tau


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_reference_and_lifelines_area(case):
    _, time, event, arm = case
    result = km_restricted_mean(time, event, arm)
    for j in (0, 1):
        t_j, e_j = time[arm == j], event[arm == j]
        mean, se, tau = miller_reference(t_j, e_j)
        assert result.tau[0, j] == tau
        np.testing.assert_allclose(result.rmean[0, j], mean, rtol=1e-12)
        np.testing.assert_allclose(result.se[0, j], se, rtol=1e-10)
        area = restricted_mean_survival_time(lifelines_km(t_j, e_j), t=tau)
        np.testing.assert_allclose(result.rmean[0, j], area, rtol=1e-10)


def test_vectorized_equals_single_dataset():
    time, event, arm = small_trials(seed=13, n_sets=30)
    batch = km_restricted_mean(time, event, arm)
    for r in range(30):
        one = km_restricted_mean(time[r], event[r], arm[r])
        np.testing.assert_allclose(batch.rmean[r], one.rmean[0], rtol=1e-14)
        np.testing.assert_allclose(batch.se[r], one.se[0], rtol=1e-14)
        np.testing.assert_array_equal(batch.tau[r], one.tau[0])


def test_empty_arm_is_nan_and_mask_works():
    time = np.array([1.0, 2.0, 4.0])
    result = km_restricted_mean(time, [1, 0, 1], np.array([0, 0, 0]))
    assert np.isnan(result.rmean[0, 1]) and np.isnan(result.se[0, 1]) and np.isnan(result.tau[0, 1])
    masked = km_restricted_mean(time, [1, 0, 1], np.array([True, True, False]))
    # t = 1, 2+: area = 1 + (2 - 1) * 0.5 = 1.5
    assert masked.rmean[0] == pytest.approx(1.5) and masked.tau[0] == 2.0


def test_se_tracks_sampling_sd_under_simulation():
    # Exponential(median 12) with administrative censoring U(12, 36): tau is near the end of
    # follow-up, so the Miller SE should be close to the sampling SD of the estimate.
    rng = np.random.default_rng(42)
    n_trials, n = 4000, 60
    event_time = rng.exponential(12.0 / np.log(2.0), size=(n_trials, n))
    censor = rng.uniform(12.0, 36.0, size=(n_trials, n))
    result = km_restricted_mean(np.minimum(event_time, censor), event_time <= censor)
    ratio = np.sqrt(np.mean(result.se**2)) / np.std(result.rmean)
    assert 0.9 < ratio < 1.1
