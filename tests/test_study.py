"""The bundled study file and study-file validation."""

import pytest

from helpers import STUDY, assert_refused, edit_study
from resurv.cli import main
from resurv.errors import StudyValidationError
from resurv.io.study import load_study


def test_bundled_study_holds_every_published_number():
    s = load_study(STUDY)
    assert [(a.id, a.n, a.index) for a in s.arms] == [("sirt", 15, 0), ("sirt_prrt", 12, 1)]
    dc = s.binary_outcomes("disease_control")
    assert [(b.events, b.n, b.published_percent) for b in dc] == [(13, 15, 86.6), (8, 12, 66.6)]
    # the printed percentages are the counts truncated to one decimal
    for b in dc:
        assert int(1000 * b.events / b.n) / 10 == b.published_percent
    hep = s.binary_outcomes("hepatotoxicity")
    assert [(b.events, b.n) for b in hep] == [(1, 15), (0, 12)]
    os_stats = {(x.statistic, x.arm): x for x in s.survival_statistics("os")}
    assert os_stats[("median", "sirt")].value == 34.9
    assert os_stats[("median", "sirt_prrt")].value == 67.5
    assert os_stats[("logrank", None)].p_value == 0.217
    assert os_stats[("logrank", None)].better_arm == "sirt_prrt"
    pfs = {(x.statistic, x.arm): x for x in s.survival_statistics("pfs")}
    assert ("median_not_reached", "sirt") in pfs and ("median_not_reached", "sirt_prrt") in pfs
    assert (pfs[("rmean", "sirt")].value, pfs[("rmean", "sirt")].spread) == (53.1, 9.9)
    assert (pfs[("rmean", "sirt_prrt")].value, pfs[("rmean", "sirt_prrt")].spread) == (27.2, 5.9)
    assert pfs[("logrank", None)].p_value == 0.561 and pfs[("logrank", None)].better_arm is None
    assert any("lymphopenia" in t for t in s.reported_without_numbers)
    assert any("follow-up" in t for t in s.unknown)
    assert all(x.quote for x in s.survival) and all(b.quote for b in s.binary)


BAD_STUDIES = [
    ("n = 15", "n = 0", "arms[0].n", "positive whole number"),
    ("events = 13", "events = 16", "binary[0].events", "between 0 and n = 15"),
    ("value = 34.9", "value = -34.9", "survival[0].value", "must be > 0"),
    ("p_value = 0.217", "p_value = 1.2", "survival[2].p_value", "strictly between 0 and 1"),
    (
        'arm = "sirt_prrt"\nevents = 8',
        'arm = "prrt"\nevents = 8',
        "binary[1].arm",
        "unknown arm 'prrt'",
    ),
    ("events = 13\n", "", "binary[0].events", "required but missing"),
    (
        "published_percent = 86.6",
        "published_pct = 86.6",
        "published_pct",
        "did you mean 'published_percent'",
    ),
    ('[[arms]]\nid = "sirt"', '[[arms]\nid = "sirt"', "", "not valid TOML"),
    ("spread = 9.9", "spread = 0.0", "survival[5].spread", "must be > 0"),
]


@pytest.mark.parametrize(("old", "new", "field", "rule"), BAD_STUDIES)
def test_bad_study_refused_by_loader(tmp_path, old, new, field, rule):
    path = edit_study(tmp_path, old, new)
    with pytest.raises(StudyValidationError) as err:
        load_study(path)
    message = str(err.value)
    assert str(path) in message and field in message and rule in message


@pytest.mark.parametrize(("old", "new", "field", "rule"), BAD_STUDIES)
def test_bad_study_cli_exit_2_nothing_written(tmp_path, capsys, old, new, field, rule):
    path = edit_study(tmp_path, old, new)
    out = tmp_path / "out"
    code = main(
        [
            "fit",
            "models/response.toml",
            "--data",
            str(path),
            "--priors",
            "priors/vague.toml",
            "--out",
            str(out),
        ]
    )
    assert_refused(code, capsys.readouterr().err, out, field, rule)
    assert [p.name for p in tmp_path.iterdir()] == ["study.toml"]


def test_not_reached_with_a_median_value_is_refused(tmp_path):
    path = edit_study(
        tmp_path,
        'statistic = "median_not_reached"\narm = "sirt"\n',
        'statistic = "median_not_reached"\narm = "sirt"\n'
        '[[survival]]\nendpoint = "pfs"\nstatistic = "median"\narm = "sirt"\nvalue = 40.0\n',
    )
    with pytest.raises(StudyValidationError, match="not reached.*gives a median value"):
        load_study(path)


def test_ci_must_contain_estimate(tmp_path):
    path = edit_study(tmp_path, "value = 34.9\n", "value = 34.9\nci = [36.0, 50.0]\n")
    with pytest.raises(StudyValidationError, match=r"survival\[0\]\.ci.*does not contain"):
        load_study(path)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(StudyValidationError, match="file not found"):
        load_study(tmp_path / "nope.toml")
