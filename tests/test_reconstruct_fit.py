"""``resurv fit`` on digitized curves: a Weibull PH posterior from the patients reconstructed
from jittered Kaplan–Meier curves of the leukemia trial (``[[km_curve]]``) against the
posterior from its true patient data; the log HR's 95% interval of the reconstruction holds
the patient-level posterior median, and so do the arms' medians' intervals."""

import dataclasses

import numpy as np
import pytest

from helpers import ROOT, leukemia_km_study
from resurv.api import build
from resurv.inference.fit import SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.models.built import stacked_draws

SETTINGS = SamplerSettings(draws=1000, tune=1000, chains=4)


@pytest.fixture(scope="module")
def posteriors(fitter, tmp_path_factory):
    folder = tmp_path_factory.mktemp("km")
    patients = load_study(ROOT / "data" / "studies" / "leukemia_patients.toml")
    curves = load_study(leukemia_km_study(folder))
    spec = load_model_spec(ROOT / "models" / "example_weibull.toml")
    priors = load_priors(ROOT / "priors" / "vague.toml")
    few = dataclasses.replace(fitter, settings=SETTINGS)
    out = {}
    for name, study in (("patients", patients), ("curves", curves)):
        tree = few.sample(build(spec, priors, study), seed=5, posterior_only=True)
        assert int(tree.sample_stats["diverging"].sum()) == 0
        post = tree.posterior.to_dataset()
        out[name] = {
            "log_hr": stacked_draws(post, "log_hr"),
            "median placebo": stacked_draws(post, "median_months")[:, 0],
            "median 6-MP": stacked_draws(post, "median_months")[:, 1],
        }
    return out


@pytest.mark.parametrize("quantity", ["log_hr", "median placebo", "median 6-MP"])
def test_reconstruction_interval_holds_the_patient_level_median(posteriors, quantity):
    low, high = np.quantile(posteriors["curves"][quantity], [0.025, 0.975])
    truth = np.median(posteriors["patients"][quantity])
    assert low <= truth <= high, (low, truth, high)
