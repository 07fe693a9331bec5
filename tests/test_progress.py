"""Progress of `resurv run`, `sweep` and `calibrate`: a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from helpers import MODELS, PRIORS, STUDY
from resurv.inference.progress import ProgressDisplay, format_duration


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_format_duration():
    assert format_duration(0) == "0:00"
    assert format_duration(59.6) == "1:00"
    assert format_duration(605) == "10:05"
    assert format_duration(3 * 3600 + 61) == "3:01:01"


def test_plain_lines_when_not_a_terminal():
    clock, out = Clock(), io.StringIO()
    shown = ProgressDisplay(out, "runs", clock=clock)
    assert not shown.terminal
    shown.message("fitting a × b")
    clock.now += 30
    shown.step(1, 4, "a × b")
    clock.now += 30
    shown.step(2, 4, "a × c")
    shown.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "fitting a × b (0 runs · 0:00 elapsed)",
        "[1/4] a × b done · 1/4 runs · 0:30 elapsed · about 1:30 left",
        "[2/4] a × c done · 2/4 runs · 1:00 elapsed · about 1:00 left",
    ]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_bar_redrawn_in_place_on_a_terminal():
    clock, out = Clock(), Terminal()
    shown = ProgressDisplay(out, "replicates", clock=clock)
    assert shown.terminal
    clock.now += 10
    shown.step(1, 4, "replicate 1")
    text = out.getvalue()
    assert text.startswith("\r[######------------------] 1/4 replicates · 0:10 elapsed")
    assert "about 0:30 left" in text and text.endswith("\x1b[K") and "\n" not in text
    clock.now += 30
    shown.step(4, 4, "replicate 4")
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("[########################] 4/4 replicates · 0:40 elapsed")
    assert "left" not in last and last.endswith("\n")  # finished: the line is closed


def test_a_resumed_job_estimates_from_the_steps_it_did():
    clock, out = Clock(), io.StringIO()
    shown = ProgressDisplay(out, "replicates", clock=clock)
    clock.now += 20
    shown.step(51, 100)  # replicates 1-50 were done before (a checkpoint)
    assert shown.left() == pytest.approx(20 * 49)


def _fake_run_plan(plan, out, *, progress=None, steps=None, command="", fitter=None, cluster=None):
    labels = ["response × vague", "response × literature"]
    for k, label in enumerate(labels, start=1):
        if progress:
            progress(f"fitting {label}")
        if steps:
            steps(k, len(labels), label)
    return pd.DataFrame({"model": ["response"], "priors": ["vague"], "gates_passed": [True]})


def test_sweep_shows_plain_progress_lines_on_stderr(tmp_path, monkeypatch, capsys):
    from resurv import cli
    from resurv.inference import sweep

    plan = tmp_path / "plan.toml"
    plan.write_text(
        f'studies = ["{STUDY}"]\nmodels = ["{MODELS / "response.toml"}"]\n'
        f'priors = ["{PRIORS / "vague.toml"}", "{PRIORS / "literature.toml"}"]\n'
    )
    monkeypatch.setattr(sweep, "run_plan", _fake_run_plan)
    assert cli.main(["sweep", str(plan), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("fitting response × vague (0 runs · ")
    assert err[1].startswith("[1/2] response × vague done · 1/2 runs · ")
    assert "left" in err[1]
    assert err[3].startswith("[2/2] response × literature done · 2/2 runs · ")
    assert cli.main(["--quiet", "sweep", str(plan), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err == ""
