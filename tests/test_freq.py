import json

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_waltons
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time

from resurv.statistics.frequentist import format_table, frequentist_summary, to_jsonable


@pytest.fixture(autouse=True)
def numpy_warns():
    # lifelines' KaplanMeierFitter.fit silences NumPy warnings globally (np.seterr)
    with np.errstate(all="warn", under="ignore"):
        yield


def km_fit(time, event):
    with np.errstate():
        return KaplanMeierFitter().fit(time, event)


@pytest.fixture
def waltons():
    data = load_waltons()
    return (
        data["T"].to_numpy(float),
        data["E"].to_numpy(bool),
        (data["group"] == "miR-137").to_numpy(int),
    )


def test_summary_matches_lifelines(waltons):
    time, event, arm = waltons
    summary = frequentist_summary(time, event, arm, arm_labels=("control", "miR-137"))
    assert list(summary["arms"]) == ["control", "miR-137"]
    for j, label in enumerate(["control", "miR-137"]):
        values = summary["arms"][label]
        kmf = km_fit(time[arm == j], event[arm == j])
        assert values["n"] == (arm == j).sum()
        assert values["events"] == event[arm == j].sum()
        assert values["median"] == kmf.median_survival_time_
        assert values["median_reached"]
        ci = median_survival_times(kmf.confidence_interval_).to_numpy()[0]
        assert values["median_ci"] == (ci[0], ci[1])
        tau = time[arm == j].max()
        assert values["rmean_tau"] == tau
        assert values["rmean"] == pytest.approx(restricted_mean_survival_time(kmf, t=tau))
        assert values["rmean_se"] > 0
    reference = logrank_test(time[arm == 0], time[arm == 1], event[arm == 0], event[arm == 1])
    assert summary["logrank_chisq"] == pytest.approx(reference.test_statistic, rel=1e-10)
    assert summary["logrank_p"] == pytest.approx(reference.p_value, rel=1e-8)
    # miR-137 mice die much sooner: more deaths than expected, the control arm is favoured
    assert summary["logrank_direction"] == 1 and summary["logrank_favours"] == "control"
    assert summary["cox_log_hr"] > 0 and summary["cox_se"] > 0


def test_table_and_json_with_median_not_reached():
    time = np.array([2.0, 4.0, 5.0, 7.0, 9.0, 3.0, 6.0, 8.0, 10.0, 12.0])
    event = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0], bool)
    arm = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    summary = frequentist_summary(time, event, arm, arm_labels=("SIRT", "SIRT+PRRT"))
    arm1 = summary["arms"]["SIRT+PRRT"]
    assert not arm1["median_reached"] and np.isinf(arm1["median"])
    text = format_table(summary)
    assert "SIRT+PRRT" in text and "NR" in text and "log-rank" in text and "Cox HR" in text
    strict = json.dumps(to_jsonable(summary), allow_nan=False)
    assert json.loads(strict)["arms"]["SIRT+PRRT"]["median"] is None


def test_cox_not_estimable_is_reported():
    summary = frequentist_summary([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0], [0, 0, 1, 1])
    assert np.isnan(summary["cox_log_hr"])
    assert "not estimable" in format_table(summary)


@pytest.mark.parametrize(
    "time, event, arm, labels",
    [
        ([1.0, 2.0], [1, 1], [0, 2], ("0", "1")),
        ([1.0, 2.0], [1, 1], [0], ("0", "1")),
        ([1.0, 2.0], [1, 1], [0, 1], ("a",)),
    ],
)
def test_bad_input(time, event, arm, labels):
    with pytest.raises(ValueError):
        frequentist_summary(time, event, arm, arm_labels=labels)
