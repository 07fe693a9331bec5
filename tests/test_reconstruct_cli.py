"""``resurv reconstruct`` through the command line: each repair of a real digitization gives the
patients of the clean curve (or says how it changed them), and each refusal exits 2 naming the
file, the row and the rule."""

import json

import numpy as np
import pytest
from lifelines.datasets import load_leukemia

from resurv.cli import main
from resurv.reconstruct.digitization import at_risk_numbers, km_points

TAU = [0.0, 5.0, 10.0, 15.0, 20.0]


@pytest.fixture(scope="module")
def clean():
    frame = load_leukemia()
    frame = frame[frame["Rx"] == 0]
    time, event = frame["t"].to_numpy(float), frame["status"].to_numpy(bool)
    t, s = km_points(time, event)
    return t, s, at_risk_numbers(time, TAU), int(event.sum())


def _write_curve(path, t, s, header=True):
    lines = (["time,survival"] if header else []) + [f"{a:.10g},{b:.10g}" for a, b in zip(t, s)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_table(path, times, numbers):
    rows = "".join(f"{a:g},{b}\n" for a, b in zip(times, numbers))
    path.write_text("time,at_risk\n" + rows)
    return path


def _run(tmp_path, curve, table, *extra, name="ipd.csv"):
    out = tmp_path / name
    code = main(["reconstruct", str(curve), "--at-risk", str(table), "--out", str(out), *extra])
    return code, out


def _patients(out):
    rows = np.loadtxt(out, delimiter=",", skiprows=1, usecols=(0, 1))
    order = np.lexsort((rows[:, 1], rows[:, 0]))
    return rows[order]


def _checks(out):
    return json.loads(out.with_suffix(".checks.json").read_text())


@pytest.fixture
def reference(tmp_path, clean):
    t, s, nr, _ = clean
    code, out = _run(
        tmp_path, _write_curve(tmp_path / "c.csv", t, s), _write_table(tmp_path / "r.csv", TAU, nr)
    )
    assert code == 0
    (arm,) = _checks(out).values()
    assert arm["repairs"] == []
    assert arm["at_risk_reproduced"]
    return _patients(out)


def _repaired(tmp_path, t, s, nr, *extra, table_times=TAU):
    code, out = _run(
        tmp_path,
        _write_curve(tmp_path / "bad.csv", t, s),
        _write_table(tmp_path / "bad_r.csv", table_times, nr),
        *extra,
        name="bad.csv",
    )
    assert code == 0
    (arm,) = _checks(out).values()
    return _patients(out), [r["rule"] for r in arm["repairs"]], arm


def test_checks_are_written_beside_the_patients(tmp_path, clean, capsys):
    t, s, nr, events = clean
    code, out = _run(
        tmp_path,
        _write_curve(tmp_path / "c.csv", t, s),
        _write_table(tmp_path / "r.csv", TAU, nr),
        "--events",
        str(events),
        "--arm",
        "6-MP",
    )
    assert code == 0
    checks = _checks(out)["6-MP"]
    assert checks["events"] == checks["events_published"] == events
    assert [row["reconstructed"] for row in checks["at_risk"]] == list(nr)
    assert checks["largest_gap_before_last_at_risk_time"]["value"] < 1 / nr[-1]
    assert "wrote" in capsys.readouterr().out
    assert set(np.loadtxt(out, delimiter=",", skiprows=1, dtype=str, usecols=2)) == {"6-MP"}


def test_unsorted_points_are_sorted(tmp_path, clean, reference):
    t, s, nr, _ = clean
    order = np.random.default_rng(3).permutation(t.size)
    patients, rules, _ = _repaired(tmp_path, t[order], s[order], nr)
    assert rules == ["points out of time order", "points of one time listed lowest first"]
    np.testing.assert_array_equal(patients, reference)
    # in time order, each drop's bottom before its top
    pairs = np.flatnonzero(np.diff(t) == 0)
    swapped = np.arange(t.size)
    swapped[pairs], swapped[pairs + 1] = pairs + 1, pairs
    patients, rules, _ = _repaired(tmp_path, t[swapped], s[swapped], nr)
    assert rules == ["points of one time listed lowest first"]
    np.testing.assert_array_equal(patients, reference)


def test_percent_scale_is_divided(tmp_path, clean, reference):
    t, s, nr, _ = clean
    patients, rules, _ = _repaired(tmp_path, t, 100 * s, nr)
    assert rules == ["percent scale"]
    np.testing.assert_allclose(patients, reference)
    patients, rules, _ = _repaired(tmp_path, t, 100 * s, nr, "--scale", "percent")
    assert rules == ["percent scale"]


def test_duplicate_points_are_dropped(tmp_path, clean, reference):
    t, s, nr, _ = clean
    extra = [3, 3, 8]  # a corner clicked twice, and a point between two corners of one drop
    t2 = np.insert(t, [4, 4, 9], t[extra])
    s2 = np.insert(s, [4, 4, 9], [s[3], s[3], (s[8] + s[9]) / 2])
    patients, rules, _ = _repaired(tmp_path, t2, s2, nr)
    assert "several points at one time" in rules
    np.testing.assert_array_equal(patients, reference)


def test_points_slightly_outside_0_1_are_clipped(tmp_path, clean, reference):
    t, s, nr, _ = clean
    t2, s2 = np.insert(t, 1, 0.5), np.insert(s, 1, 1.02)  # a click just above the axis' top
    patients, rules, arm = _repaired(tmp_path, t2, s2, nr)
    assert rules == ["survival outside [0, 1]"]
    assert arm["at_risk_reproduced"]
    # the extra point at survival 1 only moves censorings of the first interval
    np.testing.assert_array_equal(patients[patients[:, 1] == 1], reference[reference[:, 1] == 1])


def test_curve_not_starting_at_0_1_gets_its_start(tmp_path, clean, reference):
    t, s, nr, _ = clean
    patients, rules, _ = _repaired(tmp_path, t[1:], s[1:], nr)
    assert rules == ["curve does not start at (0, 1)"]
    np.testing.assert_array_equal(patients, reference)
    s2 = s.copy()
    s2[0] = 0.97
    patients, rules, _ = _repaired(tmp_path, t, s2, nr)
    assert rules == ["curve does not start at (0, 1)"]
    np.testing.assert_array_equal(patients, reference)


def test_clicks_on_censoring_ticks_are_removed(tmp_path, clean, reference):
    t, s, nr, _ = clean
    # a tick click 0.02 above a flat stretch of the curve below 0.9
    k = int(np.flatnonzero((np.diff(t) > 1) & (np.diff(s) == 0) & (s[:-1] < 0.9))[0])
    t2 = np.insert(t, k + 1, (t[k] + t[k + 1]) / 2)
    s2 = np.insert(s, k + 1, s[k] + 0.02)
    patients, rules, _ = _repaired(tmp_path, t2, s2, nr)
    assert rules == ["point above both neighbours (a click on a censoring tick)"]
    np.testing.assert_array_equal(patients, reference)


def test_rising_survival_gets_the_isotonic_fit(tmp_path, clean, reference):
    t, s, nr, _ = clean
    # the top corner of a drop read 0.004 above the bottom of the drop before
    k = int(np.flatnonzero((np.diff(t) > 0) & (np.diff(s) == 0) & (s[:-1] < 1))[0])
    s2 = s.copy()
    s2[k + 1] += 0.004
    patients, rules, arm = _repaired(tmp_path, t, s2, nr)
    assert rules == ["survival rises between points"]
    assert arm["at_risk_reproduced"]
    # the fit pools the two points at their mean, 0.002 above the curve: the drops' events
    # (whole patients, 1/17 of the curve each here) are the clean ones
    np.testing.assert_array_equal(patients[patients[:, 1] == 1], reference[reference[:, 1] == 1])


def test_at_risk_times_beyond_the_curve_are_dropped(tmp_path, clean, reference):
    t, s, nr, _ = clean
    times = [*TAU, 40.0, 50.0]
    patients, rules, arm = _repaired(tmp_path, t, s, [*nr, 2, 0], table_times=times)
    assert rules == ["at-risk times beyond the curve"]
    assert [row["time"] for row in arm["at_risk"]] == TAU
    np.testing.assert_array_equal(patients, reference)


def test_at_risk_table_without_time_0_takes_the_arm_size(tmp_path, clean, reference):
    t, s, nr, _ = clean
    patients, rules, _ = _repaired(tmp_path, t, s, nr[1:], "--n", str(nr[0]), table_times=TAU[1:])
    assert rules == ["at-risk table without time 0"]
    np.testing.assert_array_equal(patients, reference)


def _refused(tmp_path, capsys, curve, table, *fragments, extra=()):
    code, out = _run(tmp_path, curve, table, *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert not out.exists()
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize(
    ("rows", "fragments"),
    [
        (["0,1", "2,0.9", "3,abc"], ["bad.csv", "row 3 column 'survival'", "must be a number"]),
        (["0,1", "2,0.9,7"], ["bad.csv", "row 2", "two values"]),
        (["0,1", "2,1.3", "3,0.8"], ["row 2 column 'survival'", "between 0 and 1"]),
        (["0,1", "-5,0.9", "30,0.8"], ["row 2 column 'time'", "must be >= 0"]),
        (["0,1", "2,0.6", "3,0.8", "4,0.5"], ["row 3 column 'survival'", "rises by 0.2"]),
        (["0,0.8", "2,0.6", "3,0.5"], ["row 1 column 'survival'", "starts at 1"]),
        (["0,1"], ["bad.csv", "at least two points"]),
    ],
)
def test_malformed_curves_are_refused(tmp_path, capsys, clean, rows, fragments):
    curve = tmp_path / "bad.csv"
    curve.write_text("\n".join(rows) + "\n")
    table = _write_table(tmp_path / "r.csv", [0.0], [21])
    _refused(tmp_path, capsys, curve, table, *fragments)


@pytest.mark.parametrize(
    ("times", "numbers", "extra", "fragments"),
    [
        ([0, 10, 5], [21, 11, 15], (), ["row 4 column 'time'", "must increase"]),
        ([0, 5, 10], [21, 11, 15], (), ["row 4 column 'at_risk'", "must not increase"]),
        ([0, 5, 10], [21, 11.5, 7], (), ["row 3 column 'at_risk'", "whole number"]),
        ([0, 5, 10], [20, 11, 7], ("--n", "21"), ["row 2 column 'at_risk'", "arm size n = 21"]),
        ([5, 10], [11, 7], (), ["row 2 column 'time'", "must start at time 0"]),
        ([0, 5, 10], [21, 17, 11], ("--events", "30"), ["events", "between 0 and the arm size"]),
    ],
)
def test_malformed_at_risk_tables_are_refused(
    tmp_path, capsys, clean, times, numbers, extra, fragments
):
    t, s, _, _ = clean
    curve = _write_curve(tmp_path / "c.csv", t, s)
    table = _write_table(tmp_path / "bad_r.csv", times, numbers)
    _refused(tmp_path, capsys, curve, table, *fragments, extra=extra)


def test_missing_files_and_columns_are_refused(tmp_path, capsys, clean):
    t, s, nr, _ = clean
    curve = _write_curve(tmp_path / "c.csv", t, s)
    table = _write_table(tmp_path / "r.csv", TAU, nr)
    _refused(tmp_path, capsys, tmp_path / "none.csv", table, "none.csv", "file not found")
    bad = tmp_path / "bad_r.csv"
    bad.write_text("time,n\n0,21\n")
    _refused(tmp_path, capsys, curve, bad, "bad_r.csv", "column 'at_risk'", "is missing")


def test_points_slightly_below_0_are_clipped_and_times_set_to_0(tmp_path):
    """A curve falling to 0 read a little below the axis, and a first click a little left of
    it: the same patients as the clean curve (half the arm at 2, the rest at 4)."""
    table = _write_table(tmp_path / "r.csv", [0.0], [10])
    clean = tmp_path / "clean.csv"
    clean.write_text("0,1\n2,1\n2,0.5\n4,0.5\n4,0\n")
    code, out = _run(tmp_path, clean, table, name="clean_ipd.csv")
    assert code == 0
    reference = _patients(out)
    np.testing.assert_array_equal(reference, [[2, 1]] * 5 + [[4, 1]] * 5)
    bad = tmp_path / "bad.csv"
    bad.write_text("-0.01,1\n2,1\n2,0.5\n4,0.5\n4,-0.012\n")
    code, out = _run(tmp_path, bad, table)
    assert code == 0
    (arm,) = _checks(out).values()
    assert [r["rule"] for r in arm["repairs"]] == ["time below 0", "survival outside [0, 1]"]
    np.testing.assert_array_equal(_patients(out), reference)
