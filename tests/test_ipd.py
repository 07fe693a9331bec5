"""Patient-data CSV input: every bad file is refused naming the row and the column."""

from pathlib import Path

import numpy as np
import pytest

from resurv.cli import main
from resurv.errors import StudyValidationError
from resurv.io.patient_data import read_ipd, study_from_csv

ROOT = Path(__file__).resolve().parents[1]
GOOD = "time,event,arm\n3.5,1,A\n7.0,0,A\n2.0,1,B\n9.5,1,B\n"


def write(tmp_path, text, name="ipd.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# (csv text, read_ipd options, fragments the message must contain)
BAD_CASES = {
    "zero time": ("time,event,arm\n3,1,A\n0,1,B\n", {}, ["row 2", "'time'", "> 0"]),
    "negative time": ("time,event,arm\n3,1,A\n4,1,B\n-1,0,B\n", {}, ["row 3", "'time'", "> 0"]),
    "event 2": ("time,event,arm\n3,2,A\n4,1,B\n", {}, ["row 1", "'event'", "0 or 1"]),
    "event text": ("time,event,arm\n3,1,A\n4,yes,B\n", {}, ["row 2", "'event'", "number"]),
    "missing time": ("time,event,arm\n3,1,A\n,1,B\n", {}, ["row 2", "'time'", "missing"]),
    "missing event NA": ("time,event,arm\n3,1,A\n4,NA,B\n", {}, ["row 2", "'event'", "missing"]),
    "missing arm": ("time,event,arm\n3,1,A\n4,1,\n", {}, ["row 2", "'arm'", "missing"]),
    "time not a number": ("time,event,arm\n3,1,A\nabc,1,B\n", {}, ["row 2", "'time'", "abc"]),
    "entry equal to time": (
        "time,event,arm,start\n3,1,A,0\n4,1,B,4\n",
        {"entry": "start"},
        ["row 2", "'start'", "< time"],
    ),
    "entry after time": (
        "time,event,arm,start\n3,1,A,5\n4,1,B,0\n",
        {"entry": "start"},
        ["row 1", "'start'", "< time"],
    ),
    "negative entry": (
        "time,event,arm,start\n3,1,A,0\n4,1,B,-1\n",
        {"entry": "start"},
        ["row 2", "'start'", ">= 0"],
    ),
    "single arm": ("time,event,arm\n3,1,A\n4,1,A\n", {}, ["'arm'", "single arm", "two"]),
    "three arms": ("time,event,arm\n3,1,A\n4,1,B\n5,0,C\n", {}, ["'arm'", "3 arms"]),
    "unknown reference": (GOOD, {"reference_arm": "Z"}, ["'arm'", "reference arm 'Z'"]),
    "missing column": ("time,status,arm\n3,1,A\n4,1,B\n", {}, ["'event'", "missing"]),
    "renamed column absent": (GOOD, {"time": "days"}, ["'days'", "missing"]),
    "no rows": ("time,event,arm\n", {}, ["no rows"]),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_ipd_is_refused_naming_row_and_column(tmp_path, case):
    text, options, fragments = BAD_CASES[case]
    path = write(tmp_path, text)
    with pytest.raises(StudyValidationError) as info:
        read_ipd(path, **options)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_an_arm_without_patients_is_refused_as_a_single_arm(tmp_path):
    """A reference arm named but absent from the data: the data hold one arm only."""
    path = write(tmp_path, "time,event,arm\n3,1,A\n4,0,A\n")
    with pytest.raises(StudyValidationError, match="single arm"):
        read_ipd(path, reference_arm="A")
    with pytest.raises(StudyValidationError, match="reference arm 'B'"):
        read_ipd(path, reference_arm="B", require_two_arms=False)


def test_single_arm_allowed_when_asked(tmp_path):
    data = read_ipd(write(tmp_path, "time,event,arm\n3,1,A\n4,0,A\n"), require_two_arms=False)
    assert data.arm_labels == ("A",)
    assert data.n_per_arm == [2]


def test_good_file_is_read_with_arms_coded_and_reference_first(tmp_path):
    path = write(tmp_path, GOOD)
    data = read_ipd(path)
    np.testing.assert_array_equal(data.time, [3.5, 7.0, 2.0, 9.5])
    np.testing.assert_array_equal(data.event, [True, False, True, True])
    np.testing.assert_array_equal(data.arm, [0, 0, 1, 1])
    assert data.arm_labels == ("A", "B")
    assert data.entry is None
    flipped = read_ipd(path, reference_arm="B")
    np.testing.assert_array_equal(flipped.arm, [1, 1, 0, 0])
    assert flipped.arm_labels == ("B", "A")
    assert flipped.n_per_arm == [2, 2]


def test_renamed_columns_and_time_units_are_converted_to_months(tmp_path):
    text = "days,dead,group,start\n365.25,1,ctl,0\n730.5,0,ctl,30.4375\n182.625,1,trt,0\n"
    path = write(tmp_path, text)
    data = read_ipd(path, time="days", event="dead", arm="group", entry="start", time_unit="days")
    # 365.25 days = 12 months (Julian year)
    np.testing.assert_allclose(data.time, [12.0, 24.0, 6.0], rtol=1e-12)
    np.testing.assert_allclose(data.entry, [0.0, 1.0, 0.0], rtol=1e-12)
    weeks = read_ipd(path, time="days", event="dead", arm="group", time_unit="weeks")
    np.testing.assert_allclose(weeks.time, np.array([365.25, 730.5, 182.625]) * 12 / 52.1775)
    years = read_ipd(path, time="days", event="dead", arm="group", time_unit="years")
    np.testing.assert_allclose(years.time, np.array([365.25, 730.5, 182.625]) * 12)
    with pytest.raises(StudyValidationError, match="time_unit"):
        read_ipd(path, time="days", event="dead", arm="group", time_unit="fortnights")


def test_study_from_csv_takes_arms_and_sizes_from_the_data(tmp_path):
    path = write(tmp_path, "time,event,arm\n1,1,x\n2,1,y\n3,0,y\n")
    study = study_from_csv(path, reference_arm="y")
    assert [a.label for a in study.arms] == ["y", "x"]
    assert [a.n for a in study.arms] == [2, 1]


CLI_CASES = {
    "negative time": ("time,event,arm\n3,1,A\n-2,1,B\n", [], ["row 2", "'time'"]),
    "event 3": ("time,event,arm\n3,1,A\n2,3,B\n", [], ["row 2", "'event'"]),
    "missing value": ("time,event,arm\n3,1,A\n2,,B\n", [], ["row 2", "'event'"]),
    "entry >= time": (
        "time,event,arm,entry\n3,1,A,3\n2,1,B,0\n",
        ["--entry-column", "entry"],
        ["row 1", "'entry'"],
    ),
    "three arms": ("time,event,arm\n3,1,A\n2,1,B\n4,1,C\n", [], ["'arm'", "3 arms"]),
    "unknown reference": (GOOD, ["--reference-arm", "Q"], ["'arm'", "'Q'"]),
    "renamed column absent": (GOOD, ["--time-column", "days"], ["'days'", "missing"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_fit_refuses_bad_ipd_with_exit_2_and_writes_nothing(tmp_path, capsys, case):
    text, extra, fragments = CLI_CASES[case]
    data = write(tmp_path, text, name="patients.csv")
    out = tmp_path / "out"
    code = main(
        [
            "fit",
            str(ROOT / "models/os_weibull.toml"),
            "--data",
            str(data),
            "--priors",
            str(ROOT / "priors/vague.toml"),
            "--out",
            str(out),
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert str(data) in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists()
