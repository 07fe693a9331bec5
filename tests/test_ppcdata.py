"""Predictive checks saved with the fit as ArviZ groups; a report that reads saved fits only.

``posterior.nc`` of every fit holds ``observed_data``, ``posterior_predictive`` and
``posterior_counterpart`` (resurv.inference.results); ``published_vs_posterior.csv`` is computed
from them, the draws are written before anything derived from them, and ``resurv report`` reads
model, priors and study from the fits' provenance, so editing the input files after the fits
changes nothing in it.
"""

from __future__ import annotations

import json
import tomllib

import arviz as az
import numpy as np
import pytest
import xarray as xr

from helpers import MODELS, PRIORS, STUDY, edit_study
from resurv import api
from resurv.checks.ppc import two_sided_ppp
from resurv.cli import main
from resurv.inference import sweep
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.inference.results import published_vs_posterior
from resurv.inference.sweep import load_plan, run_plan
from resurv.io.modelspec import load_model_spec

RESPONSE_IDS = ["disease_control_percent (SIRT alone)", "disease_control_percent (SIRT + PRRT)"]


def _csv(frame, path) -> bytes:
    frame.to_csv(path, index=False, float_format="%.6g")
    return path.read_bytes()


def test_binary_fit_saves_its_predictive_checks_as_arviz_groups(fitter, tmp_path):
    out = tmp_path / "fit"
    api.fit_files(
        MODELS / "response.toml",
        STUDY,
        PRIORS / "literature.toml",
        seed=4,
        fitter=fitter,
        out_dir=out,
    )
    tree = xr.open_datatree(out / "posterior.nc")
    assert {"posterior", "posterior_predictive", "observed_data", "posterior_counterpart"} <= set(
        tree.children
    )
    obs = tree["observed_data"].to_dataset()
    pred = tree["posterior_predictive"]["published_statistic"]
    counterpart = tree["posterior_counterpart"]["published_statistic"]
    assert obs["statistic"].values.tolist() == RESPONSE_IDS
    assert obs["arm"].values.tolist() == ["SIRT alone", "SIRT + PRRT"]
    assert obs["statistic_name"].values.tolist() == ["disease_control_percent"] * 2
    # the printed values as coordinate; the check compares with the exact 100·r/n
    assert obs["published"].values.tolist() == [86.6, 66.6]
    np.testing.assert_allclose(obs["published_statistic"].values, [100 * 13 / 15, 100 * 8 / 12])
    post = tree["posterior"].to_dataset()
    assert pred.dims == counterpart.dims == ("chain", "draw", "statistic")
    assert pred.shape == (post.sizes["chain"], post.sizes["draw"], 2)
    # counterpart: 100 p_j draw by draw; replicate: 100 r/n_j, r a count of n_j patients
    np.testing.assert_array_equal(counterpart.values, 100 * post["p"].values)
    for j, n in enumerate((15, 12)):
        counts = pred.values[..., j] * n / 100
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
        assert counts.min() >= 0 and counts.max() <= n
        # r | p ~ Binomial(n, p): the mean count given the draws, within 4 SE
        p = post["p"].values[..., j]
        se = np.sqrt((n * p * (1 - p)).sum()) / p.size
        assert abs(counts.mean() - n * p.mean()) < 4 * se
    # the table is a function of the saved groups alone, written byte for byte the same
    table = published_vs_posterior(tree)
    assert _csv(table, tmp_path / "again.csv") == (out / "published_vs_posterior.csv").read_bytes()
    ppp = [two_sided_ppp(pred.values[..., j], obs["published_statistic"].values[j]) for j in (0, 1)]
    np.testing.assert_array_equal(table["ppp"].values, ppp)
    # ArviZ reads the groups
    summary = az.summary(tree, group="posterior_predictive", kind="stats", round_to="none")
    assert len(summary) == 2
    az.plot_ppc_dist(tree, coords={"statistic": RESPONSE_IDS[:1]}, kind="ecdf")


def test_summary_data_survival_fit_saves_its_predictive_checks(fitter, tmp_path):
    small = Fitter(SamplerSettings(draws=200, tune=300, chains=2), _compiled=fitter._compiled)
    out = tmp_path / "fit"
    result = api.fit_files(
        MODELS / "os_weibull.toml",
        STUDY,
        PRIORS / "literature.toml",
        seed=3,
        fitter=small,
        out_dir=out,
    )
    tree = xr.open_datatree(out / "posterior.nc")
    obs = tree["observed_data"].to_dataset()
    pred = tree["posterior_predictive"].to_dataset()
    # one entry per row of the table, in its order, with the same names and arms
    assert obs["statistic_name"].values.tolist() == result.published["statistic"].tolist()
    assert obs["arm"].values.tolist() == result.published["arm"].tolist()
    assert "os_logrank_z (between arms)" in obs["statistic"].values.tolist()
    draws = max(200, load_model_spec(MODELS / "os_weibull.toml").draws or 0)  # the file's least
    assert pred["published_statistic"].shape == (2, draws, obs.sizes["statistic"])
    # KM medians of replicates: +inf where not reached (kept as data), finite otherwise
    medians = pred["published_statistic"].sel(statistic="os_median_months (SIRT + PRRT)")
    assert not np.isnan(medians.values).any()
    again = published_vs_posterior(tree)
    assert _csv(again, tmp_path / "a.csv") == (out / "published_vs_posterior.csv").read_bytes()


def test_patient_data_fit_has_the_groups_with_no_published_values(fitter, tmp_path, rng):
    n = 40
    time = rng.exponential(20.0, size=2 * n)
    csv = tmp_path / "trial.csv"
    csv.write_text(
        "time,event,arm\n"
        + "".join(
            f"{min(t, 30.0):.4f},{int(t < 30.0)},{'AB'[i // n]}\n" for i, t in enumerate(time)
        )
    )
    small = Fitter(SamplerSettings(draws=200, tune=200, chains=2), _compiled=fitter._compiled)
    out = tmp_path / "fit"
    api.fit_files(
        MODELS / "os_exponential.toml",
        csv,
        PRIORS / "vague.toml",
        seed=2,
        fitter=small,
        out_dir=out,
    )
    tree = xr.open_datatree(out / "posterior.nc")
    assert {"posterior_predictive", "observed_data"} <= set(tree.children)
    assert tree["observed_data"].sizes["statistic"] == 0
    assert (out / "published_vs_posterior.csv").read_text().startswith("statistic,arm,published")


def test_a_failure_after_sampling_keeps_the_draws(fitter, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("derived tables failed")

    monkeypatch.setattr(api, "make_result", fail)
    out = tmp_path / "fit"
    with pytest.raises(RuntimeError, match="derived tables failed"):
        api.fit_files(
            MODELS / "response.toml",
            STUDY,
            PRIORS / "vague.toml",
            seed=1,
            fitter=fitter,
            out_dir=out,
        )
    assert sorted(p.name for p in out.iterdir()) == ["posterior.nc"]
    tree = xr.open_datatree(out / "posterior.nc")
    assert tree["posterior"]["p"].sizes["draw"] == fitter.settings.draws
    assert tree.attrs["resurv_priors_content"] == (PRIORS / "vague.toml").read_text()

    # the sweep too: the run's draws stay, the run is not marked finished, a rerun completes it
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        f'studies = ["{STUDY}"]\nmodels = ["{MODELS / "response.toml"}"]\n'
        f'priors = ["{PRIORS / "vague.toml"}"]\nseed = 1\n'
    )
    plan = load_plan(plan_path)
    monkeypatch.setattr(sweep, "make_result", fail)
    with pytest.raises(RuntimeError, match="derived tables failed"):
        run_plan(plan, tmp_path / "sweep", fitter=fitter)
    (folder,) = (tmp_path / "sweep" / "fits").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["posterior.nc"]
    monkeypatch.undo()
    run_plan(plan, tmp_path / "sweep", fitter=fitter)
    assert (folder / "run.json").is_file() and (folder / "summary.csv").is_file()


def _report_files(folder) -> dict[str, bytes]:
    files = {n: (folder / n).read_bytes() for n in ("report.md", "index.html")}
    files.update({p.name: p.read_bytes() for p in sorted((folder / "figures").glob("*.png"))})
    return files


def test_report_is_unchanged_when_the_input_files_change_after_the_fits(fitter, tmp_path):
    """Model, prior and study files edited (then deleted) after the fits: the same report."""
    model = tmp_path / "response.toml"
    model.write_text((MODELS / "response.toml").read_text())
    priors = tmp_path / "literature.toml"
    priors.write_text((PRIORS / "literature.toml").read_text())
    study = edit_study(tmp_path, "[study]", "[study]")
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        f'name = "pure"\nstudies = ["{study}"]\nmodels = ["{model}"]\n'
        f'priors = ["{priors}"]\nseed = 7\n'
    )
    out = tmp_path / "out"
    run_plan(load_plan(plan_path), out, fitter=fitter, command="resurv run plan.toml")
    assert main(["--quiet", "report", str(out)]) == 0
    before = _report_files(out)
    md = before["report.md"].decode()
    description = tomllib.loads(priors.read_text())["description"]
    title = tomllib.loads(study.read_text())["study"]["title"]
    assert description in md and title in md and "ppc_response_literature.png" in before

    # edit every input file: another model name, other prior values and text, another title
    model.write_text(model.read_text().replace('name = "response"', 'name = "edited"'))
    priors.write_text(
        priors.read_text().replace(description, "EDITED priors").replace("alpha = ", "alpha = 1")
    )
    study.write_text(study.read_text().replace(title, "EDITED study"))
    assert main(["--quiet", "report", str(out)]) == 0
    assert _report_files(out) == before
    # and without them
    for path in (model, priors, study):
        path.unlink()
    assert main(["--quiet", "report", str(out)]) == 0
    assert _report_files(out) == before
    assert "EDITED" not in (out / "report.md").read_text()
    # the run record names the model as fitted
    (marker,) = (out / "fits").glob("*/run.json")
    assert json.loads(marker.read_text())["model"] == "response"


def test_input_files_read_from_saved_text_equal_the_files(tmp_path):
    """The loaders from saved text give what the file loaders give, patient-data paths included."""
    from resurv.errors import PriorSpecError
    from resurv.io.modelspec import load_model_spec, model_spec_from_text
    from resurv.io.priors import load_priors, priors_from_text
    from resurv.io.study import load_study, study_from_text

    model = MODELS / "os_weibull.toml"
    assert model_spec_from_text(model.read_text(), model) == load_model_spec(model)
    prior = PRIORS / "literature.toml"
    assert priors_from_text(prior.read_text(), prior) == load_priors(prior)
    assert load_study(STUDY) == study_from_text(STUDY.read_text(), STUDY)
    folder = tmp_path / "study"
    folder.mkdir()
    with_ipd = edit_study(
        folder, "[study]", '[[ipd]]\nfile = "data/trial.csv"\nendpoint = "ttp"\n\n[study]'
    )
    saved = study_from_text(with_ipd.read_text(), with_ipd)
    assert saved == load_study(with_ipd)
    assert saved.ipd[0].path == str((folder / "data" / "trial.csv").resolve())
    # an error names the file the text was saved from
    with pytest.raises(PriorSpecError, match="priors/x.toml"):
        priors_from_text("name = 3\n", "priors/x.toml")
