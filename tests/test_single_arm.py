"""Single-arm studies end to end: study files, models, fits, checks, simulation, freq, report.

The data are the 6-MP arm of the leukemia trial shipped with lifelines (Freireich 1963; 21
patients, 9 relapses, times in weeks). The summary study prints what a paper would: the KM
median (23 weeks = 5.29 months), the KM survival at 6 months (0.448) and the 9 events. References:
lifelines' Kaplan–Meier estimates, the closed-form posterior of an exponential rate, and the
published values themselves.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from helpers import MODELS, assert_refused
from resurv.cli import main
from resurv.errors import StudyValidationError
from resurv.io.modelspec import load_model_spec
from resurv.io.study import load_study, percent_matches_count
from resurv.models.inventory import NOT_USED, USED, not_used, usage_frame
from resurv.models.survival import ONE_ARM, ArmCurves, for_arms
from resurv.simulation.simulate import simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import KINDS, Published
from resurv.statistics.published.base import printed_decimals

WEEKS = 12 / 52.1775

STUDY_TEXT = """
reference_arm = "mp6"
unknown = ["accrual period and follow-up"]

[study]
id = "leukemia_6mp"
title = "6-MP arm of the leukemia trial"
citation = "Freireich EJ et al. Blood 1963;21:699-716 (lifelines' leukemia data, 6-MP arm)"

[[arms]]
id = "mp6"
label = "6-MP"
n = 21

[[binary]]
endpoint = "remission_kept"
arm = "mp6"
events = 12
published_percent = 57.1

[[survival]]
endpoint = "os"
statistic = "median"
arm = "mp6"
value = 5.29

[[survival]]
endpoint = "os"
statistic = "landmark"
arm = "mp6"
value = 0.448
t_months = 6.0

[[survival]]
endpoint = "os"
statistic = "events"
arm = "mp6"
value = 9

[followup]
accrual_months = { dist = "uniform", lower = 6.0, upper = 24.0, source = "assumption" }
followup_months = { dist = "uniform", lower = 0.5, upper = 12.0, source = "assumption" }
dropout_rate = 0.0
"""

PRIORS_TEXT = """
name = "flat"
description = "Nearly flat priors: medians log-normal with log-SD 3."

[remission_kept.p_reference]
dist = "beta"
alpha = 1.0
beta = 1.0
source = "uniform"

[os.median_reference]
dist = "lognormal"
mu = 3.5835
sigma = 3.0
source = "nearly flat on the log scale"

[os.shape]
dist = "lognormal"
mu = 0.0
sigma = 1.0
source = "weakly informative"
"""

BINOMIAL_MODEL = """
name = "remission"
endpoint = "remission_kept"
likelihood = "binomial"
"""


def _six_mp() -> pd.DataFrame:
    from lifelines.datasets import load_leukemia

    data = load_leukemia()
    arm = data[data["Rx"] == 0]  # 6-MP (median 23 weeks; placebo's is 8)
    return pd.DataFrame({"time": arm["t"], "event": arm["status"], "arm": "6-MP"})


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("single_arm")
    paths = {
        "study": folder / "leukemia_6mp.toml",
        "priors": folder / "flat.toml",
        "csv": folder / "six_mp.csv",
        "binomial": folder / "remission.toml",
    }
    paths["study"].write_text(STUDY_TEXT)
    paths["priors"].write_text(PRIORS_TEXT)
    paths["binomial"].write_text(BINOMIAL_MODEL)
    _six_mp().to_csv(paths["csv"], index=False)
    return paths


def _edited(files, tmp_path, old: str, new: str) -> Path:
    text = STUDY_TEXT
    assert old in text
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new, 1))
    return path


# --- the study file ----------------------------------------------------------------------------


def test_the_published_numbers_are_the_data_sets_own(files):
    """The study's numbers are what lifelines computes on the 6-MP arm."""
    from lifelines import KaplanMeierFitter

    data = _six_mp()
    km = KaplanMeierFitter().fit(data["time"] * WEEKS, data["event"])
    study = load_study(files["study"])
    stats_ = {s.statistic: s for s in study.survival}
    assert study.n_arms == 1 and study.arms[0].n == len(data) == 21
    assert stats_["median"].value == pytest.approx(km.median_survival_time_, abs=0.005)
    assert stats_["landmark"].value == pytest.approx(float(km.predict(6.0)), abs=0.0005)
    assert stats_["events"].value == int(data["event"].sum())


@pytest.mark.parametrize(
    ("old", "new", "field", "rule"),
    [
        (
            '[[survival]]\nendpoint = "os"\nstatistic = "events"',
            '[[survival]]\nendpoint = "os"\nstatistic = "logrank"\np_value = 0.04\n\n'
            '[[survival]]\nendpoint = "os"\nstatistic = "events"',
            "survival[2].statistic",
            "'logrank' compares two arms, but the study lists one arm",
        ),
        (
            '[[survival]]\nendpoint = "os"\nstatistic = "events"',
            '[[survival]]\nendpoint = "os"\nstatistic = "hr"\nvalue = 0.5\n\n'
            '[[survival]]\nendpoint = "os"\nstatistic = "events"',
            "survival[2].statistic",
            "'hr' compares two arms",
        ),
        (
            "published_percent = 57.1",
            "published_percent = 58.1",
            "binary[0].published_percent",
            "58.1% is not 100·12/21",
        ),
    ],
)
def test_a_single_arm_study_refuses_what_it_cannot_use(
    files, tmp_path, capsys, old, new, field, rule
):
    path = _edited(files, tmp_path, old, new)
    with pytest.raises(StudyValidationError) as err:
        load_study(path)
    assert str(path) in str(err.value) and field in str(err.value) and rule in str(err.value)
    out = tmp_path / "out"
    code = main(
        ["fit", str(MODELS / "os_weibull.toml"), "--data", str(path)]
        + ["--priors", str(files["priors"]), "--out", str(out)]
    )
    assert_refused(code, capsys.readouterr().err, out, str(path), field, rule)


def test_three_arms_are_refused(files, tmp_path):
    extra = '[[arms]]\nid = "b"\nn = 3\n\n[[arms]]\nid = "c"\nn = 4\n\n[[binary]]'
    path = _edited(files, tmp_path, "[[binary]]", extra)
    with pytest.raises(StudyValidationError, match=r"arms.*one arm or two arms; got 3"):
        load_study(path)


def test_patient_data_and_summaries_of_one_endpoint_are_refused(files, tmp_path):
    """The model of an endpoint with patient data cannot also use its published summaries."""
    (tmp_path / "six_mp.csv").write_text(files["csv"].read_text())
    path = _edited(
        files,
        tmp_path,
        "[followup]",
        '[[ipd]]\nfile = "six_mp.csv"\ntime_unit = "weeks"\n\n[followup]',
    )
    with pytest.raises(StudyValidationError) as err:
        load_study(path)
    message = str(err.value)
    assert "survival[0].endpoint" in message and "has patient data (ipd[0])" in message


def test_patient_data_must_hold_the_study_arms(files, tmp_path):
    """A single-arm study file whose patient data hold another arm size is refused at fit time."""
    (tmp_path / "six_mp.csv").write_text(files["csv"].read_text())
    text = STUDY_TEXT.split("[[survival]]")[0].replace("n = 21", "n = 20")
    path = tmp_path / "ipd_study.toml"
    path.write_text(text + '\n[[ipd]]\nfile = "six_mp.csv"\ntime_unit = "weeks"\n')
    out = tmp_path / "out"
    code = main(
        ["fit", str(MODELS / "os_exponential.toml"), "--data", str(path)]
        + ["--priors", str(files["priors"]), "--out", str(out)]
    )
    assert code == 2 and not out.exists()


@pytest.mark.parametrize("events", range(0, 22))
def test_printed_percentages_match_their_counts_rounded_or_truncated(events):
    """Against decimal arithmetic: 100·r/21 rounded half up and truncated, to 0-2 decimals."""
    n = 21
    exact = Decimal(100 * events) / Decimal(n)
    for decimals in (1, 2):
        quantum = Decimal(1).scaleb(-decimals)
        for mode in (ROUND_HALF_UP, ROUND_DOWN):
            assert percent_matches_count(float(exact.quantize(quantum, rounding=mode)), events, n)
        # one printed step away from both the rounded and the truncated values: refused
        off = exact.quantize(quantum, rounding=ROUND_DOWN) - 2 * quantum
        # (a float keeps no trailing zero: 9.50 reads as 9.5, then compared at one decimal)
        if off >= 0 and printed_decimals(float(off)) == decimals:
            assert not percent_matches_count(float(off), events, n)
    assert percent_matches_count(
        float(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), events, n
    )


# --- the model ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["os_weibull.toml", "os_weibull_aft.toml", "pfs_weibull_separate.toml"]
)
def test_a_single_arm_model_has_one_arm_whatever_the_effect(model):
    spec = load_model_spec(MODELS / model)
    assert for_arms(spec, 2) == spec
    one = for_arms(spec, 1)
    assert one.effect == ONE_ARM and for_arms(one, 1) == one and one.key != spec.key
    arms = ArmCurves(one)
    assert arms.n_arms == 1
    assert arms.required_parameters == ["median_reference", "shape"]
    draws = xr.Dataset(
        {
            "median_reference": (("chain", "draw"), [[10.0, 20.0]]),
            "shape": (("chain", "draw"), [[1.0, 2.0]]),
        }
    )
    (curve,) = arms.from_posterior(draws)
    # a Weibull median m with shape k: S(m) = 1/2
    np.testing.assert_allclose(curve.survival(np.array([[10.0], [20.0]])), 0.5)


def test_simulated_single_arm_trial_follows_its_curve(rng):
    """One arm of 4000 patients, exponential median 10, no censoring: KS test against Exp."""
    rate = np.log(2) / 10.0
    trials = simulate_trials(rng, [lambda h: h / rate], [4000], FollowUp(1.0, 1e6, 0.0), n_trials=1)
    assert trials.time.shape == (1, 4000) and np.all(trials.arm == 0) and trials.event.all()
    assert stats.kstest(trials.time[0], stats.expon(scale=1 / rate).cdf).pvalue > 0.01


def test_cli_simulate_writes_a_single_arm_trial(tmp_path, capsys):
    out = tmp_path / "trial.csv"
    args = ["simulate", "--family", "weibull", "--median", "30", "--shape", "1.2", "--n", "40"]
    args += ["--accrual", "24", "--followup", "12", "--seed", "3", "--out", str(out)]
    assert main(args) == 0
    data = pd.read_csv(out)
    assert len(data) == 40 and set(data["arm"]) == {0}
    assert main([*args[:-1], str(tmp_path / "x.csv"), "--log-hr", "0.3"]) == 2
    assert "single-arm trial" in capsys.readouterr().err


def test_freq_on_single_arm_patient_data_matches_lifelines(files, capsys):
    from lifelines import KaplanMeierFitter

    assert main(["freq", str(files["csv"]), "--time-unit", "weeks", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    data = _six_mp()
    km = KaplanMeierFitter().fit(data["time"] * WEEKS, data["event"])
    arm = summary["arms"]["6-MP"]
    assert (arm["n"], arm["events"]) == (21, 9)
    assert arm["median"] == pytest.approx(km.median_survival_time_, rel=1e-12)
    assert "logrank_p" not in summary and "cox_log_hr" not in summary
    assert main(["freq", str(files["csv"]), "--time-unit", "weeks"]) == 0
    text = capsys.readouterr().out
    assert "6-MP" in text and "log-rank" not in text and "Cox" not in text


# --- fits through the command line -------------------------------------------------------------


@pytest.fixture(scope="module")
def summary_fit(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("summary_fit") / "fit"
    code = main(
        ["fit", str(MODELS / "os_exponential.toml"), "--data", str(files["study"])]
        + ["--priors", str(files["priors"]), "--out", str(out), "--seed", "3"]
        + ["--draws", "1000", "--tune", "1000", "--chains", "2"]
    )
    assert code == 0
    return out


def test_single_arm_summary_fit_recovers_the_published_median(summary_fit):
    """The arm's median from its published median, 6-month survival and events.

    An exponential curve through this arm's data has a longer median than its KM median (the
    maximum-likelihood exponential median of the patient data is 6.36 months against the KM
    median of 5.29; the exact posterior median under these priors is 6.74): the summary-only
    posterior median lies between the published KM median and the patient-data posterior
    median, and its 95% interval holds the published value.
    """
    tree = xr.open_datatree(summary_fit / "posterior.nc")
    post = tree.posterior.to_dataset()
    assert list(post["median_months"].coords["arm"].values) == ["6-MP"]
    assert "log_hr" not in post and "hr" not in post and "median_comparator" not in post
    draws = post["median_months"].values.ravel()
    low, median, high = np.quantile(draws, [0.025, 0.5, 0.975])
    assert low < 5.29 < high
    assert 0.95 * 5.29 < median < 1.05 * _exact_exponential_posterior_median()
    summary = pd.read_csv(summary_fit / "summary.csv")
    assert not summary["quantity"].str.contains("hr|HR|comparator|difference").any()
    published = pd.read_csv(summary_fit / "published_vs_posterior.csv")
    assert list(published["statistic"]) == ["os_median_months", "os_survival_6m", "os_events"]
    assert published["ppp"].between(0.05, 1.0).all()  # the model reproduces its own data
    assert json.loads((summary_fit / "diagnostics.json").read_text())["passed"]


def test_single_arm_fit_saves_every_number_of_the_study_file(summary_fit):
    tree = xr.open_datatree(summary_fit / "posterior.nc")
    table = usage_frame(tree["published_numbers"].to_dataset())
    numbers = set(zip(table["record"], table["field"], strict=True))
    assert numbers == {
        ("arms[mp6]", "n"),
        ("binary[0]", "events"),
        ("binary[0]", "published_percent"),
        ("survival[0]", "value"),
        ("survival[1]", "value"),
        ("survival[1]", "t_months"),
        ("survival[2]", "value"),
        ("followup", "accrual_months"),
        ("followup", "followup_months"),
        ("followup", "dropout_rate"),
    }
    events = table[(table["record"] == "survival[2]")]
    assert list(events["role"]) == ["likelihood"]
    assert set(table.loc[table["record"] == "binary[0]", "role"]) == {"other endpoint"}
    _only_undeclared_kinds_unused(table, load_study_from(tree))


def load_study_from(tree):
    from resurv.report.runs import study_from_provenance

    return study_from_provenance(dict(tree.attrs), Path("posterior.nc"))


def _only_undeclared_kinds_unused(table, study) -> None:
    """Rows 'not used' come only from kinds that do not declare ``usage()``."""
    undeclared = {
        f"survival[{i}]" for i, s in enumerate(study.survival) if type(s).usage is Published.usage
    }
    unused = table[table["role"] == NOT_USED]
    assert set(unused["record"]) <= undeclared, unused


def _exact_exponential_posterior_median() -> float:
    """Posterior median of m = ln 2/λ given the 6-MP arm, exponential, log m ~ N(3.5835, 3²).

    Likelihood λ^d e^{−λT} (d events, T total time); the density on log m by quadrature.
    """
    data = _six_mp()
    d, total = data["event"].sum(), (data["time"] * WEEKS).sum()
    log_m = np.linspace(np.log(0.5), np.log(200.0), 40001)
    rate = np.log(2) / np.exp(log_m)
    log_post = d * np.log(rate) - rate * total + stats.norm.logpdf(log_m, 3.5835, 3.0)
    cdf = np.cumsum(np.exp(log_post - log_post.max()))
    return float(np.exp(np.interp(0.5, cdf / cdf[-1], log_m)))


@pytest.fixture(scope="module")
def ipd_fit(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("ipd_fit") / "fit"
    code = main(
        ["fit", str(MODELS / "os_exponential.toml"), "--data", str(files["csv"])]
        + ["--time-unit", "weeks", "--priors", str(files["priors"]), "--out", str(out)]
        + ["--seed", "1"]
    )
    assert code == 0
    return out


def test_single_arm_patient_data_fit_matches_the_exact_posterior(ipd_fit):
    """Exponential rate λ: likelihood λ^d e^{−λT}; median m = ln 2/λ with a log-normal prior.

    The posterior median of m by quadrature on log m, and lifelines' exponential MLE beside it.
    """
    from lifelines import ExponentialFitter

    data = _six_mp()
    time, event = data["time"].to_numpy() * WEEKS, data["event"].to_numpy()
    d, total = event.sum(), time.sum()
    exact = _exact_exponential_posterior_median()
    draws = xr.open_datatree(ipd_fit / "posterior.nc").posterior["median_months"].values.ravel()
    assert np.median(draws) == pytest.approx(exact, rel=0.03)
    mle = np.log(2) * ExponentialFitter().fit(time, event).lambda_
    # lifelines maximizes numerically: its estimate agrees with d/T to its optimizer's tolerance
    assert mle == pytest.approx(np.log(2) * total / d, rel=1e-5)
    assert np.median(draws) == pytest.approx(mle, rel=0.10)  # 9 events: the MLE is biased low


# --- the report --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(files, tmp_path_factory, fitter):
    from resurv.inference.sweep import load_plan, run_plan
    from resurv.report.build import build_report

    folder = tmp_path_factory.mktemp("single_arm_report")
    plan = folder / "plan.toml"
    plan.write_text(
        'name = "single"\n'
        f'studies = ["{files["study"]}"]\n'
        f"models = {json.dumps([str(files['binomial']), str(MODELS / 'os_exponential.toml')])}\n"
        f'priors = ["{files["priors"]}"]\n'
        "seed = 5\n"
        "[sampler]\ndraws = 500\ntune = 500\nchains = 2\n"
    )
    out = folder / "out"
    run_plan(load_plan(plan), out, fitter=fitter, command="resurv run plan.toml")
    build_report(out)
    return out


def test_single_arm_report_renders_without_arm_effects(report):
    md = (report / "report.md").read_text()
    assert "| 6-MP | single arm | 21 |" in md
    assert "The study has one arm: there is no hazard ratio" in md
    assert "P(HR" not in md and "hazard ratio under proportional hazards" not in md
    assert "## Published numbers and how they were used" in md
    html = (report / "index.html").read_text()
    assert "<h2>Published numbers and how they were used</h2>" in html
    assert "<td>single arm</td>" in html


def test_single_arm_report_lists_unused_numbers_only_for_undeclared_kinds(report):
    from resurv.report.runs import load_runs

    results = load_runs(report)
    frames = [r.published_numbers() for r in results.runs]
    assert all(len(f) for f in frames)
    missing = not_used(frames)
    study = results.study(results.plan["studies"][0])
    undeclared = {
        f"survival[{i}]" for i, s in enumerate(study.survival) if type(s).usage is Published.usage
    }
    assert set(missing["record"]) == undeclared
    # the binary count and its percentage are used by the binomial fit
    table = pd.concat(frames)
    binary = table[table["record"] == "binary[0]"]
    assert set(binary["role"]) & set(USED) == {"likelihood", "check"}
    md = (report / "report.md").read_text()
    if undeclared:
        assert "Published but not used" in md
    else:
        assert "Published but not used: none." in md


# --- the registry -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_declares_how_its_numbers_are_used(name):
    """Every kind of published statistic overrides ``usage()`` (the base raises)."""
    assert KINDS[name].usage is not Published.usage, name


def test_usage_of_events_and_not_reached(files):
    study = load_study(files["study"])
    events = next(s for s in study.survival if s.statistic == "events")
    assert [(f, r) for f, r, _ in events.usage()] == [("value", "likelihood")]
    from resurv.statistics.published import from_table

    not_reached = from_table(
        {"endpoint": "os", "statistic": "median_not_reached", "arm": "mp6"}, study.arms
    )
    assert [(f, r) for f, r, _ in not_reached.usage()] == [("statistic", "likelihood")]
    with pytest.raises(NotImplementedError, match="does not declare"):
        Published.usage(events)


def test_bundled_study_numbers_are_all_used_by_the_main_plan():
    """Over the main plan's models, no number of the bundled study is left unused."""
    from helpers import PRIORS, STUDY
    from resurv.api import build
    from resurv.io.priors import load_priors
    from resurv.models.inventory import usage_dataset

    study = load_study(STUDY)
    models = ["response", "hepatotoxicity", "os_weibull", "os_exponential", "pfs_weibull_separate"]
    priors = load_priors(PRIORS / "literature.toml")
    frames = [
        usage_frame(
            usage_dataset(build(load_model_spec(MODELS / f"{m}.toml"), priors, study).usage)
        )
        for m in models
    ]
    table = pd.concat(frames)
    numbers = set(zip(table["record"], table["field"], strict=True))
    raw = study.raw
    for i in range(len(raw["binary"])):
        assert {(f"binary[{i}]", k) for k in ("events", "published_percent")} <= numbers
    for key in raw["followup"]:
        if key != "note":
            assert ("followup", key) in numbers
    assert {(f"arms[{a.id}]", "n") for a in study.arms} <= numbers
    missing = not_used(frames)
    assert missing.empty, missing


def test_single_arm_binomial_fit_is_the_exact_beta_posterior(report):
    """12 of 21 under a uniform prior: p ~ Beta(13, 10); one Clopper-Pearson row, no Fisher test."""
    fit = report / "fits" / "leukemia_6mp__remission__flat"
    summary = pd.read_csv(fit / "summary.csv").set_index("quantity")
    exact = stats.beta(13, 10)
    assert summary.loc["p[6-MP]", "mean"] == pytest.approx(exact.mean(), abs=0.01)
    assert summary.loc["p[6-MP]", "sd"] == pytest.approx(exact.std(), rel=0.05)
    assert list(summary.index) == ["p[6-MP]"]
    frequentist = pd.read_csv(fit / "frequentist.csv")
    ci = stats.binomtest(12, 21).proportion_ci(method="exact")
    assert list(frequentist["statistic"]) == ["proportion"]
    # (the file prints 6 significant digits)
    assert frequentist.loc[0, "ci_low"] == pytest.approx(ci.low, rel=1e-5)


def test_single_arm_calibration_simulates_the_one_arm_design(files):
    """Prior draws, one-arm trials of the study's size, reduced to the study's statistics."""
    from resurv.io.priors import load_priors
    from resurv.simulation.calibrate import reduce_trial, simulated_replicates, targets_for

    spec = load_model_spec(MODELS / "os_exponential.toml")
    study = load_study(files["study"])
    prior, trials, _, template = simulated_replicates(
        spec, load_priors(files["priors"]), study, 4, seed=2
    )
    assert trials.time.shape == (4, 21) and np.all(trials.arm == 0)
    assert sorted(targets_for(for_arms(spec, 1))) == ["median_reference", "rmst60_reference"]
    assert "log_hr" not in prior and prior["median_months"].shape[-1] == 1
    for r in range(4):
        row = trials.row(r)
        replica = reduce_trial(study, "os", row.time[0], row.event[0], row.arm)
        events = next(s for s in replica.survival if s.statistic == "events")
        assert events.value == int(row.event[0].sum())
        assert {s.statistic for s in replica.survival} <= {
            "median",
            "median_not_reached",
            "landmark",
            "events",
        }


@pytest.mark.slow
def test_single_arm_calibration_runs_through_the_command_line(files, tmp_path):
    out = tmp_path / "calibration"
    code = main(
        ["calibrate", str(MODELS / "os_exponential.toml"), "--data", str(files["study"])]
        + ["--priors", str(files["priors"]), "--replicates", "3", "--out", str(out)]
    )
    assert code == 0
    coverage = pd.read_csv(out / "coverage.csv")
    assert set(coverage["target"]) == {"median_reference", "rmst60_reference"}
    widths = pd.read_csv(out / "width_ratio.csv")
    assert (widths["ipd_width95"] > 0).all()
