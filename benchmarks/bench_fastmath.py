"""Sampling speed with PyTensor's numba fast-math flags off (resurv's setting) and on.

resurv turns fast math off because with it the compiled log density rounds differently
depending on whether its kernels were compiled in the running process or loaded from PyTensor's
on-disk cache, so the same seed gave different draws on a fresh machine. This benchmark prices
that choice: for each setting, a fresh process compiles the bundled study's summary-data model
(``--model``, literature priors), samples it ``--repeats`` times with different seeds, and
reports the median sampling time and gradient evaluations per second. The two settings run in
the same invocation, one after the other; the ratio is printed.

Run: ``.venv/bin/python benchmarks/bench_fastmath.py [--model models/os_weibull.toml]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(model: str, repeats: int, fastmath: bool) -> dict:
    """Compile and sample in this process with numba fast math on or off (``Fitter.fastmath``)."""
    import numpy as np

    from resurv.api import build, load_data
    from resurv.inference.fit import Fitter
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors

    built = build(
        load_model_spec(ROOT / model),
        load_priors(ROOT / "priors/literature.toml"),
        load_data(ROOT / "data/studies/nmc2020_sirt_prrt.toml"),
    )
    fitter = Fitter(fastmath=fastmath)
    start = time.perf_counter()
    fitter.compiled(built)
    compile_s = time.perf_counter() - start
    seconds, steps = [], []
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        tree = fitter.sample(built, seed=seed, posterior_only=True)
        seconds.append(time.perf_counter() - start)
        steps.append(int(tree.sample_stats["n_steps"].sum()))
    return {
        "fastmath": fastmath,
        "compile_s": compile_s,
        "sample_s": float(np.median(seconds)),
        "gradients_per_s": float(np.median(np.array(steps) / np.array(seconds))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/os_weibull.toml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.repeats, args.child == "on")))
        return
    rows = {}
    for setting in ("off", "on"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--model",
                args.model,
                "--repeats",
                str(args.repeats),
                "--child",
                setting,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        rows[setting] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.model}, literature priors, {args.repeats} fits per setting (median)")
    print(f"{'fast math':>10} {'compile s':>10} {'sample s':>9} {'gradients/s':>12}")
    for setting, r in rows.items():
        print(
            f"{setting:>10} {r['compile_s']:10.1f} {r['sample_s']:9.2f}"
            f" {r['gradients_per_s']:12.0f}"
        )
    print(
        "sampling time off/on: "
        f"{rows['off']['sample_s'] / rows['on']['sample_s']:.2f}; gradient rate off/on: "
        f"{rows['off']['gradients_per_s'] / rows['on']['gradients_per_s']:.2f}"
    )


if __name__ == "__main__":
    main()
