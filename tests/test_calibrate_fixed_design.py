"""Calibration of a study whose follow-up design is fixed in the study file."""

from __future__ import annotations

import numpy as np

from helpers import PRIORS
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.simulation.calibrate import simulated_replicates

STUDY = """\
reference_arm = "control"
unknown = []
reported_without_numbers = []
[study]
id = "fixed"
title = "fixed design"
citation = "test"
[[arms]]
id = "control"
n = 40
[[arms]]
id = "treated"
n = 40
[followup]
accrual_months = 24.0
followup_months = 12.0
[[survival]]
endpoint = "os"
statistic = "at_risk"
arm = "control"
times = [6.0, 12.0]
numbers = [30, 20]
"""


def test_fixed_design_values_are_used_for_the_simulated_trials(tmp_path):
    study_file = tmp_path / "study.toml"
    study_file.write_text(STUDY)
    model_file = tmp_path / "model.toml"
    model_file.write_text(
        'name = "m"\nendpoint = "os"\nlikelihood = "survival"\nfamily = "exponential"\n'
        'effect = "ph"\ndescription = "test"\nrmst_horizons = [24.0]\nlandmarks = [12.0]\n'
    )
    spec, priors = load_model_spec(model_file), load_priors(PRIORS / "vague.toml")
    _, trials, _, _ = simulated_replicates(spec, priors, load_study(study_file), 50, seed=2)
    censored = trials.time[~trials.event]
    # administrative censoring at A + F − entry, entry ~ U(0, 24): between 12 and 36 months
    assert censored.min() >= 12.0 and censored.max() <= 36.0
    assert np.mean(censored > 30.0) > 0.05  # entries in the first 6 months: the design is used
