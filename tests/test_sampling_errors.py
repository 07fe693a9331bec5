"""A sampler failure is an error that names the model and the seed, never a traceback."""

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from helpers import MODELS, PRIORS, STUDY
from resurv import cli
from resurv.errors import SamplingError
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.models.built import BuiltModel
from resurv.simulation.calibrate import CHECKPOINT_NAME, calibrate


def test_a_model_with_no_finite_initial_point_raises_a_sampling_error():
    with pm.Model() as model:
        x = pm.Normal("x")
        pm.Potential("impossible", pt.log(-1.0 - x**2))  # nan everywhere
    fitter = Fitter(SamplerSettings(draws=10, tune=10, chains=1, cores=1))
    with pytest.raises(SamplingError, match=r"model impossible with seed 3 failed: .*initiali"):
        fitter.sample(BuiltModel(model=model, key="impossible"), seed=3)


class _FailingFitter:
    settings = SamplerSettings(draws=10, tune=10, chains=1)
    compile_seconds: dict = {}

    def target_accept(self, built):
        return 0.9

    def sample(self, built, seed, **kwargs):
        raise SamplingError(f"sampling model m with seed {seed} failed: no initial point")


def test_a_failed_calibration_replicate_is_named(tmp_path):
    spec = load_model_spec(MODELS / "os_exponential.toml")
    checkpoint = tmp_path / CHECKPOINT_NAME
    with pytest.raises(SamplingError) as caught:
        calibrate(
            spec,
            load_priors(PRIORS / "literature.toml"),
            load_study(STUDY),
            replicates=2,
            seed=5,
            with_ipd=False,
            fitter=_FailingFitter(),
            checkpoint=checkpoint,
        )
    message = str(caught.value)
    assert message.startswith("calibration replicate 0 (reported: ")
    assert message.endswith("with seed 5 failed: no initial point")  # nothing finished to keep
    assert not checkpoint.exists()


def test_the_command_line_prints_a_sampling_error_in_one_line_and_exits_1(monkeypatch, capsys):
    def fail(args):
        raise SamplingError("calibration replicate 7 (reported: median:a;): sampling failed")

    monkeypatch.setattr(cli, "cmd_calibrate", fail)
    code = cli.main(["calibrate", str(MODELS / "os_exponential.toml"), "--data", str(STUDY),
                     "--priors", str(PRIORS / "literature.toml"), "--replicates", "2",
                     "--out", "unused"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err == "error: calibration replicate 7 (reported: median:a;): sampling failed\n"
    assert np.char.count(err, "Traceback") == 0
