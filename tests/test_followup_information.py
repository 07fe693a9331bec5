"""What numbers at risk and a median follow-up add: the posterior of the follow-up design.

One simulated trial (exponential arms, medians 14 and 20 months, accrual 24 and minimum
follow-up 12 months, no dropout) is reported three ways: its KM medians alone; the medians and
the numbers at risk under the KM plot; the medians and the reverse-KM median follow-up. The
design gets wide priors (accrual 6-60, follow-up 1-36 months). The medians say almost nothing
about the design; the at-risk table and the median follow-up must narrow its posterior around
the truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import PRIORS
from resurv.api import build
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.models.built import stacked_draws
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import median_followup as mf
from resurv.statistics.at_risk import numbers_at_risk
from resurv.statistics.median import km_median

ACCRUAL, FOLLOWUP = 24.0, 12.0
MEDIANS = (14.0, 20.0)
SIZES = (150, 150)
TIMES = [6.0, 12.0, 18.0, 24.0, 30.0]

MODEL = """\
name = "os_exponential_followup"
endpoint = "os"
likelihood = "survival"
family = "exponential"
effect = "ph"
description = "Test model: exponential proportional hazards."
rmst_horizons = [24.0]
landmarks = [12.0]
"""

HEADER = """\
reference_arm = "control"
unknown = ["the rest"]
reported_without_numbers = []

[study]
id = "followup_information"
title = "A simulated trial"
citation = "simulated"

[[arms]]
id = "control"
n = {n0}

[[arms]]
id = "treated"
n = {n1}

[followup]
note = "wide priors"
accrual_months = {{ dist = "uniform", lower = 6.0, upper = 60.0, source = "test" }}
followup_months = {{ dist = "uniform", lower = 1.0, upper = 36.0, source = "test" }}
dropout_rate = 0.0
"""


def _trial():
    from resurv.statistics.followup import FollowUp

    rng = np.random.default_rng(4242)
    rates = [np.log(2) / m for m in MEDIANS]
    inverses = [lambda h, r=r: h / r for r in rates]
    design = FollowUp(ACCRUAL, FOLLOWUP, 0.0)
    return simulate_trials(rng, inverses, SIZES, design, n_trials=1)


def _study_text(trial, with_at_risk: bool, with_followup: bool) -> str:
    lines = [HEADER.format(n0=SIZES[0], n1=SIZES[1])]
    medians = km_median(trial.time, trial.event, trial.arm).median[0]
    for j, arm in enumerate(("control", "treated")):
        lines += [
            "[[survival]]",
            'endpoint = "os"',
            'statistic = "median"',
            f'arm = "{arm}"',
            f"value = {round(float(medians[j]), 1)}",
            "",
        ]
        if with_at_risk:
            counts = numbers_at_risk(trial.time, trial.arm == j, TIMES)[0]
            lines += [
                "[[survival]]",
                'endpoint = "os"',
                'statistic = "at_risk"',
                f'arm = "{arm}"',
                f"times = {TIMES}",
                f"numbers = {[int(c) for c in counts]}",
                "",
            ]
    if with_followup:
        value = mf.followup_median_estimate(trial.time, trial.event, trial.arm, "reverse_km", None)
        lines += [
            "[[survival]]",
            'endpoint = "os"',
            'statistic = "median_followup"',
            f"value = {round(float(value[0]), 1)}",
            "",
        ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def posteriors(tmp_path_factory):
    """Design posteriors of the three reports of one trial (one compile each)."""
    folder = tmp_path_factory.mktemp("followup_information")
    model = folder / "model.toml"
    model.write_text(MODEL)
    spec = load_model_spec(model)
    priors = load_priors(PRIORS / "vague.toml")
    fitter = Fitter(SamplerSettings(draws=500, tune=500, chains=2))
    trial = _trial()
    out = {}
    for name, at_risk, followup in (
        ("medians", False, False),
        ("at_risk", True, False),
        ("median_followup", False, True),
    ):
        path = folder / f"{name}.toml"
        path.write_text(_study_text(trial, at_risk, followup))
        tree = fitter.sample(build(spec, priors, load_study(path)), seed=3, posterior_only=True)
        post = tree.posterior.to_dataset()
        out[name] = {v: stacked_draws(post, v) for v in ("accrual_months", "followup_months")}
        out[name]["diverging"] = int(tree.sample_stats["diverging"].values.sum())
    return out


def _interval(draws):
    return np.quantile(draws, [0.025, 0.975])


def test_numbers_at_risk_narrow_the_design_posterior(posteriors):
    base, informed = posteriors["medians"], posteriors["at_risk"]
    assert informed["diverging"] == 0
    for name, truth in (("accrual_months", ACCRUAL), ("followup_months", FOLLOWUP)):
        low, high = _interval(informed[name])
        assert low < truth < high, (name, low, high)
        # the medians alone leave the design near its prior; the table pins it down
        assert informed[name].std() < 0.5 * base[name].std(), (
            name,
            informed[name].std(),
            base[name].std(),
        )


def test_median_followup_narrows_the_design_posterior(posteriors):
    informed = posteriors["median_followup"]
    assert informed["diverging"] == 0
    # the reverse-KM median follow-up informs F + A/2 (G(m) = 1/2 without dropout)
    centre = {k: v["followup_months"] + v["accrual_months"] / 2 for k, v in posteriors.items()}
    low, high = _interval(centre["median_followup"])
    assert low < FOLLOWUP + ACCRUAL / 2 < high, (low, high)
    assert centre["median_followup"].std() < 0.5 * centre["medians"].std(), (
        centre["median_followup"].std(),
        centre["medians"].std(),
    )
