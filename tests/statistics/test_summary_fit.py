"""End to end: fit an exponential two-arm model to the published summaries of one trial."""

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from summary_curves import Exponential

from resurv.simulation.simulate import simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.likelihood import add_summary_likelihood
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.published import LogRank, MedianReached

A, F = 30.0, 18.0


@pytest.mark.slow
def test_large_trial_summaries_recover_log_hr():
    rng = np.random.default_rng(11)
    median0, log_hr_true, n = 14.0, np.log(0.7), (250, 250)
    rates = [np.log(2) / median0, np.log(2) / median0 * np.exp(log_hr_true)]
    trials = simulate_trials(
        rng, [lambda h, r=r: h / r for r in rates], n, FollowUp(A, F, 0.0), n_trials=1
    )
    med = km_median(trials.time, trials.event, trials.arm)
    lr = logrank_test(trials.time, trials.event, trials.arm)
    statistics = [
        MedianReached(0, float(med.median[0, 0])),
        MedianReached(1, float(med.median[0, 1])),
        LogRank(float(lr.p_value[0]), int(lr.direction[0])),
    ]
    with pm.Model():
        log_m0 = pm.Normal("log_m0", np.log(12.0), 1.5)
        log_hr = pm.Normal("log_hr", 0.0, 1.0)
        m0 = pt.exp(log_m0)
        curves = [Exponential(m0), Exponential(m0 * pt.exp(-log_hr))]
        add_summary_likelihood("os", curves, n, FollowUp(A, F, 0.0), statistics, n_nodes=24)
        idata = pm.sample(
            draws=400,
            tune=400,
            chains=2,
            nuts_sampler="nutpie",
            random_seed=3,
            progressbar=False,
        )
    draws = idata.posterior["log_hr"].values.ravel()
    low, high = np.quantile(draws, [0.025, 0.975])
    assert low < log_hr_true < high
    assert high - low < 0.6  # about 4/√(events), the information of ~330 deaths
    assert int(idata.sample_stats["diverging"].sum()) == 0
