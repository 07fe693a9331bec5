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


def test_importing_resurv_turns_off_numba_fast_math():
    code = "import pytensor; import resurv; print(pytensor.config.numba__fastmath)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


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
