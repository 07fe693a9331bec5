"""Node count, compile and sampling time of the summary models, before and after, side by side.

For each summary-data model of the main plan on the bundled study (``os_weibull``,
``os_exponential``, ``pfs_weibull_separate``; literature priors) and the OS Weibull model on the
typical calibration design (``data/studies/design_typical_rct.toml`` with its design priors),
this compiles the model with ``Fitter.compiled`` (resurv's compile settings) in a fresh Python
process for two source trees: ``before``, the tree of a git revision (default ``main``) extracted
with ``git archive`` into a temporary folder, and ``after``, this checkout. Each tree gets an
empty kernel cache (``PYTENSOR_FLAGS=base_compiledir=…`` and an empty ``HOME``, so numba's and
PyTensor's caches start empty): the first process measures the cold compile, a second process
with the same cache the warm one. Printed per model and tree:

* ``nodes``: Apply nodes of the rewritten log-density-and-gradient graph plus those of the
  expansion graph (nutpie's two compiled functions); each is one numba kernel;
* ``rewrite``: seconds PyTensor's NUMBA-mode rewrites take on the log density and its gradient
  alone (measured separately in the warm process, on a copy of the graph);
* ``cold`` / ``warm``: seconds of ``Fitter.compiled`` (rewrites, numba/LLVM, nutpie callbacks);
* ``sample``: seconds of one ``nutpie.sample`` (4 chains of 500 + 500 draws, one core, seed 1),
  in the warm process,

and the ratios after / before. Heavy: on a busy 2-core machine a cold compile takes minutes.

Run:  python benchmarks/bench_kernels.py [--before REV] [--cases NAME ...] [--no-sample]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name: (study file, model file, prior file), paths relative to the tree's root
CASES = {
    "os_weibull": (
        "data/studies/nmc2020_sirt_prrt.toml",
        "models/os_weibull.toml",
        "priors/literature.toml",
    ),
    "os_exponential": (
        "data/studies/nmc2020_sirt_prrt.toml",
        "models/os_exponential.toml",
        "priors/literature.toml",
    ),
    "pfs_weibull_separate": (
        "data/studies/nmc2020_sirt_prrt.toml",
        "models/pfs_weibull_separate.toml",
        "priors/literature.toml",
    ),
    "typical_os_weibull": (
        "data/studies/design_typical_rct.toml",
        "models/os_weibull.toml",
        "priors/designs/typical_rct.toml",
    ),
}


def _built(tree: Path, case: str):
    from resurv.api import build, load_data
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors

    study, model, priors = CASES[case]
    return build(load_model_spec(tree / model), load_priors(tree / priors), load_data(tree / study))


def rewrite_seconds(model) -> float:
    """Seconds of the NUMBA mode's rewrites of the log density and its gradient (a copy)."""
    import pytensor.tensor as pt
    from pytensor.compile.mode import get_mode
    from pytensor.graph.fg import FunctionGraph

    logp = model.logp()
    grads = pt.grad(logp, model.value_vars)
    inputs = [v for v in model.value_vars]
    fgraph = FunctionGraph(inputs, [logp, *grads], clone=True)
    start = time.perf_counter()
    get_mode("NUMBA").optimizer.rewrite(fgraph)
    return time.perf_counter() - start


def one(tree: str, case: str, sample: bool, rewrite: bool) -> dict:
    """Compile ``case`` from the sources of ``tree`` in this process (sample it if asked)."""
    import numpy as np
    import nutpie

    from resurv.inference.fit import Fitter

    built = _built(Path(tree), case)
    start = time.perf_counter()
    compiled = Fitter().compiled(built)
    result = {"compile": time.perf_counter() - start}
    result["nodes"] = sum(
        len(f.maker.fgraph.apply_nodes) for f in (compiled.logp_func, compiled.expand_func)
    )
    if rewrite:
        result["rewrite"] = rewrite_seconds(built.model)
    if sample:
        start = time.perf_counter()
        tree_ = nutpie.sample(
            compiled,
            draws=500,
            tune=500,
            chains=4,
            cores=1,
            seed=1,
            target_accept=built.target_accept or 0.9,
            progress_bar=False,
        )
        result["sample"] = time.perf_counter() - start
        result["median_months"] = (
            np.asarray(tree_.posterior["median_months"]).mean(axis=(0, 1)).tolist()
        )
    return result


def _run(tree: Path, case: str, cache: Path, sample: bool, rewrite: bool) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src")
    env["HOME"] = str(cache / "home")
    env["PYTENSOR_FLAGS"] = f"base_compiledir={cache / 'pytensor'}"
    env["NUMBA_CACHE_DIR"] = str(cache / "numba")
    (cache / "home").mkdir(parents=True, exist_ok=True)
    args = [sys.executable, __file__, "--one", str(tree), case]
    args += ["--sample"] if sample else []
    args += ["--rewrite"] if rewrite else []
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(tree: Path, case: str, scratch: Path, sample: bool) -> dict:
    """Cold then warm compile of ``case`` from ``tree`` with a cache of its own."""
    cache = Path(tempfile.mkdtemp(prefix=f"{case}-", dir=scratch))
    cold = _run(tree, case, cache, sample=False, rewrite=False)
    warm = _run(tree, case, cache, sample=sample, rewrite=True)
    return {"cold": cold["compile"], **{k: v for k, v in warm.items() if k != "compile"}} | {
        "warm": warm["compile"]
    }


def _extract(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision of the 'before' code")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--no-sample", action="store_true", help="skip the sampling runs")
    parser.add_argument("--scratch", default=None, help="folder for the trees and caches")
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="bench_kernels-"))
    before = _extract(args.before, Path(tempfile.mkdtemp(prefix="before-", dir=scratch)))
    keys = ("nodes", "rewrite", "cold", "warm") + (() if args.no_sample else ("sample",))
    for case in args.cases:
        results = {
            name: measure(tree, case, scratch, not args.no_sample)
            for name, tree in (("before", before), ("after", ROOT))
        }
        parts = [
            f"{key} {results['before'][key]:.4g} -> {results['after'][key]:.4g} "
            f"(x{results['after'][key] / results['before'][key]:.2f})"
            for key in keys
        ]
        print(f"{case}: " + "; ".join(parts), flush=True)
        print(f"  {case} raw: {json.dumps(results)}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--one":
        flags = sys.argv[4:]
        print(json.dumps(one(sys.argv[2], sys.argv[3], "--sample" in flags, "--rewrite" in flags)))
    else:
        main()
