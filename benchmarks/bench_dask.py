"""Speed-up of a calibration on a local Dask cluster of 2 workers over the serial run.

The calibration is the bundled study's OS design (``models/os_weibull.toml``, literature
priors, 500 + 500 draws, 2 chains, patient-data fits included; as
``reports/nmc2020_sirt_prrt/calibration/os_weibull``) with a few replicates. Measured:

- serial: ``calibrate`` in this process (nutpie samples the 2 chains on ``--serial-cores``
  threads, the default 2), once cold (compiles included, the kernel cache as it is) and once
  warm (the same compiled models, another seed);
- cluster: ``calibrate(..., cluster=ClusterOptions(client))`` on a ``LocalCluster`` of 2
  single-threaded worker processes (chains one after the other on each), cold (cluster start
  and each worker's compiles included) and warm (the same workers, another seed).

The two runs' tables must be equal (checked). From the warm cluster run: the time of one task
(one replicate's fits on one core, compiles excluded, as the workers measure it) and the
overhead per replicate (2 × wall time − Σ task time, over the replicates: scheduling, transfer,
idle workers at the end). Projected time of the 200-replicate PFS calibration
(``reports/nmc2020_sirt_prrt/calibration/pfs_weibull_separate``, whose ``calibration.json``
records its serial fit and compile times) on 32 single-core workers:

    T32 = start + compile + rounds × (t_pfs + overhead)

with t_pfs = the PFS serial seconds per replicate × (OS task time / OS serial seconds per
replicate, both warm), rounds = ceil(200 / (batch × 32)) × batch (``batches``: batch =
ceil(200 / 64)), compile between the largest structure's compile time (a worker meets one
structure) and the two largest (a worker gets two batches of different structures).

Run: ``.venv/bin/python benchmarks/bench_dask.py [--replicates 6] [--serial-cores 2]
[--no-ipd]`` (``--no-ipd``: summary-data fits only; the PFS projection then scales the PFS
calibration's per-replicate time, patient-data fits included, by the summary-only OS ratio).
The machine's load average is printed with the numbers: on a shared machine the speed-up
measures the share of the cores this benchmark got as well as the code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PFS = ROOT / "reports" / "nmc2020_sirt_prrt" / "calibration" / "pfs_weibull_separate"


def _calibrate(inputs, replicates, seed, settings, **kwargs):
    from resurv.simulation.calibrate import calibrate

    start = time.perf_counter()
    result = calibrate(*inputs, replicates=replicates, seed=seed, settings=settings, **kwargs)
    return result, time.perf_counter() - start


def _task_seconds(folder: Path) -> list[float]:
    """Each replicate's seconds on its worker, compiles excluded (from the checkpoint)."""
    from resurv.simulation.calibrate import CHECKPOINT_NAME

    lines = (folder / CHECKPOINT_NAME).read_text().splitlines()[1:]
    entries = [json.loads(line) for line in lines]
    return [e["seconds"] - sum(e["compiled"].values()) for e in entries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=6)
    parser.add_argument(
        "--no-ipd", action="store_true", help="summary-data fits only (no patient-data fits)"
    )
    parser.add_argument("--serial-cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from resurv.inference.cluster import ClusterOptions, cluster_client
    from resurv.inference.fit import Fitter, SamplerSettings
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.io.study import load_study

    inputs = (
        load_model_spec(ROOT / "models" / "os_weibull.toml"),
        load_priors(ROOT / "priors" / "literature.toml"),
        load_study(ROOT / "data" / "studies" / "nmc2020_sirt_prrt.toml"),
    )
    settings = SamplerSettings(draws=500, tune=500, chains=2, cores=args.serial_cores)
    n = args.replicates
    print(f"load average before: {os.getloadavg()}")

    fitter = Fitter(settings)
    ipd = not args.no_ipd
    serial_cold, t_serial_cold = _calibrate(inputs, n, args.seed, None, fitter=fitter, with_ipd=ipd)
    serial_warm, t_serial_warm = _calibrate(
        inputs, n, args.seed + 1, None, fitter=fitter, with_ipd=ipd
    )
    print(f"serial: cold {t_serial_cold:.1f} s, warm {t_serial_warm:.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        from resurv.simulation.calibrate import CHECKPOINT_NAME

        start = time.perf_counter()
        with cluster_client(ClusterOptions(workers=2)) as client:
            t_start = time.perf_counter() - start
            on = ClusterOptions(client=client)
            cold, t_cold = _calibrate(inputs, n, args.seed, settings, cluster=on, with_ipd=ipd)
            warm_dir = Path(tmp) / "warm"
            warm, t_warm = _calibrate(
                inputs,
                n,
                args.seed + 1,
                settings,
                cluster=on,
                checkpoint=warm_dir / CHECKPOINT_NAME,
                with_ipd=ipd,
            )
            tasks = _task_seconds(warm_dir)
    print(f"load average after: {os.getloadavg()}")
    for a, b in ((serial_cold, cold), (serial_warm, warm)):
        assert a.records.equals(b.records), "the cluster's records differ from the serial run's"
    t_dask_cold = t_start + t_cold
    print(f"cluster (2 workers): start {t_start:.1f} s, cold {t_cold:.1f} s, warm {t_warm:.1f} s")
    print(
        f"speed-up of --workers 2 over serial ({n} replicates): cold "
        f"{t_serial_cold / t_dask_cold:.2f} (compiles and cluster start included), warm "
        f"{t_serial_warm / t_warm:.2f}"
    )
    t_task = sum(tasks) / len(tasks)
    overhead = (2 * t_warm - sum(tasks)) / n
    serial_per_rep = t_serial_warm / n
    print(
        f"OS: task (one replicate on one core) {t_task:.2f} s; serial {serial_per_rep:.2f} s per "
        f"replicate ({args.serial_cores} cores); cluster overhead {overhead:.2f} s per replicate"
    )

    pfs = json.loads((PFS / "calibration.json").read_text())
    compiles = sorted(pfs["compile_seconds"].values(), reverse=True)
    pfs_serial = (pfs["total_seconds"] - sum(compiles)) / pfs["replicates"]
    t_pfs = pfs_serial * t_task / serial_per_rep
    replicates, workers = 200, 32
    batch = math.ceil(replicates / (2 * workers))
    rounds = math.ceil(replicates / (batch * workers)) * batch
    fit = rounds * (t_pfs + overhead)
    low, high = t_start + compiles[0] + fit, t_start + sum(compiles[:2]) + fit
    print(
        f"PFS calibration ({pfs['replicates']} replicates) serial as recorded: "
        f"{pfs['total_seconds']:.0f} s ({pfs_serial:.2f} s per replicate besides "
        f"{sum(compiles):.0f} s of compiles); projected task {t_pfs:.2f} s on one core"
    )
    print(
        f"projected 200-replicate PFS calibration on {workers} cores: {rounds} replicates per "
        f"worker (batches of {batch}) -> {low / 60:.1f} to {high / 60:.1f} min "
        f"(compiles {compiles[0]:.0f}-{sum(compiles[:2]):.0f} s, fits {fit:.0f} s)"
    )
    print(json.dumps({"settings": dataclasses.asdict(settings), "replicates": n, "ipd": ipd}))


if __name__ == "__main__":
    main()
