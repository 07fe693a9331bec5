"""Survival models fitted to published summaries: the bundled study, consistency with IPD fits."""

import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from helpers import MODELS, PRIORS, STUDY, edit_study, logp_and_dlogp
from resurv.api import build
from resurv.errors import InputError, StudyValidationError
from resurv.inference.fit import Fitter, SamplerSettings
from resurv.io.modelspec import ModelSpec, load_model_spec
from resurv.io.patient_data import PatientData
from resurv.io.priors import load_priors
from resurv.io.study import Arm, Study, load_study
from resurv.models.built import stacked_draws
from resurv.models.summary_data import TARGET_ACCEPT, build_survival_summary, reported_statistics
from resurv.models.survival import build_survival_patients
from resurv.simulation.calibrate import (
    CHECKPOINT_NAME,
    calibrate,
    checkpoint_identity,
    reduce_trial,
)
from resurv.simulation.simulate import simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.published import LogRank, MedianNotReached, MedianReached


def test_bundled_study_statistics_map_to_likelihood_terms():
    study = load_study(STUDY)
    os_terms = reported_statistics(study, "os")
    kinds = sorted(type(t).__name__ for t in os_terms)
    assert kinds == ["LogRank", "MedianReached", "MedianReached"]
    logrank = next(t for t in os_terms if type(t).__name__ == "LogRank")
    # the combination (arm 1) did better: U = O1 - E1 < 0, so Z is negative
    assert logrank.direction == -1 and logrank.observed() < 0
    pfs_terms = reported_statistics(study, "pfs")
    kinds = sorted(type(t).__name__ for t in pfs_terms)
    assert kinds == [
        "LogRank",
        "MedianNotReached",
        "MedianNotReached",
        "RestrictedMean",
        "RestrictedMean",
    ]
    assert next(t for t in pfs_terms if type(t).__name__ == "LogRank").folded


def test_summary_model_needs_followup_design(tmp_path):
    path = edit_study(tmp_path, "accrual_months = {", "# accrual_months = {")
    spec = load_model_spec(MODELS / "os_exponential.toml")
    with pytest.raises(StudyValidationError, match=r"followup.*accrual_months and followup_months"):
        build(spec, load_priors(PRIORS / "vague.toml"), load_study(path))


@pytest.mark.parametrize(
    ("old", "new", "field", "rule"),
    [
        ("p_value = 0.217", "p_value = 0.0", "survival[2].p_value", "strictly between 0 and 1"),
        ("p_value = 0.217", "p_value = 1.0", "survival[2].p_value", "strictly between 0 and 1"),
        ("n = 15\n", "", "arms[0].n", "required but missing"),
        ("spread = 5.9", "spread = -5.9", "survival[6].spread", "must be > 0"),
    ],
)
def test_bad_summary_study_files_are_refused(tmp_path, old, new, field, rule):
    path = edit_study(tmp_path, old, new)
    with pytest.raises(StudyValidationError) as err:
        load_study(path)
    assert field in str(err.value) and rule in str(err.value)


def _two_arm_study(n0, n1, accrual, followup):
    """A study skeleton with known follow-up design and the OS statistics of the bundled study."""
    from resurv.io.priors import PriorSpec

    return Study(
        id="sim",
        title="simulated",
        citation="simulated",
        arms=(Arm("a", "A", n0, 0), Arm("b", "B", n1, 1)),
        survival=(
            MedianReached(0, 1.0, arm="a", endpoint="os"),
            MedianReached(1, 1.0, arm="b", endpoint="os"),
            LogRank(0.5, -1, "b", endpoint="os"),
        ),
        followup_priors={
            "accrual_months": PriorSpec("fixed", {"value": accrual}),
            "followup_months": PriorSpec("fixed", {"value": followup}),
        },
        path="simulated",
    )


def test_an_arm_with_a_single_statistic_compiles_without_rewrite_failures(caplog):
    """OS with one arm's median not reached: that arm's covariance has the log-rank alone.

    Reading its one pair as values[[0], [0]] made PyTensor log a failed rewrite (a diagonal
    lifted through a broadcast) with a traceback on every compile.
    """
    study = _two_arm_study(15, 12, 36.0, 48.0)
    survival = tuple(
        MedianNotReached(1, arm="b", endpoint="os")
        if s.statistic == "median" and s.arm == "b"
        else s
        for s in study.survival
    )
    study = dataclasses.replace(study, survival=survival)
    spec = load_model_spec(MODELS / "os_exponential.toml")
    built = build_survival_summary(spec, load_priors(PRIORS / "literature.toml"), study)
    assert "MedianNotReached" in {type(t).__name__ for t in reported_statistics(study, "os")}
    with caplog.at_level("ERROR", logger="pytensor"):
        dlogp = built.model.compile_dlogp()
    assert not [r for r in caplog.records if "Rewrite failure" in r.getMessage()]
    assert np.all(np.isfinite(dlogp(built.model.initial_point())))


def test_log_normal_summary_model_has_a_finite_gradient_for_steep_curves():
    # a steep log-normal has H(u) = 0 in floating point near 0: the grading of the first piece
    # must not turn that into inf or NaN (it reached the gradient, and NUTS stopped there)
    spec = load_model_spec(MODELS / "os_lognormal.toml")
    built = build_survival_summary(spec, load_priors(PRIORS / "literature.toml"), load_study(STUDY))
    logp_dlogp = logp_and_dlogp(built.model)
    point = built.model.initial_point()
    point.update(
        accrual_months_interval__=np.array(0.251),
        followup_months_interval__=np.array(0.164),
        median_reference_log__=np.array(3.658),
        log_tr=np.array(0.281),
    )
    for sdlog in (0.17, 0.22, 0.26, 0.32, 1.0):
        point["sdlog_log__"] = np.array(np.log(sdlog))
        logp, dlogp = logp_dlogp(point)
        assert np.isfinite(logp), sdlog
        assert np.all(np.isfinite(dlogp)), sdlog


def test_reduce_trial_uses_the_papers_estimators(rng):
    study = _two_arm_study(15, 12, 36.0, 24.0)
    curves = [lambda h: 20.0 * h / np.log(2), lambda h: 30.0 * h / np.log(2)]
    trials = simulate_trials(rng, curves, [15, 12], FollowUp(36.0, 24.0), n_trials=40)
    saw_not_reached = False
    for r in range(40):
        row = trials.row(r)
        t, e, a = row.time[0], row.event[0], row.arm
        reduced = reduce_trial(study, "os", t, e, a)
        med = km_median(t, e, a)
        lr = logrank_test(t, e, a == 1)
        by_arm = {s.arm: s for s in reduced.survival if s.arm}
        for j, arm in enumerate(("a", "b")):
            if med.reached[0, j]:
                assert by_arm[arm].statistic == "median" and by_arm[arm].value == med.median[0, j]
            else:
                saw_not_reached = True
                assert by_arm[arm].statistic == "median_not_reached"
                assert getattr(by_arm[arm], "value", None) is None
        logrank = next(s for s in reduced.survival if s.statistic == "logrank")
        assert np.isclose(logrank.p_value, lr.p_value[0])
        assert logrank.better_arm == ("b" if lr.u[0] < 0 else "a")
        assert logrank.direction == (-1 if lr.u[0] < 0 else 1)
    assert (
        saw_not_reached
    )  # the 15/12 design with 24-60 months of follow-up often censors the median


def test_summary_posterior_is_consistent_with_the_ipd_posterior(fitter):
    """One simulated trial: the summary-data interval for log HR overlaps the IPD one and is wider."""
    rng = np.random.default_rng(7)
    n = 120
    true_log_hr = np.log(0.6)
    curves = [lambda h: 24.0 * h / np.log(2), lambda h: 24.0 * h / np.log(2) / np.exp(true_log_hr)]
    trials = simulate_trials(rng, curves, [n, n], FollowUp(36.0, 48.0), n_trials=1)
    row = trials.row(0)
    t, e, a = row.time[0], row.event[0], row.arm
    study = reduce_trial(_two_arm_study(n, n, 36.0, 48.0), "os", t, e, a)
    assert all(s.statistic != "median_not_reached" for s in study.survival)
    spec = ModelSpec(
        name="os_exp", endpoint="os", likelihood="survival", family="exponential", effect="ph"
    )
    priors = load_priors(PRIORS / "vague.toml")
    summary_tree = fitter.sample(build_survival_summary(spec, priors, study), seed=1)
    data = PatientData(t, e.astype(bool), a, None, ("a", "b"), "")
    ipd_tree = fitter.sample(build_survival_patients(spec, priors, data, ["A", "B"]), seed=1)
    s = stacked_draws(summary_tree.posterior.to_dataset(), "log_hr")
    i = stacked_draws(ipd_tree.posterior.to_dataset(), "log_hr")
    s_lo, s_hi = np.quantile(s, [0.025, 0.975])
    i_lo, i_hi = np.quantile(i, [0.025, 0.975])
    assert s_lo < i_hi and i_lo < s_hi  # intervals overlap
    assert s_hi - s_lo > i_hi - i_lo  # summarising loses information
    assert s_lo < true_log_hr < s_hi
    assert int(summary_tree.sample_stats["diverging"].sum()) == 0


@pytest.mark.slow
def test_bundled_study_os_and_pfs_fit_without_divergences(fitter):
    study = load_study(STUDY)
    priors = load_priors(PRIORS / "literature.toml")
    for model in ("os_weibull", "pfs_weibull_separate"):
        built = build(load_model_spec(MODELS / f"{model}.toml"), priors, study)
        tree = fitter.sample(built, seed=2)
        assert int(tree.sample_stats["diverging"].sum()) == 0, model
        post = tree.posterior.to_dataset()
        med = stacked_draws(post, "median_months")
        assert np.all(np.isfinite(med)) and np.all(med > 0)
        assert {"log_likelihood", "log_prior"} <= set(tree.children)
    # dataclasses.replace keeps the study immutable
    assert dataclasses.replace(study).survival == study.survival


def test_cli_calibrate_writes_coverage_and_prints_compile_and_run_times(tmp_path, capsys):
    from resurv.cli import main

    out = tmp_path / "cal"
    args = ["calibrate", str(MODELS / "os_exponential.toml"), "--data", str(STUDY)]
    args += ["--priors", str(PRIORS / "literature.toml"), "--replicates", "2", "--no-ipd"]
    args += ["--draws", "100", "--tune", "100", "--chains", "1", "--seed", "3", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "summary-data model structure" in printed and "2 replicates in" in printed
    coverage = pd.read_csv(out / "coverage.csv")
    assert set(coverage["target"]) == {
        "log_hr",
        "median_reference",
        "median_comparator",
        "rmst60_reference",
        "rmst60_comparator",
    }
    assert set(coverage["nominal"]) == {0.5, 0.8, 0.95} and (coverage["replicates"] == 2).all()
    timings = json.loads((out / "calibration.json").read_text())
    assert timings["replicates"] == 2 and timings["summary_models"]
    assert set(timings["summary_models"]) <= set(timings["compile_seconds"])
    # provenance: the inputs' hashes, the package versions and resurv's source
    assert timings["packages"]["pymc"] and len(timings["resurv_source_sha256"]) == 64
    assert (
        timings["priors_sha256"]
        == hashlib.sha256((PRIORS / "literature.toml").read_bytes()).hexdigest()
    )
    assert timings["sampler"]["target_accept_after_divergences"] >= 0.9
    records = pd.read_csv(out / "calibration.csv")
    assert records["replicate"].nunique() == 2 and records["truth"].notna().all()
    # each replicate at 0.9, or after divergences at the summary model's target acceptance
    # (the model file's, at least the summary models' own TARGET_ACCEPT)
    model_target = load_model_spec(MODELS / "os_exponential.toml").target_accept or 0.0
    after = timings["sampler"]["target_accept_after_divergences"]
    assert after == max(0.9, TARGET_ACCEPT, model_target)
    assert set(records["target_accept"]) <= {0.9, after}
    assert "target acceptance 0.9" in printed
    assert not (out / CHECKPOINT_NAME).exists()


class _Stop(Exception):
    pass


def test_calibration_resumed_from_its_checkpoint_equals_an_uninterrupted_run(tmp_path):
    spec = load_model_spec(MODELS / "os_exponential.toml")
    priors, study = load_priors(PRIORS / "literature.toml"), load_study(STUDY)
    fitter = Fitter(SamplerSettings(draws=100, tune=100, chains=1))
    run = dict(replicates=3, seed=5, with_ipd=False, fitter=fitter)
    whole = calibrate(spec, priors, study, **run)

    def stop_after_two(i, n):
        if i == 2:
            raise _Stop

    checkpoint = tmp_path / "cal" / CHECKPOINT_NAME
    with pytest.raises(_Stop):
        calibrate(spec, priors, study, **run, checkpoint=checkpoint, progress=stop_after_two)
    assert len(checkpoint.read_text().splitlines()) == 1 + 2  # identity + two replicates
    resumed = calibrate(spec, priors, study, **run, checkpoint=checkpoint)
    assert resumed.timings["resumed_replicates"] == 2
    pd.testing.assert_frame_equal(resumed.records, whole.records)
    pd.testing.assert_frame_equal(resumed.coverage, whole.coverage)
    assert resumed.timings["summary_models"] == whole.timings["summary_models"]

    # the same checkpoint with another seed belongs to another calibration
    with pytest.raises(InputError, match=r"checkpoint: was written by a different .*seed"):
        calibrate(spec, priors, study, **{**run, "seed": 6}, checkpoint=checkpoint)


class _DivergesBelow:
    """A fitter whose fits diverge below a target acceptance of ``threshold``."""

    def __init__(self, threshold, model_target):
        self.settings = SamplerSettings(target_accept=0.9)
        self.threshold, self.model_target, self.calls = threshold, model_target, []
        self.var_names = []

    def target_accept(self, built):
        return max(self.settings.target_accept, self.model_target)

    def sample(self, built, seed, *, posterior_only, target_accept, var_names):
        import xarray as xr

        self.calls.append(target_accept)
        self.var_names.append(var_names)
        diverging = np.full((1, 4), target_accept < self.threshold)
        return xr.DataTree.from_dict(
            {"sample_stats": xr.Dataset({"diverging": (("chain", "draw"), diverging)})}
        )


@pytest.mark.parametrize(
    ("threshold", "model_target", "calls"),
    [(0.5, 0.99, [0.9]), (0.95, 0.99, [0.9, 0.99]), (0.95, 0.8, [0.9]), (1.0, 0.99, [0.9, 0.99])],
)
def test_calibration_fits_again_at_the_models_target_acceptance_only_after_divergences(
    threshold, model_target, calls
):
    from resurv.simulation.calibrate import TARGET_VARIABLES, _fit

    fitter = _DivergesBelow(threshold, model_target)
    tree, target_accept = _fit(fitter, None, seed=1)
    assert fitter.calls == calls and target_accept == calls[-1]
    # a replicate's fit draws only the deterministics the calibration reads
    assert fitter.var_names == [list(TARGET_VARIABLES)] * len(calls)
    # the fit kept is the last one, divergent or not (the calibration counts it)
    assert bool(tree.sample_stats["diverging"].values.any()) == (calls[-1] < threshold)


def test_checkpoint_line_that_is_not_a_finished_replicate_is_refused(tmp_path):
    spec = load_model_spec(MODELS / "os_exponential.toml")
    priors, study = load_priors(PRIORS / "literature.toml"), load_study(STUDY)
    settings = SamplerSettings(draws=100, tune=100, chains=1)
    run = dict(replicates=3, seed=5, with_ipd=False)
    identity = checkpoint_identity(spec, priors, study, settings=settings, **run)
    checkpoint = tmp_path / CHECKPOINT_NAME
    lines = [{"identity": identity}, {"replicate": 0}, {"replicate": 1}]
    checkpoint.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(InputError, match=r"line 2: a finished replicate needs compiled, "):
        calibrate(spec, priors, study, settings=settings, checkpoint=checkpoint, **run)


def test_cli_calibrate_refuses_a_checkpoint_of_another_calibration(tmp_path, capsys):
    from resurv.cli import main

    out = tmp_path / "cal"
    out.mkdir()
    (out / CHECKPOINT_NAME).write_text(json.dumps({"identity": {"seed": 1}}) + "\n")
    args = ["calibrate", str(MODELS / "os_exponential.toml"), "--data", str(STUDY)]
    args += ["--priors", str(PRIORS / "literature.toml"), "--replicates", "2", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(out / CHECKPOINT_NAME) in err and "different calibration" in err
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME]
