import numpy as np
import pytest
from estimator_cases import (
    all_cases,
    exact_km,
    lifelines_km,
    numpy_warns,  # noqa: F401  (autouse fixture)
    small_trials,
)

from resurv.statistics.km import as_trials, kaplan_meier, kaplan_meier_table, risk_table

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_survival_and_greenwood_match_lifelines(case):
    _, time, event, arm = case
    curve = kaplan_meier(time, event, arm)
    for j in (0, 1):
        kmf = lifelines_km(time[arm == j], event[arm == j])
        grid = kmf.survival_function_.index.to_numpy()
        survival, variance = curve.at(grid)
        np.testing.assert_allclose(
            survival[0, :, j], kmf.survival_function_.iloc[:, 0].to_numpy(), rtol=0, atol=1e-12
        )
        # lifelines keeps the Greenwood sum Σ d/(n(n-d)) (terms with n = d dropped)
        greenwood_sum = kmf._cumulative_sq_.reindex(grid).to_numpy()
        expected_var = kmf.survival_function_.iloc[:, 0].to_numpy() ** 2 * greenwood_sum
        np.testing.assert_allclose(variance[0, :, j], expected_var, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("case", CASES[3:13], ids=[c[0] for c in CASES[3:13]])
def test_survival_equals_exact_product_limit(case):
    _, time, event, arm = case
    for j in (0, 1):
        exact = exact_km(time[arm == j], event[arm == j])
        times = np.array([t for t, _ in exact])
        values = np.array([float(s) for _, s in exact])
        survival, _ = kaplan_meier(time, event, arm == j).at(times)
        np.testing.assert_allclose(survival[0], values, rtol=0, atol=1e-14)


def test_table_matches_lifelines_event_table():
    _, time, event, arm = CASES[1]
    table = kaplan_meier_table(time[arm == 1], event[arm == 1])
    kmf = lifelines_km(time[arm == 1], event[arm == 1])
    events = kmf.event_table[kmf.event_table["observed"] > 0]
    np.testing.assert_array_equal(table["time"], events.index.to_numpy())
    np.testing.assert_array_equal(table["n_at_risk"], events["at_risk"].to_numpy())
    np.testing.assert_array_equal(table["n_events"], events["observed"].to_numpy())
    np.testing.assert_allclose(
        table["survival"], kmf.survival_function_.loc[events.index].iloc[:, 0], atol=1e-14
    )


def test_vectorized_equals_single_dataset():
    time, event, arm = small_trials(seed=3, n_sets=25)
    times = np.array([0.0, 0.5, 1.0, 3.0, 7.5, 12.0, 40.0])
    survival, variance = kaplan_meier(time, event, arm).at(times)
    for r in range(time.shape[0]):
        one_s, one_v = kaplan_meier(time[r], event[r], arm[r]).at(times)
        np.testing.assert_array_equal(survival[r], one_s[0])
        np.testing.assert_array_equal(variance[r], one_v[0])
    # per-trial evaluation times
    per_trial = np.broadcast_to(times, (time.shape[0], times.size)) + np.arange(25)[:, None]
    survival2, _ = kaplan_meier(time, event, arm).at(per_trial)
    for r in range(time.shape[0]):
        one_s, _ = kaplan_meier(time[r], event[r], arm[r]).at(per_trial[r])
        np.testing.assert_array_equal(survival2[r], one_s[0])


def test_mask_and_arm_codes_agree():
    time, event, arm = small_trials(seed=5, n_sets=10)
    times = np.linspace(0, 30, 13)
    by_arm, _ = kaplan_meier(time, event, arm).at(times)
    masked, _ = kaplan_meier(time, event, arm == 1).at(times)
    pooled, _ = kaplan_meier(time, event).at(times)
    assert by_arm.shape == (10, 13, 2) and masked.shape == (10, 13) and pooled.shape == (10, 13)
    np.testing.assert_array_equal(by_arm[..., 1], masked)
    # the pooled curve is the KM of everyone: check one row against lifelines
    kmf = lifelines_km(time[4], event[4])
    np.testing.assert_allclose(pooled[4], kmf.survival_function_at_times(times), atol=1e-12)


def test_ties_censored_at_event_time_stay_at_risk():
    # 4 patients: death at 2, censored at 2, deaths at 3 and 5
    table = risk_table([2.0, 2.0, 3.0, 5.0], [1, 0, 1, 1])
    ends = table.n_events[0, :, 0] > 0
    np.testing.assert_array_equal(table.n_at_risk[0, ends, 0], [4, 2, 1])
    survival, variance = kaplan_meier([2.0, 2.0, 3.0, 5.0], [1, 0, 1, 1]).at([1.9, 2.0, 3.0, 5.0])
    # S = 3/4, 3/4 * 1/2, 0; Greenwood var at 2: (3/4)^2 * 1/(4*3)
    np.testing.assert_allclose(survival[0], [1.0, 0.75, 0.375, 0.0], atol=1e-15)
    np.testing.assert_allclose(variance[0, 1], 0.75**2 / 12, rtol=1e-14)


def test_empty_arm_gives_flat_curve():
    survival, _ = kaplan_meier([1.0, 2.0, 3.0], [1, 1, 0], np.array([0, 0, 0])).at([5.0])
    assert survival[0, 0, 0] == pytest.approx(1.0 / 3.0)
    assert survival[0, 0, 1] == 1.0


@pytest.mark.parametrize(
    "time, event, arm",
    [
        ([1.0, -2.0], [1, 1], None),
        ([1.0, np.nan], [1, 1], None),
        ([1.0, 2.0], [1, 2], None),
        ([1.0, 2.0], [1, 1], [0, 2]),
        (np.ones((2, 2, 2)), np.ones((2, 2, 2)), None),
    ],
)
def test_bad_input_raises(time, event, arm):
    with pytest.raises(ValueError):
        as_trials(time, event, arm)
