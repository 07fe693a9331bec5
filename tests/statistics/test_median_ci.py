"""The printed median CI (Brookmeyer–Crowley, on the log, loglog or plain scale) as data.

* The BC interval of :func:`km_median` against a direct evaluation of its definition, the set of
  t with |g(Ŝ(t)) − g(½)| ≤ z se_g(t) (Greenwood), for "log" and "plain"; "loglog" is checked
  against lifelines in test_median_estimator.py and here on the shipped data sets.
* The law of log ŝ (ŝ the CI half-width on the log scale over z) against simulation: the spread
  of :func:`ci_log_se_law` is conservative (at least the empirical SD, at most 45% above), the
  bias small against it.
* The study file: "NR" upper limit, transform, refusal of bad forms; usage().
"""

import math

import numpy as np
import pytensor
import pytest
from estimator_cases import all_cases, lifelines_km, small_trials
from lifelines.utils import median_survival_times
from scipy import stats
from summary_curves import Weibull

from resurv.errors import StudyValidationError
from resurv.io.study import Arm
from resurv.io.tables import TableReader
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import median
from resurv.statistics.base import TrialModel, covariance_pieces
from resurv.statistics.followup import FollowUp
from resurv.statistics.km import kaplan_meier
from resurv.statistics.likelihood import structure_key
from resurv.statistics.published import MedianReached

Z = stats.norm.ppf(0.975)


def definition_limits(time, event, transform):
    """BC limits from the definition: first grid time with g-statistic ≤ z, then ≤ −z."""
    curve = kaplan_meier(time, event)
    grid = curve.time[0]
    survival = curve.survival[0, :, 0]
    sigma = np.sqrt(curve.greenwood_sum[0, :, 0])  # SE of log Ŝ
    with np.errstate(divide="ignore", invalid="ignore"):
        if transform == "log":
            d = (np.log(survival) - np.log(0.5)) / sigma
        else:
            d = (survival - 0.5) / (survival * sigma)
    d = np.where(survival <= 0, -np.inf, d)
    d = np.where(sigma == 0, np.where(survival > 0.5, np.inf, d), d)
    inside_or_below = np.flatnonzero(d <= Z)
    below = np.flatnonzero(d <= -Z)
    low = grid[inside_or_below[0]] if inside_or_below.size else np.inf
    high = grid[below[0]] if below.size else np.inf
    return low, high


CASES = all_cases()


@pytest.mark.parametrize("transform", ["log", "plain"])
def test_bc_interval_matches_its_definition(transform):
    checked = 0
    for _, time, event, arm in CASES:
        result = median.km_median(time, event, arm, transform=transform)
        for j in (0, 1):
            low, high = definition_limits(time[arm == j], event[arm == j], transform)
            assert result.ci_low[0, j] == low and result.ci_high[0, j] == high
            checked += 1
    assert checked == 2 * len(CASES)


def test_loglog_interval_is_lifelines():
    for _, time, event, arm in CASES[:3]:
        result = median.km_median(time, event, arm, transform="loglog")
        for j in (0, 1):
            kmf = lifelines_km(time[arm == j], event[arm == j])
            ci = median_survival_times(kmf.confidence_interval_).to_numpy()[0]
            np.testing.assert_allclose(
                [result.ci_low[0, j], result.ci_high[0, j]], ci, rtol=0, atol=1e-8
            )


def test_transforms_order_on_small_trials():
    """Same median; log and plain limits differ from loglog on small trials."""
    time, event, arm = small_trials(n_sets=40)
    by = {t: median.km_median(time, event, arm, transform=t) for t in median.CI_TRANSFORMS}
    assert all(np.array_equal(by[t].median, by["loglog"].median) for t in by)
    assert (by["log"].ci_high != by["loglog"].ci_high).any()
    assert (by["plain"].ci_low != by["loglog"].ci_low).any()


# --- the law of log ŝ -------------------------------------------------------------------------


def _inverse(curve):
    scale = curve.median / np.log(2.0) ** (1.0 / curve.shape)
    return lambda h: scale * h ** (1.0 / curve.shape)


DESIGNS = {
    "30+30": ([Weibull(14.0, 1.2), Weibull(20.0, 1.2)], [30, 30], FollowUp(24.0, 24.0, 0.02)),
    "150+150": ([Weibull(14.0, 1.2), Weibull(20.0, 1.2)], [150, 150], FollowUp(24.0, 12.0, 0.02)),
}


@pytest.mark.parametrize("design", list(DESIGNS))
@pytest.mark.parametrize("transform", ["log", "loglog"])
def test_median_ci_log_se_law(design, transform):
    """τ between 1.0 and 1.45 times the empirical SD of log ŝ; |bias| below 0.15 τ + 3 MC SE."""
    curves, n, follow = DESIGNS[design]
    trial = TrialModel(curves, n, follow)
    statistic = median.model_statistic(trial, MedianReached(0, 1.0))
    variance = covariance_pieces(trial, [statistic])[0, 0]
    bias, tau2 = median.ci_log_se_law(trial, 0, statistic, variance)
    variance, bias, tau2 = pytensor.function([], [variance, bias, tau2])()
    rng = np.random.default_rng(3)
    trials = simulate_trials(rng, [_inverse(c) for c in curves], n, follow, n_trials=2000)
    est = median.km_median(trials.time, trials.event, trials.arm, transform=transform)
    low, high = est.ci_low[:, 0], est.ci_high[:, 0]
    both = np.isfinite(high) & (low > 0)
    assert both.mean() > 0.7  # the rest print an upper limit "NR" (a one-sided term)
    log_se = np.log((np.log(high[both]) - np.log(low[both])) / (2.0 * Z))
    tau = math.sqrt(tau2)
    empirical = log_se.std()
    assert 1.0 < tau / empirical < 1.45, (tau, empirical)
    measured_bias = log_se.mean() - 0.5 * math.log(variance) - bias
    assert abs(measured_bias) < 0.15 * tau + 3.0 * empirical / math.sqrt(both.sum())


# --- the study file -----------------------------------------------------------------------------

ARMS = {"a": Arm(id="a", index=0, n=50, label="A"), "b": Arm(id="b", index=1, n=50, label="B")}


def parse(**fields):
    table = {"endpoint": "os", "arm": "a", **fields}
    return MedianReached.parse(
        TableReader(table, "s.toml", "survival[1]", StudyValidationError), ARMS
    )


def test_printed_half_width_and_nr():
    record = parse(value=11.2, ci=[9.1, 14.0])
    se = (math.log(14.0) - math.log(9.1)) / (2 * Z)
    assert record.printed_log_se() == pytest.approx((math.log(se),) * 2)
    assert record.ci_transform == "log"
    nr = parse(value=11.2, ci=[9.1, "NR"], ci_transform="loglog")
    se = (math.log(11.2) - math.log(9.1)) / Z
    assert nr.printed_log_se()[0] == pytest.approx(math.log(se))
    keys = {structure_key([r]) for r in (parse(value=11.2), record, nr)}
    assert len(keys) == 3
    assert structure_key([parse(value=11.2)]) == ((("MedianReached", 0)),)
    assert {(f, r) for f, r, _ in record.usage()} == {
        ("value", "likelihood"),
        ("ci", "likelihood"),
        ("ci", "check"),
    }


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"ci": [12.0, 14.0]}, "ci", "does not contain"),
        ({"ci": ["NR", 14.0]}, "ci[0]", "> 0"),
        ({"ci": [9.0, 14.0], "ci_transform": "arcsine"}, "ci_transform", "must be one of"),
        ({"ci_transform": "log"}, "ci_transform", "none is given"),
    ],
)
def test_bad_median_ci_refused(fields, field, rule):
    with pytest.raises(StudyValidationError) as err:
        parse(value=11.2, **fields)
    message = str(err.value)
    assert "s.toml" in message and field in message and rule in message


# --- information added by the printed CI --------------------------------------------------------


def test_printed_median_ci_informs_the_weibull_shape():
    """The width of a median's CI is 1/(m h(m)) ∝ 1/shape on the log scale: with the CI the
    posterior of the Weibull shape (log k ~ N(0, 0.7), evaluated exactly on a grid, medians
    fixed at the truth) is much narrower than with the median alone, and centred near k = 1.5."""
    import pymc as pm
    import pytensor.tensor as pt

    from resurv.statistics.likelihood import add_summary_likelihood

    n_arm, medians, follow, k_true = (150, 150), (14.0, 20.0), FollowUp(24.0, 12.0, 0.0), 1.5
    trial = TrialModel([Weibull(m, k_true) for m in medians], n_arm, follow)
    statistic = median.model_statistic(trial, MedianReached(0, 1.0))
    variance = pytensor.function([], covariance_pieces(trial, [statistic])[0, 0])()
    half = Z * math.sqrt(variance)
    ci = (round(medians[0] * math.exp(-half), 1), round(medians[0] * math.exp(half), 1))
    grid = np.geomspace(0.3, 6.0, 90)

    def posterior(record):
        with pm.Model() as model:
            log_k = pm.Normal("log_k", 0.0, 0.7)
            curves = [Weibull(m, pt.exp(log_k)) for m in medians]
            add_summary_likelihood("os", curves, n_arm, follow, [record], n_nodes=16)
        logp = model.compile_logp(jacobian=False)
        values = np.array([logp({"log_k": math.log(k)}) for k in grid])
        weights = np.exp(values - values.max())
        weights /= weights.sum()
        centre = np.sum(weights * np.log(grid))
        return math.sqrt(np.sum(weights * (np.log(grid) - centre) ** 2)), math.exp(centre)

    sd_alone, _ = posterior(MedianReached(0, medians[0]))
    sd_ci, centre = posterior(MedianReached(0, medians[0], ci))
    assert sd_ci < 0.6 * sd_alone, (sd_ci, sd_alone)
    assert 1.0 < centre < 2.25, centre
