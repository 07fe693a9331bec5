"""``[[km_curve]]`` in a study file: the refusals of its fields, the patients a survival fit of
its endpoint gets (the reconstruction of each arm), the published summaries of that endpoint
as checks against them, and the inventory of its numbers."""

import numpy as np
import pytest
from lifelines.datasets import load_leukemia

from resurv.errors import StudyValidationError
from resurv.io.patient_data import load_ipd_for, reconstruct_study_curves
from resurv.io.study import load_study
from resurv.models.inventory import CHECK, LIKELIHOOD, OTHER_ENDPOINT, patient_data_usage
from resurv.reconstruct.digitization import at_risk_numbers, km_points

TAU = [0.0, 5.0, 10.0, 15.0, 20.0]
WEEKS = 12 / 52.1775


def _arm(rx):
    frame = load_leukemia()
    frame = frame[frame["Rx"] == rx]
    return frame["t"].to_numpy(float), frame["status"].to_numpy(bool)


def _study(tmp_path, curves="", survival="", percent=False):
    for name, rx in (("mp6", 0), ("placebo", 1)):
        time, event = _arm(rx)
        t, s = km_points(time, event)
        scale = 100 if percent and name == "placebo" else 1
        rows = "".join(f"{a:g},{b * scale:.10g}\n" for a, b in zip(t, s))
        (tmp_path / f"{name}.csv").write_text(rows)
    placebo_risk = [int(k) for k in at_risk_numbers(_arm(1)[0], TAU)]
    mp6_risk = [int(k) for k in at_risk_numbers(_arm(0)[0], TAU)]
    default = f"""
[[km_curve]]
endpoint = "os"
arm = "placebo"
file = "placebo.csv"
at_risk_times = {TAU}
at_risk_numbers = {placebo_risk}
total_events = 21
time_unit = "weeks"
{'survival_scale = "percent"' if percent else ""}

[[km_curve]]
endpoint = "os"
arm = "mp6"
file = "mp6.csv"
at_risk_times = {TAU}
at_risk_numbers = {mp6_risk}
time_unit = "weeks"
"""
    text = f"""
reference_arm = "placebo"
[study]
id = "leukemia_km"
title = "t"
citation = "c"

[[arms]]
id = "placebo"
n = 21

[[arms]]
id = "mp6"
n = 21
{survival}
{curves if curves else default}
"""
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_the_fit_gets_the_reconstructed_patients_in_months(tmp_path):
    study = load_study(_study(tmp_path, percent=True))
    data = load_ipd_for(study, "os")
    assert data.arm_labels == ("placebo", "mp6")
    for code, rx in ((0, 1), (1, 0)):
        time, event = _arm(rx)
        mine = data.arm == code
        assert mine.sum() == time.size
        # the event times of the data (weeks -> months); every placebo patient relapsed
        np.testing.assert_allclose(
            np.sort(data.time[mine & data.event]), np.sort(time[event]) * WEEKS
        )
    assert load_ipd_for(study, "pfs") is None
    assert study.has_patient_data("os") and not study.has_patient_data("pfs")


def test_summaries_of_the_curve_endpoint_are_checks_against_the_reconstruction(tmp_path):
    survival = """
[[survival]]
endpoint = "os"
statistic = "median"
arm = "mp6"
value = 5.0

[[survival]]
endpoint = "pfs"
statistic = "median"
arm = "mp6"
value = 3.0
"""
    study = load_study(_study(tmp_path, survival=survival))
    data = load_ipd_for(study, "os")
    arms = reconstruct_study_curves(study, "os")
    rows = patient_data_usage(study, "os", data, arms)
    median = [r for r in rows if r.record == "survival[0]"]
    assert [r.role for r in median] == [CHECK]
    # the 6-MP arm's KM median is 23 weeks: 5.29 months, computed from the reconstruction
    assert "published median 5.0 months" in median[0].how
    assert f"reconstructed median {23 * WEEKS}" in median[0].how
    other = [r for r in rows if r.record == "survival[1]"]
    assert [r.role for r in other] == [OTHER_ENDPOINT]
    km = [r for r in rows if r.record.startswith("km_curve")]
    assert {r.role for r in km} == {LIKELIHOOD}
    assert {r.field for r in km} == {"file", "at_risk_times", "at_risk_numbers", "total_events"}
    assert any("21 events" in r.how for r in km if r.field == "file")


BASE = """
[[km_curve]]
endpoint = "os"
arm = "placebo"
file = "placebo.csv"
at_risk_times = [0.0, 5.0, 10.0]
at_risk_numbers = [21, 12, 4]

[[km_curve]]
endpoint = "os"
arm = "mp6"
file = "mp6.csv"
at_risk_times = [0.0, 5.0, 10.0]
at_risk_numbers = [21, 19, 15]
"""


@pytest.mark.parametrize(
    ("old", "new", "field", "rule"),
    [
        ("[21, 12, 4]", "[21, 12]", "km_curve[0].at_risk_numbers", "one number per time"),
        ("[21, 12, 4]", "[21, 14, 15]", "km_curve[0].at_risk_numbers[2]", "must not increase"),
        ("[21, 12, 4]", "[20, 12, 4]", "km_curve[0].at_risk_numbers[0]", "arm size n = 21"),
        ("[21, 12, 4]", "[21, 12.5, 4]", "km_curve[0].at_risk_numbers[1]", "whole number"),
        (
            "[0.0, 5.0, 10.0]\nat_risk_numbers = [21, 12",
            "[0.0, 10.0, 5.0]\nat_risk_numbers = [21, 12",
            "km_curve[0].at_risk_times[2]",
            "must increase",
        ),
        ('arm = "placebo"', 'arm = "drug"', "km_curve[0].arm", "unknown arm"),
        ('arm = "placebo"', 'arm = "mp6"', "km_curve[1]", "repeats the curve"),
        (
            'endpoint = "os"\narm = "mp6"',
            'endpoint = "pfs"\narm = "mp6"',
            "km_curve[0].endpoint",
            "none for 'mp6'",
        ),
        (
            'file = "mp6.csv"',
            'file = "mp6.csv"\ntotal_events = 30',
            "km_curve[1].total_events",
            "between 0 and the arm size 21",
        ),
        (
            'file = "mp6.csv"',
            'file = "mp6.csv"\nsurvival_scale = "per mille"',
            "km_curve[1].survival_scale",
            "must be one of fraction, percent",
        ),
        (
            'file = "mp6.csv"',
            'file = "mp6.csv"\ncolour = "red"',
            "km_curve[1].colour",
            "unknown key",
        ),
    ],
)
def test_bad_km_curve_entries_are_refused(tmp_path, old, new, field, rule):
    assert old in BASE
    path = _study(tmp_path, curves=BASE.replace(old, new, 1))
    with pytest.raises(StudyValidationError) as info:
        load_study(path)
    assert info.value.field == field
    assert rule in info.value.rule


def test_a_curve_and_a_patient_data_file_of_one_endpoint_are_refused(tmp_path):
    curves = BASE + '\n[[ipd]]\nfile = "patients.csv"\nendpoint = "os"\n'
    with pytest.raises(StudyValidationError) as info:
        load_study(_study(tmp_path, curves=curves))
    assert info.value.field == "km_curve[0].endpoint"
    assert "patient-data file" in info.value.rule


def test_a_bad_curve_file_is_refused_at_the_fit_with_its_row(tmp_path):
    path = _study(tmp_path, curves=BASE)
    (tmp_path / "mp6.csv").write_text("0,1\n3,0.9\n6,abc\n")
    study = load_study(path)
    with pytest.raises(StudyValidationError) as info:
        load_ipd_for(study, "os")
    assert info.value.file.endswith("mp6.csv")
    assert info.value.field == "row 3 column 'survival'"


def test_saved_study_text_finds_its_curves_beside_the_recorded_path(tmp_path):
    """A fit records the study file's text; read back, the curves resolve against the recorded
    path, as patient-data files do."""
    from resurv.io.study import study_from_text

    path = _study(tmp_path)
    study = study_from_text(path.read_text(), path)
    assert [c.path for c in study.km_curves] == [
        str((tmp_path / "placebo.csv").resolve()),
        str((tmp_path / "mp6.csv").resolve()),
    ]
    assert load_ipd_for(study, "os").time.size == 42


def test_saved_study_text_finds_files_in_a_sibling_folder(tmp_path):
    """Files named with '..' (as the bundled examples are) resolve against the recorded path,
    for curves and patient-data files alike."""
    from resurv.io.study import study_from_text

    studies, examples = tmp_path / "studies", tmp_path / "examples"
    studies.mkdir()
    examples.mkdir()
    path = _study(studies)
    for name in ("placebo.csv", "mp6.csv"):
        (studies / name).rename(examples / name)
    text = path.read_text().replace('file = "', 'file = "../examples/')
    text += '\n[[ipd]]\nfile = "../examples/patients.csv"\nendpoint = "pfs"\n'
    path.write_text(text)
    study = study_from_text(text, path)
    assert [c.path for c in study.km_curves] == [
        str((examples / "placebo.csv").resolve()),
        str((examples / "mp6.csv").resolve()),
    ]
    assert study.ipd[0].path == str((examples / "patients.csv").resolve())


def test_derived_priors_are_centred_on_the_reconstructed_medians(tmp_path):
    from resurv.io.auto_priors import derive_auto_priors

    study = load_study(_study(tmp_path))
    auto = derive_auto_priors(study, ["os"])
    text = auto.prior_file.description
    # the geometric mean of the arms' KM medians of the reconstruction, 8 and 23 weeks (the
    # data's)
    assert f"{np.sqrt(8 * 23) * WEEKS:.3g} months" in text, text
