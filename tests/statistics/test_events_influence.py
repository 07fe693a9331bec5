"""Event counts as statistics of the joint normal, checked against simulated trials.

Simulate 2,000 trials per design with uniform accrual, minimum follow-up and dropout, reduce each
to the arms' event counts D₀, D₁, the log-rank Z and the Cox log HR with resurv's estimators, and
compare the empirical means, variances and covariances with the model's (mean d_j, binomial
variance d_j(1 − d_j/n_j), integrands a^D_j = C_j/π_j: :mod:`resurv.statistics.events`).

Tolerance as in test_influence_model.py: each element may differ by 4 Monte Carlo SEs plus 4% of
√(σ_X²σ_Y²) (the first-order expansion at n = 200). The naive integrand a = 1 (Poisson variance
d_j, covariance ∫ a^X π h) must be rejected by the same simulation where censoring is light and
events are many (it is, in both designs: its variance is about 3 times too large): otherwise the test could not tell the two apart.
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from summary_curves import Weibull

from resurv.simulation.simulate import simulate_trials
from resurv.statistics import events, hr, logrank
from resurv.statistics.base import ArmInfluence, ModelStatistic, TrialModel, covariance_pieces
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.logrank import logrank_test
from resurv.statistics.published import HazardRatio, LogRank

N = (200, 200)
N_TRIALS = 2000
CURVES = (Weibull(10.0, 1.2), Weibull(14.0, 1.2))  # PH, HR = (10/14)^1.2
DESIGNS = {
    # staggered entry and dropout: the censoring remainder of Var D_j is not 0
    "staggered": FollowUp(24.0, 12.0, 0.02),
    # everyone followed 30 months (administrative censoring only), most patients die
    "fixed": FollowUp(0.01, 30.0, 0.0),
}


def _inverse(curve):
    scale = curve.median / np.log(2.0) ** (1.0 / curve.shape)
    return lambda h: scale * h ** (1.0 / curve.shape)


def simulated(design, seed):
    """(R, 4): D₀, D₁, log-rank Z, Cox log HR."""
    rng = np.random.default_rng(seed)
    trials = simulate_trials(rng, [_inverse(c) for c in CURVES], N, design, n_trials=N_TRIALS)
    time, event, arm = trials.time, trials.event, trials.arm
    d0 = (event & (arm == 0)).sum(axis=1)
    d1 = (event & (arm == 1)).sum(axis=1)
    return np.column_stack(
        [d0, d1, logrank_test(time, event, arm).z, cox_two_arm(time, event, arm).log_hr]
    )


def _moments(design, naive=False):
    trial = TrialModel(CURVES, N, design)
    counts = [events.model_statistic(trial, f"events_arm{j}", [j]) for j in (0, 1)]
    if naive:  # a = 1 on the arm's deaths, Poisson variance: what the brief's shortcut gives
        counts = [
            ModelStatistic(c.label, c.mean, {j: ArmInfluence(1.0, lambda u: 0.0 * u)})
            for j, c in enumerate(counts)
        ]
    stats_ = [*counts, logrank.model_statistic(trial, LogRank(0.5))]
    stats_.append(hr.model_statistic(trial, HazardRatio(1.0)))
    fn = pytensor.function(
        [], [pt.stack([s.mean for s in stats_]), covariance_pieces(trial, stats_)]
    )
    return fn()


@pytest.fixture(scope="module", params=list(DESIGNS))
def case(request):
    design = DESIGNS[request.param]
    sims = simulated(design, seed=20261208 + len(request.param))
    return request.param, sims, _moments(design), _moments(design, naive=True)


def _excess(sims, model_cov):
    emp_cov = np.cov(sims, rowvar=False)
    r = sims.shape[0]
    scale = np.sqrt(np.outer(np.diag(model_cov), np.diag(model_cov)))
    mc_se = np.sqrt((np.outer(np.diag(emp_cov), np.diag(emp_cov)) + emp_cov**2) / r)
    return np.abs(emp_cov - model_cov) - (4 * mc_se + 0.04 * scale), emp_cov, mc_se


def test_expected_events_match_simulation(case):
    _, sims, (model_mean, model_cov), _ = case
    sd = np.sqrt(np.diag(model_cov))[:2]
    se = sd / np.sqrt(sims.shape[0])
    assert np.all(np.abs(sims[:, :2].mean(axis=0) - model_mean[:2]) < 4 * se), (
        sims[:, :2].mean(axis=0),
        model_mean[:2],
    )


def test_binomial_variance_matches_simulation(case):
    name, sims, (model_mean, model_cov), _ = case
    d = model_mean[:2]
    binomial = d - d**2 / np.asarray(N)
    np.testing.assert_allclose(np.diag(model_cov)[:2], binomial, rtol=2e-3)
    emp_var = sims[:, :2].var(axis=0, ddof=1)
    # SE of a normal sample variance: σ² √(2/(R − 1))
    se = binomial * np.sqrt(2.0 / (sims.shape[0] - 1))
    assert np.all(np.abs(emp_var - binomial) < 4 * se), (name, emp_var, binomial)


def test_covariances_with_logrank_z_and_cox_log_hr_match_simulation(case):
    name, sims, (_, model_cov), _ = case
    excess, emp_cov, mc_se = _excess(sims, model_cov)
    assert np.all(excess < 0), (name, emp_cov, model_cov, (emp_cov - model_cov) / mc_se)


def test_the_naive_poisson_integrand_is_rejected(case):
    _, sims, _, (_, naive_cov) = case
    excess, _, _ = _excess(sims, naive_cov)
    # the count's variance and its covariances with Z and log HR are off by far more than noise
    assert excess[0, 0] > 0 and excess[1, 1] > 0
    assert excess[0, 3] > 0 or excess[0, 2] > 0


class _ProportionalHazards:
    """Weibull arm with a log HR ``beta`` (a tensor) on a fixed baseline."""

    def __init__(self, baseline, beta):
        self.baseline, self.beta = baseline, beta

    def log_hazard(self, t, xp):
        return self.baseline.log_hazard(t, xp) + self.beta

    def cum_hazard(self, t, xp):
        return self.baseline.cum_hazard(t, xp) * xp.exp(self.beta)


def _information_about_log_hr(beta_value, baseline, n, design):
    """(J joint normal, J with Poisson counts beside it, patient-level information d₁).

    J = μ′ᵀ Σ⁻¹ μ′, μ′ = dμ/dβ of (log HR, D₀, D₁) with the baseline and design known: the
    Fisher information about β a normal law of those statistics carries. With Poisson counts
    outside the joint normal, J = μ′²_HR / Var(log HR) + Σ_j d_j′² / d_j. The patients' own
    information about β (baseline known) is E Σ_{arm 1} H(X_i) e^β = d₁.
    """
    beta = pt.dscalar("beta")
    trial = TrialModel((baseline, _ProportionalHazards(baseline, beta)), n, design)
    stats_ = [hr.model_statistic(trial, HazardRatio(1.0))]
    stats_ += [events.model_statistic(trial, f"events_arm{j}", [j]) for j in (0, 1)]
    mean = pt.stack([s.mean for s in stats_])
    slope = pt.jacobian(mean, beta)
    cov = covariance_pieces(trial, stats_)
    joint = pt.dot(slope, pt.linalg.solve(cov, slope))
    poisson = slope[0] ** 2 / cov[0, 0] + slope[1] ** 2 / mean[1] + slope[2] ** 2 / mean[2]
    fn = pytensor.function([beta], [joint, poisson, mean[2]])
    return fn(beta_value)


def test_counts_beside_the_hr_no_longer_count_the_deaths_twice():
    # the Rossi design: 216 + 216 released prisoners, all followed 12 months, 66 and 48 arrests
    baseline = Weibull(19.3, 1.35)  # S(12) = 0.69: about 66 of 216 arrested
    joint, poisson, patients = _information_about_log_hr(
        np.log(0.69), baseline, (216, 216), FollowUp(0.01, 12.0, 0.0)
    )
    # summaries cannot carry more information than the patients they summarize
    assert joint <= patients * 1.02, (joint, patients)
    # the old likelihood claimed more: its posterior SD was too small by √(d₁/J)
    assert poisson > patients * 1.2, (poisson, patients)
