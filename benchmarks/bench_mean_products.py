"""Compile time of the PFS summary model: SPSS means' inner products on their grid or by quadrature.

On an arm whose only other statistic is the log-rank Z, an SPSS mean's influence inner products
⟨a, a⟩ and ⟨a, a_Z⟩ come from its conditional experiment's grid
(``ConditionalArea.influence_products``); the baseline integrates them with the other pairs by
Gauss–Legendre quadrature, which evaluates ∫_u^τ S at every node (``terms.base._own_products``
disabled). The bundled study's PFS model (Weibull, separate arms, literature priors) is compiled
as a calibration replicate compiles it (``Fitter.compiled`` with ``calibrate.TARGET_VARIABLES``)
in a fresh process per setting, twice; the second (PyTensor's kernel cache warm) is printed, for
``ROUNDS`` alternating rounds, with the ratio to the baseline of the same round.

Run:  python benchmarks/bench_mean_products.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3
SETTINGS = ("quadrature", "grid")


def one(setting: str) -> dict:
    """Compile the PFS summary model under ``setting`` in this process."""
    from resurv.api import build, load_data
    from resurv.inference.fit import Fitter
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.simulation.calibrate import TARGET_VARIABLES
    from resurv.statistics import base

    if setting == "quadrature":
        base._own_products = lambda stats_, arm, members: None
    built = build(
        load_model_spec(ROOT / "models/pfs_weibull_separate.toml"),
        load_priors(ROOT / "priors/literature.toml"),
        load_data(ROOT / "data/studies/nmc2020_sirt_prrt.toml"),
    )
    start = time.perf_counter()
    Fitter().compiled(built, list(TARGET_VARIABLES))
    return {"compile": time.perf_counter() - start}


def run(setting: str) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--one", setting], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["compile"]


def main() -> None:
    for setting in SETTINGS:
        run(setting)  # fills the kernel cache for this setting
    for round_ in range(1, ROUNDS + 1):
        seconds = {setting: run(setting) for setting in SETTINGS}
        base = seconds["quadrature"]
        print(
            f"round {round_}: quadrature {base:.1f} s, grid {seconds['grid']:.1f} s "
            f"(ratio {seconds['grid'] / base:.2f})"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2])))
    else:
        main()
