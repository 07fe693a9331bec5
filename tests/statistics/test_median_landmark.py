"""The KM median beside landmarks of its arm: its law given them (T1b) against exact laws.

* Without censoring and without a landmark before it, the law of the KM median is that of the
  sample median of the event times: u = F(m̂) ~ Beta(K, n − K + 1) (scipy), K = (n + 1)/2 for
  an odd n and n/2 for an even n (the curve lands on ½ at the (n/2)-th death).
* The joint normal of (log m̂, Ŝ(t*)) has a wall where the model median crosses t*; the pair's
  likelihood with the median given the landmark has none (over simulated trials).
* Against simulation (slow): the median's conditional law given the landmark, as probability
  integral transforms, at landmarks below, near and above the median.
* A median of an arm with a landmark is joined to it; other records and the bundled study are
  left as they were (their compile keys do not change).
"""

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats
from summary_curves import Weibull

from resurv.io.study import load_study
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import landmark as landmark_math
from resurv.statistics import median as median_math
from resurv.statistics.base import TrialModel, covariance_pieces
from resurv.statistics.followup import FollowUp
from resurv.statistics.likelihood import structure_key
from resurv.statistics.published import Landmark, MedianReached
from resurv.statistics.published.median import MedianGivenLandmarks

STUDIES = __import__("pathlib").Path(__file__).resolve().parents[2] / "data" / "studies"


def _conditional(curve, n, design):
    """log p(log m̂ | landmarks) as a compiled function of the data vector."""
    trial = TrialModel([curve], [n], design)
    data = pt.dvector("data")
    return pytensor.function([data], median_math.log_density_given_landmarks(trial, 0, data))


def _alone(log_x, landmark_time=1.0):
    """The data vector of a median with no landmark on either side (placeholders only)."""
    return np.array([log_x, landmark_time, 0.0, 0.0, 0.0, landmark_time, 0.0, 0.0, 0.0])


@pytest.mark.parametrize(("n", "order"), [(21, 11), (20, 10)])
def test_uncensored_median_is_the_order_statistic(n, order):
    """G = 1 (follow-up of 10,000 months): the law is Beta(K, n − K + 1) of F(m̂), in log m̂."""
    curve = Weibull(6.0, 1.3)
    density = _conditional(curve, n, FollowUp(1.0, 1e4, 0.0))
    for x in (3.0, 5.0, 6.0, 7.5, 10.0):
        cdf = 1.0 - float(curve.survival_np(x))
        pdf = float(curve.hazard_np(x) * curve.survival_np(x))
        exact = stats.beta.logpdf(cdf, order, n - order + 1) + math.log(pdf * x)
        got = float(density(_alone(math.log(x))))
        # odd n: K = n/2 + n log(n/(n − 1))/2 = 11.01 against 11
        assert got == pytest.approx(exact, abs=0.02), (x, got, exact)


def _km_pair(trials, t_star):
    med = median_math.km_median(trials.time, trials.event, trials.arm)
    land = landmark_math.km_landmark(trials.time, trials.event, t_star, trials.arm)
    keep = med.reached[:, 0] & (trials.time.max(axis=1) >= t_star)
    return med.median[keep, 0], np.clip(np.round(land.survival[keep, 0], 3), 1e-3, 0.999)


def _given(x, survival, t_star, after=None):
    """Data vector of the median x given the one landmark (t*, Ŝ(t*)) on its side.

    ``after``: whether the median lies after t* (default: x > t*); fixed by the observed median
    when a grid of x is integrated up to t*.
    """
    after = x > t_star if after is None else after
    side = [t_star, math.log(survival), 1.0, 1e-6 / 12.0]
    none = [t_star, 0.0, 0.0, 0.0]
    return np.array([math.log(x), *(side + none if after else none + side)])


NEAR = (Weibull(5.3, 1.0), 21, FollowUp(15.0, 6.0, 0.0), 5.0)


def test_joint_normal_has_a_wall_that_the_conditional_law_has_not():
    """Simulated 6-MP-sized trials (n = 21, median 5.3, t* = 5): the two laws of the median.

    The joint normal's conditional law of log m̂ given Ŝ(t*) (near-collinear: correlation 0.96
    in the model, 0.84 across the trials) puts some trials tens of log units below their mean
    density; the law given the landmark keeps every trial within a few units of it and scores
    the trials higher on average.
    """
    curve, n, design, t_star = NEAR
    trial = TrialModel([curve], [n], design)
    pair = [
        median_math.model_statistic(trial, MedianReached(0, 5.3)),
        landmark_math.model_statistic(trial, Landmark(0, t_star, 0.5)),
    ]
    mean = pt.stack([s.mean for s in pair])
    mean, cov = pytensor.function([], [mean, covariance_pieces(trial, pair)])()
    cov = cov + np.diag([1e-6 / 12.0, 1e-6 / 12.0])
    slope = cov[0, 1] / cov[1, 1]
    sd = math.sqrt(cov[0, 0] - slope * cov[0, 1])
    density = _conditional(curve, n, design)
    scale = curve.median / math.log(2.0)
    trials = simulate_trials(np.random.default_rng(3), [lambda h: scale * h], [n], design, 300)
    medians, survivals = _km_pair(trials, t_star)
    normal = stats.norm.logpdf(np.log(medians), mean[0] + slope * (survivals - mean[1]), sd)
    given = np.array(
        [density(_given(x, s, t_star)) for x, s in zip(medians, survivals, strict=True)]
    )
    assert np.isfinite(given).all()
    assert normal.min() < normal.mean() - 20.0
    assert given.min() > given.mean() - 8.0, (given.min(), given.mean())
    assert given.mean() > normal.mean() + 0.3, (given.mean(), normal.mean())


def _pit(density, x, survival, t_star, lower, upper):
    """P(m̂ ≤ x | landmark) by the trapezoid rule over log m̂ on [lower, upper]."""
    grid = np.unique(
        np.concatenate(
            [
                np.linspace(math.log(lower), math.log(upper), 300),
                np.linspace(
                    max(math.log(lower), math.log(t_star) - 0.4),
                    min(math.log(upper), math.log(t_star) + 0.4),
                    600,
                ),
            ]
        )
    )
    after = x > t_star
    values = [density(_given(math.exp(g), survival, t_star, after)) for g in grid]
    values = np.nan_to_num(np.exp(values))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (values[1:] + values[:-1]) * np.diff(grid))])
    return float(np.interp(math.log(x), grid, cdf / cdf[-1]))


@pytest.mark.slow
@pytest.mark.parametrize("t_star", [3.0, 5.0, 6.0, 9.0])
def test_conditional_law_against_simulation(t_star):
    """Central 95% and 80% intervals of m̂ given Ŝ(t*), n = 21, median 5.3 (400 trials).

    With the support factor (the median is an observed time: A + F bounds it) as in the model.
    """
    curve, n, design, _ = NEAR
    trial = TrialModel([curve], [n], design)
    data = pt.dvector("data")
    density = pytensor.function(
        [data],
        median_math.log_density_given_landmarks(trial, 0, data)
        + median_math.log_support_factor(trial, 0, pt.exp(data[0])),
    )
    scale = curve.median / math.log(2.0)
    trials = simulate_trials(np.random.default_rng(7), [lambda h: scale * h], [n], design, 400)
    medians, survivals = _km_pair(trials, t_star)
    end = design.max_followup_months * 0.9999
    pits = np.array(
        [
            _pit(
                density, x, s, t_star, t_star if x > t_star else 1e-3, end if x > t_star else t_star
            )
            for x, s in zip(medians, survivals, strict=True)
        ]
    )
    se = math.sqrt(0.95 * 0.05 / pits.size)
    assert abs(np.mean(np.abs(pits - 0.5) < 0.475) - 0.95) < 3.0 * se
    se = math.sqrt(0.8 * 0.2 / pits.size)
    assert abs(np.mean(np.abs(pits - 0.5) < 0.4) - 0.8) < 3.0 * se


def test_a_median_beside_a_landmark_of_its_arm_is_joined():
    median = MedianReached(0, 5.29, arm="a", endpoint="os", ci=(4.0, 8.0))
    own = Landmark(0, 6.0, 0.448, arm="a", endpoint="os")
    other_arm = Landmark(1, 6.0, 0.3, arm="b", endpoint="os")
    other_endpoint = Landmark(0, 6.0, 0.5, arm="a", endpoint="pfs")
    assert median.joined([median, other_arm, other_endpoint]) is median
    joined = median.joined([median, own, other_arm])
    assert isinstance(joined, MedianGivenLandmarks) and joined.landmarks == (own,)
    assert joined.block == "factor" and joined.label == median.label
    assert ("value", "likelihood") in {(f, r) for f, r, _ in joined.usage()}
    assert "given the arm's landmarks" in dict((f, h) for f, _, h in joined.usage())["value"]
    key = structure_key([median, own])
    assert key[0][0] == "Landmark" and key[1][0] == "MedianGivenLandmarks"
    # a replicate on the other side of t* shares the compile key; only the data differ
    after = MedianReached(0, 7.1, arm="a", endpoint="os", ci=(5.0, 9.0))
    assert structure_key([after, own]) == key
    before = joined.given_values()
    beyond = after.joined([after, own]).given_values()
    assert before[7] == 1.0 and before[3] == 0.0 and before[6] == pytest.approx(math.log(0.448))
    assert beyond[3] == 1.0 and beyond[7] == 0.0 and beyond[2] == pytest.approx(math.log(0.448))


def test_bundled_study_is_not_joined():
    """No landmark in the bundled study: every record is used as before (same compile keys)."""
    study = load_study(STUDIES / "nmc2020_sirt_prrt.toml")
    records = list(study.survival)
    assert all(s.joined(records) is s for s in records)
