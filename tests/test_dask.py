"""Calibrations and sweeps on a local Dask cluster of two worker processes: the tables equal the
serial run's byte for byte, a resumed run and a run that loses a worker lose nothing."""

from __future__ import annotations

import os
import signal

import distributed  # noqa: E402, F401  (the test extra installs it: a missing install fails, not skips)
import pandas as pd
import pytest

from helpers import MODELS, PRIORS, STUDY
from resurv.inference.cluster import ClusterOptions, batches, cluster_client  # noqa: E402
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.io.modelspec import load_model_spec  # noqa: E402
from resurv.io.priors import load_priors  # noqa: E402
from resurv.io.study import load_study  # noqa: E402
from resurv.simulation.calibrate import CHECKPOINT_NAME, calibrate  # noqa: E402

#: a tiny calibration: the exponential OS model, summary-data fits only, short chains
CALIBRATION = dict(
    replicates=4, seed=5, with_ipd=False, settings=SamplerSettings(draws=100, tune=100, chains=2)
)
TABLES = ("calibration.csv", "coverage.csv", "width_ratio.csv")


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes for the whole module (each compiles once)."""
    with cluster_client(ClusterOptions(workers=2)) as client:
        yield client


@pytest.fixture(scope="module")
def inputs():
    spec = load_model_spec(MODELS / "os_exponential.toml")
    return spec, load_priors(PRIORS / "literature.toml"), load_study(STUDY)


@pytest.fixture(scope="module")
def serial_fitter():
    """The serial runs' compile cache, shared by the module."""
    return Fitter(CALIBRATION["settings"])


@pytest.fixture(scope="module")
def serial_calibration(inputs, serial_fitter, tmp_path_factory):
    """The serial calibration's folder."""
    out = tmp_path_factory.mktemp("serial")
    calibrate(*inputs, **{**CALIBRATION, "settings": None}, fitter=serial_fitter).write(out)
    return out


def assert_same_tables(a, b):
    for name in TABLES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


class _Stop(Exception):
    pass


def test_calibration_on_two_workers_resumes_and_equals_the_serial_run(
    cluster, inputs, serial_calibration, serial_fitter, tmp_path
):
    out = tmp_path / "cal"
    checkpoint = out / CHECKPOINT_NAME

    def stop_after_one(done, total):
        if done == 1:
            raise _Stop

    # interrupted after one replicate (serially), then resumed on the cluster
    with pytest.raises(_Stop):
        calibrate(
            *inputs,
            **{**CALIBRATION, "settings": None},
            fitter=serial_fitter,
            checkpoint=checkpoint,
            progress=stop_after_one,
        )
    said = []
    result = calibrate(
        *inputs,
        **CALIBRATION,
        checkpoint=checkpoint,
        progress=lambda done, total: said.append((done, total)),
        cluster=ClusterOptions(client=cluster, batch_size=2),
    )
    assert result.timings["resumed_replicates"] == 1
    assert said == [(2, 4), (3, 4), (4, 4)]  # done / total as each replicate finishes
    result.write(out)
    assert_same_tables(out, serial_calibration)
    # the checkpoint holds each replicate once, whichever worker fitted it
    lines = checkpoint.read_text().splitlines()
    assert len(lines) == 1 + 4


def test_each_worker_compiles_in_its_own_directory(cluster):
    def compile_dir():
        import pytensor

        return str(pytensor.config.base_compiledir)

    dirs = cluster.run(compile_dir)
    assert len(set(dirs.values())) == 2
    assert all("resurv-workers" in d for d in dirs.values())


def test_sweep_on_two_workers_equals_the_serial_sweep(cluster, tmp_path):
    from resurv.inference.sweep import load_plan, run_plan

    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        'name = "plan"\n'
        f'studies = ["{STUDY}"]\n'
        f'models = ["{MODELS / "response.toml"}"]\n'
        f'priors = ["{PRIORS / "literature_robust.toml"}"]\n'
        "seed = 7\n"
        "[sampler]\ndraws = 300\ntune = 300\nchains = 2\n"
        '[[grid]]\nendpoint = "disease_control"\nparameter = "p_reference"\n'
        'argument = "weight"\nvalues = [0.0, 0.5, 1.0]\n'
    )
    plan = load_plan(plan_file)
    # an uninterrupted serial sweep: its own compile cache, each structure compiled with the
    # data of its first run in the plan
    run_plan(plan, tmp_path / "serial", fitter=Fitter(plan.settings))
    said = []
    table = run_plan(
        plan, tmp_path / "cluster", progress=said.append, cluster=ClusterOptions(client=cluster)
    )
    assert len(table) and len(said) == 4
    assert said[-1].endswith("(4/4)") and all(s.startswith("fitted response × ") for s in said)
    for name in ("sweep.csv",):
        assert (tmp_path / "cluster" / name).read_bytes() == (
            tmp_path / "serial" / name
        ).read_bytes()
    # the command line on the same cluster, by its scheduler's address
    from resurv.cli import main

    code = main(
        ["--quiet", "sweep", str(plan_file), "--out", str(tmp_path / "cli")]
        + ["--scheduler", cluster.scheduler.address]
    )
    assert code == 0
    assert (tmp_path / "cli" / "sweep.csv").read_bytes() == (
        tmp_path / "serial" / "sweep.csv"
    ).read_bytes()
    # a rerun on the cluster reuses every run folder: nothing is sent to the workers
    said.clear()
    run_plan(
        plan, tmp_path / "cluster", progress=said.append, cluster=ClusterOptions(client=cluster)
    )
    assert said == []


def test_cli_calibrate_on_an_existing_scheduler(cluster, serial_calibration, tmp_path, capsys):
    from resurv.cli import main

    out = tmp_path / "cli"
    code = main(
        [
            "--quiet",
            "calibrate",
            str(MODELS / "os_exponential.toml"),
            "--data",
            str(STUDY),
            "--priors",
            str(PRIORS / "literature.toml"),
            "--replicates",
            "4",
            "--seed",
            "5",
            "--draws",
            "100",
            "--tune",
            "100",
            "--chains",
            "2",
            "--no-ipd",
            "--out",
            str(out),
            "--scheduler",
            cluster.scheduler.address,
        ]
    )
    assert code == 0
    assert_same_tables(out, serial_calibration)
    assert not (out / CHECKPOINT_NAME).exists()


def test_a_worker_killed_mid_run_loses_nothing(cluster, inputs, serial_calibration, tmp_path):
    killed = {}

    def kill_a_busy_worker(done, total):
        if killed:
            return
        busy = [addr for addr, keys in cluster.processing().items() if keys]
        assert busy, "no replicate in flight to lose"
        pid = cluster.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.update(address=busy[0], pid=pid, done=done)

    out = tmp_path / "killed"
    result = calibrate(
        *inputs,
        **CALIBRATION,
        checkpoint=out / CHECKPOINT_NAME,
        progress=kill_a_busy_worker,
        cluster=ClusterOptions(client=cluster, batch_size=1),
    )
    assert killed and killed["done"] < CALIBRATION["replicates"]
    result.write(out)
    assert_same_tables(out, serial_calibration)
    records = pd.read_csv(out / "calibration.csv")
    assert sorted(records["replicate"].unique()) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["--workers", "0"], "--workers: must be a positive whole number"),
    ],
)
def test_cli_refuses_a_bad_cluster_option(tmp_path, capsys, args, rule):
    from helpers import assert_refused
    from resurv.cli import main

    out = tmp_path / "out"
    code = main(
        ["calibrate", str(MODELS / "os_exponential.toml"), "--data", str(STUDY), "--out", str(out)]
        + args
    )
    assert_refused(code, capsys.readouterr().err, out, rule)


def test_workers_and_scheduler_together_are_refused(capsys):
    from resurv.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["sweep", "plan.toml", "--out", "o", "--workers", "2", "--scheduler", "tcp://x:1"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_batches_hold_one_structure_each_and_split_the_work():
    groups = [("a", list(range(7))), ("b", [10, 11])]
    got = batches(groups, n_workers=2)  # at most ceil(9 / 4) = 3 per batch
    assert got == [[0, 1, 2], [3, 4, 5], [6], [10, 11]]
    assert batches(groups, n_workers=2, batch_size=1) == [[x] for x in [*range(7), 10, 11]]


def test_serial_runs_do_not_import_dask():
    import subprocess
    import sys

    code = (
        "import sys; import resurv.cli, resurv.simulation.calibrate, resurv.inference.sweep; "
        "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "False", done.stderr
