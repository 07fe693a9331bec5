"""``resurv freq`` against lifelines and the library; ``resurv simulate`` against its model and
through a fit that recovers the simulated parameters."""

import csv
import json

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test

from helpers import MODELS, PRIORS
from resurv.cli import main
from resurv.statistics.frequentist import format_table, frequentist_summary


@pytest.fixture(autouse=True)
def numpy_warns():
    # lifelines silences NumPy warnings globally (np.seterr); restore them around each test
    with np.errstate(all="warn", under="ignore"):
        yield


def write_csv(path, rows, header=("time", "event", "arm")):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def trial_csv(tmp_path, rng):
    """40 + 35 patients with ties (times rounded to whole days) and censoring."""
    n = (40, 35)
    rows = []
    for j, (label, scale) in enumerate((("control", 300.0), ("treated", 480.0))):
        t = np.ceil(rng.exponential(scale, n[j]))
        c = np.ceil(rng.uniform(200.0, 900.0, n[j]))
        rows += [(float(min(a, b)), int(a <= b), label) for a, b in zip(t, c)]
    return write_csv(tmp_path / "trial.csv", rows, header=("days", "dead", "group"))


CSV_ARGS = [
    "--time-column",
    "days",
    "--event-column",
    "dead",
    "--arm-column",
    "group",
    "--time-unit",
    "days",
    "--reference-arm",
    "control",
]


def test_freq_json_matches_library_and_lifelines(trial_csv, capsys):
    assert main(["freq", str(trial_csv), "--json", *CSV_ARGS]) == 0
    printed = json.loads(capsys.readouterr().out)
    frame = pd.read_csv(trial_csv)
    months = frame["days"].to_numpy(float) * 12 / 365.25
    event = frame["dead"].to_numpy(bool)
    arm = (frame["group"] == "treated").to_numpy(int)
    summary = frequentist_summary(months, event, arm, arm_labels=("control", "treated"))
    assert list(printed["arms"]) == ["control", "treated"]
    for label in ("control", "treated"):
        for key in ("n", "events", "median", "rmean", "rmean_se", "rmean_tau"):
            assert printed["arms"][label][key] == pytest.approx(summary["arms"][label][key])
        # JSON has no infinity: a confidence limit not reached is null
        ci = [
            None if np.isinf(v) else pytest.approx(v) for v in summary["arms"][label]["median_ci"]
        ]
        assert printed["arms"][label]["median_ci"] == ci
    for key in ("logrank_chisq", "logrank_p", "cox_log_hr", "cox_se"):
        assert printed[key] == pytest.approx(summary[key])

    # independent reference: lifelines
    for j, label in enumerate(("control", "treated")):
        kmf = KaplanMeierFitter().fit(months[arm == j], event[arm == j])
        assert printed["arms"][label]["median"] == pytest.approx(kmf.median_survival_time_)
        assert printed["arms"][label]["events"] == int(event[arm == j].sum())
    lr = logrank_test(months[arm == 0], months[arm == 1], event[arm == 0], event[arm == 1])
    assert printed["logrank_chisq"] == pytest.approx(lr.test_statistic, rel=1e-8)
    assert printed["logrank_p"] == pytest.approx(lr.p_value, rel=1e-8)
    cph = CoxPHFitter().fit(pd.DataFrame({"T": months, "E": event, "arm": arm}), "T", "E")
    assert printed["cox_log_hr"] == pytest.approx(cph.params_["arm"], abs=1e-6)
    assert printed["cox_se"] == pytest.approx(cph.standard_errors_["arm"], rel=1e-5)

    # the table is format_table of the same summary
    assert main(["freq", str(trial_csv), *CSV_ARGS]) == 0
    assert capsys.readouterr().out.strip() == format_table(summary).strip()


def test_freq_bad_input_exits_2(tmp_path, trial_csv, capsys):
    assert main(["freq", str(trial_csv)]) == 2  # default columns time,event,arm are missing
    assert "time" in capsys.readouterr().err
    bad = write_csv(tmp_path / "bad.csv", [(1.0, 2, "a"), (2.0, 0, "b")])
    assert main(["freq", str(bad)]) == 2
    assert "must be 0 or 1" in capsys.readouterr().err
    assert main(["freq", str(trial_csv), *CSV_ARGS, "--entry-column", "days"]) == 2


SIM = ["--median", "10", "--n", "20", "20", "--accrual", "12", "--followup", "12"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--family", "weibull", *SIM], "--shape"),  # a Weibull needs its shape
        (["--family", "exponential", "--shape", "1.2", *SIM], "--shape"),
        (["--family", "weibull", "--shape", "-1", *SIM], "shape must be > 0"),
        (["--family", "gamma", *SIM], "--family"),
        (["--family", "pwexp", *SIM], "--family"),
        (["--family", "exponential", *SIM, "--dropout", "-0.1"], "--dropout"),
        (["--family", "exponential", *SIM[:5], "--accrual", "0", "--followup", "12"], "--accrual"),
        (["--family", "exponential", "--median", "0", *SIM[2:]], "--median"),
        (["--family", "exponential", "--median", "nan", *SIM[2:]], "finite"),
        (["--family", "exponential", "--n", "0", "5", *SIM[:2], *SIM[5:]], "--n"),
        (["--family", "exponential", *SIM, "--n", "3", "4", "5"], "one arm size"),
    ],
)
def test_simulate_bad_arguments_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "sim.csv"
    assert main(["simulate", *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--family", "exponential", *SIM],  # no --out
        ["--family", "exponential", *SIM, "--log-hr", "0.1", "--log-tr", "0.1", "--out", "x.csv"],
    ],
)
def test_simulate_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", *args])
    assert info.value.code == 2


def test_simulate_follows_its_model(tmp_path):
    """Exponential, no censoring in practice: mean times n₀ ≈ m/ln2 and the HR scales them."""
    out = tmp_path / "sim.csv"
    args = [
        "--quiet",
        "simulate",
        "--family",
        "exponential",
        "--median",
        "10",
        "--log-hr",
        str(np.log(0.5)),
        "--n",
        "3000",
        "3000",
        "--accrual",
        "1",
        "--followup",
        "2000",
        "--seed",
        "4",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time", "event", "arm"]
    assert frame["event"].all()
    for j, mean in ((0, 10 / np.log(2)), (1, 20 / np.log(2))):
        times = frame.loc[frame["arm"] == j, "time"]
        assert len(times) == 3000
        assert abs(times.mean() - mean) < 4 * mean / np.sqrt(3000)
    # the same seed gives the same file
    again = tmp_path / "again.csv"
    assert main([*args[:-2], "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    # AFT: log-normal arm medians in the time ratio
    aft = tmp_path / "aft.csv"
    assert (
        main(
            [
                "--quiet",
                "simulate",
                "--family",
                "lognormal",
                "--median",
                "10",
                "--shape",
                "0.8",
                "--log-tr",
                str(np.log(1.5)),
                "--n",
                "3000",
                "3000",
                "--accrual",
                "1",
                "--followup",
                "2000",
                "--out",
                str(aft),
            ]
        )
        == 0
    )
    frame = pd.read_csv(aft)
    medians = frame.groupby("arm")["time"].median()
    assert medians[0] == pytest.approx(10, rel=0.08)
    assert medians[1] == pytest.approx(15, rel=0.08)


@pytest.mark.slow
def test_simulate_then_fit_recovers_parameters(tmp_path, capsys):
    truth = {"median_months[0]": 12.0, "shape": 1.5, "log_hr": -0.5}
    sim = tmp_path / "sim.csv"
    assert (
        main(
            [
                "--quiet",
                "simulate",
                "--family",
                "weibull",
                "--median",
                "12",
                "--shape",
                "1.5",
                "--log-hr",
                "-0.5",
                "--n",
                "120",
                "120",
                "--accrual",
                "24",
                "--followup",
                "18",
                "--seed",
                "5",
                "--out",
                str(sim),
            ]
        )
        == 0
    )
    out = tmp_path / "fit"
    code = main(
        [
            "--quiet",
            "fit",
            str(MODELS / "os_weibull.toml"),
            "--data",
            str(sim),
            "--priors",
            str(PRIORS / "vague.toml"),
            "--out",
            str(out),
            "--draws",
            "500",
            "--tune",
            "500",
            "--chains",
            "2",
            "--seed",
            "2",
            "--strict",
        ]
    )
    assert code == 0
    summary = pd.read_csv(out / "summary.csv", index_col="quantity")
    for name, value in truth.items():
        low, high = summary.loc[name, ["eti95_lb", "eti95_ub"]]
        assert low < value < high, (name, low, high)
    # the median of the comparator follows from PH: m₁ = m₀ · HR^(−1/k)
    low, high = summary.loc["median_months[1]", ["eti95_lb", "eti95_ub"]]
    assert low < 12.0 * np.exp(0.5 / 1.5) < high


def test_python_dash_m_runs_the_command_line():
    """``python -m resurv`` is the ``resurv`` command: same subcommands, exit code 2 on a bad one."""
    import subprocess
    import sys

    ok = subprocess.run(
        [sys.executable, "-m", "resurv", "--help"], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and "calibrate" in ok.stdout and "reconstruct" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "resurv", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
