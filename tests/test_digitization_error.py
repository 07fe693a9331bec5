"""Sensitivity to digitization error of fits on digitized Kaplan–Meier curves.

``resurv run`` on a plan with a leukemia-size ``[[km_curve]]`` study refits the model on K = 2
reconstructions of perturbed digitizations, saves the spread of the posterior medians beside the
fit, and ``resurv report`` shows it in the fit's section with the saved numbers; the same plan
on the trial's patient data writes no such file and no such table. Few draws and one compiled
model for the whole module (the two studies have the same number of patients).
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from helpers import ROOT, leukemia_km_study
from resurv import cli
from resurv.inference import digitization_error, sweep
from resurv.inference.digitization_error import (
    FITS_FILE,
    SPREAD_FILE,
    DigitizationSettings,
    perturbed_patients,
    spread,
)
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.io.patient_data import load_ipd_for
from resurv.io.study import load_study
from resurv.report.document import _fmt as shown_number
from resurv.report.posterior_sections import DIGITIZATION_COLUMNS

PATIENTS = ROOT / "data" / "studies" / "leukemia_patients.toml"
TITLE = "Sensitivity to digitization error"
SETTINGS = SamplerSettings(draws=300, tune=300, chains=2)


def _plan(folder, study, name, extra=""):
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n'
        f'studies = ["{study}"]\n'
        f'models = ["{ROOT / "models" / "example_weibull.toml"}"]\n'
        f'priors = ["{ROOT / "priors" / "vague.toml"}"]\n'
        "seed = 11\n" + extra
    )
    return path


@pytest.fixture(scope="module")
def km_study(tmp_path_factory):
    return leukemia_km_study(tmp_path_factory.mktemp("curves"))


@pytest.fixture(scope="module")
def runs(km_study, tmp_path_factory):
    """``resurv run`` with K = 2 on the curves, then on the patient data; one compile cache."""
    folder = tmp_path_factory.mktemp("plans")
    fitter = Fitter(SETTINGS)
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep, "Fitter", lambda settings: fitter)
        for name, study in (("km", km_study), ("patients", PATIENTS)):
            plan = _plan(folder, study, name, "[digitization]\nperturbations = 3\n")
            out[name] = folder / f"out_{name}"
            argv = ["--quiet", "run", str(plan), "--out", str(out[name]), "--perturbations", "2"]
            assert cli.main(argv) == 0
    # the curves' reconstructions (perturbed or not) and the patient data: one compiled model
    assert len(fitter.compile_seconds) == 1
    out["fitter"] = fitter
    return out


def _run_folder(out):
    (folder,) = [p.parent for p in (out / "fits").glob("*/run.json")]
    return folder


def _report_table(markdown: str, caption_start: str) -> pd.DataFrame:
    """The Markdown table whose caption starts with ``caption_start``, as text cells."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("*_").startswith(caption_start))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if rows:
                break
            continue
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    header, body = rows[0], rows[2:]
    return pd.DataFrame(body, columns=header)


def test_the_report_shows_the_saved_spread_of_each_summary(runs):
    folder = _run_folder(runs["km"])
    record = json.loads((folder / "run.json").read_text())
    assert record["digitization"] == {"perturbations": 2, "time_sd": 0.003, "survival_sd": 0.004}
    saved = pd.read_csv(folder / SPREAD_FILE)
    fits = pd.read_csv(folder / FITS_FILE)
    assert sorted(set(fits["fit"])) == ["as digitized", "perturbation 1", "perturbation 2"]
    quantities = ["log_hr", "median_months[placebo]", "median_months[6-MP]"]
    quantities += ["rmst_months[placebo, 12]", "rmst_months[6-MP, 12]"]
    assert sorted(saved["quantity"]) == sorted(quantities)
    assert (saved["fits"] == 2).all()
    # the saved spread is the spread of the saved fits
    pd.testing.assert_frame_equal(
        spread(fits), saved, check_exact=False, rtol=1e-5, check_dtype=False
    )
    # the perturbations moved the reconstruction: the medians differ between the two refits
    assert (saved["sd_of_medians"] > 0).all()
    # the fit on the digitization as given is the run's own posterior (its saved draws)
    tree = xr.open_datatree(folder / "posterior.nc")
    try:
        draws = tree.posterior["log_hr"].values.ravel()
        lower, upper = np.quantile(tree.posterior["median_months"].values[..., 1], [0.025, 0.975])
    finally:
        tree.close()
    own = saved.set_index("quantity")
    assert own.at["log_hr", "posterior_median"] == pytest.approx(np.median(draws), rel=1e-12)
    assert own.at["median_months[6-MP]", "width_95"] == pytest.approx(upper - lower, rel=1e-12)

    markdown = (runs["km"] / "report.md").read_text()
    table = _report_table(markdown, TITLE)
    assert list(table.columns) == list(DIGITIZATION_COLUMNS.values())
    for _, row in saved.iterrows():
        cells = table.set_index("quantity").loc[row["quantity"]]
        for column, heading in DIGITIZATION_COLUMNS.items():
            if column != "quantity":
                assert cells[heading] == shown_number(row[column]), (row["quantity"], heading)
    assert re.search(r"Refitted on 2 reconstructions of perturbed digitizations", markdown)


def test_a_study_without_curves_gets_no_digitization_table(runs):
    folder = _run_folder(runs["patients"])
    assert not (folder / SPREAD_FILE).exists() and not (folder / FITS_FILE).exists()
    assert "digitization" not in json.loads((folder / "run.json").read_text())
    assert TITLE not in (runs["patients"] / "report.md").read_text()


def test_a_rerun_reuses_the_refits_and_report_rebuilds_the_same_table(runs, monkeypatch):
    out = runs["km"]
    before = (out / "report.md").read_text()
    plan = next(p for p in out.parent.glob("km.toml"))

    def no_sampling(*args, **kwargs):
        raise AssertionError("a finished fit was refitted")

    monkeypatch.setattr(sweep, "Fitter", lambda settings: Fitter(SETTINGS))
    monkeypatch.setattr(Fitter, "sample", no_sampling)
    argv = ["--quiet", "run", str(plan), "--out", str(out), "--perturbations", "2"]
    assert cli.main(argv) == 0
    (out / "report.md").unlink()
    assert cli.main(["--quiet", "report", str(out)]) == 0
    assert (out / "report.md").read_text() == before


def test_perturbations_are_reproducible_and_keep_the_number_of_patients(km_study):
    study = load_study(km_study)
    settings = DigitizationSettings(perturbations=2)
    first = perturbed_patients(study, "os", 11, 0, settings)
    again = perturbed_patients(study, "os", 11, 0, settings)
    other = perturbed_patients(study, "os", 11, 1, settings)
    np.testing.assert_array_equal(first.time, again.time)
    assert not np.array_equal(first.time, other.time)
    for data in (first, other):
        assert data.n_per_arm == [a.n for a in study.arms]  # the compiled model is reused
    # no error: the digitization as given
    none = perturbed_patients(study, "os", 11, 0, DigitizationSettings(2, 0.0, 0.0))
    given = load_ipd_for(study, "os")
    np.testing.assert_allclose(none.time, given.time)
    np.testing.assert_array_equal(none.event, given.event)


def test_the_spread_against_a_direct_computation():
    rng = np.random.default_rng(3)
    rows = [
        {"fit": "as digitized", "quantity": "log_hr", "posterior_median": -1.5}
        | {"low_95": -2.2, "high_95": -0.8, "mcse_median": 0.01}
    ]
    medians = rng.normal(-1.5, 0.05, 5)
    errors = rng.uniform(0.005, 0.02, 5)
    for k, (m, e) in enumerate(zip(medians, errors, strict=True)):
        rows.append(
            {"fit": f"perturbation {k + 1}", "quantity": "log_hr", "posterior_median": m}
            | {"low_95": m - 0.7, "high_95": m + 0.7, "mcse_median": e}
        )
    rows.append({"fit": "perturbation 6", "quantity": "", "refused": "no"})
    table = spread(pd.DataFrame(rows)).set_index("quantity")
    sd = np.sqrt(np.sum((medians - medians.mean()) ** 2) / 4)
    mcse = np.sqrt(np.mean(errors**2))
    assert table.at["log_hr", "fits"] == 5
    assert table.at["log_hr", "sd_of_medians"] == pytest.approx(sd)
    assert table.at["log_hr", "mcse_median"] == pytest.approx(mcse)
    assert table.at["log_hr", "sd_beyond_mcse"] == pytest.approx(np.sqrt(max(sd**2 - mcse**2, 0)))
    assert table.at["log_hr", "width_95"] == pytest.approx(1.4)
    assert table.at["log_hr", "lowest_median"] == pytest.approx(medians.min())


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--perturbations", "1"], "perturbations must be 0 (off) or at least 2"),
        (["--digitization-time-sd", "-0.1"], "time_sd must be a number >= 0"),
    ],
)
def test_bad_settings_on_the_command_line_are_refused(km_study, tmp_path, capsys, argv, fragment):
    plan = _plan(tmp_path, km_study, "bad")
    out = tmp_path / "out"
    assert cli.main(["run", str(plan), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and argv[0] in err
    assert not out.exists()


def test_a_plan_with_one_perturbation_is_refused(km_study, tmp_path, capsys):
    plan = _plan(tmp_path, km_study, "bad", "[digitization]\nperturbations = 1\n")
    assert cli.main(["run", str(plan), "--out", str(tmp_path / "out")]) == 2
    assert "digitization.perturbations" in capsys.readouterr().err


def test_settings_enter_the_run_hash_only_for_fits_on_curves(km_study):
    from resurv.io.modelspec import load_model_spec

    spec = load_model_spec(ROOT / "models" / "example_weibull.toml")
    settings = DigitizationSettings()
    assert digitization_error.applies(spec, load_study(km_study), settings)
    assert not digitization_error.applies(spec, load_study(PATIENTS), settings)
    assert not digitization_error.applies(spec, load_study(km_study), DigitizationSettings(0))


def test_sweep_with_no_perturbations_fits_the_curves_alone(runs, tmp_path, monkeypatch):
    """Into a copy of the K = 2 run's folder: the run is refitted and its refits' files go."""
    monkeypatch.setattr(sweep, "Fitter", lambda settings: runs["fitter"])
    plan = runs["km"].parent / "km.toml"
    out = tmp_path / "out"
    shutil.copytree(runs["km"], out)
    assert (_run_folder(out) / SPREAD_FILE).exists()
    assert cli.main(["--quiet", "sweep", str(plan), "--out", str(out), "--perturbations", "0"]) == 0
    folder = _run_folder(out)
    assert not (folder / SPREAD_FILE).exists()
    assert "digitization" not in json.loads((folder / "run.json").read_text())
    assert json.loads((out / "plan.json").read_text())["digitization"]["perturbations"] == 0
