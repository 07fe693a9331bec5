"""The main job through the command line: `resurv run PLAN --out DIR` and `resurv report DIR`.

A one-model plan keeps it fast; the session's compile cache stands in for the fitter the
command would create.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import MODELS, PRIORS, STUDY
from resurv import cli
from resurv.inference import sweep


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text(
        'name = "mini"\n'
        f'studies = ["{STUDY}"]\n'
        f'models = ["{MODELS / "response.toml"}"]\n'
        f'priors = ["{PRIORS / "skeptical.toml"}"]\n'
        "seed = 5\n"
    )
    return path


@pytest.fixture
def shared_fitter(monkeypatch, fitter):
    """Make the command use the session's compile cache instead of a new fitter."""
    monkeypatch.setattr(sweep, "Fitter", lambda settings: fitter)
    return fitter


def _outputs(folder):
    names = ["report.md", "index.html", "sweep.csv"]
    files = {n: (folder / n).read_bytes() for n in names}
    files.update(
        {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.glob("figures/*.png")}
    )
    files.update(
        {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.glob("fits/*/*.csv")}
    )
    return files


def test_run_writes_the_report_reuses_fits_and_report_rebuilds_it(
    plan_file, tmp_path, shared_fitter, monkeypatch, capsys
):
    out = tmp_path / "out"
    assert cli.main(["run", str(plan_file), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    first = _outputs(out)
    assert any(k.startswith("figures/") for k in first)
    table = pd.read_csv(out / "sweep.csv")
    assert set(table["model"]) == {"response"} and set(table["priors"]) == {"skeptical"}
    plan = json.loads((out / "plan.json").read_text())
    assert plan["seed"] == 5 and plan["command"].startswith("resurv ")

    # a rerun with unchanged inputs refits nothing and writes the same files
    def no_sampling(*args, **kwargs):
        raise AssertionError("a finished fit was refitted")

    monkeypatch.setattr(shared_fitter, "sample", no_sampling)
    assert cli.main(["--quiet", "run", str(plan_file), "--out", str(out)]) == 0
    assert _outputs(out) == first

    # resurv report rebuilds the same report from the saved results
    for name in ("report.md", "index.html"):
        (out / name).unlink()
    for png in (out / "figures").glob("*.png"):
        png.unlink()
    assert cli.main(["--quiet", "report", str(out)]) == 0
    assert _outputs(out) == first


def test_run_strict_exits_1_when_a_gate_failed(plan_file, tmp_path, shared_fitter, capsys):
    out = tmp_path / "out"
    assert cli.main(["--quiet", "run", str(plan_file), "--out", str(out)]) == 0
    (diag_path,) = out.glob("fits/*/diagnostics.json")
    diag = json.loads(diag_path.read_text())
    diag.update(passed=False, failures=["max R-hat 1.2 > 1.01"])
    diag_path.write_text(json.dumps(diag))
    assert cli.main(["--quiet", "run", str(plan_file), "--out", str(out), "--strict"]) == 1
    assert "CONVERGENCE GATES FAILED: response × skeptical" in capsys.readouterr().err
    md = (out / "report.md").read_text()
    sections = md.split("\n## ")
    assert sections[1].startswith("Conclusions")
    assert sections[2].startswith("⚠ Convergence gates failed")
    assert cli.main(["--quiet", "run", str(plan_file), "--out", str(out)]) == 0
