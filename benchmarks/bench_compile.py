"""Compile time of the bundled study's summary-data models, and what the compile settings cost.

For the OS (Weibull PH) and PFS (Weibull, separate arms) summary models of the bundled study
(literature priors), each setting is compiled in a fresh Python process, twice; the second
(PyTensor's on-disk kernel cache warm, as for any user after the first fit) is printed:

* ``nutpie``: ``nutpie.compile_pymc_model`` as it comes (PyTensor's "NUMBA" mode, in-place
  rewrites on), every deterministic drawn: the baseline;
* ``no-inplace``: nutpie's compile with in-place rewrites off only (resurv's earlier setting);
* ``resurv``: ``Fitter.compiled`` (``resurv.inference.fit.compile_settings``: in-place rewrites off,
  callbacks linked by symbol, no creation-site tracebacks), every deterministic drawn (a fit);
* ``calibration``: ``Fitter.compiled`` with only the deterministics a calibration replicate reads
  (``resurv.simulation.calibrate.TARGET_VARIABLES``).

The second process then samples the model three times with the same seed (4 chains of 500 + 500
draws, one core); printed: compile seconds, the median sampling seconds, both as ratios to the
baseline of the same run, and whether the draws equal the baseline's.

Run:  python benchmarks/bench_compile.py [MODEL ...] [--repeats N]
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "data/studies/nmc2020_sirt_prrt.toml"
PRIORS = ROOT / "priors/literature.toml"
MODELS = ("os_weibull", "pfs_weibull_separate")
SETTINGS = ("nutpie", "no-inplace", "resurv", "calibration")


def one(model: str, setting: str, repeats: int) -> dict:
    """Compile ``model`` under ``setting`` in this process and sample it ``repeats`` times."""
    import numpy as np
    import nutpie

    from resurv.api import build, load_data
    from resurv.inference.fit import Fitter, model_data_values, without_inplace_rewrites
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.simulation.calibrate import TARGET_VARIABLES

    built = build(
        load_model_spec(ROOT / "models" / f"{model}.toml"), load_priors(PRIORS), load_data(STUDY)
    )
    start = time.perf_counter()
    if setting in ("nutpie", "no-inplace"):
        with without_inplace_rewrites() if setting == "no-inplace" else nullcontext():
            compiled = nutpie.compile_pymc_model(built.model)
        compiled = compiled.with_data(**model_data_values(built.model))
    else:
        names = list(TARGET_VARIABLES) if setting == "calibration" else None
        compiled = Fitter().compiled(built, names)
    compile_seconds = time.perf_counter() - start
    sample_seconds, tree = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        tree = nutpie.sample(
            compiled,
            draws=500,
            tune=500,
            chains=4,
            cores=1,
            seed=1,
            target_accept=built.target_accept or 0.9,
            progress_bar=False,
        )
        sample_seconds.append(time.perf_counter() - start)
    if tree is None:
        return {"compile": compile_seconds}
    # every setting draws the arms' medians (a function of all the parameters)
    draws = np.ascontiguousarray(tree.posterior["median_months"].values)
    return {
        "compile": compile_seconds,
        "sample": float(np.median(sample_seconds)),
        "draws": hashlib.sha256(draws.tobytes()).hexdigest(),
    }


def run(model: str, setting: str, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", model, setting, str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(models=MODELS, repeats: int = 3) -> None:
    for model in models:
        results = {}
        for setting in SETTINGS:
            run(model, setting, 0)  # fills the kernel cache for this setting
            results[setting] = run(model, setting, repeats)
        base = results["nutpie"]
        for setting, r in results.items():
            print(
                f"{model}, {setting}: compile {r['compile']:.1f} s "
                f"(ratio to nutpie {r['compile'] / base['compile']:.2f}), "
                f"sampling {r['sample']:.1f} s (ratio {r['sample'] / base['sample']:.2f}), "
                f"draws {'identical to' if r['draws'] == base['draws'] else 'DIFFERENT from'} "
                "nutpie's"
            )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        args = sys.argv[1:]
        repeats = 3
        if "--repeats" in args:
            at = args.index("--repeats")
            repeats = int(args[at + 1])
            del args[at : at + 2]
        main(tuple(args) or MODELS, repeats)
