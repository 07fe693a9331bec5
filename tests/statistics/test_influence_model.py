"""Influence integrands checked by simulation.

Simulate many trials with uniform accrual, minimum follow-up and dropout, reduce each to the
statistics a paper reports with resurv's estimators, and compare the empirical means, variances
and covariances with the model values and the covariance formula
Cov(X, Y) = Σ_j ∫ a_j^X a_j^Y π_j h_j du of the statistical design (section 4).

Tolerance at n = 200 per arm, R = 4000 trials: each element may differ by 4 Monte Carlo standard
errors (SE of a sample covariance ≈ √((σ_X²σ_Y² + σ_XY²)/R), about 2.2% of a variance) plus 4% of
√(σ_X²σ_Y²) for the O(1/n) error of the first-order (asymptotic) expansion at n = 200. A wrong
integrand (a missing factor, a wrong limit, a wrong sign) is off by far more.
"""

import numpy as np
import pytensor
import pytest
from summary_curves import Weibull

from resurv.simulation.simulate import simulate_trials
from resurv.statistics import hr, landmark, logrank, median, rmean
from resurv.statistics.base import TrialModel, covariance_pieces
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.landmark import km_landmark
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.published import (
    HazardRatio,
    Landmark,
    LogRank,
    MedianReached,
    RestrictedMean,
)
from resurv.statistics.rmean import km_restricted_mean

A, F, RHO = 24.0, 12.0, 0.02
T_STAR, TAU = 9.0, 30.0
LABELS = ["log_median_0", "log_median_1", "landmark_0", "rmean_1", "logrank_z", "log_hr"]


def _inverse(curve):
    scale = curve.median / np.log(2.0) ** (1.0 / curve.shape)
    return lambda h: scale * h ** (1.0 / curve.shape)


def simulated_statistics(rng, curves, n, n_trials):
    """(R, 6) statistics; the mean of arm 1 is the KM area up to a fixed τ (administrative cut)."""
    trials = simulate_trials(
        rng, [_inverse(c) for c in curves], n, FollowUp(A, F, RHO), n_trials=n_trials
    )
    time, event, arm = trials.time, trials.event, trials.arm
    med = km_median(time, event, arm)
    land = km_landmark(time, event, T_STAR, arm)
    cut_time = np.minimum(time, TAU)
    cut_event = event & (time <= TAU)
    area = km_restricted_mean(cut_time, cut_event, arm)
    lr = logrank_test(time, event, arm)
    cox = cox_two_arm(time, event, arm)
    out = np.column_stack(
        [
            np.log(med.median[:, 0]),
            np.log(med.median[:, 1]),
            land.survival[:, 0],
            area.rmean[:, 1],
            lr.z,
            cox.log_hr,
        ]
    )
    usable = med.reached.all(axis=1) & (area.tau[:, 1] == TAU) & np.isfinite(out).all(axis=1)
    return out, usable


def model_moments(curves, n):
    trial = TrialModel(curves, n, FollowUp(A, F, RHO), influence="full")
    stats_ = [
        median.model_statistic(trial, MedianReached(0, 1.0)),
        median.model_statistic(trial, MedianReached(1, 1.0)),
        landmark.model_statistic(trial, Landmark(0, T_STAR, 0.5)),
        rmean.model_statistic(trial, RestrictedMean(1, 1.0), TAU, largest_time=False),
        logrank.model_statistic(trial, LogRank(0.5)),
        hr.model_statistic(trial, HazardRatio(1.0)),
    ]
    mean = np.stack([s.mean for s in stats_])
    fn = pytensor.function(
        [], [pytensor.tensor.stack(list(mean)), covariance_pieces(trial, stats_)]
    )
    return fn()


@pytest.mark.slow
@pytest.mark.parametrize(
    "curves",
    [
        (Weibull(14.0, 1.3), Weibull(14.0 * 1.3, 1.3)),  # PH, HR = 1.3^-1.3
        (Weibull(14.0, 1.3), Weibull(20.0, 0.8)),  # crossing hazards
    ],
    ids=["ph", "non-ph"],
)
def test_covariance_formula_matches_simulation_at_n200(curves):
    rng = np.random.default_rng(20261128)
    n, n_trials = (200, 200), 4000
    sims, usable = simulated_statistics(rng, curves, n, n_trials)
    assert usable.mean() > 0.99
    sims = sims[usable]
    r = sims.shape[0]
    model_mean, model_cov = model_moments(curves, n)
    emp_cov = np.cov(sims, rowvar=False)
    sd = np.sqrt(np.diag(emp_cov))
    # means: the O(1/n) bias of a statistic is a few % of its SD
    z_mean = (sims.mean(axis=0) - model_mean) / (sd / np.sqrt(r))
    bias_in_sd = (sims.mean(axis=0) - model_mean) / sd
    assert np.all(np.abs(bias_in_sd) < 4 / np.sqrt(r) + 0.1), (z_mean, bias_in_sd)
    scale = np.sqrt(np.outer(np.diag(model_cov), np.diag(model_cov)))
    mc_se = np.sqrt((np.outer(np.diag(emp_cov), np.diag(emp_cov)) + emp_cov**2) / r)
    excess = np.abs(emp_cov - model_cov) - (4 * mc_se + 0.04 * scale)
    assert np.all(excess < 0), (LABELS, emp_cov, model_cov, (emp_cov - model_cov) / mc_se)
