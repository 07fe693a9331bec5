"""Benchmark: Weibull PH fit of lifelines' lung data, nutpie against PyMC's own NUTS.

The same resurv model (``models/os_weibull.toml``, ``priors/vague.toml``; 228 patients, time
in days converted to months, arms by sex) is sampled in one run by

* nutpie (``nutpie.compile_pymc_model`` then ``nutpie.sample``), and
* PyMC's NUTS (``pm.sample(nuts_sampler="pymc")``),

with the same draws, tuning steps, chains, cores and seed. Reported per sampler: compile time
(nutpie: the numba compilation; PyMC: the compilation of the log-density and its gradient,
timed separately as ``model.compile_logp``/``compile_dlogp`` before sampling), sampling time,
minimum bulk ESS over the free parameters and ESS per second of sampling; then the ratios.

Run: ``.venv/bin/python benchmarks/bench_ipd_weibull.py [--draws N] [--tune N] [--chains N]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import arviz as az
import numpy as np
import nutpie
import pymc as pm
from lifelines.datasets import load_lung

from resurv.api import build, load_data
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors

ROOT = Path(__file__).resolve().parents[1]
FREE = ["median_reference", "shape", "log_hr"]


def lung_csv(folder: Path) -> Path:
    """Lung data as a resurv patient-data CSV (time in days, event 1 = death, arm = sex)."""
    raw = load_lung()
    path = folder / "lung.csv"
    raw[["time", "status", "sex"]].rename(columns={"status": "event", "sex": "arm"}).to_csv(
        path, index=False
    )
    return path


def min_ess(tree) -> float:
    """Smallest bulk ESS over the free parameters."""
    ess = az.ess(tree, var_names=FREE, method="bulk")
    return float(min(np.min(ess[v].values) for v in FREE))


def main() -> None:
    """Run both samplers on the same model and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        study = load_data(lung_csv(Path(tmp)), time_unit="days")
        spec = load_model_spec(ROOT / "models" / "os_weibull.toml")
        built = build(spec, load_priors(ROOT / "priors" / "vague.toml"), study)
    model = built.model
    common = dict(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)

    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    nutpie_compile = time.perf_counter() - start
    start = time.perf_counter()
    tree_nutpie = nutpie.sample(compiled, cores=args.cores, progress_bar=False, **common)
    nutpie_sample = time.perf_counter() - start

    start = time.perf_counter()
    model.compile_logp()
    model.compile_dlogp()
    pymc_compile = time.perf_counter() - start
    start = time.perf_counter()
    with model:
        tree_pymc = pm.sample(
            nuts_sampler="pymc",
            cores=args.cores,
            random_seed=args.seed,
            progressbar=False,
            compute_convergence_checks=False,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
        )
    pymc_total = time.perf_counter() - start
    pymc_sample = float(tree_pymc.posterior.attrs.get("sampling_time", pymc_total))

    rows = []
    for name, tree, compile_s, sample_s in (
        ("nutpie", tree_nutpie, nutpie_compile, nutpie_sample),
        ("pymc", tree_pymc, pymc_compile, pymc_sample),
    ):
        ess = min_ess(tree)
        divergences = int(tree.sample_stats["diverging"].sum())
        rows.append((name, compile_s, sample_s, ess, ess / sample_s, divergences))

    draws = args.chains * args.draws
    print(
        f"Weibull PH, lung data (228 patients), {args.chains} chains x {args.draws} draws "
        f"({args.tune} tuning), {args.cores} cores"
    )
    print(f"{'sampler':8} {'compile s':>10} {'sample s':>9} {'min ESS':>8} {'ESS/s':>9} {'div':>4}")
    for name, c, s, e, r, d in rows:
        print(f"{name:8} {c:10.2f} {s:9.2f} {e:8.0f} {r:9.1f} {d:4d}")
    (_, c_n, s_n, e_n, r_n, _), (_, c_p, s_p, e_p, r_p, _) = rows
    print(
        f"ratio nutpie/pymc: ESS per second {r_n / r_p:.2f}, sampling time {s_n / s_p:.2f}, "
        f"compile time {c_n / c_p:.2f}, min ESS {e_n / e_p:.2f} (of {draws} draws)"
    )
    for v in FREE:
        a, b = tree_nutpie.posterior[v].values, tree_pymc.posterior[v].values
        print(f"{v:17} posterior mean nutpie {a.mean():.4f}  pymc {b.mean():.4f}")


if __name__ == "__main__":
    main()
