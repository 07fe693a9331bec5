"""Individual patient data: read a CSV, validate every row, convert times to months.

Columns default to ``time,event,arm`` (renamable), with optional ``entry`` (delayed entry,
same unit as time). ``event`` is 1 for an event and 0 for censoring. Times are converted from
the declared unit (days, weeks, months, years) to months, the unit of priors and reports. Bad
rows are refused with a message naming the file, the row and the column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resurv.errors import StudyValidationError
from resurv.io.study import TIME_UNITS, Arm, IPDSource, Study

__all__ = [
    "PatientData",
    "read_ipd",
    "reconstruct_study_curves",
    "reconstructed_patients",
    "study_from_csv",
]


@dataclass(frozen=True)
class PatientData:
    """Validated patient data, times in months, arms coded 0 (reference) and 1."""

    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray
    entry: np.ndarray | None
    arm_labels: tuple[str, ...]
    path: str

    @property
    def n_per_arm(self) -> list[int]:
        """Patients per arm, reference first."""
        return [int(np.sum(self.arm == j)) for j in range(len(self.arm_labels))]


def _fail(path, row: int | None, column: str, rule: str) -> StudyValidationError:
    where = f"row {row} column '{column}'" if row is not None else f"column '{column}'"
    return StudyValidationError(path, where, rule)


def read_ipd(
    path: str | Path,
    *,
    time: str = "time",
    event: str = "event",
    arm: str = "arm",
    entry: str | None = None,
    time_unit: str = "months",
    reference_arm: str | None = None,
    require_two_arms: bool = True,
) -> PatientData:
    """Read and validate a patient-data CSV.

    Rows are numbered from 1 (the first line after the header). Refused: a missing column,
    missing values, non-numeric or non-positive times, events other than 0/1, entry < 0 or
    entry ≥ time, an unknown reference arm, more than two arms, or a single arm where two are
    needed.
    """
    path = Path(path)
    if time_unit not in TIME_UNITS:
        raise StudyValidationError(
            path, "time_unit", f"must be one of {', '.join(TIME_UNITS)}; got '{time_unit}'"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise StudyValidationError(path, None, "file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StudyValidationError(path, None, f"is not a readable CSV ({exc})") from None
    columns = [time, event, arm] + ([entry] if entry else [])
    for col in columns:
        if col not in frame.columns:
            raise _fail(path, None, col, f"is missing; columns are {', '.join(frame.columns)}")
    if frame.empty:
        raise StudyValidationError(path, None, "has no rows")
    values = {}
    for col in columns:
        raw = frame[col].str.strip()
        for i, v in enumerate(raw, start=1):
            if v == "" or v.lower() in ("na", "nan", "null"):
                raise _fail(path, i, col, "missing value")
        if col == arm:
            values[col] = raw.to_numpy()
            continue
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise _fail(path, int(bad[0]) + 1, col, f"must be a number; got '{raw.iloc[bad[0]]}'")
        values[col] = numbers
    t = values[time]
    bad = np.flatnonzero(t <= 0)
    if bad.size:
        raise _fail(path, int(bad[0]) + 1, time, f"must be > 0; got {t[bad[0]]:g}")
    ev = values[event]
    bad = np.flatnonzero(~np.isin(ev, (0.0, 1.0)))
    if bad.size:
        raise _fail(path, int(bad[0]) + 1, event, f"must be 0 or 1; got {ev[bad[0]]:g}")
    ent = None
    if entry:
        ent = values[entry]
        bad = np.flatnonzero((ent < 0) | (ent >= t))
        if bad.size:
            i = int(bad[0])
            raise _fail(path, i + 1, entry, f"must be >= 0 and < time ({t[i]:g}); got {ent[i]:g}")
    labels = list(dict.fromkeys(values[arm]))
    if len(labels) > 2:
        raise _fail(path, None, arm, f"has {len(labels)} arms ({', '.join(labels)}); at most 2")
    if require_two_arms and len(labels) < 2:
        raise _fail(path, None, arm, f"has a single arm ('{labels[0]}') where two are needed")
    if reference_arm is not None:
        if reference_arm not in labels:
            raise _fail(
                path, None, arm, f"reference arm '{reference_arm}' is not among {', '.join(labels)}"
            )
        labels.remove(reference_arm)
        labels.insert(0, reference_arm)
    else:
        labels.sort()
    code = np.array([labels.index(a) for a in values[arm]], dtype=int)
    scale = TIME_UNITS[time_unit]
    return PatientData(
        time=t * scale,
        event=ev.astype(bool),
        arm=code,
        entry=None if ent is None else ent * scale,
        arm_labels=tuple(labels),
        path=str(path),
    )


def study_from_csv(path: str | Path, **options) -> Study:
    """A :class:`Study` wrapping a patient-data CSV (arms and sizes taken from the data).

    The data serve whichever survival endpoint the model names. Data of one arm make a
    single-arm study.
    """
    path = Path(path)
    data = read_ipd(path, require_two_arms=False, **options)
    arms = tuple(
        Arm(str(label), str(label), n, j)
        for j, (label, n) in enumerate(zip(data.arm_labels, data.n_per_arm, strict=True))
    )
    source = IPDSource(
        str(path),
        options.get("time", "time"),
        options.get("event", "event"),
        options.get("arm", "arm"),
        options.get("entry"),
        options.get("time_unit", "months"),
        endpoint="*",
    )
    return Study(
        id=path.stem,
        title=f"patient data {path.name}",
        citation=path.name,
        arms=arms,
        ipd=(source,),
        path=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        raw={"reference_arm": data.arm_labels[0]},
    )


def reconstruct_study_curves(study: Study, endpoint: str, perturb=None) -> list:
    """Each arm's reconstruction from the study's ``[[km_curve]]`` entries of ``endpoint``.

    :class:`~resurv.reconstruct.curve.ArmReconstruction` objects in arm order, times in the
    curve's unit. ``perturb`` (optional): a function ``(entry index, CleanCurve) -> CleanCurve``
    applied to each repaired curve before the reconstruction (a perturbed digitization,
    :mod:`resurv.inference.digitization_error`).
    """
    from resurv.reconstruct.curve import prepare_risk_table, read_curve, reconstruct_arm

    out = []
    for i, source in enumerate(study.km_curves):
        if source.endpoint != endpoint:
            continue
        curve = read_curve(source.path, scale=source.survival_scale)
        if perturb is not None:
            curve = perturb(i, curve)

        def where(k, column, rule, i=i):
            field = f"km_curve[{i}].{column}" + (f"[{k}]" if k is not None else "")
            return StudyValidationError(study.path, field, rule)

        table = prepare_risk_table(
            source.at_risk_times,
            source.at_risk_numbers,
            curve,
            study.arm(source.arm).n,
            where,
            ("at_risk_times", "at_risk_numbers"),
        )
        out.append(
            (study.arm(source.arm).index, reconstruct_arm(curve, table, source.total_events))
        )
    return [arm for _, arm in sorted(out, key=lambda pair: pair[0])]


def reconstructed_patients(study: Study, endpoint: str, perturb=None) -> PatientData:
    """The patients of ``endpoint`` rebuilt from the study's digitized curves, in months.

    ``perturb``: as in :func:`reconstruct_study_curves`.
    """
    curves = study.km_curves_of(endpoint)
    arms = reconstruct_study_curves(study, endpoint, perturb)
    times, events, codes = [], [], []
    for source, arm in zip(curves, arms, strict=True):
        times.append(arm.patients.time * TIME_UNITS[source.time_unit])
        events.append(arm.patients.event)
        codes.append(np.full(arm.patients.n, study.arm(source.arm).index))
    return PatientData(
        time=np.concatenate(times),
        event=np.concatenate(events),
        arm=np.concatenate(codes),
        entry=None,
        arm_labels=tuple(study.arm_ids),
        path=", ".join(c.path for c in curves),
    )


def load_ipd_for(study: Study, endpoint: str) -> PatientData | None:
    """The patient data of ``study`` for ``endpoint`` (None when it has none).

    From its patient-data file, or reconstructed from its digitized Kaplan–Meier curves.
    """
    if any(c.endpoint == endpoint for c in study.km_curves):
        return reconstructed_patients(study, endpoint)
    for src in study.ipd:
        if src.endpoint in (endpoint, "*"):
            data = read_ipd(
                src.path,
                time=src.time_column,
                event=src.event_column,
                arm=src.arm_column,
                entry=src.entry_column,
                time_unit=src.time_unit,
                reference_arm=study.raw.get("reference_arm") or study.arms[0].id,
                require_two_arms=study.n_arms == 2,
            )
            if len(data.arm_labels) != study.n_arms:
                raise _fail(
                    src.path,
                    None,
                    src.arm_column,
                    f"has {len(data.arm_labels)} arms ({', '.join(data.arm_labels)}), but the "
                    f"study file {study.path} lists {study.n_arms}",
                )
            for arm, n in zip(study.arms, data.n_per_arm, strict=True):
                if arm.n != n:
                    raise StudyValidationError(
                        study.path,
                        f"arms[{arm.id}].n",
                        f"is {arm.n}, but the patient data {src.path} hold {n} patients of "
                        f"arm '{arm.id}'",
                    )
            return data
    return None
