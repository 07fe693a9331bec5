"""The diagnosis of conflicting published statistics where users see it.

Built from saved groups (a fit's ``posterior_predictive`` and ``observed_data`` written to
``posterior.nc``), not from a sampling run: ``resurv fit`` prints the message at the end, the
report shows it in the fit's section with each statistic's predictive p-values and the other
models of the plan that reproduce the statistics together, and the sweep's tidy table carries
it per fit.
"""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers import PRIORS
from resurv import cli
from resurv.checks.conflict import ALPHA, diagnose, joint_ppp, joint_ppp_in
from resurv.inference.diagnostics import Diagnostics
from resurv.inference.results import FitResult
from resurv.io.priors import load_priors, priors_from_text
from resurv.report.document import Section, render_markdown
from resurv.report.posterior_sections import _diagnosis, reproducing_fits
from resurv.report.runs import Run, distinct_prior_files
from resurv.report.sections import priors_section
from test_conflict import _tree

NAMES = ["os_median_months (Control)", "hr (between arms)", "os_landmark (Control)"]
COV = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
OBSERVED = np.array([1.3, -1.3, 0.2])


def _draws(cov, seed):
    return np.random.default_rng(seed).multivariate_normal(np.zeros(3), cov, size=(4, 1500))


def _gates(passed: bool) -> dict:
    return {"passed": passed, "max_rhat": 1.0, "divergences": 0, "failures": []}


def _saved_run(folder, model, tree, gates_passed, diagnosis=None):
    """A run folder as a sweep writes it: posterior.nc with the groups, diagnostics.json."""
    folder.mkdir(parents=True)
    tree.to_netcdf(folder / "posterior.nc")
    record = _gates(gates_passed)
    if diagnosis is not None and diagnosis.found:
        record["diagnosis"] = diagnosis.to_dict()
    (folder / "diagnostics.json").write_text(json.dumps(record))
    return Run({"model": model, "priors": "vague", "study": "s"}, folder, None, None)


def test_joint_ppp_in_a_saved_fit_is_the_joint_check_of_its_draws(tmp_path):
    draws = _draws(COV, 1)
    tree = _tree(draws, OBSERVED, NAMES)
    pooled = draws.reshape(-1, 3)
    assert joint_ppp_in(tree, tuple(NAMES[:2])) == joint_ppp(pooled[:, :2], OBSERVED[:2])
    expected = stats.chi2.sf(OBSERVED[:2] @ np.linalg.inv(COV[:2, :2]) @ OBSERVED[:2], df=2)
    assert joint_ppp_in(tree, tuple(NAMES[:2])) == pytest.approx(expected, abs=3e-3)
    assert np.isnan(joint_ppp_in(tree, ("not checked by this fit",)))


def test_report_names_the_conflict_its_p_values_and_the_model_that_reproduces_it(tmp_path):
    """The PH-like fit cannot hold the first two values together; an uncorrelated one can."""
    ph_tree = _tree(_draws(COV, 2), OBSERVED, NAMES)
    diagnosis = diagnose(ph_tree, True, family="weibull", effect="ph")
    [conflict] = diagnosis.conflicts
    ph = _saved_run(tmp_path / "ph", "os_weibull", ph_tree, True, diagnosis)
    separate_tree = _tree(_draws(np.eye(3), 3), OBSERVED, NAMES)
    separate = _saved_run(tmp_path / "sep", "os_weibull_separate", separate_tree, True)
    failed = _saved_run(tmp_path / "bad", "os_lognormal", separate_tree, False)
    runs = [ph, separate, failed]

    found = reproducing_fits(conflict.statistics, ph, runs)
    assert [m for m, _ in found] == ["os_weibull_separate"]  # gates failed: not offered
    p_separate = joint_ppp_in(separate_tree, conflict.statistics)
    assert found[0][1] == p_separate >= ALPHA

    sec = Section("Published values beside the posterior")
    _diagnosis(sec, ph, runs)
    md, _ = render_markdown("t", [sec])
    assert "Diagnosis of os_weibull · vague: " + diagnosis.message in md
    assert 'effect = "separate"' in md
    [(frame, _)] = [value for kind, value in sec.blocks if kind == "table"]
    assert list(frame["statistic"]) == list(conflict.statistics)
    np.testing.assert_allclose(frame["predictive p alone"], conflict.each_ppp)
    np.testing.assert_allclose(frame["joint predictive p"], conflict.joint_ppp)
    assert set(frame["reproduced by"]) == {f"os_weibull_separate (joint p {p_separate:.2f})"}
    assert "Reproduced together by another model of this plan" in md
    assert "os_weibull_separate" in md


def test_no_diagnosis_text_for_a_fit_without_one(tmp_path):
    tree = _tree(_draws(np.eye(3), 4), np.zeros(3), NAMES)
    run = _saved_run(tmp_path / "ok", "os_weibull", tree, True, diagnose(tree))
    sec = Section("x")
    _diagnosis(sec, run, [run])
    assert render_markdown("t", [sec])[0] == render_markdown("t", [Section("x")])[0]


def test_resurv_fit_prints_the_diagnosis_at_the_end(tmp_path, monkeypatch, capsys):
    tree = _tree(_draws(COV, 5), OBSERVED, NAMES)
    diagnosis = diagnose(tree, True, family="weibull", effect="ph")
    assert diagnosis.found
    result = FitResult(
        tree=tree,
        summary=pd.DataFrame(),
        published=pd.DataFrame({"statistic": ["x"]}),
        frequentist=pd.DataFrame(),
        diagnostics=Diagnostics(1.0, 1000.0, 1000.0, 0, 1000, True, True, True),
        diagnosis=diagnosis,
    )
    import resurv.api

    monkeypatch.setattr(resurv.api, "fit_files", lambda *a, **k: result)
    code = cli.main(
        ["fit", "m.toml", "--data", "d.toml", "--priors", "p.toml", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert err.strip().splitlines()[-1] == "DIAGNOSIS: " + diagnosis.message


def test_the_report_shows_each_studys_derived_prior_set(tmp_path):
    """Two studies of one plan, each with its own ``auto`` set: both shown, each named."""
    text = (PRIORS / "vague.toml").read_text().replace('name = "vague"', 'name = "auto"')
    first = priors_from_text(text, "priors_auto.toml")
    second = priors_from_text(
        text.replace("mu = 3.5835   # log 36 months", "mu = 1.0", 1), "priors_auto.toml"
    )
    assert first.name == second.name == "auto" and first.sha256 != second.sha256
    runs = [
        Run({"model": "m", "priors": "auto", "study": study}, tmp_path, None, pf)
        for study, pf in (("trial_a", first), ("trial_b", second), ("trial_a", first))
    ]
    files, studies = distinct_prior_files(runs)
    assert [pf.sha256 for pf in files] == [first.sha256, second.sha256]
    assert studies == {first.sha256: ("trial_a",), second.sha256: ("trial_b",)}
    md, _ = render_markdown("t", [priors_section(files, ["os"], studies)])
    assert "Prior set 'auto' for study trial_a" in md
    assert "Prior set 'auto' for study trial_b" in md
    # one study, one set: no study named (the bundled study's report is unchanged)
    md, _ = render_markdown("t", [priors_section([load_priors(PRIORS / "vague.toml")], ["os"])])
    assert "for study" not in md
