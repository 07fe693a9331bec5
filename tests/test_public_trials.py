"""The worked examples' generator (benchmarks/public_trials.py): its statistics against lifelines
on the same data, and its study files loaded back by resurv with every printed number intact."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times

from resurv.io.patient_data import load_ipd_for
from resurv.io.study import load_study
from resurv.statistics import published

ROOT = Path(__file__).resolve().parents[1]


def _load_generator():
    path = ROOT / "benchmarks" / "public_trials.py"
    spec = importlib.util.spec_from_file_location("public_trials", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["public_trials"] = module
    spec.loader.exec_module(module)
    return module


pt = _load_generator()
TRIAL_IDS = list(pt.TRIALS)


@pytest.fixture(autouse=True)
def numpy_warns():
    # lifelines' KaplanMeierFitter.fit silences NumPy warnings globally (np.seterr)
    with np.errstate(all="warn", under="ignore"):
        yield


@pytest.fixture(scope="module")
def trials():
    """Per trial: its patients (months), arm codes and the generator's numbers."""
    out = {}
    for trial_id, trial in pt.TRIALS.items():
        patients = trial.patients()
        codes = {arm_id: j for j, (_, arm_id, _) in enumerate(trial.arms)}
        arm = patients["arm"].map(codes).to_numpy(int)
        out[trial_id] = (trial, patients, arm, pt.paper_numbers(trial, patients))
    return out


def km(time, event):
    with np.errstate():
        return KaplanMeierFitter().fit(time, event)


def test_patient_data_are_the_lifelines_data_in_months(trials):
    # leukemia and rossi in weeks, gbsg2 in days; every patient kept, arms as coded
    for trial, patients, arm, _ in trials.values():
        raw = trial.raw()
        assert len(patients) == len(raw)
        per_month = {"weeks": 12 / 52.1775, "days": 12 / 365.25}[trial.time_unit]
        np.testing.assert_allclose(patients["time"], raw[trial.time_column] * per_month, rtol=1e-15)
        np.testing.assert_array_equal(patients["event"], raw[trial.event_column])
        for j, (code, _, _) in enumerate(trial.arms):
            assert np.array_equal(arm == j, (raw[trial.arm_column] == code).to_numpy())
    # the known arm sizes and event counts of the three data sets
    sizes = {t: [int((a == j).sum()) for j in (0, 1)] for t, (_, _, a, _) in trials.items()}
    assert sizes == {"leukemia": [21, 21], "gbsg2": [440, 246], "rossi": [216, 216]}


@pytest.mark.parametrize("trial_id", TRIAL_IDS)
def test_statistics_equal_lifelines(trials, trial_id):
    trial, patients, arm, numbers = trials[trial_id]
    time = patients["time"].to_numpy(float)
    event = patients["event"].to_numpy(int)
    for j, a in enumerate(numbers.arms):
        sel = arm == j
        kmf = km(time[sel], event[sel])
        assert a.n == sel.sum() and a.events == event[sel].sum()
        assert a.median == pytest.approx(kmf.median_survival_time_, rel=1e-12)
        ci = median_survival_times(kmf.confidence_interval_).to_numpy()[0]
        assert a.median_ci == pytest.approx(tuple(ci), rel=1e-12)
        for t, (s, low, high) in a.landmarks.items():
            assert s == pytest.approx(kmf.survival_function_at_times(t).iloc[0], rel=1e-12)
            band = kmf.confidence_interval_survival_function_.loc[:t].iloc[-1].to_numpy()
            assert (low, high) == pytest.approx(tuple(band), rel=1e-9)
        table = kmf.event_table
        for t, n in a.at_risk.items():
            # entered minus removed strictly before t
            assert n == sel.sum() - table.loc[table.index < t, "removed"].sum()
    lr = logrank_test(time[arm == 0], time[arm == 1], event[arm == 0], event[arm == 1])
    assert numbers.logrank_p == pytest.approx(lr.p_value, rel=1e-9)
    frame = pd.DataFrame({"T": time, "E": event, "comparator": arm})
    # converged to |score| ~ 1e-10 (lifelines' default stops at Newton steps ~1e-7)
    options = {"precision": 1e-20, "r_precision": 0.0, "max_steps": 500}
    cph = CoxPHFitter().fit(frame, "T", "E", fit_options=options)
    assert numbers.log_hr == pytest.approx(cph.params_["comparator"], rel=1e-8)
    assert numbers.log_hr_se == pytest.approx(cph.standard_errors_["comparator"], rel=1e-8)
    low, high = numbers.hr_ci
    assert low == pytest.approx(math.exp(cph.confidence_intervals_.iloc[0, 0]), rel=1e-8)
    assert high == pytest.approx(math.exp(cph.confidence_intervals_.iloc[0, 1]), rel=1e-8)
    reverse = km(time, 1 - event)
    assert numbers.median_followup == pytest.approx(reverse.median_survival_time_, rel=1e-12)


def test_known_features_of_the_trials(trials):
    # 6-MP prolongs remission (Freireich 1963): HR well below 1, the 6-MP median CI open above;
    # no Rossi arm reaches its median within the year of follow-up
    _, _, _, leukemia = trials["leukemia"]
    assert leukemia.hr < 0.35 and leukemia.logrank_better == "mp6"
    assert math.isinf(leukemia.arms[1].median_ci[1])
    _, _, _, rossi = trials["rossi"]
    assert all(math.isinf(a.median) for a in rossi.arms)
    assert rossi.median_followup == pytest.approx(52 * 12 / 52.1775)


def _survival(study, statistic, arm=None, **match):
    return [
        s
        for s in study.survival
        if s.statistic == statistic
        and (arm is None or s.arm == arm)
        and all(getattr(s, k) == v for k, v in match.items())
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory, trials):
    root = tmp_path_factory.mktemp("examples")
    for trial, *_ in trials.values():
        pt.write_trial(trial, root)
    return root


@pytest.mark.parametrize("trial_id", TRIAL_IDS)
def test_study_files_load_and_round_trip(trials, written, trial_id):
    trial, patients, _, numbers = trials[trial_id]
    for scenario in pt.SCENARIOS:
        study = load_study(pt.study_path(trial, scenario, written))
        assert [a.id for a in study.arms] == [a.id for a in numbers.arms]
        assert [a.n for a in study.arms] == [a.n for a in numbers.arms]
        for a in numbers.arms:
            reached = _survival(study, "median", a.id)
            if math.isinf(a.median):
                assert not reached and len(_survival(study, "median_not_reached", a.id)) == 1
                continue
            (record,) = reached
            assert record.value == round(a.median, 1)
            if scenario == "abstract":
                assert record.ci is None
            else:
                # a limit not reached is printed "NR" (read as None)
                printed = tuple(round(v, 1) if math.isfinite(v) else None for v in a.median_ci)
                assert record.ci == printed and record.ci_transform == "loglog"
        (lr,) = _survival(study, "logrank")
        assert lr.p_value == pt.printed_p(numbers.logrank_p)
        assert lr.p_value == pytest.approx(numbers.logrank_p, rel=0.05)
        assert lr.better_arm == numbers.logrank_better
        hr = _survival(study, "hr")
        events = _survival(study, "events")
        landmarks = _survival(study, "landmark")
        if scenario == "abstract":
            assert not hr and not events and not landmarks
        else:
            assert hr[0].value == round(numbers.hr, 2)
            assert hr[0].ci == tuple(round(v, 2) for v in numbers.hr_ci)
            assert [e.value for e in events] == [a.events for a in numbers.arms]
        if scenario == "full":
            assert len(landmarks) == 2 * len(trial.landmark_months)
            for a in numbers.arms:
                for t, (s, low, high) in a.landmarks.items():
                    (record,) = _survival(study, "landmark", a.id, t_months=t)
                    assert record.value == round(s, 3)
                    assert record.ci == (round(low, 3), round(high, 3))
        else:
            assert not landmarks
        followup = _survival(study, "median_followup")
        at_risk = _survival(study, "at_risk")
        if scenario == "abstract":
            assert not followup and not at_risk
        else:
            assert [f.value for f in followup] == [round(numbers.median_followup, 1)]
            assert followup[0].method == "reverse_km"
        if scenario == "full":
            for a in numbers.arms:
                (record,) = _survival(study, "at_risk", a.id)
                assert record.times == tuple(trial.at_risk_months)
                assert record.numbers == tuple(a.at_risk[t] for t in trial.at_risk_months)
        else:
            assert not at_risk
        # the design is printed in no scenario: the same generic priors everywhere
        prior = study.followup_priors
        assert prior["dropout_rate"].args == {"value": 0.0}
        assert prior["followup_months"].args == {"lower": 0.0, "upper": 36.0}
        assert prior["accrual_months"].args == {"lower": 1.0, "upper": 60.0}


def test_a_statistic_of_an_unregistered_kind_stops_the_generator(trials, monkeypatch):
    trial, _, _, numbers = trials["gbsg2"]
    document = pt.study_document(trial, numbers, "typical")
    assert [r["statistic"] for r in document["survival"]].count("median_followup") == 1
    monkeypatch.delitem(published.KINDS, "median_followup")
    with pytest.raises(ValueError, match="no published-statistic kind 'median_followup'"):
        pt.study_document(trial, numbers, "typical")
    # a scenario that does not print it is still written
    assert pt.study_document(trial, numbers, "abstract")["survival"]


@pytest.mark.parametrize("trial_id", TRIAL_IDS)
def test_patient_study_file_points_to_the_same_data(trials, written, trial_id):
    trial, patients, arm, _ = trials[trial_id]
    study = load_study(pt.study_path(trial, "patients", written))
    assert not study.survival
    data = load_ipd_for(study, "os")
    assert data.arm_labels == tuple(arm_id for _, arm_id, _ in trial.arms)
    np.testing.assert_allclose(data.time, patients["time"], rtol=1e-9)
    np.testing.assert_array_equal(data.event, patients["event"].astype(bool))
    np.testing.assert_array_equal(data.arm, arm)


def test_committed_files_are_the_generators_output(written):
    # the files under data/ are what the generator writes with this version's registry
    for trial in pt.TRIALS.values():
        paths = [pt.patients_csv(trial, written)]
        paths += [pt.study_path(trial, s, written) for s in (*pt.SCENARIOS, "patients")]
        for path in paths:
            committed = ROOT / path.relative_to(written)
            assert committed.read_text() == path.read_text(), f"regenerate {committed}"


@pytest.mark.parametrize("scenario", ["abstract", "typical", "full"])
def test_no_printed_number_of_the_examples_is_left_unused(scenario):
    """Every number of each example study file is in the likelihood or a check target."""
    from resurv.api import build
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.models.inventory import not_used, usage_dataset, usage_frame

    root = Path(__file__).resolve().parents[1]
    spec = load_model_spec(root / "models" / "example_weibull.toml")
    priors = load_priors(root / "priors" / "vague.toml")
    for trial_id in TRIAL_IDS:
        study = load_study(root / "data" / "studies" / f"{trial_id}_{scenario}.toml")
        frame = usage_frame(usage_dataset(build(spec, priors, study).usage))
        assert len(frame) >= 5
        missing = not_used([frame])
        assert missing.empty, (trial_id, missing.to_dict("records"))
