"""Which kernels of a compiled summary-data model PyTensor's on-disk numba cache cannot key.

PyTensor caches the numba function of a compiled graph across processes only when every Apply
node has a cache key (``numba_funcify_and_cache_key`` returns a key; constants are keyed by
their hash). This compiles one model of the bundled study (literature priors) with
``Fitter.compiled`` and prints, for nutpie's log-density and expand functions, the number of
nodes by Op, the nodes without a key (none: the whole graph is cacheable) and the array
constants baked into the graph.

Run: ``python benchmarks/kernel_cache_census.py [MODEL]`` (default ``os_weibull``)
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

from resurv.api import build, load_data
from resurv.inference.fit import Fitter
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors

ROOT = Path(__file__).resolve().parents[1]


def census(fgraph) -> tuple[collections.Counter, collections.Counter, list]:
    """(nodes by Op, nodes without a cache key by Op, array constants) of ``fgraph``."""
    total, unkeyed = collections.Counter(), collections.Counter()
    for node in fgraph.toposort():
        name = type(node.op).__name__
        scalar_op = getattr(node.op, "scalar_op", None)
        if scalar_op is not None:
            name += "/" + type(scalar_op).__name__
        total[name] += 1
        _, key = numba_funcify_and_cache_key(node.op, node=node)
        if key is None:
            unkeyed[name] += 1
    constants = [
        v
        for v in fgraph.variables
        if getattr(v, "data", None) is not None and getattr(v.data, "size", 1) > 1
    ]
    return total, unkeyed, constants


def main(model: str = "os_weibull") -> None:
    built = build(
        load_model_spec(ROOT / "models" / f"{model}.toml"),
        load_priors(ROOT / "priors/literature.toml"),
        load_data(ROOT / "data/studies/nmc2020_sirt_prrt.toml"),
    )
    start = time.perf_counter()
    compiled = Fitter().compiled(built)
    print(f"{model}: compiled in {time.perf_counter() - start:.1f} s")
    for label, function in (("logp", compiled.logp_func), ("expand", compiled.expand_func)):
        total, unkeyed, constants = census(function.maker.fgraph)
        print(f"  {label}: {sum(total.values())} nodes, {sum(unkeyed.values())} without a key")
        print(f"    by Op: {total.most_common(15)}")
        print(f"    without a key: {unkeyed.most_common(15)}")
        sizes = sorted(c.data.size for c in constants)
        print(f"    array constants: {len(constants)}, largest sizes {sizes[-5:]}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
