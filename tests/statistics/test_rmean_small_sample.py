"""The SPSS-style mean at the bundled study's size: model moments against simulation.

The summary likelihood treats the arm's largest observed time τ as latent with its exact law and
gives the KM area up to τ its mean m(τ) and variance v(τ) given that τ is the largest observed
time (:func:`resurv.statistics.rmean.conditional_area_moments`). The marginal variance of the SPSS
mean under the model, E_τ v(τ) + Var_τ m(τ), must match the variance of the estimator over
simulated trials. (With the unconditional μ(τ) = ∫₀^τ S and influence variance it was 18-33%
too small at n = 15; docs/statistics.md, T3.)
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from summary_curves import Weibull

from resurv.simulation.simulate import simulate_trials
from resurv.statistics import rmean
from resurv.statistics.base import TrialModel, covariance_pieces
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import RestrictedMean
from resurv.statistics.rmean import km_restricted_mean

A, F, N = 60.0, 20.0, 15


def _tau_quantiles(curve, k):
    """Equal-probability quantiles of τ, P(τ ≤ x) = (1 − S G)^n, by bisection."""
    target = 1.0 - ((np.arange(k) + 0.5) / k) ** (1.0 / N)
    lo, hi = np.zeros(k), np.full(k, A + F)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = curve.survival_np(mid) * np.clip((A + F - mid) / A, 0.0, 1.0) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


def _model_moments(curve):
    """E[mean] = E_τ m(τ) and Var[mean] = E_τ v(τ) + Var_τ m(τ) under the model."""
    tau = pt.dscalar("tau")
    trial = TrialModel((curve, curve), (N, N), FollowUp(A, F, 0.0))
    stat = rmean.model_statistic(trial, RestrictedMean(0, 1.0), tau)
    fn = pytensor.function([tau], [stat.mean, covariance_pieces(trial, [stat])[0, 0]])
    mu, v = np.array([fn(t) for t in _tau_quantiles(curve, 200)]).T
    return mu.mean(), v.mean() + mu.var()


@pytest.mark.parametrize(("median_months", "shape"), [(30.0, 1.2), (12.0, 1.0)])
def test_model_variance_of_the_spss_mean_matches_simulation_at_n15(median_months, shape):
    curve = Weibull(median_months, shape)
    scale = median_months / np.log(2.0) ** (1.0 / shape)
    rng = np.random.default_rng(20261128)
    trials = simulate_trials(
        rng,
        [lambda h: scale * h ** (1.0 / shape)] * 2,
        (N, N),
        FollowUp(A, F, 0.0),
        n_trials=10_000,
    )
    means = km_restricted_mean(trials.time, trials.event, trials.arm).rmean.ravel()
    model_mean, model_var = _model_moments(curve)
    # 20,000 arms: the variance ratio has a sampling SD near 0.015
    assert means.var(ddof=1) / model_var == pytest.approx(1.0, abs=0.08)
    # mean: 4 Monte Carlo SEs plus 5% of an SD for the O(1/n) bias of the linearisation
    sd = np.sqrt(model_var)
    assert abs(means.mean() - model_mean) < 4 * sd / np.sqrt(means.size) + 0.05 * sd, (
        means.mean(),
        model_mean,
    )
