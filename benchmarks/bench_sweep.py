"""Wall time of a 20-setting prior sweep: compile once and swap ``pm.Data`` vs recompile each time.

The model is the OS Weibull PH model fitted to simulated patient data (60 patients), the sweep
20 values of the log-HR prior's SD. "Compile once" is :class:`resurv.inference.fit.Fitter` (one
``nutpie.compile_pymc_model``, then ``with_data`` per setting); "recompile" builds and compiles
the model afresh for every setting, as a sweep without ``pm.Data`` priors must. Both sample the
same draws with the same seeds, so their posteriors must agree exactly.

"C" is the sweep's own per-setting work, ``Fitter.sample`` (sampling, then the pointwise
log-likelihood and log-prior, compiled once per model structure); "C0" is the same sampling
followed by PyMC's ``compute_log_likelihood`` and ``compute_log_prior``, which compile their
functions afresh on every call (the code before the pointwise density was compiled once). C and
C0 alternate setting by setting, so both see the same machine load; their values must be equal.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--settings 20] [--draws 1000]
[--skip-recompile]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import nutpie
import pandas as pd
from pymc.stats.log_density import compute_log_likelihood, compute_log_prior

from resurv.api import build, load_data
from resurv.inference.fit import Fitter, SamplerSettings, exact_arithmetic, model_data_values
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors, with_argument

ROOT = Path(__file__).resolve().parents[1]


def simulated_study(folder: Path, n: int = 60, seed: int = 5):
    rng = np.random.default_rng(seed)
    arm = np.repeat([0, 1], n // 2)
    shape, median, log_hr = 1.2, 30.0, -0.5
    scale = median / np.log(2) ** (1 / shape)
    t = scale * (rng.exponential(size=n) * np.exp(-log_hr * arm)) ** (1 / shape)
    c = rng.uniform(20, 80, size=n)
    path = folder / "ipd.csv"
    pd.DataFrame(
        {"time": np.minimum(t, c), "event": (t <= c).astype(int), "arm": np.where(arm, "B", "A")}
    ).to_csv(path, index=False)
    return load_data(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=int, default=20)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument(
        "--skip-recompile", action="store_true", help="leave out B (recompiling every setting)"
    )
    args = parser.parse_args()
    settings = SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains)
    spec = load_model_spec(ROOT / "models" / "os_weibull.toml")
    base = load_priors(ROOT / "priors" / "vague.toml")
    sigmas = np.geomspace(0.05, 2.0, args.settings)
    with tempfile.TemporaryDirectory() as tmp:
        study = simulated_study(Path(tmp))
        priors = [
            base.replace("os", "log_hr", with_argument(base.priors["os"]["log_hr"], "sigma", s))
            for s in sigmas
        ]

        def sample(compiled, seed):
            return nutpie.sample(
                compiled,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                seed=seed,
                cores=settings.cores,
                target_accept=settings.target_accept,
                progress_bar=False,
            )

        # A: compile once, then swap the prior values (pm.Data) into the compiled model
        fitter = Fitter(settings)
        start = time.perf_counter()
        once = [sample(fitter.compiled(build(spec, p, study)), i) for i, p in enumerate(priors)]
        t_once = time.perf_counter() - start

        # B: rebuild and recompile for every setting
        start = time.perf_counter()
        again = []
        for i, p in enumerate(priors if not args.skip_recompile else []):
            built = build(spec, p, study)
            compiled = nutpie.compile_pymc_model(built.model)
            again.append(sample(compiled.with_data(**model_data_values(built.model)), i))
        t_again = time.perf_counter() - start

        # C: the sweep's own per-setting work (A plus log-likelihood, log-prior, constant data),
        # against the same work with PyMC's functions compiled afresh for every setting (the
        # code before the pointwise log density was compiled once), alternating setting by
        # setting so that both see the same machine load
        fitter.sample(build(spec, priors[0], study), seed=0)  # compiles the pointwise density
        t_full = t_fresh = t_sampling = 0.0
        value_gap = 0.0
        for i, p in enumerate(priors):
            built = build(spec, p, study)
            start = time.perf_counter()
            tree = fitter.sample(built, seed=i)
            t_full += time.perf_counter() - start
            start = time.perf_counter()
            fresh = fitter.sample(built, seed=i, posterior_only=True)
            t_sampling += time.perf_counter() - start
            with built.model, exact_arithmetic():
                compute_log_likelihood(fresh, var_names=built.likelihood_terms, progressbar=False)
                compute_log_prior(fresh, progressbar=False)
            t_fresh += time.perf_counter() - start
            for group in ("log_likelihood", "log_prior"):
                for name, values in tree[group].to_dataset().items():
                    gap = np.abs(values.values - fresh[group][name].values).max()
                    value_gap = max(value_gap, float(gap))

    t_compile = next(iter(fitter.compile_seconds.values()))
    means = [float(t.posterior["log_hr"].mean()) for t in once]
    n = len(priors)
    print(f"{args.settings}-setting sweep of os_weibull (IPD, 60 patients), log-HR prior SD")
    print(f"  {sigmas[0]:.3g} .. {sigmas[-1]:.3g}; {args.chains} chains × {args.draws} draws")
    print(f"  posterior mean log HR: {means[0]:.3f} (tightest) .. {means[-1]:.3f} (widest)")
    print(f"  A compile once + with_data:  {t_once:7.1f} s (of which compiling {t_compile:.1f} s)")
    if again:
        gap = max(
            float(np.abs(a.posterior["log_hr"].values - b.posterior["log_hr"].values).max())
            for a, b in zip(once, again, strict=True)
        )
        print(f"  B recompile every setting:   {t_again:7.1f} s")
        print(f"  ratio B / A: {t_again / t_once:.1f}x (target >= 8x)")
        print(f"  max |difference| of log-HR draws between A and B: {gap:.2e} (same seeds)")
    per_sampling = t_sampling / n
    print("  C Fitter.sample per setting (sampling + log-likelihood, log-prior), alternating")
    print("  with C0 (the same with PyMC's log-density functions):")
    print(f"    C  pointwise density compiled once:      {t_full / n:.3f} s")
    print(f"    C0 PyMC's functions compiled afresh:     {t_fresh / n:.3f} s")
    print(f"    of which sampling (in C0):               {per_sampling:.3f} s")
    print(f"    ratio C / C0: {t_full / t_fresh:.2f}")
    print(
        f"    beyond sampling, C: {t_full / n - per_sampling:.3f} s, "
        f"C0: {t_fresh / n - per_sampling:.3f} s"
    )
    print(f"    max |difference| of log-likelihood and log-prior values C vs C0: {value_gap:.2e}")


if __name__ == "__main__":
    main()
