"""Can the bundled study's published PFS summaries identify a cured fraction?

Profile likelihood of the reference arm's cured fraction π₀ under the mixture cure Weibull model
(each arm its own π, uncured median and shape): for each fixed π₀ on a grid, the summary-data
log-likelihood of the published PFS statistics (two "median not reached", two SPSS means with
SE, an unsigned log-rank p) plus the log prior of the follow-up design is maximized over every
other parameter (L-BFGS on the unconstrained scale, several starts). A flat profile means the
published numbers say nothing about π₀: whatever the posterior of π₀ shows then comes from its
prior.

Usage: python benchmarks/cure_identifiability.py [--out reports/cure_identifiability]
Writes profile.csv and README.md in the output folder.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

from resurv.api import build, load_data
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors

ROOT = Path(__file__).resolve().parents[1]
GRID = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
SURVIVAL_PRIORS = ("median", "shape", "cure_logit", "log_hr", "log_tr")


def profile(model_name: str = "pfs_cure_weibull", seed: int = 3) -> pd.DataFrame:
    """Maximum over the other parameters of log-likelihood + design log prior at each π₀."""
    study = load_data(ROOT / "data" / "studies" / "nmc2020_sirt_prrt.toml")
    spec = load_model_spec(ROOT / "models" / f"{model_name}.toml")
    built = build(spec, load_priors(ROOT / "priors" / "vague.toml"), study)
    model = built.model
    design = [rv for rv in model.free_RVs if not rv.name.startswith(SURVIVAL_PRIORS)]
    terms = [model[name] for name in built.likelihood_terms] + design
    logp = model.compile_logp(vars=terms, jacobian=False)
    dlogp = model.compile_dlogp(vars=terms, jacobian=False)
    point = model.initial_point()
    keys = list(point)
    fixed = model.rvs_to_values[model["cure_logit_reference"]].name
    free = [k for k in keys if k != fixed]
    sizes = {k: int(np.size(point[k])) for k in keys}
    rng = np.random.default_rng(seed)

    def unpack(x, c):
        p, i = dict(point), 0
        for k in free:
            p[k] = np.asarray(x[i : i + sizes[k]]).reshape(np.shape(point[k]))
            i += sizes[k]
        p[fixed] = np.asarray(c)
        return p

    order = [v.name for v in model.value_vars]

    def grad_free(p):
        g = dlogp(p)
        out, i = {}, 0
        for name in order:
            n = sizes[name]
            out[name] = g[i : i + n]
            i += n
        return np.concatenate([out[k] for k in free])

    rows = []
    for pi in GRID:
        c = special.logit(pi)
        best = -np.inf
        for _ in range(6):
            x0 = np.concatenate([np.ravel(point[k]) for k in free]) + rng.normal(
                0, 0.5, sum(sizes[k] for k in free)
            )
            res = optimize.minimize(
                lambda x, c=c: -float(logp(unpack(x, c))),
                x0,
                jac=lambda x, c=c: -grad_free(unpack(x, c)),
                method="L-BFGS-B",
            )
            if np.isfinite(res.fun):
                best = max(best, -res.fun)
        rows.append({"pi_reference": pi, "cure_logit_reference": c, "max_log_lik": best})
    table = pd.DataFrame(rows)
    table["relative"] = table["max_log_lik"] - table["max_log_lik"].max()
    return table


def main() -> None:
    """Run the profile and write profile.csv and README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "reports" / "cure_identifiability"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.time()
    table = profile()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "profile.csv", index=False)
    spread = float(table["relative"].min())
    lines = [
        "# Cured fraction from the bundled study's published PFS summaries",
        "",
        "Profile of the summary-data log-likelihood (plus the follow-up design's log prior) over",
        "the reference arm's cured fraction π₀, mixture cure Weibull with separate arms",
        "(`models/pfs_cure_weibull.toml`), every other parameter maximized.",
        "",
        table.to_markdown(index=False, floatfmt=".3f"),
        "",
        f"Largest drop from the maximum over π₀ in {GRID[0]}-{GRID[-1]}: {-spread:.3f} log units"
        f" (a drop of 1.92 is the edge of a 95% likelihood interval). Run time "
        f"{time.time() - start:.0f} s.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
