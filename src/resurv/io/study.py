"""Study files: the published values of one study, validated into typed objects.

A study file is TOML (format documented in ``data/README.md``): the arms with their sizes, binary
outcomes as counts, the survival statistics the paper reported (each with the sentence it came
from), priors for the unreported follow-up design, an optional pointer to individual patient data,
and an explicit list of what the paper does not report.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resurv.errors import StudyValidationError
from resurv.io.priors import PriorSpec, parse_prior_table
from resurv.io.tables import TableReader, read_toml
from resurv.statistics.published import Published, read_statistic

__all__ = [
    "Arm",
    "BinaryOutcome",
    "IPDSource",
    "KMCurveSource",
    "Study",
    "load_study",
    "study_from_text",
]

TIME_UNITS = {"days": 12 / 365.25, "weeks": 12 / 52.1775, "months": 1.0, "years": 12.0}


@dataclass(frozen=True)
class Arm:
    """One treatment arm.

    ``index`` 0 is the reference arm (the only arm of a single-arm study), 1 the comparator.
    """

    id: str
    label: str
    n: int
    index: int
    quote: str = ""


@dataclass(frozen=True)
class BinaryOutcome:
    """Responders (or patients with a toxicity) out of ``n`` in one arm."""

    endpoint: str
    arm: str
    events: int
    n: int
    published_percent: float | None
    definition: str
    quote: str


@dataclass(frozen=True)
class IPDSource:
    """Pointer to an individual-patient-data CSV and how to read it."""

    path: str
    time_column: str = "time"
    event_column: str = "event"
    arm_column: str = "arm"
    entry_column: str | None = None
    time_unit: str = "months"
    endpoint: str = "os"


@dataclass(frozen=True)
class KMCurveSource:
    """One arm's digitized Kaplan–Meier curve with its at-risk table (``[[km_curve]]``).

    The patients are reconstructed from it (Guyot's algorithm, :mod:`resurv.reconstruct`) when
    a survival model of its endpoint is fitted. Times are in ``time_unit`` (the curve's and the
    table's), survival on ``survival_scale`` (``fraction`` or ``percent``).
    """

    endpoint: str
    arm: str
    path: str
    at_risk_times: tuple[float, ...]
    at_risk_numbers: tuple[int, ...]
    total_events: int | None = None
    time_unit: str = "months"
    survival_scale: str = "fraction"
    quote: str = ""


@dataclass(frozen=True)
class Study:
    """A validated study."""

    id: str
    title: str
    citation: str
    arms: tuple[Arm, ...]
    binary: tuple[BinaryOutcome, ...] = ()
    survival: tuple[Published, ...] = ()
    followup_priors: Mapping[str, PriorSpec] = field(default_factory=dict)
    followup_note: str = ""
    ipd: tuple[IPDSource, ...] = ()
    km_curves: tuple[KMCurveSource, ...] = ()
    unknown: tuple[str, ...] = ()
    reported_without_numbers: tuple[str, ...] = ()
    path: str = ""
    sha256: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def arm(self, arm_id: str) -> Arm:
        """The arm with this id."""
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise KeyError(arm_id)

    @property
    def n_arms(self) -> int:
        """Number of arms: 1 (a single-arm study) or 2 (reference and comparator)."""
        return len(self.arms)

    @property
    def arm_ids(self) -> list[str]:
        """Arm ids, reference first."""
        return [a.id for a in self.arms]

    def binary_outcomes(self, endpoint: str) -> list[BinaryOutcome]:
        """The per-arm counts of one binary endpoint, in arm order."""
        rows = [b for b in self.binary if b.endpoint == endpoint]
        return sorted(rows, key=lambda b: self.arm(b.arm).index)

    def survival_statistics(self, endpoint: str) -> list[Published]:
        """The published statistics of one survival endpoint, in file order.

        Records of :mod:`resurv.statistics.published`, one class per kind.
        """
        return [s for s in self.survival if s.endpoint == endpoint]

    def has_patient_data(self, endpoint: str) -> bool:
        """Whether ``endpoint`` has patient data: a patient-data file or digitized KM curves."""
        return any(src.endpoint in (endpoint, "*") for src in self.ipd) or any(
            c.endpoint == endpoint for c in self.km_curves
        )

    def km_curves_of(self, endpoint: str) -> list[KMCurveSource]:
        """The digitized curves of ``endpoint``, in arm order."""
        rows = [c for c in self.km_curves if c.endpoint == endpoint]
        return sorted(rows, key=lambda c: self.arm(c.arm).index)

    @property
    def endpoints(self) -> list[str]:
        """Every endpoint with published values."""
        seen: list[str] = []
        for e in [b.endpoint for b in self.binary] + [s.endpoint for s in self.survival]:
            if e not in seen:
                seen.append(e)
        return seen


def _arm_ref(reader: TableReader, key: str, arm_ids: list[str], default: Any = ...) -> Any:
    value = reader.string(key, default)
    if value is None or value is default and default is not ...:
        return value
    if value not in arm_ids:
        raise reader.fail(key, f"unknown arm '{value}'; arms are {', '.join(arm_ids)}")
    return value


def _parse_arms(top: TableReader) -> list[Arm]:
    readers = top.subs("arms")
    if len(readers) not in (1, 2):
        raise top.fail("arms", f"must list one arm or two arms; got {len(readers)}")
    reference = top.string("reference_arm", None)
    arms = []
    for r in readers:
        r.only(["id", "label", "n", "quote"])
        arm_id = r.string("id")
        n = r.number("n", integer=True)
        if n <= 0:
            raise r.fail("n", f"must be a positive whole number; got {n}")
        arms.append((arm_id, r.string("label", arm_id), n, r.string("quote", "")))
    ids = [a[0] for a in arms]
    if len(set(ids)) != len(ids):
        raise top.fail("arms", "arm ids must differ")
    if reference is not None and reference not in ids:
        raise top.fail("reference_arm", f"unknown arm '{reference}'; arms are {', '.join(ids)}")
    if reference is not None and ids[0] != reference:
        arms.reverse()
    return [Arm(a[0], a[1], a[2], i, a[3]) for i, a in enumerate(arms)]


def percent_matches_count(percent: float, events: int, n: int) -> bool:
    """Whether a printed percentage is 100·events/n to its printed decimals.

    A percentage printed with d decimals
    (:func:`~resurv.statistics.published.base.printed_decimals`) is accepted when it is the
    exact value rounded (|p − 100 r/n| ≤ ½·10⁻ᵈ) or truncated (0 ≤ 100 r/n − p < 10⁻ᵈ) to d
    decimals: papers print both (13/15 as 86.7% or 86.6%).
    """
    from resurv.statistics.published.base import printed_decimals

    exact = 100.0 * events / n
    step = 10.0 ** -printed_decimals(percent)
    slack = 1e-9 * max(1.0, exact)
    rounded = abs(percent - exact) <= step / 2 + slack
    truncated = -slack <= exact - percent < step + slack
    return rounded or truncated


def _parse_binary(reader: TableReader, arms: dict[str, Arm]) -> BinaryOutcome:
    reader.only(["endpoint", "arm", "events", "n", "published_percent", "definition", "quote"])
    arm = _arm_ref(reader, "arm", list(arms))
    n = reader.number("n", arms[arm].n, integer=True)
    if n <= 0:
        raise reader.fail("n", f"must be a positive whole number; got {n}")
    if n > arms[arm].n:
        raise reader.fail("n", f"must not exceed the arm size {arms[arm].n}; got {n}")
    events = reader.number("events", integer=True)
    if not 0 <= events <= n:
        raise reader.fail("events", f"must be between 0 and n = {n}; got {events}")
    pct = reader.number("published_percent", None)
    if pct is not None and not 0 <= pct <= 100:
        raise reader.fail("published_percent", f"must be between 0 and 100; got {pct}")
    if pct is not None and not percent_matches_count(pct, events, n):
        raise reader.fail(
            "published_percent",
            f"{pct:g}% is not 100·{events}/{n} = {100 * events / n:.4g}% rounded or truncated "
            "to the decimals it is printed with",
        )
    return BinaryOutcome(
        reader.string("endpoint"),
        arm,
        events,
        n,
        pct,
        reader.string("definition", ""),
        reader.string("quote", ""),
    )


def _check_survival_consistency(stats: list[Published], top: TableReader) -> None:
    seen: dict[tuple, int] = {}
    for i, s in enumerate(stats):
        key = s.key()
        if key in seen:
            raise top.fail(f"survival[{i}]", f"repeats survival[{seen[key]}] ({s.statistic})")
        seen[key] = i
    for i, s in enumerate(stats):
        for j, other in enumerate(stats):
            rule = s.conflict(other)
            if rule is not None:
                raise top.fail(f"survival[{i}]", rule.format(other=f"survival[{j}]"))


def _check_ipd_endpoints(ipd: list[IPDSource], survival: list[Published], top) -> None:
    """Refuse patient data and published summaries of the same survival endpoint.

    A survival model of an endpoint with patient data is fitted to them alone: published
    summaries of that endpoint could be neither in its likelihood nor predictive-check targets
    of the same trial, so the combination is refused rather than its summaries dropped. Two
    sources of patient data for one endpoint are refused for the same reason.
    """
    owner: dict[str, int] = {}
    for i, src in enumerate(ipd):
        if src.endpoint in owner:
            raise top.fail(
                f"ipd[{i}].endpoint",
                f"repeats the endpoint '{src.endpoint}' of ipd[{owner[src.endpoint]}]: one "
                "patient-data file per endpoint",
            )
        owner[src.endpoint] = i
    for i, s in enumerate(survival):
        if s.endpoint in owner:
            raise top.fail(
                f"survival[{i}].endpoint",
                f"endpoint '{s.endpoint}' has patient data (ipd[{owner[s.endpoint]}]), which its "
                "survival models are fitted to; published summaries of the same endpoint would "
                "not be used: give them in a study file without the patient data",
            )


def _parse_ipd(reader: TableReader, base: Path) -> IPDSource:
    reader.only(["file", "time", "event", "arm", "entry", "time_unit", "endpoint"])
    path = (base / reader.string("file")).resolve()
    return IPDSource(
        str(path),
        reader.string("time", "time"),
        reader.string("event", "event"),
        reader.string("arm", "arm"),
        reader.string("entry", None),
        reader.string("time_unit", "months", list(TIME_UNITS)),
        reader.string("endpoint", "os"),
    )


def _parse_km_curve(reader: TableReader, arms: dict[str, Arm], base: Path) -> KMCurveSource:
    """One ``[[km_curve]]`` entry.

    The at-risk table's rules are checked here, the curve's points when the patients are
    reconstructed (the file named, with its row).
    """
    from resurv.reconstruct.curve import check_risk_table

    reader.only(
        [
            "endpoint",
            "arm",
            "file",
            "at_risk_times",
            "at_risk_numbers",
            "total_events",
            "time_unit",
            "survival_scale",
            "quote",
        ]
    )
    arm = _arm_ref(reader, "arm", list(arms))
    times = reader.numbers("at_risk_times")
    numbers = reader.numbers("at_risk_numbers")
    if len(times) != len(numbers):
        raise reader.fail(
            "at_risk_numbers",
            f"must give one number per time of at_risk_times ({len(times)}); got {len(numbers)}",
        )
    n = arms[arm].n

    def where(i, column, rule):
        return reader.fail(f"{column}[{i}]" if i is not None else column, rule)

    check_risk_table(times, numbers, n, where, ("at_risk_times", "at_risk_numbers"))
    total = reader.number("total_events", None, integer=True)
    if total is not None and not 0 <= total <= n:
        raise reader.fail("total_events", f"must be between 0 and the arm size {n}; got {total}")
    return KMCurveSource(
        endpoint=reader.string("endpoint"),
        arm=arm,
        path=str((base / reader.string("file")).resolve()),
        at_risk_times=tuple(times),
        at_risk_numbers=tuple(int(k) for k in numbers),
        total_events=total,
        time_unit=reader.string("time_unit", "months", list(TIME_UNITS)),
        survival_scale=reader.string("survival_scale", "fraction", ["fraction", "percent"]),
        quote=reader.string("quote", ""),
    )


def _check_km_curves(
    curves: list[KMCurveSource], ipd: list[IPDSource], arms: list[Arm], top: TableReader
) -> None:
    """One curve per arm and endpoint, for every arm, and no patient-data file of the endpoint.

    A patient-data file of the same endpoint would be a second source of its patients.

    Published summaries of a curve's endpoint are allowed: the endpoint's survival models are
    fitted to the reconstructed patients, and each summary is compared with the same statistic
    of those patients (a check, listed in the fit's inventory of numbers).
    """
    seen: dict[tuple[str, str], int] = {}
    for i, c in enumerate(curves):
        if (c.endpoint, c.arm) in seen:
            raise top.fail(
                f"km_curve[{i}]",
                f"repeats the curve of endpoint '{c.endpoint}' and arm '{c.arm}' of "
                f"km_curve[{seen[(c.endpoint, c.arm)]}]",
            )
        seen[(c.endpoint, c.arm)] = i
        for j, src in enumerate(ipd):
            if src.endpoint == c.endpoint:
                raise top.fail(
                    f"km_curve[{i}].endpoint",
                    f"endpoint '{c.endpoint}' has a patient-data file (ipd[{j}]): give its "
                    "patients once, as a file or as digitized curves",
                )
    for i, c in enumerate(curves):
        missing = [a.id for a in arms if (c.endpoint, a.id) not in seen]
        if missing:
            raise top.fail(
                f"km_curve[{i}].endpoint",
                f"endpoint '{c.endpoint}' has a curve for arm '{c.arm}' but none for "
                f"{', '.join(repr(m) for m in missing)}: give the curve of every arm",
            )


def load_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Raises
    ------
    StudyValidationError
        Naming the file, the field and the rule broken.
    """
    path = Path(path)
    raw = read_toml(path, StudyValidationError)
    top = TableReader(raw, path, "", StudyValidationError)
    top.only(
        [
            "study",
            "reference_arm",
            "arms",
            "binary",
            "survival",
            "followup",
            "ipd",
            "km_curve",
            "unknown",
            "reported_without_numbers",
        ]
    )
    meta = top.sub("study")
    meta.only(["id", "title", "citation", "doi", "source", "notes"])
    arms = _parse_arms(top)
    by_id = {a.id: a for a in arms}
    binary = [_parse_binary(r, by_id) for r in top.subs("binary", [])]
    seen = set()
    for i, b in enumerate(binary):
        if (b.endpoint, b.arm) in seen:
            raise top.fail(f"binary[{i}]", f"repeats endpoint '{b.endpoint}' for arm '{b.arm}'")
        seen.add((b.endpoint, b.arm))
    survival = [read_statistic(r, by_id) for r in top.subs("survival", [])]
    _check_survival_consistency(survival, top)
    if len(arms) == 1:
        for i, s in enumerate(survival):
            if s.arm is None:
                raise top.fail(
                    f"survival[{i}].statistic",
                    f"'{s.statistic}' compares two arms, but the study lists one arm: a "
                    "single-arm study has no between-arm statistics",
                )
    followup_priors: dict[str, PriorSpec] = {}
    note = ""
    fu = top.sub("followup", None)
    if fu is not None:
        fu.only(["accrual_months", "followup_months", "dropout_rate", "note"])
        note = fu.string("note", "")
        for key in ("accrual_months", "followup_months", "dropout_rate"):
            if fu.has(key):
                value = fu.raw(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    fixed = fu.number(key, nonnegative=True)
                    followup_priors[key] = PriorSpec(
                        "fixed", {"value": fixed}, "fixed value given in the study file"
                    )
                else:
                    followup_priors[key] = parse_prior_table(
                        value, path, fu.field(key), StudyValidationError
                    )
    ipd = [_parse_ipd(r, path.parent) for r in top.subs("ipd", [])]
    _check_ipd_endpoints(ipd, survival, top)
    km_curves = [_parse_km_curve(r, by_id, path.parent) for r in top.subs("km_curve", [])]
    _check_km_curves(km_curves, ipd, arms, top)
    unknown = top.raw("unknown", [])
    without = top.raw("reported_without_numbers", [])
    for key, value in (("unknown", unknown), ("reported_without_numbers", without)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise top.fail(key, "must be a list of strings")
    return Study(
        id=meta.string("id"),
        title=meta.string("title"),
        citation=meta.string("citation"),
        arms=tuple(arms),
        binary=tuple(binary),
        survival=tuple(survival),
        followup_priors=followup_priors,
        followup_note=note,
        ipd=tuple(ipd),
        km_curves=tuple(km_curves),
        unknown=tuple(unknown),
        reported_without_numbers=tuple(without),
        path=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        raw=raw,
    )


def study_from_text(text: str, path: str | Path, sha256: str = "") -> Study:
    """A study file from its saved text (e.g. a fit's provenance).

    Read as :func:`load_study` would read the file ``path`` holding that text. Patient-data
    files it points to are resolved against ``path``'s folder, as for the file;
    ``sha256`` (the recorded hash of the file's bytes) replaces the hash of the text when given.
    """
    import dataclasses

    from resurv.io.tables import load_from_text

    def load(copy: Path) -> Study:
        study = load_study(copy)
        base = copy.parent.resolve()
        ipd = tuple(
            dataclasses.replace(
                s, path=str((Path(path).parent / os.path.relpath(s.path, base)).resolve())
            )
            for s in study.ipd
        )
        curves = tuple(
            dataclasses.replace(
                c, path=str((Path(path).parent / os.path.relpath(c.path, base)).resolve())
            )
            for c in study.km_curves
        )
        return dataclasses.replace(study, ipd=ipd, km_curves=curves)

    study = load_from_text(load, text, path, StudyValidationError)
    return dataclasses.replace(study, path=str(path), sha256=sha256 or study.sha256)
