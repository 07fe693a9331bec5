"""A trial whose survival curves cross, summarised as a paper would print it.

The study file ``tests/data/crossing_curves.toml`` holds the statistics of one simulated trial
(regenerated and compared here): medians 2.0 vs 3.3 months, yet HR 1.02 (0.72–1.45), 6-month
survival 21% vs 20% and log-rank P = 0.92. Under proportional hazards (``models/os_weibull.toml``,
vague priors) the log posterior has a local mode of negligible mass (log density −37.8 against
−2.2) that the mode search finds, so that every chain starts near the dominant one; the chains
can still split on the sign of the log HR (along log HR, at other values held at a chain's draw,
the log density falls by about 40 within |log HR| < 0.02), and the diagnosis then names the
quantities the chains disagree on. The slow tests fit the PH model and the separate-arms model.
"""

import json

import arviz as az
import numpy as np
import pytest

from helpers import PRIORS, ROOT
from resurv.api import fit_files
from resurv.checks.conflict import ALPHA, joint_ppp
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.io.study import load_study
from resurv.simulation.simulate import simulate_trials
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.landmark import km_landmark, loglog_interval
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median

DATA = ROOT / "tests" / "data"
STUDY = DATA / "crossing_curves.toml"
Z975 = 1.959963984540054


def _weibull_inverse(median: float, shape: float):
    """H⁻¹ of a Weibull curve with this median: t = scale · h^(1/shape)."""
    scale = median / np.log(2) ** (1 / shape)
    return lambda h: scale * h ** (1 / shape)


def crossing_trial():
    """The simulated trial: control Weibull(1.7, 0.6), experimental Weibull(3.4, 1.45)."""
    rng = np.random.default_rng(1)
    arms = [_weibull_inverse(1.7, 0.6), _weibull_inverse(3.4, 1.45)]
    return simulate_trials(rng, arms, (70, 70), FollowUp(12.0, 12.0, 0.0), 1)


def test_the_study_file_prints_the_simulated_trials_statistics():
    """Every number of the study file is the trial's estimate, rounded as printed."""
    trial = crossing_trial()
    study = load_study(STUDY)
    printed = {(s.statistic, s.arm): s for s in study.survival_statistics("os")}
    medians = km_median(trial.time, trial.event, trial.arm).median[0]
    assert [printed[("median", a)].value for a in ("control", "experimental")] == list(
        np.round(medians, 1)
    )
    cox = cox_two_arm(trial.time, trial.event, trial.arm)
    hr = printed[("hr", None)]
    limits = np.exp(cox.log_hr[0] + np.array([-Z975, Z975]) * cox.se[0])
    assert hr.value == round(float(np.exp(cox.log_hr[0])), 2)
    assert list(hr.ci) == list(np.round(limits, 2))
    landmark = km_landmark(trial.time, trial.event, 6.0, trial.arm)
    low, high = loglog_interval(landmark.survival, landmark.se, Z975)
    for j, arm in enumerate(("control", "experimental")):
        record = printed[("landmark", arm)]
        assert record.value == round(float(landmark.survival[0, j]), 2)
        assert list(record.ci) == [round(float(low[0, j]), 2), round(float(high[0, j]), 2)]
    p_value = logrank_test(trial.time, trial.event, trial.arm).p_value[0]
    assert printed[("logrank", None)].p_value == round(float(p_value), 2)
    # the curves cross: the experimental arm is ahead at its median, behind by 12 months
    from resurv.statistics.km import kaplan_meier

    curve = kaplan_meier(trial.time, trial.event, trial.arm)
    early, _ = curve.at(np.array([[2.0]]))
    late, _ = curve.at(np.array([[12.0]]))
    assert early[0, 0, 1] > early[0, 0, 0] and late[0, 0, 1] < late[0, 0, 0]


SETTINGS = SamplerSettings(draws=500, tune=1000, chains=4)


@pytest.fixture(scope="module")
def proportional_hazards_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("crossing") / "ph"
    result = fit_files(
        ROOT / "models" / "os_weibull.toml",
        STUDY,
        PRIORS / "vague.toml",
        seed=1,
        fitter=Fitter(SETTINGS),
        out_dir=out,
    )
    return result, out


@pytest.mark.slow
def test_the_proportional_hazards_fit_converges_or_names_the_conflict(proportional_hazards_fit):
    """The mode search saw the stranding mode; the fit converges or says what went wrong.

    What went wrong is read back from the saved groups: each named conflict's joint predictive
    p-value, and each named split quantity's R-hat and chain means.
    """
    result, out = proportional_hazards_fit
    record = json.loads((out / "diagnostics.json").read_text())
    assert record["mode_search"]["stranding"] is True
    assert len(record["mode_search"]["modes"]) >= 2
    if result.diagnostics.passed:
        return
    diagnosis = result.diagnosis
    assert diagnosis.found and record["diagnosis"]["message"] == diagnosis.message
    tree = result.tree
    predictive = tree["posterior_predictive"]["published_statistic"]
    observed = tree["observed_data"]["published_statistic"]
    for conflict in diagnosis.conflicts:
        names = list(conflict.statistics)
        draws = predictive.sel(statistic=names).stack(s=("chain", "draw")).transpose("s", ...)
        p = joint_ppp(draws.values, observed.sel(statistic=names).values)
        assert p == conflict.joint_ppp < ALPHA
        for name in names:
            assert name in diagnosis.message
    assert 'effect = "separate"' in diagnosis.message
    posterior = tree["posterior"].to_dataset()
    rhat = az.rhat(posterior)
    for quantity, value, means in diagnosis.split:
        name, _, element = quantity.partition("[")
        draws = posterior[name]
        if element:
            dim = next(d for d in draws.dims if d not in ("chain", "draw"))
            key = element.rstrip("]")
            if dim in draws.coords:
                draws, r = draws.sel({dim: key}), rhat[name].sel({dim: key})
            else:
                draws, r = draws.isel({dim: int(key)}), rhat[name].isel({dim: int(key)})
            assert value == pytest.approx(float(r))
        else:
            assert value == pytest.approx(float(rhat[name]))
        np.testing.assert_allclose(means, draws.mean("draw").values)
        assert quantity in diagnosis.message


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "open problem, measured: the separate-arms fit misses its gates narrowly (max R-hat "
        "1.014, min bulk ESS 358 < 400 at 4 x 500 draws) although every published statistic "
        "is reproduced in every chain; strict, so the test fails once a fix makes it pass"
    ),
)
def test_the_separate_arms_fit_passes_its_gates():
    result = fit_files(
        DATA / "os_weibull_separate.toml",
        STUDY,
        PRIORS / "vague.toml",
        seed=1,
        fitter=Fitter(SETTINGS),
    )
    assert result.diagnostics.passed, result.diagnostics.failures()
    medians = result.published.set_index(["statistic", "arm"])["posterior_median"]
    assert medians[("os_median_months", "Control")] < medians[("os_median_months", "Experimental")]
