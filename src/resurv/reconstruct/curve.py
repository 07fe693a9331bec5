"""Digitized Kaplan–Meier curves and their at-risk tables: read, repaired, reconstructed, checked.

A digitizer (WebPlotDigitizer, DigitizeIt, …) exports the clicked points as a CSV of (time,
survival) rows, with or without a header. Real digitizations break the rules of a Kaplan–Meier
curve in known ways; each is repaired here and reported as a :class:`Repair` (logged, and
written to the checks), never silently:

* points out of time order: sorted by time; points of one time listed lowest first: put
  highest first (the top of a vertical drop before its bottom);
* survival on the percent scale (``scale="percent"``, or ``"auto"`` with a largest value
  above 1.5): divided by 100;
* times slightly below 0 (within 1% of the time axis) set to 0; survival slightly above 1 or
  below 0 (within 0.05) clipped to [0, 1];
* a curve that does not start at (0, 1): (0, 1) added before a first point at t > 0, or a
  first point at t = 0 with survival ≥ 0.95 set to 1;
* clicks on censoring ticks: a point more than 0.005 above both its neighbours (and at most
  0.05 above the one before, the height of a tick) is removed
  (this also removes the top of a drop clicked just after its bottom, which carries no
  event: the events come from the bottom points);
* survival that rises between points (digitization error): the least-squares non-increasing
  fit (isotonic regression, pool-adjacent-violators);
* several points at one time: the highest and the lowest kept (the top and bottom of a
  vertical drop);
* at-risk times beyond the curve's last point: dropped; an at-risk table without time 0: the
  arm size added at 0 when it is known.

What cannot be repaired is refused with the file, the row (or field) and the rule
(:class:`~resurv.errors.StudyValidationError`): an unreadable row, a survival far outside
[0, 1] or a time far below 0, a rise of more than 0.05 (a click on another curve), a first point
at time 0 below 0.95, an at-risk table whose times do not increase or whose numbers increase,
are not whole or do not start at the arm size, and a total of events larger than the arm.

Reference: Guyot P et al. BMC Med Res Methodol 2012;12:9 (the reconstruction,
:mod:`resurv.reconstruct.guyot`).
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from resurv.errors import StudyValidationError
from resurv.reconstruct.guyot import Reconstruction, curve_gap, reconstruct_patients

__all__ = [
    "CleanCurve",
    "Repair",
    "RiskTable",
    "ArmReconstruction",
    "check_risk_table",
    "clean_curve",
    "isotonic_decreasing",
    "prepare_risk_table",
    "read_curve",
    "read_risk_table",
    "reconstruct_arm",
    "write_reconstruction",
]

log = logging.getLogger(__name__)

#: Largest survival outside [0, 1] taken as a digitization error (clipped), on the 0–1 scale.
SURVIVAL_SLACK = 0.05
#: Largest rise between points repaired by the isotonic fit; larger rises are refused.
LARGEST_RISE = 0.05
#: Height above both neighbours from which a point is read as a click on a censoring tick.
TICK_HEIGHT = 0.005
#: Lowest survival accepted at time 0 (set to 1); lower is refused (axis calibration).
START_SLACK = 0.95
SCALES = ("auto", "fraction", "percent")


@dataclass(frozen=True)
class Repair:
    """One repair of a digitization: the rule broken, the rows concerned and what was done."""

    rule: str
    rows: tuple[int, ...]
    detail: str


@dataclass(frozen=True)
class CleanCurve:
    """A repaired digitized curve: sorted, from (0, 1), survival in [0, 1], non-increasing."""

    time: np.ndarray
    survival: np.ndarray
    repairs: tuple[Repair, ...]
    path: str


@dataclass(frozen=True)
class RiskTable:
    """An at-risk table fitted to its curve: times from 0, not beyond the curve's end."""

    times: np.ndarray
    numbers: np.ndarray
    repairs: tuple[Repair, ...]


@dataclass(frozen=True)
class ArmReconstruction:
    """One arm's reconstruction with its checks against the inputs."""

    curve: CleanCurve
    table: RiskTable
    patients: Reconstruction
    total_events: int | None
    checks: dict = field(default_factory=dict)


def _rows_text(rows) -> str:
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:8])
    return shown + (f" and {len(rows) - 8} more" if len(rows) > 8 else "")


def _record(repairs: list[Repair], path, rule: str, rows, detail: str) -> None:
    repair = Repair(rule, tuple(int(r) for r in rows), detail)
    repairs.append(repair)
    log.warning("%s: %s (rows %s): %s", path, rule, _rows_text(repair.rows), detail)


def isotonic_decreasing(values) -> np.ndarray:
    """The least-squares non-increasing fit to ``values`` (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [mean, weight]
    for v in np.asarray(values, dtype=float):
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            m2, w2 = blocks.pop()
            m1, w1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    return np.concatenate([np.full(int(w), m) for m, w in blocks])


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(handle), 1)]
    except FileNotFoundError:
        raise StudyValidationError(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise StudyValidationError(path, None, f"cannot be read ({exc})") from None
    return [(i, row) for i, row in rows if any(row)]


def read_curve(path: str | Path, scale: str = "auto") -> CleanCurve:
    """Read a digitized curve CSV (rows ``time,survival``, optional header) and repair it.

    Rows are numbered as the file's lines. ``scale`` is ``fraction`` (0–1), ``percent``
    (0–100) or ``auto`` (percent when the largest survival exceeds 1.5).
    """
    path = Path(path)
    rows = _read_rows(path)
    if rows and all(_number(c) is None for c in rows[0][1]):
        rows = rows[1:]  # a header
    times, survival, lines = [], [], []
    for line, row in rows:
        if len(row) != 2:
            raise StudyValidationError(
                path, f"row {line}", f"must hold two values (time, survival); got {len(row)}"
            )
        for column, text in zip(("time", "survival"), row, strict=True):
            if _number(text) is None:
                raise StudyValidationError(
                    path, f"row {line} column '{column}'", f"must be a number; got '{text}'"
                )
        times.append(float(row[0]))
        survival.append(float(row[1]))
        lines.append(line)
    return clean_curve(times, survival, lines, path, scale)


def clean_curve(times, survival, rows, path, scale: str = "auto") -> CleanCurve:
    """Repair digitized points into a Kaplan–Meier curve (module docstring), or refuse them.

    ``rows`` are the points' row numbers in ``path`` (for messages).
    """
    if scale not in SCALES:
        raise StudyValidationError(path, "scale", f"must be one of {', '.join(SCALES)}")
    t = np.asarray(times, dtype=float)
    s = np.asarray(survival, dtype=float)
    rows = np.asarray(rows, dtype=int)
    if t.size < 2:
        raise StudyValidationError(path, None, f"needs at least two points; got {t.size}")
    repairs: list[Repair] = []
    if scale == "percent" or (scale == "auto" and s.max() > 1.5):
        s = s / 100.0
        _record(repairs, path, "percent scale", rows, "survival divided by 100")
    order = np.argsort(t, kind="stable")
    if np.any(order != np.arange(t.size)):
        moved = rows[order != np.arange(t.size)]
        _record(repairs, path, "points out of time order", moved, "sorted by time")
        t, s, rows = t[order], s[order], rows[order]
    order = np.lexsort((-s, t))  # at one time, the top of a vertical drop first
    if np.any(order != np.arange(t.size)):
        moved = rows[order != np.arange(t.size)]
        detail = "put highest first (the top of a vertical drop before its bottom)"
        _record(repairs, path, "points of one time listed lowest first", moved, detail)
        t, s, rows = t[order], s[order], rows[order]
    span = max(t.max(), 0.0)
    far = np.flatnonzero(t < -0.01 * span)
    if far.size:
        raise StudyValidationError(
            path, f"row {rows[far[0]]} column 'time'", f"must be >= 0; got {t[far[0]]:g}"
        )
    low = t < 0
    if low.any():
        _record(repairs, path, "time below 0", rows[low], "set to 0 (within 1% of the axis)")
        t = np.where(low, 0.0, t)
    far = np.flatnonzero((s < -SURVIVAL_SLACK) | (s > 1 + SURVIVAL_SLACK))
    if far.size:
        raise StudyValidationError(
            path,
            f"row {rows[far[0]]} column 'survival'",
            f"must be between 0 and 1 (or 0 and 100 on the percent scale); got {s[far[0]]:g}"
            " after scaling",
        )
    out = (s < 0) | (s > 1)
    if out.any():
        excess = np.max(np.abs(s[out] - np.clip(s[out], 0, 1)))
        _record(
            repairs,
            path,
            "survival outside [0, 1]",
            rows[out],
            f"clipped to [0, 1] (largest excess {excess:.3g})",
        )
        s = np.clip(s, 0.0, 1.0)
    if t[0] > 0:
        _record(repairs, path, "curve does not start at (0, 1)", [], "(0, 1) added")
        t, s, rows = np.r_[0.0, t], np.r_[1.0, s], np.r_[0, rows]
    at_zero = np.flatnonzero(t == 0)
    if np.any(s[at_zero] < 1):
        lowest = s[at_zero].min()
        if lowest < START_SLACK:
            raise StudyValidationError(
                path,
                f"row {rows[at_zero[np.argmin(s[at_zero])]]} column 'survival'",
                f"is {lowest:g} at time 0; a Kaplan–Meier curve starts at 1 (check the axis "
                f"calibration; values from {START_SLACK} are set to 1)",
            )
        _record(
            repairs,
            path,
            "curve does not start at (0, 1)",
            rows[at_zero][s[at_zero] < 1],
            "survival at time 0 set to 1",
        )
        s[at_zero] = 1.0
    if t.size > 2:
        inner = np.arange(1, t.size - 1)
        above = np.minimum(s[inner] - s[inner - 1], s[inner] - s[inner + 1])
        tick = (above > TICK_HEIGHT) & (s[inner] - s[inner - 1] <= LARGEST_RISE)
        if tick.any():
            drop = inner[tick]
            _record(
                repairs,
                path,
                "point above both neighbours (a click on a censoring tick)",
                rows[drop],
                f"removed ({drop.size} points above both neighbours by more than {TICK_HEIGHT})",
            )
            keep = np.setdiff1d(np.arange(t.size), drop)
            t, s, rows = t[keep], s[keep], rows[keep]
    rises = np.flatnonzero(np.diff(s) > 0)
    if rises.size:
        rise = np.diff(s)[rises]
        worst = int(np.argmax(rise))
        if rise[worst] > LARGEST_RISE:
            k = rises[worst]
            raise StudyValidationError(
                path,
                f"row {rows[k + 1]} column 'survival'",
                f"rises by {rise[worst]:.3g} from row {rows[k]} ({s[k]:g} to {s[k + 1]:g}): more "
                f"than a digitization error ({LARGEST_RISE}); is it a point of another curve?",
            )
        fitted = isotonic_decreasing(s)
        changed = np.flatnonzero(np.abs(fitted - s) > 0)
        _record(
            repairs,
            path,
            "survival rises between points",
            rows[changed],
            f"isotonic non-increasing fit ({rises.size} rises, largest {rise.max():.3g}; "
            f"largest change {np.max(np.abs(fitted - s)):.3g})",
        )
        s = fitted
    keep = []
    for value in np.unique(t):
        where = np.flatnonzero(t == value)
        top, bottom = int(where[0]), int(where[-1])
        keep += [top] if s[top] == s[bottom] else [top, bottom]
    if len(keep) < t.size:
        dropped = np.setdiff1d(np.arange(t.size), keep)
        _record(
            repairs,
            path,
            "several points at one time",
            rows[dropped],
            "kept the highest and the lowest point of each time (the top and bottom of a drop)",
        )
        t, s = t[keep], s[keep]
    return CleanCurve(t, s, tuple(repairs), str(path))


def read_risk_table(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Read an at-risk table CSV with columns ``time`` and ``at_risk`` (a header row)."""
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise StudyValidationError(path, None, "has no rows")
    header = [c.lower() for c in rows[0][1]]
    for column in ("time", "at_risk"):
        if column not in header:
            raise StudyValidationError(
                path, f"column '{column}'", f"is missing; the header is {', '.join(header)}"
            )
    ti, ni = header.index("time"), header.index("at_risk")
    times, numbers, lines = [], [], []
    for line, row in rows[1:]:
        for column, index in (("time", ti), ("at_risk", ni)):
            text = row[index] if index < len(row) else ""
            if _number(text) is None:
                raise StudyValidationError(
                    path, f"row {line} column '{column}'", f"must be a number; got '{text}'"
                )
        times.append(float(row[ti]))
        numbers.append(float(row[ni]))
        lines.append(line)
    if not times:
        raise StudyValidationError(path, None, "has no rows after the header")
    return np.array(times), np.array(numbers), lines


def check_risk_table(times, numbers, n: int | None, where, fields=("time", "at_risk")) -> RiskTable:
    """Validate an at-risk table against the arm size (module docstring).

    ``where(i, column, rule)`` builds the error naming entry ``i`` (a row of a CSV, or an
    element of a study-file field; None: the arm size), and ``fields`` the names of the times
    and numbers. A table without time 0 gets the arm size at 0 when ``n`` is known.
    """
    times = np.asarray(times, dtype=float)
    numbers = np.asarray(numbers, dtype=float)
    repairs: list[Repair] = []
    for i, (t, k) in enumerate(zip(times, numbers, strict=True)):
        if t < 0:
            raise where(i, fields[0], f"must be >= 0; got {t:g}")
        if k < 0 or not float(k).is_integer():
            raise where(i, fields[1], f"must be a whole number >= 0; got {k:g}")
        if i and t <= times[i - 1]:
            raise where(i, fields[0], f"must increase; {t:g} follows {times[i - 1]:g}")
        if i and k > numbers[i - 1]:
            raise where(i, fields[1], f"must not increase; {k:g} follows {numbers[i - 1]:g}")
    if n is not None and n <= 0:
        raise where(None, "n", f"must be a positive whole number; got {n}")
    if times[0] > 0:
        if n is None:
            raise where(0, fields[0], "the table must start at time 0 (or give the arm size n)")
        if numbers[0] > n:
            raise where(0, fields[1], f"must not exceed the arm size n = {n}; got {numbers[0]:g}")
        times, numbers = np.r_[0.0, times], np.r_[float(n), numbers]
        repairs.append(Repair("at-risk table without time 0", (), f"the arm size {n} added at 0"))
    elif n is not None and numbers[0] != n:
        raise where(0, fields[1], f"must be the arm size n = {n} at time 0; got {numbers[0]:g}")
    return RiskTable(times, numbers.astype(np.int64), tuple(repairs))


def prepare_risk_table(
    times, numbers, curve: CleanCurve, n: int | None, where, fields=("time", "at_risk")
) -> RiskTable:
    """:func:`check_risk_table`, then the times beyond the curve's last point dropped."""
    table = check_risk_table(times, numbers, n, where, fields)
    times, numbers, repairs = table.times, table.numbers, list(table.repairs)
    end = curve.time[-1]
    beyond = np.flatnonzero(times > end)
    if beyond.size:
        repairs.append(
            Repair(
                "at-risk times beyond the curve",
                tuple(int(i) for i in beyond),
                f"dropped the times {', '.join(f'{t:g}' for t in times[beyond])} (the curve ends "
                f"at {end:g})",
            )
        )
        times, numbers = times[: beyond[0]], numbers[: beyond[0]]
    for repair in repairs:
        log.warning("%s: %s: %s", curve.path, repair.rule, repair.detail)
    return RiskTable(times, numbers, tuple(repairs))


def reconstruct_arm(
    curve: CleanCurve, table: RiskTable, total_events: int | None = None
) -> ArmReconstruction:
    """Guyot's reconstruction of one arm, with its checks against the inputs.

    Checks: the numbers at risk of the reconstructed patients at the table's times against the
    table; their events against the total when given; the largest vertical gap between the
    digitized curve and their Kaplan–Meier curve, over the whole curve and before the last
    at-risk time (after it the numbers at risk are not known and the curve's steps are not
    pinned).
    """
    n = int(table.numbers[0])
    if total_events is not None and not 0 <= total_events <= n:
        raise StudyValidationError(
            curve.path, "events", f"must be between 0 and the arm size {n}; got {total_events}"
        )
    patients = reconstruct_patients(
        curve.time, curve.survival, table.times, table.numbers, total_events
    )
    at_risk = (patients.time[None, :] >= table.times[:, None]).sum(axis=1)
    gap, gap_time = curve_gap(curve.time, curve.survival, patients.time, patients.event)
    inner, inner_time = curve_gap(
        curve.time, curve.survival, patients.time, patients.event, until=table.times[-1]
    )
    checks = {
        "n": n,
        "events": patients.events,
        "events_published": total_events,
        "events_reproduced": None if total_events is None else patients.events == total_events,
        "at_risk": [
            {"time": float(t), "published": int(k), "reconstructed": int(r)}
            for t, k, r in zip(table.times, table.numbers, at_risk, strict=True)
        ],
        "at_risk_reproduced": bool(np.all(at_risk == table.numbers)),
        "largest_gap": {"value": gap, "time": gap_time},
        "largest_gap_before_last_at_risk_time": {"value": inner, "time": inner_time},
        "points": int(curve.time.size),
        "repairs": [asdict(r) for r in curve.repairs + table.repairs],
    }
    if not checks["at_risk_reproduced"]:
        log.warning("%s: the reconstruction does not reproduce every number at risk", curve.path)
    if total_events is not None and not checks["events_reproduced"]:
        log.warning(
            "%s: the reconstruction has %d events, not the %d published",
            curve.path,
            patients.events,
            total_events,
        )
    return ArmReconstruction(curve, table, patients, total_events, checks)


def write_reconstruction(
    arms: list[tuple[str, ArmReconstruction]], out: str | Path
) -> tuple[Path, Path]:
    """Write the patients (``time,event,arm``) and the checks beside them (``.checks.json``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["time,event,arm"]
    for label, arm in arms:
        for t, e in zip(arm.patients.time, arm.patients.event, strict=True):
            lines.append(f"{t:.10g},{int(e)},{label}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    checks_path = out.with_suffix(".checks.json")
    payload = {label: {"curve": arm.curve.path, **arm.checks} for label, arm in arms}
    checks_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return out, checks_path
