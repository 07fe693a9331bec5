"""Cure and spline models fitted to simulated patient data: recovery and LOO model choice.

Data: two arms of 250 patients, a cured fraction π₀ = 0.30, π₁ = 0.45 and Weibull uncured
times (median 12 months, shape 1.5) drawn with scipy (not resurv's inverse), accrual 24 and
minimum follow-up 48 months, so the plateaus are visible. Fitted by the true model (mixture cure
Weibull, separate arms) and by the Weibull with separate arms; and by the Royston–Parmar spline
(PH, knots at the event-time quantiles), whose hazard must fall toward 0 to follow a plateau and
so presses against the constraint s′ > 0 (a strict expected failure: divergences measured).
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from resurv.api import build, load_data
from resurv.checks.compare import compare_fits
from resurv.families.rp_spline import knots_at_event_quantiles
from resurv.inference.fit import SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.models.built import stacked_draws
from resurv.simulation.simulate import simulate_trials, write_ipd_csv
from resurv.statistics.followup import FollowUp

ROOT = Path(__file__).resolve().parents[1]
LN2 = math.log(2.0)
TRUE_PI = (0.30, 0.45)
MEDIAN_UNCURED, SHAPE = 12.0, 1.5

pytestmark = pytest.mark.slow


def _cure_inverse(pi):
    """T from H: S = e^{−H}; cured (inf) when S ≤ π, else the uncured Weibull's isf."""
    uncured = stats.weibull_min(c=SHAPE, scale=MEDIAN_UNCURED / LN2 ** (1 / SHAPE))

    def inverse(h):
        s = np.exp(-np.asarray(h))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = uncured.isf((s - pi) / (1 - pi))
        return np.where(s > pi, t, np.inf)

    return inverse


@pytest.fixture(scope="module")
def cure_fits(fitter, tmp_path_factory):
    rng = np.random.default_rng(20)
    trials = simulate_trials(
        rng, [_cure_inverse(p) for p in TRUE_PI], [250, 250], FollowUp(24.0, 48.0), n_trials=1
    )
    path = write_ipd_csv(tmp_path_factory.mktemp("cure") / "cure.csv", trials.row(0))
    study = load_data(path)
    priors = load_priors(ROOT / "priors" / "vague.toml")
    fast = dataclasses.replace(fitter, settings=SamplerSettings(draws=1000, tune=700, chains=2))
    specs = {
        "cure_weibull": load_model_spec(ROOT / "models" / "os_cure_weibull.toml"),
        "weibull_separate": dataclasses.replace(
            load_model_spec(ROOT / "models" / "os_weibull.toml"),
            name="weibull_separate",
            effect="separate",
        ),
    }
    fits = {"data": (study, priors, fast, trials.time[0], trials.event[0])}
    for name, spec in specs.items():
        tree = fast.sample(build(spec, priors, study), seed=5)
        assert int(tree.sample_stats["diverging"].sum()) == 0, name
        fits[name] = tree
    return fits


def _model_fits(cure_fits):
    return {k: v for k, v in cure_fits.items() if k != "data"}


def test_cure_fractions_and_uncured_curve_recovered(cure_fits):
    post = cure_fits["cure_weibull"].posterior.to_dataset()
    checks = {
        "cure_logit_reference": special.logit(TRUE_PI[0]),
        "cure_logit_comparator": special.logit(TRUE_PI[1]),
        "median_reference": MEDIAN_UNCURED,
        "median_comparator": MEDIAN_UNCURED,
        "shape_reference": SHAPE,
        "shape_comparator": SHAPE,
    }
    for name, truth in checks.items():
        draws = stacked_draws(post, name)
        low, high = np.quantile(draws, [0.005, 0.995])
        assert low < truth < high, (name, truth, low, high)
        assert abs(np.mean(draws) - truth) < 3 * np.std(draws), name
    # the cure fraction is identified: posterior SD of π well below the prior's (≈ 0.25)
    pi = special.expit(stacked_draws(post, "cure_logit_reference"))
    assert np.std(pi) < 0.06


def test_loo_prefers_the_cure_model(cure_fits):
    table = compare_fits(_model_fits(cure_fits))
    assert table.iloc[0]["model"] == "cure_weibull", table
    weibull = table.set_index("model").loc["weibull_separate"]
    # the Weibull cannot flatten: many standard errors worse
    assert weibull["elpd_diff"] < -3 * weibull["dse"], table


@pytest.mark.xfail(
    strict=True,
    reason="the spline's hazard must fall toward 0 to follow a cure plateau and presses "
    "against the hard constraint s' > 0: 19 of 2000 transitions diverged (measured)",
)
def test_rp_spline_fits_cure_data_without_divergences(cure_fits):
    study, priors, fast, time, event = cure_fits["data"]
    spec = dataclasses.replace(
        load_model_spec(ROOT / "models" / "os_rp_spline.toml"),
        knots=tuple(float(k) for k in knots_at_event_quantiles(time, event, 2)),
    )
    tree = fast.sample(build(spec, priors, study), seed=5)
    assert int(tree.sample_stats["diverging"].sum()) == 0
