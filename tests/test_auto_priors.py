"""Priors derived from the study (``--priors auto``): centres against their formulas, the
fallback to vague.toml, byte-for-byte reproducibility, and on lifelines' leukemia trial a
posterior closer to the maximum-likelihood medians than under vague.toml."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from helpers import PRIORS, STUDY
from resurv.io.auto_priors import AUTO_FILE_NAME, MEDIAN_LOG_SD, derive_auto_priors
from resurv.io.priors import load_priors
from resurv.io.study import load_study

LOG2 = math.log(2.0)
WEEK = 12 / 52.1775  # months per week, as resurv converts --time-unit weeks

HEAD = """
[study]
id = "toy"
title = "toy"
citation = "toy"

[[arms]]
id = "a"
n = 40

[[arms]]
id = "b"
n = 40
"""


def _study(tmp_path, body: str):
    path = tmp_path / "study.toml"
    path.write_text(HEAD + body)
    return load_study(path)


def _median_prior(auto, endpoint="os"):
    table = auto.prior_file.for_endpoint(endpoint)
    reference, comparator = table["median_reference"], table["median_comparator"]
    assert (reference.dist, dict(reference.args)) == (comparator.dist, dict(comparator.args))
    return reference


def _assert_centred(auto, centre, endpoint="os"):
    spec = _median_prior(auto, endpoint)
    assert spec.dist == "lognormal"
    assert spec.args["mu"] == pytest.approx(math.log(centre), abs=1e-6)
    assert spec.args["sigma"] == MEDIAN_LOG_SD
    record = auto.derivation["endpoints"][endpoint]
    assert record["centre_months"] == pytest.approx(centre, rel=1e-12)
    assert not record["fallback"]


def test_published_medians_give_their_geometric_mean():
    auto = derive_auto_priors(load_study(STUDY))
    _assert_centred(auto, math.sqrt(34.9 * 67.5), "os")
    assert "centred on the published medians" in auto.prior_file.description


def test_not_reached_median_gives_the_follow_up_as_lower_bound(tmp_path):
    # accrual 24 months, minimum follow-up 12: median potential follow-up 12 + 24/2 = 24 months
    study = _study(
        tmp_path,
        """
[[survival]]
endpoint = "os"
statistic = "median"
arm = "a"
value = 10.0

[[survival]]
endpoint = "os"
statistic = "median_not_reached"
arm = "b"

[followup]
accrual_months = 24.0
followup_months = 12.0
""",
    )
    _assert_centred(derive_auto_priors(study), math.sqrt(10.0 * 24.0))


def test_bundled_pfs_means_are_raised_to_the_not_reached_bound():
    # follow-up priors uniform(24, 96) and uniform(3, 48): medians 60 and 25.5; L = 25.5 + 30.
    # Both means·log 2 (36.8, 18.9) lie below L, so each arm's scale is L.
    bound = (3.0 + 48.0) / 2 + (24.0 + 96.0) / 2 / 2
    assert 53.1 * LOG2 < bound and 27.2 * LOG2 < bound
    _assert_centred(derive_auto_priors(load_study(STUDY)), bound, "pfs")


def test_means_alone_give_the_exponential_median(tmp_path):
    study = _study(
        tmp_path,
        """
[[survival]]
endpoint = "os"
statistic = "rmean"
arm = "a"
value = 20.0

[[survival]]
endpoint = "os"
statistic = "rmean"
arm = "b"
value = 5.0
""",
    )
    _assert_centred(derive_auto_priors(study), math.sqrt(20.0 * LOG2 * 5.0 * LOG2))


def test_landmarks_only_give_the_exponential_median_through_them(tmp_path):
    study = _study(
        tmp_path,
        """
[[survival]]
endpoint = "os"
statistic = "landmark"
arm = "a"
t_months = 12.0
value = 0.6

[[survival]]
endpoint = "os"
statistic = "landmark"
arm = "b"
t_months = 12.0
value = 0.4

[[survival]]
endpoint = "os"
statistic = "landmark"
arm = "b"
t_months = 24.0
value = 0.2
""",
    )
    # exponential S(t) = 2^(-t/m): m = t·log 2 / (−log S(t))
    arm_a = 12 * LOG2 / -math.log(0.6)
    arm_b = math.sqrt((12 * LOG2 / -math.log(0.4)) * (24 * LOG2 / -math.log(0.2)))
    _assert_centred(derive_auto_priors(study), math.sqrt(arm_a * arm_b))


def test_endpoint_without_survival_scale_falls_back_to_vague(tmp_path, caplog):
    study = _study(
        tmp_path,
        """
[[survival]]
endpoint = "os"
statistic = "logrank"
p_value = 0.04
better_arm = "b"
""",
    )
    with caplog.at_level(logging.WARNING, logger="resurv.io.auto_priors"):
        auto = derive_auto_priors(study)
    vague = load_priors(PRIORS / "vague.toml").for_endpoint("os")["median_reference"]
    spec = _median_prior(auto)
    assert (spec.dist, dict(spec.args)) == (vague.dist, dict(vague.args))
    assert "vague.toml" in spec.source and "no survival statistic" in spec.source
    assert auto.fallbacks == ("os",) and auto.derivation["endpoints"]["os"]["fallback"]
    assert "medians as in vague.toml" in auto.prior_file.description
    assert any("endpoint 'os'" in r.getMessage() for r in caplog.records)


def test_other_priors_are_those_of_vague():
    auto = derive_auto_priors(load_study(STUDY))
    vague = load_priors(PRIORS / "vague.toml")
    for endpoint in ("os", "pfs", "disease_control", "hepatotoxicity"):
        mine, theirs = auto.prior_file.for_endpoint(endpoint), vague.for_endpoint(endpoint)
        assert set(mine) == set(theirs)
        for name, spec in theirs.items():
            if not name.startswith("median_"):
                assert (mine[name].dist, dict(mine[name].args)) == (spec.dist, dict(spec.args))


def test_same_study_same_file_byte_for_byte(tmp_path):
    first = derive_auto_priors(load_study(STUDY))
    second = derive_auto_priors(load_study(STUDY))
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    assert first.write(one).read_bytes() == second.write(two).read_bytes()
    reread = load_priors(one / AUTO_FILE_NAME)  # the written file reruns the fit
    assert {e: dict(t) for e, t in reread.priors.items()} == {
        e: dict(t) for e, t in first.prior_file.priors.items()
    }


@pytest.fixture(scope="module")
def leukemia_csv(tmp_path_factory):
    from lifelines.datasets import load_leukemia

    data = load_leukemia().rename(columns={"t": "time", "status": "event"})
    data["arm"] = data["Rx"].map({0: "6-MP", 1: "placebo"})
    path = tmp_path_factory.mktemp("leukemia") / "leukemia.csv"
    data[["time", "event", "arm"]].to_csv(path, index=False)
    return path, data


CSV_OPTIONS = {"time_unit": "weeks", "reference_arm": "placebo"}


def test_patient_data_centre_is_the_geometric_mean_of_lifelines_km_medians(leukemia_csv):
    from lifelines import KaplanMeierFitter

    from resurv.api import load_data

    path, data = leukemia_csv
    medians = [
        KaplanMeierFitter().fit(g.time, g.event).median_survival_time_ * WEEK
        for _, g in data.groupby("arm")
    ]
    auto = derive_auto_priors(load_data(path, **CSV_OPTIONS), ["os"])
    _assert_centred(auto, math.sqrt(medians[0] * medians[1]))
    assert "centred on the patient data's medians" in auto.prior_file.description


def test_leukemia_posterior_medians_closer_to_mle_than_under_vague(leukemia_csv, tmp_path, fitter):
    """Exponential arms, each its own median: the MLE is log 2 · (total time) / (events)."""
    import arviz as az

    from resurv.api import fit_files

    path, data = leukemia_csv
    model = tmp_path / "os_exponential_separate.toml"
    model.write_text(
        'name = "os_exponential_separate"\nendpoint = "os"\nlikelihood = "survival"\n'
        'family = "exponential"\neffect = "separate"\nrmst_horizons = [6.0]\nlandmarks = [3.0]\n'
    )
    mle = {arm: LOG2 * g.time.sum() * WEEK / g.event.sum() for arm, g in data.groupby("arm")}
    posterior = {}
    for name, priors in (("auto", "auto"), ("vague", PRIORS / "vague.toml")):
        out = tmp_path / name
        result = fit_files(
            model, path, priors, seed=3, fitter=fitter, out_dir=out, csv_options=CSV_OPTIONS
        )
        assert result.diagnostics.passed
        draws = result.tree.posterior["median_months"]
        posterior[name] = {
            str(arm): float(draws.sel(arm=arm).median()) for arm in draws["arm"].values
        }
    assert set(posterior["auto"]) == set(mle)
    for arm, value in mle.items():
        auto_error = abs(math.log(posterior["auto"][arm] / value))
        vague_error = abs(math.log(posterior["vague"][arm] / value))
        assert auto_error < vague_error, (arm, value, posterior)
    # the derived set is written beside the fit and recorded, with its numbers, in provenance
    written = (tmp_path / "auto" / AUTO_FILE_NAME).read_text()
    attrs = az.from_netcdf(tmp_path / "auto" / "posterior.nc").attrs
    assert attrs["resurv_priors_file"] == "auto"
    assert attrs["resurv_priors_content"] == written
    assert '"centre_months"' in attrs["resurv_priors_derivation"]
    assert not (tmp_path / "vague" / AUTO_FILE_NAME).exists()
    assert np.isfinite(list(posterior["auto"].values())).all()


def test_plan_entry_auto_is_fitted_recorded_reused_and_stated_in_the_report(tmp_path, fitter):
    from helpers import MODELS
    from resurv.inference.sweep import load_plan, run_plan
    from resurv.report.build import build_report

    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(
        'name = "auto_plan"\n'
        f'studies = ["{STUDY}"]\n'
        f'models = ["{MODELS / "response.toml"}"]\n'
        'priors = ["auto"]\n'
        "seed = 5\n[sampler]\ndraws = 500\ntune = 300\nchains = 2\n"
    )
    plan = load_plan(plan_path)
    out = tmp_path / "out"
    said: list[str] = []
    run_plan(plan, out, fitter=fitter, progress=said.append)
    assert said == ["fitting response × auto"]
    folder = out / "fits" / "nmc2020_sirt_prrt__response__auto"
    expected = derive_auto_priors(load_study(STUDY), [])
    assert (folder / AUTO_FILE_NAME).read_bytes() == expected.text.encode("utf-8")
    again: list[str] = []
    run_plan(load_plan(plan_path), out, fitter=fitter, progress=again.append)
    assert again == []  # the same study derives the same file: the run is reused
    report = build_report(out)
    text = (report.parent / "report.md").read_text()
    assert "auto: Weakly informative, scaled to study 'nmc2020_sirt_prrt'" in text
    assert "os centred on the published medians, 48.54 months" in text


def test_fit_without_priors_uses_the_derived_set_and_writes_it(tmp_path, capsys):
    from helpers import MODELS
    from resurv.cli import build_parser, main

    argv = ["fit", str(MODELS / "response.toml"), "--data", str(STUDY), "--out", "x"]
    assert build_parser().parse_args(argv).priors == "auto"
    out = tmp_path / "fit"
    code = main(
        [
            "fit",
            str(MODELS / "response.toml"),
            "--data",
            str(STUDY),
            "--out",
            str(out),
            *("--draws", "300", "--tune", "300", "--chains", "2"),
        ]
    )
    assert code == 0
    written = (out / AUTO_FILE_NAME).read_bytes()
    assert written == derive_auto_priors(load_study(STUDY)).text.encode("utf-8")
    assert f"priors derived from the study: {out / AUTO_FILE_NAME}" in capsys.readouterr().out
    rerun = tmp_path / "rerun"  # the written file reruns the fit
    args = ["--quiet", "fit", str(MODELS / "response.toml"), "--data", str(STUDY)]
    args += ["--priors", str(out / AUTO_FILE_NAME), "--out", str(rerun)]
    assert main([*args, "--draws", "300", "--tune", "300", "--chains", "2"]) == 0
    assert (rerun / "summary.csv").read_bytes() == (out / "summary.csv").read_bytes()


def test_elicit_ess_of_the_derived_set_and_refusal_without_a_study(capsys):
    from resurv.cli import main

    assert main(["elicit", "--ess", "auto", "--data", str(STUDY)]) == 0
    out = capsys.readouterr().out
    centre = math.log(math.sqrt(34.9 * 67.5))
    assert f"lognormal(mu={centre:g}, sigma=1.5)" in out
    assert main(["elicit", "--ess", "auto"]) == 2
    assert "--data" in capsys.readouterr().err


def test_a_mean_above_the_not_reached_bound_is_kept(tmp_path):
    # follow-up 6 + 12/2 = 12 months; the mean's exponential median 100·log 2 lies above it
    study = _study(
        tmp_path,
        """
[[survival]]
endpoint = "os"
statistic = "rmean"
arm = "a"
value = 100.0

[[survival]]
endpoint = "os"
statistic = "median_not_reached"
arm = "a"

[[survival]]
endpoint = "os"
statistic = "median"
arm = "b"
value = 20.0

[followup]
accrual_months = 12.0
followup_months = 6.0
""",
    )
    auto = derive_auto_priors(study)
    _assert_centred(auto, math.sqrt(100.0 * LOG2 * 20.0))
    arm_a = auto.derivation["endpoints"]["os"]["arms"][0]
    assert "not binding" in arm_a["how"]
    assert "centred on the published means and medians" in auto.prior_file.description


def test_missing_template_is_refused_naming_it(tmp_path):
    from resurv.errors import PriorSpecError

    with pytest.raises(PriorSpecError, match="missing.toml"):
        derive_auto_priors(load_study(STUDY), vague_path=tmp_path / "missing.toml")
