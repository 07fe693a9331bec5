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

* ``graph_nodes`` / ``rewritten_nodes``: Apply nodes of the log density and its gradient as
  nutpie builds them, before and after the NUMBA mode's rewrites, and ``rewrite`` /
  ``rewrite_cpu`` the wall-clock and CPU seconds of those rewrites (a process of its own, no
  numba compile; ``--rewrite-only`` stops here);
* ``nodes``: Apply nodes of nutpie's two compiled functions (log density with gradient, and the
  expansion); each is one numba kernel;
* ``cold`` / ``warm`` (and ``_cpu``): wall-clock and CPU seconds of ``Fitter.compiled``
  (rewrites, numba/LLVM, nutpie callbacks); CPU seconds are the fairer measure on a shared
  machine;
* ``sample``: seconds of one ``nutpie.sample`` (4 chains of 500 + 500 draws, one core, seed 1),
  in the warm process,

and the ratios after / before. Heavy: on a busy 2-core machine a cold compile takes minutes.

Run:  python benchmarks/bench_kernels.py [--before REV] [--cases NAME ...] [--no-sample]
      [--rewrite-only]
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


def rewrite_census(model) -> dict:
    """Nodes of the log density and its gradient before and after the NUMBA mode's rewrites.

    The graph is built as nutpie builds it (the log density canonicalised and stabilised, then
    differentiated); the rewrites run on a copy. Returns the node counts and the wall-clock and
    CPU seconds of the rewrites (CPU seconds are the fairer measure on a shared machine).
    """
    import pytensor.tensor as pt
    from pytensor.compile.mode import get_mode
    from pytensor.graph.basic import Constant
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.rewriting.utils import rewrite_graph
    from pytensor.graph.traversal import graph_inputs

    logp = rewrite_graph(model.logp(), include=["canonicalize", "stabilize"])
    outputs = [logp, *pt.grad(logp, model.value_vars)]
    inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    fgraph = FunctionGraph(inputs, outputs, clone=True)
    before = len(fgraph.apply_nodes)
    wall, cpu = time.perf_counter(), time.process_time()
    get_mode("NUMBA").excluding("inplace").optimizer.rewrite(fgraph)
    return {
        "graph_nodes": before,
        "rewritten_nodes": len(fgraph.apply_nodes),
        "rewrite": time.perf_counter() - wall,
        "rewrite_cpu": time.process_time() - cpu,
    }


def one(tree: str, case: str, sample: bool, rewrite: bool) -> dict:
    """Compile ``case`` from the sources of ``tree`` in this process (sample it if asked)."""
    import numpy as np
    import nutpie

    from resurv.inference.fit import Fitter

    built = _built(Path(tree), case)
    if rewrite:
        return rewrite_census(built.model)
    start, cpu = time.perf_counter(), time.process_time()
    compiled = Fitter().compiled(built)
    result = {"compile": time.perf_counter() - start, "compile_cpu": time.process_time() - cpu}
    result["nodes"] = sum(
        len(f.maker.fgraph.apply_nodes) for f in (compiled.logp_func, compiled.expand_func)
    )
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


def measure(tree: Path, case: str, scratch: Path, sample: bool, compile_: bool) -> dict:
    """Rewrite census, then cold and warm compile of ``case`` from ``tree`` (own cache)."""
    cache = Path(tempfile.mkdtemp(prefix=f"{case}-", dir=scratch))
    result = _run(tree, case, cache, sample=False, rewrite=True)
    if not compile_:
        return result
    cold = _run(tree, case, cache, sample=False, rewrite=False)
    warm = _run(tree, case, cache, sample=sample, rewrite=False)
    result |= {"cold": cold["compile"], "cold_cpu": cold["compile_cpu"]}
    result |= {"warm": warm["compile"], "warm_cpu": warm["compile_cpu"]}
    return result | {k: v for k, v in warm.items() if k not in ("compile", "compile_cpu")}


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
    parser.add_argument(
        "--rewrite-only", action="store_true", help="only the graph census (no numba compile)"
    )
    parser.add_argument("--scratch", default=None, help="folder for the trees and caches")
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="bench_kernels-"))
    before = _extract(args.before, Path(tempfile.mkdtemp(prefix="before-", dir=scratch)))
    keys = ("graph_nodes", "rewritten_nodes", "rewrite", "rewrite_cpu")
    if not args.rewrite_only:
        keys += ("nodes", "cold", "cold_cpu", "warm", "warm_cpu")
        keys += () if args.no_sample else ("sample",)
    for case in args.cases:
        results = {
            name: measure(tree, case, scratch, not args.no_sample, not args.rewrite_only)
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
