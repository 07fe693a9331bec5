"""A fit depends on (model, priors, data, seed) alone, not on PyTensor's kernel cache.

With PyTensor's numba fast-math flags on, the same model compiled in a fresh process and loaded
from the on-disk kernel cache rounded differently and gave different draws for the same seed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_importing_resurv_changes_no_global_setting():
    code = (
        "import pytensor, matplotlib; default = pytensor.config.numba__fastmath; "
        "import resurv, resurv.api, resurv.cli, resurv.inference.sweep, resurv.report.build, "
        "resurv.report.figures, resurv.report.posterior_figures; "
        "print(pytensor.config.numba__fastmath == default, "
        "matplotlib.rcParams._get_backend_or_none())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTENSOR_FLAGS")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.split() == ["True", "None"]


def test_resurv_compile_context_turns_fast_math_off_and_restores_it():
    import pytensor

    from resurv.inference.fit import compile_settings, exact_arithmetic

    for setting in (True, False):
        with pytensor.config.change_flags(numba__fastmath=setting):
            with compile_settings():
                assert pytensor.config.numba__fastmath is False
            with exact_arithmetic():
                assert pytensor.config.numba__fastmath is False
            with pytest.raises(KeyError), compile_settings():
                raise KeyError("an error inside")
            assert pytensor.config.numba__fastmath is setting


def test_every_function_resurv_compiles_has_fast_math_off(monkeypatch):
    """With the global flag on, a fit and calibration's prior draws still compile without it."""
    import pytensor
    from pytensor.link.numba.linker import NumbaLinker

    from helpers import MODELS, PRIORS, STUDY
    from resurv.api import build, load_data
    from resurv.inference.fit import Fitter, SamplerSettings
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.simulation.calibrate import simulated_replicates

    seen = []
    convert = NumbaLinker.fgraph_convert

    def spy(self, *args, **kwargs):
        seen.append(pytensor.config.numba__fastmath)
        return convert(self, *args, **kwargs)

    monkeypatch.setattr(NumbaLinker, "fgraph_convert", spy)
    study = load_data(STUDY)
    with pytensor.config.change_flags(numba__fastmath=True):
        built = build(
            load_model_spec(MODELS / "response.toml"), load_priors(PRIORS / "vague.toml"), study
        )
        fitter = Fitter(SamplerSettings(draws=50, tune=50, chains=1, cores=1))
        tree = fitter.sample(built, seed=1)
        assert {"log_likelihood", "log_prior"} <= set(tree.children)
        fitted = len(seen)
        simulated_replicates(
            load_model_spec(MODELS / "os_exponential.toml"),
            load_priors(PRIORS / "vague.toml"),
            study,
            replicates=3,
            seed=1,
        )
        assert pytensor.config.numba__fastmath is True
    # nutpie's model, the log likelihood, the log prior; then the prior predictive draws
    assert fitted >= 3 and len(seen) > fitted
    assert not any(seen), seen


@pytest.mark.slow
def test_a_cold_and_a_warm_kernel_cache_give_identical_draws(tmp_path):
    """Fit the bundled OS Weibull summary model twice, the first time with an empty cache."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'cache'}"}
    summaries = []
    for run in ("cold", "warm"):
        out = tmp_path / run
        subprocess.run(
            [
                sys.executable, "-m", "resurv.cli", "--quiet", "fit",
                str(ROOT / "models/os_weibull.toml"),
                "--data", str(ROOT / "data/studies/nmc2020_sirt_prrt.toml"),
                "--priors", str(ROOT / "priors/literature.toml"),
                "--out", str(out), "--seed", "3", "--draws", "300", "--tune", "300",
            ],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        summaries.append((out / "summary.csv").read_bytes())
    assert summaries[0] == summaries[1]
