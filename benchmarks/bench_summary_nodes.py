"""Accuracy and gradient cost of the summary-data likelihood against its quadrature settings.

For the bundled study's OS (Weibull PH) and PFS (Weibull, separate arms) summary models, the
summary log likelihood (every likelihood potential) is evaluated at posterior draws of the main
report's fits, with the default settings (``SUMMARY_NODES`` Gauss–Legendre nodes per piece,
``CONDITIONAL_GRID_POINTS`` for the SPSS mean given its horizon), with a coarser rule
(16 nodes, 128 grid points), with the default rule but the SPSS mean's inner area ∫_u^τ S
computed by its own Gauss–Legendre sum at every node ("nested", the baseline: n² survival
evaluations per piece instead of n + 1) and with a reference (96 nodes, 1024 grid points).
Printed: the largest and the 99th-percentile absolute error against the reference, and the time
of one gradient evaluation (numba, one core) as a ratio to the nested baseline in the same run.

Run:  python benchmarks/bench_summary_nodes.py [--draws 200] [--repeat 200]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pytensor
import xarray as xr

from resurv.io import modelspec, priors, study
from resurv.models import summary_data as summary_model
from resurv.statistics import base, rmean

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "data/studies/nmc2020_sirt_prrt.toml"
FITS = ROOT / "reports/nmc2020_sirt_prrt/fits"
CASES = [
    ("os_weibull", "literature"),
    ("os_weibull", "vague"),
    ("pfs_weibull_separate", "literature"),
    ("pfs_weibull_separate", "vague"),
]
SETTINGS = {
    "default": (base.SUMMARY_NODES, rmean.CONDITIONAL_GRID_POINTS),
    "nested": (base.SUMMARY_NODES, rmean.CONDITIONAL_GRID_POINTS),
    "coarse": (16, 128),
    "reference": (96, 1024),
}
COMPARED = ("default", "nested", "coarse")


def _pointwise(self, u, piece):
    """The baseline: every influence evaluated node by node (nested integrals)."""
    return self.log_abs(u)


def build(model_name: str, prior_name: str, label: str):
    """Summary model with the quadrature settings ``label`` of SETTINGS."""
    n_nodes, grid_points = SETTINGS[label]
    spec = modelspec.load_model_spec(ROOT / f"models/{model_name}.toml")
    prior_file = priors.load_priors(ROOT / f"priors/{prior_name}.toml")
    saved = rmean.CONDITIONAL_GRID_POINTS, base.ArmInfluence.log_abs_at
    rmean.CONDITIONAL_GRID_POINTS = grid_points
    if label == "nested":
        base.ArmInfluence.log_abs_at = _pointwise
    try:
        return summary_model.build_survival_summary(
            spec, prior_file, study.load_study(STUDY), n_nodes=n_nodes
        )
    finally:
        rmean.CONDITIONAL_GRID_POINTS, base.ArmInfluence.log_abs_at = saved


def loglik_function(built):
    """Compiled map from the free random variables (constrained) to the summary log likelihood."""
    model = built.model
    terms = [p for p in model.potentials if p.name in built.potential_terms]
    inputs = list(model.free_RVs)
    return inputs, pytensor.function(inputs, sum(terms), on_unused_input="ignore")


def draws_for(inputs, model_name: str, prior_name: str, n_draws: int, rng):
    path = FITS / f"nmc2020_sirt_prrt__{model_name}__{prior_name}" / "posterior.nc"
    post = xr.open_datatree(path).posterior.to_dataset()
    stacked = post.stack(sample=("chain", "draw"))
    pick = rng.choice(stacked.sizes["sample"], size=n_draws, replace=False)
    return [[np.asarray(stacked[v.name].values[..., k]) for v in inputs] for k in pick]


def gradient_seconds(built, repeat: int) -> float:
    model = built.model
    dlogp = model.compile_dlogp(mode="NUMBA")
    point = model.initial_point()
    dlogp(point)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            dlogp(point)
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        "settings: "
        + ", ".join(f"{k} = {n} nodes, {g} grid points" for k, (n, g) in SETTINGS.items())
    )
    for model_name, prior_name in CASES:
        rng = np.random.default_rng(args.seed)
        values, seconds = {}, {}
        for label in SETTINGS:
            built = build(model_name, prior_name, label)
            inputs, f = loglik_function(built)
            if label == "default":
                points = draws_for(inputs, model_name, prior_name, args.draws, rng)
            values[label] = np.array([f(*p) for p in points])
            if label != "reference" and prior_name == "literature":
                seconds[label] = gradient_seconds(built, args.repeat)
        for label in COMPARED:
            error = np.abs(values[label] - values["reference"])
            print(
                f"{model_name} x {prior_name}, {label}: |log lik error| max {error.max():.2e}, "
                f"99th percentile {np.quantile(error, 0.99):.2e} ({args.draws} posterior draws)"
            )
        if seconds:
            print(
                f"{model_name}: gradient "
                + ", ".join(
                    f"{label} {seconds[label] * 1e6:.0f} us "
                    f"(ratio to nested {seconds[label] / seconds['nested']:.2f})"
                    for label in COMPARED
                )
            )


if __name__ == "__main__":
    main()
