import csv

import numpy as np
import pytest
from scipy import integrate

from resurv.simulation.simulate import SimulatedTrials, simulate_trials, write_ipd_csv
from resurv.statistics.followup import FollowUp
from resurv.statistics.km import kaplan_meier

# Curves written out here, independent of resurv.families.
RATE = np.log(2.0) / 10.0  # exponential, median 10 months
SHAPE, SCALE = 1.6, 14.0 / np.log(2.0) ** (1 / 1.6)  # Weibull, median 14 months
CURE_MAX, CURE_SCALE = 1.2, 6.0  # H(t) = c (1 - exp(-t/s)): plateau S(inf) = exp(-c)


def exp_survival(t):
    return np.exp(-RATE * t)


def exp_density(t):
    return RATE * np.exp(-RATE * t)


def exp_inverse(h):
    return h / RATE


def weibull_survival(t):
    return np.exp(-((t / SCALE) ** SHAPE))


def weibull_density(t):
    return SHAPE / SCALE * (t / SCALE) ** (SHAPE - 1) * weibull_survival(t)


def weibull_inverse(h):
    return SCALE * h ** (1.0 / SHAPE)


def cure_density(t):
    hazard = CURE_MAX / CURE_SCALE * np.exp(-t / CURE_SCALE)
    return hazard * np.exp(-CURE_MAX * (1 - np.exp(-t / CURE_SCALE)))


def cure_inverse(h):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h < CURE_MAX, -CURE_SCALE * np.log1p(-h / CURE_MAX), np.inf)


def censoring_survival(t, accrual, follow, dropout):
    return np.clip((accrual + follow - t) / accrual, 0.0, 1.0) * np.exp(-dropout * t)


def expected_event_fraction(density, accrual, follow, dropout):
    """∫ f(t) G(t) dt over [0, A + F]."""
    value, _ = integrate.quad(
        lambda t: density(t) * censoring_survival(t, accrual, follow, dropout),
        0.0,
        accrual + follow,
        points=[follow],
        limit=200,
    )
    return value


@pytest.mark.parametrize("dropout", [0.0, 0.02])
def test_event_fraction_matches_integral(rng, dropout):
    accrual, follow, n_trials = 24.0, 12.0, 20000
    trials = simulate_trials(
        rng,
        [exp_inverse, weibull_inverse],
        (15, 12),
        FollowUp(accrual, follow, dropout),
        n_trials=n_trials,
    )
    for j, density in enumerate([exp_density, weibull_density]):
        observed = trials.event[:, trials.arm == j].mean()
        expected = expected_event_fraction(density, accrual, follow, dropout)
        n_patients = n_trials * (trials.arm == j).sum()
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n_patients)


def test_plateau_gives_infinite_times_censored(rng):
    trials = simulate_trials(
        rng, [cure_inverse, exp_inverse], (40, 10), FollowUp(12.0, 60.0), n_trials=5000
    )
    cured = trials.event[:, trials.arm == 0]
    expected = expected_event_fraction(cure_density, 12.0, 60.0, 0.0)
    assert abs(cured.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / cured.size)
    assert np.all(np.isfinite(trials.time)) and np.all(trials.time <= 72.0)


def test_km_of_simulated_trials_is_unbiased_for_true_survival(rng):
    n_trials = 2000
    trials = simulate_trials(
        rng, [exp_inverse, weibull_inverse], (100, 100), FollowUp(24.0, 24.0), n_trials=n_trials
    )
    times = np.array([3.0, 8.0, 14.0, 24.0])
    survival, _ = kaplan_meier(trials.time, trials.event, trials.arm).at(times)
    for j, truth in enumerate([exp_survival, weibull_survival]):
        mean = survival[:, :, j].mean(axis=0)
        se = survival[:, :, j].std(axis=0) / np.sqrt(n_trials)
        assert np.all(np.abs(mean - truth(times)) < 4 * se + 1e-3)


def test_design_values_per_draw(rng):
    accrual = np.tile([6.0, 48.0], 5000)
    follow = np.tile([2.0, 30.0], 5000)
    trials = simulate_trials(rng, [exp_inverse, exp_inverse], (15, 12), FollowUp(accrual, follow))
    assert trials.time.shape == (10000, 27) and trials.event.dtype == bool
    np.testing.assert_array_equal(trials.arm, [0] * 15 + [1] * 12)
    for k in (0, 1):
        rows = slice(k, None, 2)
        expected = expected_event_fraction(exp_density, accrual[k], follow[k], 0.0)
        observed = trials.event[rows].mean()
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / (5000 * 27))
        assert trials.time[rows].max() <= accrual[k] + follow[k]


def test_observed_time_is_event_time_when_event(rng):
    exposures = {}

    def recording_inverse(h):
        exposures["h"] = h.copy()
        return exp_inverse(h)

    trials = simulate_trials(
        rng, [exp_inverse, recording_inverse], (3, 4), FollowUp(10.0, 5.0), n_trials=50
    )
    event_time = exp_inverse(exposures["h"])
    arm1 = trials.arm == 1
    observed = trials.time[:, arm1]
    np.testing.assert_array_equal(
        observed[trials.event[:, arm1]], event_time[trials.event[:, arm1]]
    )
    assert np.all(observed[~trials.event[:, arm1]] < event_time[~trials.event[:, arm1]])


def test_bad_designs_raise(rng):
    with pytest.raises(ValueError, match="n_trials"):
        simulate_trials(rng, [exp_inverse, exp_inverse], (3, 3), FollowUp(10.0, 5.0))
    with pytest.raises(ValueError, match="inconsistent"):
        simulate_trials(rng, [exp_inverse, exp_inverse], (3, 3), FollowUp(np.ones(4), np.ones(5)))
    with pytest.raises(ValueError, match="shape"):
        simulate_trials(
            rng, [exp_inverse, lambda h: h[:, :1]], (3, 3), FollowUp(10.0, 5.0), n_trials=2
        )
    with pytest.raises(ValueError):
        simulate_trials(rng, [exp_inverse, exp_inverse], (3, 3), FollowUp(0.0, 5.0), n_trials=2)


def test_write_ipd_csv_round_trip(rng, tmp_path):
    trials = simulate_trials(
        rng, [exp_inverse, weibull_inverse], (15, 12), FollowUp(24.0, 12.0), n_trials=3
    )
    path = write_ipd_csv(tmp_path / "trial.csv", trials.row(1))
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time", "event", "arm"] and len(rows) == 27
    np.testing.assert_array_equal([float(r["time"]) for r in rows], trials.time[1])
    np.testing.assert_array_equal([r["event"] == "1" for r in rows], trials.event[1])
    np.testing.assert_array_equal([int(r["arm"]) for r in rows], trials.arm)
    with pytest.raises(ValueError):
        write_ipd_csv(tmp_path / "all.csv", trials)
    assert isinstance(trials.row(0), SimulatedTrials) and trials.row(0).n_trials == 1
