"""Sweeps: grids over a prior's argument without recompiling, tidy table, resume after loss."""

import dataclasses
import json

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from helpers import MODELS, PRIORS, STUDY
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.inference.sweep import (
    PlanError,
    _accepts,
    _run_hash,
    _settings_for,
    _with_setting,
    load_plan,
    run_plan,
)
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import PriorSpec, load_priors

SETTINGS = SamplerSettings(draws=600, tune=400, chains=2)


def write_plan(tmp_path, *, models, priors, grids="", data=STUDY, name="plan"):
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n'
        f'studies = ["{data}"]\n'
        f"models = {json.dumps([str(MODELS / m) for m in models])}\n"
        f"priors = {json.dumps([str(PRIORS / p) for p in priors])}\n"
        "seed = 7\n"
        "[sampler]\ndraws = 600\ntune = 400\nchains = 2\n" + grids
    )
    return path


WEIGHT_GRID = """
[[grid]]
endpoint = "disease_control"
parameter = "p_reference"
argument = "weight"
values = [0.0, 1.0]
"""


@pytest.mark.parametrize(
    ("grid", "field", "rule"),
    [
        (WEIGHT_GRID.replace('"weight"', '"sigma"'), "grid[0].argument", "argument 'sigma'"),
        (WEIGHT_GRID.replace("[0.0, 1.0]", "[0.5, 1.5]"), "grid[0].values[1]", "between 0 and 1"),
        (WEIGHT_GRID.replace("p_reference", "p_ref"), "grid[0].argument", "p_ref"),
        (WEIGHT_GRID + 'priors = ["nope"]\n', "grid[0].priors", "no prior file named 'nope'"),
        (WEIGHT_GRID.replace("values", "value"), "grid[0].value", "unknown key"),
    ],
)
def test_bad_grid_is_refused_naming_field(tmp_path, grid, field, rule):
    path = write_plan(
        tmp_path, models=["response.toml"], priors=["literature_robust.toml"], grids=grid
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.field == field
    assert rule in info.value.rule
    assert str(path) == info.value.file


def test_grid_applies_only_where_the_argument_exists(tmp_path):
    path = write_plan(
        tmp_path,
        models=["response.toml"],
        priors=["vague.toml", "literature_robust.toml"],
        grids=WEIGHT_GRID,
    )
    plan = load_plan(path)
    assert len(plan.grids) == 1 and plan.grids[0].values == (0.0, 1.0)
    grid = plan.grids[0]
    spec = load_model_spec(MODELS / "response.toml")
    vague, robust = (
        load_priors(PRIORS / "vague.toml"),
        load_priors(PRIORS / "literature_robust.toml"),
    )
    # vague's p_reference is a plain beta (no weight): the file as written, nothing else
    assert vague.for_endpoint("disease_control")["p_reference"].dist == "beta"
    assert _settings_for(plan, spec, vague) == [(None, None)]
    # the robust file: as written, then each weight
    assert _settings_for(plan, spec, robust) == [(None, None), (grid, 0.0), (grid, 1.0)]
    # a setting changes that one argument of that file's prior and nothing else
    for value in grid.values:
        changed = _with_setting(robust, grid, value)
        assert changed.name == "literature_robust" and changed.sha256 != robust.sha256
        new, old = (p.for_endpoint("disease_control")["p_reference"] for p in (changed, robust))
        assert new.weight == value and old.weight not in (0.0, 1.0)
        assert (new.informative, new.vague) == (old.informative, old.vague)
        assert {e: dict(t) for e, t in changed.priors.items() if e != "disease_control"} == {
            e: dict(t) for e, t in robust.priors.items() if e != "disease_control"
        }
        assert (
            changed.for_endpoint("disease_control")["p_comparator"]
            == (robust.for_endpoint("disease_control")["p_comparator"])
        )


SECOND_GRIDS = """
[[grid]]
endpoint = "disease_control"
parameter = "p_comparator"
argument = "weight"
values = [0.25]

[[grid]]
endpoint = "os"
parameter = "log_hr"
argument = "sigma"
values = [0.5, 2.0]
"""


def test_several_grids_each_apply_to_their_own_model_and_prior(tmp_path):
    path = write_plan(
        tmp_path,
        models=["response.toml", "os_weibull.toml"],
        priors=["vague.toml", "literature_robust.toml"],
        grids=WEIGHT_GRID + SECOND_GRIDS,
    )
    plan = load_plan(path)
    weight_ref, weight_comp, log_hr = plan.grids
    response = load_model_spec(MODELS / "response.toml")
    weibull = load_model_spec(MODELS / "os_weibull.toml")
    vague, robust = (
        load_priors(PRIORS / "vague.toml"),
        load_priors(PRIORS / "literature_robust.toml"),
    )
    assert _settings_for(plan, response, vague) == [(None, None)]
    assert _settings_for(plan, response, robust) == [
        (None, None),
        (weight_ref, 0.0),
        (weight_ref, 1.0),
        (weight_comp, 0.25),
    ]
    # log HR: N(0, 1) in vague; a robust mixture whose bare 'sigma' is the informative part's
    expected = [(None, None), (log_hr, 0.5), (log_hr, 2.0)]
    assert _settings_for(plan, weibull, vague) == expected
    assert _settings_for(plan, weibull, robust) == expected
    assert _with_setting(robust, log_hr, 2.0).for_endpoint("os")["log_hr"].informative.args == {
        "mu": -0.17,
        "sigma": 2.0,
    }


def test_a_grid_applies_where_the_prior_has_the_argument_by_name():
    normal = PriorSpec("normal", {"mu": 0.0, "sigma": 1.0})
    beta = PriorSpec("beta", {"alpha": 2.0, "beta": 3.0})
    robust = PriorSpec(
        "robust", {}, "", 0.8, PriorSpec("normal", {"mu": 0.1, "sigma": 0.3}), normal
    )
    assert _accepts(normal, "sigma") and _accepts(normal, "mu")
    assert not _accepts(normal, "weight") and not _accepts(normal, "alpha")
    assert _accepts(beta, "alpha") and not _accepts(beta, "sigma")
    for argument in ("weight", "sigma", "mu", "inf_sigma", "inf_mu", "vague_sigma", "vague_mu"):
        assert _accepts(robust, argument), argument
    for argument in ("alpha", "inf_alpha", "vague_weight", "inf_weight", "must", "mustard"):
        assert not _accepts(robust, argument), argument
        assert not _accepts(normal, argument), argument
    # an argument exists whatever the probe value: a positive scale accepts a grid, even though
    # 0 or a negative value would be refused value by value
    assert _accepts(PriorSpec("halfnormal", {"sigma": 1.0}), "sigma")


def test_run_hash_covers_resurv_source(tmp_path, monkeypatch):
    from resurv.inference import sweep
    from resurv.inference.provenance import PACKAGE_ROOT, source_digest

    files = [STUDY, MODELS / "response.toml", PRIORS / "vague.toml"]
    before = _run_hash(files, 7, SETTINGS)
    assert _run_hash(files, 7, SETTINGS) == before
    monkeypatch.setattr(sweep, "source_digest", lambda: "0" * 64)
    assert _run_hash(files, 7, SETTINGS) != before
    # the digest reads the whole package (not one subpackage) and follows any edit of its files
    assert (PACKAGE_ROOT / "inference" / "sweep.py").is_file()
    tree = tmp_path / "pkg"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.py").write_text("x = 1\n")
    (tree / "sub" / "b.py").write_text("y = 2\n")
    first = source_digest(tree)
    assert source_digest(tree) == first
    (tree / "sub" / "b.py").write_text("y = 3\n")
    edited = source_digest(tree)
    assert edited != first
    (tree / "sub" / "c.py").write_text("")
    assert source_digest(tree) != edited
    (tree / "sub" / "c.py").unlink()
    (tree / "sub" / "b.py").rename(tree / "sub" / "d.py")
    assert source_digest(tree) != edited
    (tree / "notes.txt").write_text("not source")
    (tree / "sub" / "d.py").rename(tree / "sub" / "b.py")
    assert source_digest(tree) == edited


def beta_posterior_mean(alpha, beta, events, n):
    return (alpha + events) / (alpha + beta + n)


@pytest.fixture
def counting_fitter(fitter, monkeypatch):
    """A fitter with short chains sharing the session's compile cache, counting compilations."""
    import nutpie

    calls = []
    original = nutpie.compile_pymc_model

    def counted(model, *args, **kwargs):
        calls.append(model)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", counted)
    f = Fitter(SETTINGS, _compiled=fitter._compiled)
    f.calls = calls
    return f


def test_weight_grid_swaps_data_resumes_and_keeps_a_tidy_table(tmp_path, counting_fitter):
    path = write_plan(
        tmp_path, models=["response.toml"], priors=["literature_robust.toml"], grids=WEIGHT_GRID
    )
    plan = load_plan(path)
    out = tmp_path / "out"
    said = []
    table = run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert len(said) == 3  # the file as written, then weight 0 and 1
    assert len(counting_fitter.calls) <= 1  # one structure: compiled at most once

    folders = sorted(p.name for p in (out / "fits").iterdir())
    assert folders == [
        "nmc2020_sirt_prrt__response__literature_robust",
        "nmc2020_sirt_prrt__response__literature_robust__p_reference.weight=0",
        "nmc2020_sirt_prrt__response__literature_robust__p_reference.weight=1",
    ]
    # each setting entered the model as data, and the posterior follows the closed form:
    # weight 1 is the Beta(34.4, 5.6) prior, weight 0 the Beta(1, 1) prior, data 13/15
    for value, (a, b) in ((0.0, (1.0, 1.0)), (1.0, (34.4, 5.6))):
        folder = out / "fits" / f"{folders[0]}__p_reference.weight={value:g}"
        tree = xr.open_datatree(folder / "posterior.nc")
        assert float(tree["constant_data"]["prior__p_reference__weight"]) == value
        p0 = tree.posterior["p"].isel(arm=0)
        mcse = float(az.mcse(p0.to_dataset(name="p"), method="mean")["p"])
        expected = beta_posterior_mean(a, b, 13, 15)
        assert abs(float(p0.mean()) - expected) < 4 * mcse, (value, float(p0.mean()), expected)
        tree.close()

    expected_columns = {
        "study",
        "model",
        "priors",
        "grid_parameter",
        "grid_argument",
        "grid_value",
        "quantity",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "r_hat",
        "ess_bulk",
        "gates_passed",
        "divergences",
        "psense_prior",
        "psense_likelihood",
        "psense_diagnosis",
    }
    assert expected_columns <= set(table.columns)
    assert sorted(table["grid_value"].dropna().unique()) == [0.0, 1.0]
    p_rows = table[table["quantity"].str.startswith("p[")]
    assert p_rows["psense_prior"].notna().all()
    assert set(p_rows["psense_diagnosis"]) <= {
        "ok",
        "prior-data conflict",
        "strong prior / weak likelihood",
    }
    from_csv = pd.read_csv(out / "sweep.csv")
    nc = xr.open_dataset(out / "sweep.nc")
    assert len(from_csv) == len(table) == nc.sizes["row"]
    assert np.allclose(nc["mean"].values, table["mean"].values, rtol=1e-6)
    nc.close()

    # resume: nothing to refit; then lose one run folder and only that one is refitted
    marks = {f: (out / "fits" / f / "run.json").stat().st_mtime_ns for f in folders}
    said.clear()
    again = run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert said == []
    pd.testing.assert_frame_equal(again, table)
    import shutil

    shutil.rmtree(out / "fits" / folders[1])
    said.clear()
    third = run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert said == ["fitting response × literature_robust [p_reference.weight=0]"]
    for f in (folders[0], folders[2]):
        assert (out / "fits" / f / "run.json").stat().st_mtime_ns == marks[f]
    assert len(third) == len(table)
    assert len(counting_fitter.calls) <= 1


def test_unfinished_run_without_marker_is_refitted(tmp_path, counting_fitter, monkeypatch):
    path = write_plan(tmp_path, models=["response.toml"], priors=["vague.toml"])
    plan = load_plan(path)
    out = tmp_path / "out"
    run_plan(plan, out, fitter=counting_fitter)
    folder = out / "fits" / "nmc2020_sirt_prrt__response__vague"
    (folder / "run.json").unlink()
    said = []
    first = run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert said == ["fitting response × vague"]
    # a finished run without its power-scaling table (an older sweep) gets one, without refitting
    (folder / "psense.csv").unlink()
    said.clear()
    second = run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert said == [] and (folder / "psense.csv").is_file()
    pd.testing.assert_frame_equal(first, second, check_exact=False, rtol=1e-5)
    # a change of resurv's source code invalidates the finished run: it is refitted
    from resurv.inference import sweep

    monkeypatch.setattr(sweep, "source_digest", lambda: "changed source")
    said.clear()
    run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert said == ["fitting response × vague"]
    said.clear()
    run_plan(plan, out, fitter=counting_fitter, progress=said.append)
    assert said == []


def simulated_csv(path, n=60, seed=5):
    from test_priors import simulated_csv as make

    return make(path, n=n, seed=seed)


@pytest.mark.slow
def test_scale_grid_on_log_hr_of_ipd_weibull(tmp_path, counting_fitter):
    grid = """
[[grid]]
endpoint = "os"
parameter = "log_hr"
argument = "sigma"
values = [0.05, 2.0]
"""
    data = simulated_csv(tmp_path / "ipd.csv")
    path = write_plan(
        tmp_path, models=["os_weibull.toml"], priors=["vague.toml"], grids=grid, data=data
    )
    table = run_plan(load_plan(path), tmp_path / "out", fitter=counting_fitter)
    assert len(counting_fitter.calls) <= 1
    named = table[~table["quantity"].str.startswith("P(")]
    assert named["quantity"].str.contains(r"rmst_months\[.*, 60\.0\]").any()
    assert named["psense_prior"].notna().all() and named["psense_likelihood"].notna().all()
    rows = table[table["quantity"] == "log_hr"].set_index("grid_value", drop=False)
    tight, wide = rows.loc[0.05], rows.loc[2.0]
    # N(0, 0.05²) pins log HR near 0; N(0, 2²) lets the data (true log HR -0.5) speak
    assert abs(tight["mean"]) < 0.1 and tight["sd"] < 0.06
    assert wide["sd"] > 3 * tight["sd"]
    assert tight["psense_diagnosis"] != "ok"
    # a normal-normal approximation: the tight posterior mean is the wide one shrunk by
    # precision weighting, 0.05⁻² / (0.05⁻² + sd_wide⁻²) of the way to 0
    shrink = wide["sd"] ** -2 / (wide["sd"] ** -2 + 0.05**-2)
    assert tight["mean"] == pytest.approx(wide["mean"] * shrink, abs=0.03)


def write_models_plan(tmp_path, models_toml):
    path = tmp_path / "subset.toml"
    path.write_text(
        'name = "subset"\n'
        f'studies = ["{STUDY}"]\n'
        f"models = {models_toml}\n"
        f"priors = {json.dumps([str(PRIORS / p) for p in ('vague.toml', 'skeptical.toml')])}\n"
        "seed = 7\n"
    )
    return path


def test_a_model_can_be_fitted_under_some_prior_files_only(tmp_path, counting_fitter):
    response, hepato = MODELS / "response.toml", MODELS / "hepatotoxicity.toml"
    path = write_models_plan(
        tmp_path, f'["{response}", {{ path = "{hepato}", priors = ["skeptical"] }}]'
    )
    plan = load_plan(path)
    assert plan.prior_names_for(0) == () and plan.prior_names_for(1) == ("skeptical",)
    said = []
    table = run_plan(plan, tmp_path / "out", fitter=counting_fitter, progress=said.append)
    assert said == [
        "fitting response × vague",
        "fitting response × skeptical",
        "fitting hepatotoxicity × skeptical",
    ]
    assert set(zip(table["model"], table["priors"], strict=True)) == {
        ("response", "vague"),
        ("response", "skeptical"),
        ("hepatotoxicity", "skeptical"),
    }
    record = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert record["model_priors"] == {str(hepato): ["skeptical"]}


@pytest.mark.parametrize(
    ("entry", "field", "rule"),
    [
        ('{ path = "MODEL", priors = ["nope"] }', "models[0].priors", "no prior file named 'nope'"),
        ('{ path = "MODEL", priors = "vague" }', "models[0].priors", "list of prior-file names"),
        ('{ file = "MODEL" }', "models[0]", "needs 'path'"),
        ('{ path = "missing.toml" }', "models[0]", "file not found: missing.toml"),
        ("3", "models[0]", "a file path or a table"),
    ],
)
def test_bad_model_entry_is_refused_naming_field(tmp_path, entry, field, rule):
    entry = entry.replace("MODEL", str(MODELS / "response.toml"))
    path = write_models_plan(tmp_path, f"[{entry}]")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.field == field
    assert rule in info.value.rule
    assert str(path) == info.value.file


def test_a_grid_over_log_hr_has_no_setting_in_a_single_arm_study(tmp_path):
    """A single-arm study's model has no log HR: a grid over it adds no run there."""
    from resurv.inference.sweep import Grid

    path = write_plan(tmp_path, models=["os_weibull.toml"], priors=["vague.toml"])
    plan = dataclasses.replace(load_plan(path), grids=(Grid("os", "log_hr", "sigma", (0.5, 1.0)),))
    spec = load_model_spec(MODELS / "os_weibull.toml")
    vague = load_priors(PRIORS / "vague.toml")
    assert len(_settings_for(plan, spec, vague, n_arms=2)) == 3
    assert _settings_for(plan, spec, vague, n_arms=1) == [(None, None)]


def test_a_model_can_be_fitted_to_some_studies_only(tmp_path, counting_fitter):
    """``studies`` in a model entry: ids of the plan's studies it is fitted to; the title kept."""
    variant = STUDY.parent / "sensitivity" / "nmc2020_sirt_prrt_followup_narrow.toml"
    response, hepato = MODELS / "response.toml", MODELS / "hepatotoxicity.toml"
    path = tmp_path / "studies.toml"
    path.write_text(
        'name = "studies"\ntitle = "Sensitivity analysis"\n'
        f'studies = ["{STUDY}", "{variant}"]\n'
        f'models = [{{ path = "{response}", studies = ["nmc2020_sirt_prrt"] }}, '
        f'{{ path = "{hepato}", priors = ["skeptical"] }}]\n'
        f"priors = {json.dumps([str(PRIORS / p) for p in ('vague.toml', 'skeptical.toml')])}\n"
        "seed = 7\n"
    )
    plan = load_plan(path)
    assert plan.study_ids_for(0) == ("nmc2020_sirt_prrt",) and plan.study_ids_for(1) == ()
    table = run_plan(plan, tmp_path / "out", fitter=counting_fitter)
    assert set(zip(table["study"], table["model"], table["priors"], strict=True)) == {
        ("nmc2020_sirt_prrt", "response", "vague"),
        ("nmc2020_sirt_prrt", "response", "skeptical"),
        ("nmc2020_sirt_prrt", "hepatotoxicity", "skeptical"),
        ("nmc2020_sirt_prrt_followup_narrow", "hepatotoxicity", "skeptical"),
    }
    record = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert record["title"] == "Sensitivity analysis"
    assert record["model_studies"] == {str(response): ["nmc2020_sirt_prrt"]}
    # each binomial fit has its prior predictive check
    checks = pd.read_csv(
        tmp_path
        / "out"
        / "fits"
        / "nmc2020_sirt_prrt__response__skeptical"
        / "prior_predictive.csv"
    )
    assert list(checks["arm"]) == ["SIRT alone", "SIRT + PRRT"]
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('studies = ["nmc2020_sirt_prrt"]', 'studies = ["x"]'))
    with pytest.raises(PlanError) as info:
        load_plan(bad)
    assert info.value.field == "models[0].studies" and "no study with id 'x'" in info.value.rule
