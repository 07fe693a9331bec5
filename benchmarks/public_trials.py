"""Worked examples: three public trials shipped with lifelines, as patient data and study files.

For each trial (the leukemia trial of 6-MP vs placebo, GBSG2 hormonal therapy, the Rossi
recidivism trial of financial aid) this script

* writes the patient data as a resurv patient-data CSV, times in months:
  ``data/examples/<id>/patients.csv`` (columns ``time,event,arm``);
* computes the numbers a paper would print: per arm n, events, KM median with its 95% CI (or
  "not reached"), the two-sided log-rank p and the better arm, the Cox HR with its 95% Wald CI
  (the statistics of ``resurv freq``, :func:`resurv.statistics.frequentist.frequentist_summary`),
  plus the median follow-up (reverse Kaplan–Meier), numbers at risk at four printed times and
  landmark survival with log(−log) Greenwood 95% CIs (:mod:`resurv.statistics`);
* writes one study file per reporting scenario, ``data/studies/<id>_<scenario>.toml``:

  - ``abstract``: medians (or "not reached") and the log-rank p;
  - ``typical``: + median CIs, HR with 95% CI, events per arm, median follow-up;
  - ``full``: + numbers at risk at four times and landmark survival with 95% CIs;

* and ``data/studies/<id>_patients.toml``, the same trial with an ``[[ipd]]`` pointer to the
  CSV: the patient-level fit.

Each statistic is emitted by one function (``emit_*``) as ``[[survival]]`` records of a kind
of the registry :data:`resurv.statistics.published.KINDS`, each checked by the registry's own
parser before it is written.

The follow-up design (``[followup]``) is printed in no scenario: wide priors on a generic
scale (accrual 1–60 months, minimum follow-up 0–36 months); in the typical and full scenarios
the printed median follow-up enters the likelihood. Dropout is fixed at 0 (not reported).

Run from the repository root: ``.venv/bin/python benchmarks/public_trials.py``
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from resurv.io.study import TIME_UNITS, Arm
from resurv.statistics.frequentist import frequentist_summary
from resurv.statistics.km import risk_table
from resurv.statistics.landmark import km_landmark, loglog_interval
from resurv.statistics.median import km_median
from resurv.statistics.published import KINDS, from_table

ROOT = Path(__file__).resolve().parents[1]
Z975 = 1.959963984540054
SCENARIOS = ("abstract", "typical", "full")
ENDPOINT = "os"


# --------------------------------------------------------------------------------------------
# The trials
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicTrial:
    """A lifelines data set read as a two-arm trial.

    ``arms`` maps the data set's arm codes to (id, label), reference arm first. Times are in
    ``time_unit`` in the data set and in months everywhere else. ``at_risk_months`` are the four
    times of the printed risk table; ``landmark_months`` the printed landmark times.
    """

    id: str
    title: str
    citation: str
    endpoint_name: str
    loader: str
    time_column: str
    event_column: str
    arm_column: str
    time_unit: str
    arms: tuple[tuple[object, str, str], ...]
    at_risk_months: tuple[float, ...]
    landmark_months: tuple[float, ...]
    notes: str = ""

    def raw(self) -> pd.DataFrame:
        """The data set as lifelines ships it."""
        import lifelines.datasets

        return getattr(lifelines.datasets, self.loader)()

    def patients(self) -> pd.DataFrame:
        """Columns ``time`` (months), ``event`` (1/0), ``arm`` (arm id); rows as in the data set."""
        raw = self.raw()
        ids = {code: arm_id for code, arm_id, _ in self.arms}
        return pd.DataFrame(
            {
                "time": raw[self.time_column].to_numpy(float) * TIME_UNITS[self.time_unit],
                "event": raw[self.event_column].to_numpy(int),
                "arm": raw[self.arm_column].map(ids).to_numpy(),
            }
        )


TRIALS: dict[str, PublicTrial] = {
    t.id: t
    for t in (
        PublicTrial(
            id="leukemia",
            title="6-mercaptopurine vs placebo for maintenance of remission in acute leukaemia",
            citation="Freireich EJ et al. Blood 1963;21:699-716 (data: lifelines load_leukemia)",
            endpoint_name="duration of remission",
            loader="load_leukemia",
            time_column="t",
            event_column="status",
            arm_column="Rx",
            time_unit="weeks",
            arms=((1, "placebo", "placebo"), (0, "mp6", "6-MP")),
            at_risk_months=(1.5, 3.0, 4.5, 6.0),
            landmark_months=(2.0, 4.0),
            notes="Rx = 1 is the placebo arm (all 21 relapsed), Rx = 0 the 6-MP arm.",
        ),
        PublicTrial(
            id="gbsg2",
            title="Hormonal therapy (tamoxifen) in node-positive breast cancer (GBSG 2)",
            citation="Schumacher M et al. J Clin Oncol 1994;12:2086-2093 "
            "(data: lifelines load_gbsg2)",
            endpoint_name="recurrence-free survival",
            loader="load_gbsg2",
            time_column="time",
            event_column="cens",
            arm_column="horTh",
            time_unit="days",
            arms=(("no", "no_hormone", "no hormonal therapy"), ("yes", "hormone", "tamoxifen")),
            at_risk_months=(12.0, 24.0, 36.0, 60.0),
            landmark_months=(36.0, 60.0),
            notes="686 patients of the trial with complete data (Sauerbrei W, Royston P. J R Stat "
            "Soc A 1999;162:71-94); hormonal therapy read here as a two-arm comparison.",
        ),
        PublicTrial(
            id="rossi",
            title="Financial aid after release from prison and re-arrest (Rossi recidivism study)",
            citation="Rossi PH, Berk RA, Lenihan KJ. Money, Work and Crime. Academic Press, 1980 "
            "(data: lifelines load_rossi)",
            endpoint_name="time to first arrest",
            loader="load_rossi",
            time_column="week",
            event_column="arrest",
            arm_column="fin",
            time_unit="weeks",
            arms=((0, "no_aid", "no financial aid"), (1, "aid", "financial aid")),
            at_risk_months=(3.0, 6.0, 9.0, 11.0),
            landmark_months=(6.0, 11.0),
            notes="Every released prisoner was followed for 52 weeks.",
        ),
    )
}


# --------------------------------------------------------------------------------------------
# The numbers a paper would print
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmNumbers:
    """One arm's printed statistics (exact values; printing rounds them)."""

    id: str
    label: str
    n: int
    events: int
    median: float  # inf when not reached
    median_ci: tuple[float, float]  # inf where a limit is not reached
    at_risk: dict[float, int]
    landmarks: dict[float, tuple[float, float, float]]  # t -> (S, lower, upper)


@dataclass(frozen=True)
class PaperNumbers:
    """The statistics a paper would print for one trial (reference arm first)."""

    arms: tuple[ArmNumbers, ArmNumbers]
    logrank_p: float
    logrank_better: str | None
    log_hr: float
    log_hr_se: float
    median_followup: float

    @property
    def hr(self) -> float:
        """Cox hazard ratio, comparator vs reference."""
        return math.exp(self.log_hr)

    @property
    def hr_ci(self) -> tuple[float, float]:
        """Wald 95% CI of the HR, exp(log HR ± 1.96 SE)."""
        return (
            math.exp(self.log_hr - Z975 * self.log_hr_se),
            math.exp(self.log_hr + Z975 * self.log_hr_se),
        )


def median_followup(time, event) -> float:
    """Median follow-up by the reverse Kaplan–Meier method (censorings as events).

    Schemper M, Smith TL. Control Clin Trials 1996;17:343-346. The median of the KM curve of the
    censoring times (smallest time with Ŝ_C ≤ ½); inf when it is not reached.
    """
    estimate = km_median(np.asarray(time, float), 1 - np.asarray(event, int))
    return float(estimate.median[0]) if bool(estimate.reached[0]) else math.inf


def numbers_at_risk(time, arm, times) -> np.ndarray:
    """Patients with observed time ≥ t (still at risk just before t) per time and arm, (m, 2)."""
    time, arm = np.asarray(time, float), np.asarray(arm, int)
    return np.array([[int(np.sum((time >= t) & (arm == j))) for j in (0, 1)] for t in times])


def paper_numbers(trial: PublicTrial, patients: pd.DataFrame) -> PaperNumbers:
    """Compute every number the scenarios print from the trial's patient data."""
    codes = {arm_id: j for j, (_, arm_id, _) in enumerate(trial.arms)}
    time = patients["time"].to_numpy(float)
    event = patients["event"].to_numpy(int)
    arm = patients["arm"].map(codes).to_numpy(int)
    labels = tuple(arm_id for _, arm_id, _ in trial.arms)
    freq = frequentist_summary(time, event, arm, arm_labels=labels)
    risk = numbers_at_risk(time, arm, trial.at_risk_months)
    # risk_table's last observed time per arm: a landmark beyond it is not printed
    last = risk_table(time, event, arm).last_time[0]
    arms = []
    for j, (_, arm_id, label) in enumerate(trial.arms):
        f = freq["arms"][arm_id]
        marks = {}
        for t in trial.landmark_months:
            if t > last[j]:
                raise ValueError(f"{trial.id}: landmark {t} months beyond arm {arm_id}'s data")
            est = km_landmark(time[arm == j], event[arm == j], t)
            low, high = loglog_interval(est.survival, est.se, Z975)
            marks[t] = (float(est.survival[0]), float(low[0]), float(high[0]))
        arms.append(
            ArmNumbers(
                id=arm_id,
                label=label,
                n=f["n"],
                events=f["events"],
                median=f["median"] if f["median_reached"] else math.inf,
                median_ci=tuple(f["median_ci"]),
                at_risk={t: int(risk[k, j]) for k, t in enumerate(trial.at_risk_months)},
                landmarks=marks,
            )
        )
    return PaperNumbers(
        arms=(arms[0], arms[1]),
        logrank_p=freq["logrank_p"],
        logrank_better={-1: labels[1], 1: labels[0]}.get(freq["logrank_direction"]),
        log_hr=freq["cox_log_hr"],
        log_hr_se=freq["cox_se"],
        median_followup=median_followup(time, event),
    )


# --------------------------------------------------------------------------------------------
# Printing: how a paper rounds
# --------------------------------------------------------------------------------------------


def printed_months(value: float) -> float:
    """A time in months as printed: one decimal."""
    return round(value, 1)


def printed_p(p: float) -> float:
    """A p-value as printed: three decimals, or two significant digits below 0.01."""
    if p >= 0.01:
        return round(p, 3)
    return float(f"{p:.2g}")


def printed_ratio(value: float) -> float:
    """A hazard ratio or its limit as printed: two decimals."""
    return round(value, 2)


def printed_probability(value: float) -> float:
    """A survival probability as printed: a percentage with one decimal, i.e. three decimals."""
    return round(value, 3)


# --------------------------------------------------------------------------------------------
# One function per statistic
# --------------------------------------------------------------------------------------------


@dataclass
class Emitted:
    """What a statistic contributes to a study file: its records."""

    records: list[dict] = field(default_factory=list)


def emit_medians(numbers: PaperNumbers, with_ci: bool) -> Emitted:
    """Per arm: the KM median (months) or "not reached"; with its 95% CI if ``with_ci``.

    The CI is the Brookmeyer–Crowley interval on the log(−log) scale (``resurv freq``, as
    lifelines prints it), written with ``ci_transform = "loglog"``; an upper limit not reached
    is printed "NR".
    """
    out = Emitted()
    for a in numbers.arms:
        if math.isinf(a.median):
            out.records.append(
                {
                    "statistic": "median_not_reached",
                    "arm": a.id,
                    "quote": f"median not reached in the {a.label} arm",
                }
            )
            continue
        record = {"statistic": "median", "arm": a.id, "value": printed_months(a.median)}
        quote = f"median {printed_months(a.median)} months in the {a.label} arm"
        if with_ci:
            low, high = a.median_ci
            ci = ["NR" if math.isinf(v) else printed_months(v) for v in (low, high)]
            record["ci"] = ci
            record["ci_transform"] = "loglog"
            quote += f" (95% CI {ci[0]}-{ci[1]})"
        record["quote"] = quote
        out.records.append(record)
    return out


def emit_logrank(numbers: PaperNumbers) -> Emitted:
    """The two-sided log-rank p with the arm that did better."""
    p = printed_p(numbers.logrank_p)
    record = {"statistic": "logrank", "p_value": p}
    quote = f"log-rank P = {p}"
    if numbers.logrank_better is not None:
        record["better_arm"] = numbers.logrank_better
        better = next(a.label for a in numbers.arms if a.id == numbers.logrank_better)
        quote += f" ({better} better)"
    record["quote"] = quote
    return Emitted([record])


def emit_hr(numbers: PaperNumbers) -> Emitted:
    """The Cox HR (comparator vs reference) with its Wald 95% CI."""
    value = printed_ratio(numbers.hr)
    ci = [printed_ratio(v) for v in numbers.hr_ci]
    quote = (
        f"hazard ratio {numbers.arms[1].label} vs {numbers.arms[0].label} {value} "
        f"(95% CI {ci[0]}-{ci[1]})"
    )
    return Emitted([{"statistic": "hr", "value": value, "ci": ci, "quote": quote}])


def emit_events(numbers: PaperNumbers) -> Emitted:
    """The number of events per arm."""
    return Emitted(
        [
            {
                "statistic": "events",
                "arm": a.id,
                "value": a.events,
                "quote": f"{a.events} events of {a.n} in the {a.label} arm",
            }
            for a in numbers.arms
        ]
    )


def emit_landmarks(numbers: PaperNumbers) -> Emitted:
    """KM survival at each landmark time per arm, with its log(−log) 95% CI."""
    out = Emitted()
    for a in numbers.arms:
        for t, (s, low, high) in a.landmarks.items():
            value = printed_probability(s)
            ci = [printed_probability(low), printed_probability(high)]
            out.records.append(
                {
                    "statistic": "landmark",
                    "arm": a.id,
                    "t_months": t,
                    "value": value,
                    "ci": ci,
                    "quote": f"{t:g}-month survival {100 * value:.1f}% "
                    f"(95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}%) in the {a.label} arm",
                }
            )
    return out


def emit_at_risk(numbers: PaperNumbers) -> Emitted:
    """Numbers at risk per arm at the risk table's four times (kind ``at_risk``: one record per
    arm with ``times`` and ``numbers``)."""
    return Emitted(
        [
            {
                "statistic": "at_risk",
                "arm": a.id,
                "times": list(a.at_risk),
                "numbers": list(a.at_risk.values()),
                "quote": f"numbers at risk in the {a.label} arm: "
                + ", ".join(f"{n} at {t:g} months" for t, n in a.at_risk.items()),
            }
            for a in numbers.arms
        ]
    )


def emit_median_followup(numbers: PaperNumbers) -> Emitted:
    """Median follow-up, reverse Kaplan–Meier (kind ``median_followup``)."""
    value = printed_months(numbers.median_followup)
    quote = f"median follow-up {value} months (reverse Kaplan-Meier)"
    return Emitted([{"statistic": "median_followup", "value": value, "quote": quote}])


@dataclass(frozen=True)
class Statistic:
    """A printed statistic of the scenarios: its name, the kinds it is written as, its emitter."""

    name: str
    kinds: tuple[str, ...]
    emit: Callable[[PaperNumbers], Emitted]


#: The statistics each scenario prints, in the order they are written. Every kind is in the
#: registry :data:`resurv.statistics.published.KINDS` (checked by :func:`study_document`).
PRINTED: dict[str, tuple[Statistic, ...]] = {
    "abstract": (
        Statistic("medians", ("median", "median_not_reached"), lambda n: emit_medians(n, False)),
        Statistic("log-rank p", ("logrank",), emit_logrank),
    ),
    "typical": (
        Statistic(
            "medians with CIs", ("median", "median_not_reached"), lambda n: emit_medians(n, True)
        ),
        Statistic("log-rank p", ("logrank",), emit_logrank),
        Statistic("hazard ratio with CI", ("hr",), emit_hr),
        Statistic("events per arm", ("events",), emit_events),
        Statistic("median follow-up", ("median_followup",), emit_median_followup),
    ),
}
PRINTED["full"] = (
    *PRINTED["typical"][:-1],
    Statistic("landmark survival with CIs", ("landmark",), emit_landmarks),
    PRINTED["typical"][-1],
    Statistic("numbers at risk", ("at_risk",), emit_at_risk),
)


# --------------------------------------------------------------------------------------------
# Study files
# --------------------------------------------------------------------------------------------


def followup_section(scenario: str) -> dict:
    """The ``[followup]`` table: wide priors on a generic trial scale; dropout fixed at 0.

    Accrual and minimum follow-up are printed in no scenario. In the typical and full
    scenarios the printed median follow-up enters the likelihood (kind ``median_followup``).
    """
    note = "Accrual and minimum follow-up not printed: wide priors on a generic trial scale."
    if scenario != "abstract":
        note = "The median follow-up enters the likelihood; " + note[0].lower() + note[1:]
    return {
        "note": note + " Dropout not reported: fixed at 0.",
        "accrual_months": {
            "dist": "uniform",
            "lower": 1.0,
            "upper": 60.0,
            "source": "assumption: accrual between 1 month and 5 years (not reported)",
        },
        "followup_months": {
            "dist": "uniform",
            "lower": 0.0,
            "upper": 36.0,
            "source": "assumption: 0 to 3 years from the last entry to analysis (not reported)",
        },
        "dropout_rate": 0.0,
    }


def _arm_table(numbers: PaperNumbers) -> list[dict]:
    return [
        {"id": a.id, "label": a.label, "n": a.n, "quote": f"{a.n} patients in the {a.label} arm"}
        for a in numbers.arms
    ]


def _study_meta(trial: PublicTrial, scenario: str) -> dict:
    return {
        "id": f"{trial.id}_{scenario}",
        "title": trial.title,
        "citation": trial.citation,
        "source": f"statistics computed from lifelines' {trial.loader}() as a paper would print "
        f"them ('{scenario}' reporting; benchmarks/public_trials.py)",
        "notes": f"Endpoint 'os' is the trial's {trial.endpoint_name}. {trial.notes}".strip(),
    }


def study_document(trial: PublicTrial, numbers: PaperNumbers, scenario: str) -> dict:
    """The study file of one scenario as a TOML-ready dict.

    Every record is parsed by the registry before it is returned, so a record the registry
    refuses (or a kind it does not have) stops the generator with the registry's message.
    """
    survival = []
    for statistic in PRINTED[scenario]:
        missing = [k for k in statistic.kinds if k not in KINDS]
        if missing:
            raise ValueError(
                f"{statistic.name}: the registry has no published-statistic kind "
                + ", ".join(repr(k) for k in missing)
            )
        survival += statistic.emit(numbers).records
    survival = [{"endpoint": ENDPOINT, **r} for r in survival]
    arms = {a.id: Arm(a.id, a.label, a.n, j) for j, a in enumerate(numbers.arms)}
    for i, record in enumerate(survival):
        from_table(record, arms, file=f"{trial.id}_{scenario}", prefix=f"survival[{i}]")
    unknown = []
    if scenario == "abstract":
        unknown.append("follow-up, event counts, hazard ratio and confidence intervals")
    return {
        "reference_arm": numbers.arms[0].id,
        "unknown": unknown,
        "study": _study_meta(trial, scenario),
        "arms": _arm_table(numbers),
        "survival": survival,
        "followup": followup_section(scenario),
    }


def patients_document(trial: PublicTrial, numbers: PaperNumbers, csv_path: str) -> dict:
    """The study file of the patient-level fit: arms and an ``[[ipd]]`` pointer to the CSV."""
    meta = _study_meta(trial, "patients")
    meta["source"] = f"patient data of lifelines' {trial.loader}() (times converted to months)"
    return {
        "reference_arm": numbers.arms[0].id,
        "study": meta,
        "arms": _arm_table(numbers),
        "ipd": [{"file": csv_path, "time_unit": "months", "endpoint": ENDPOINT}],
    }


# --------------------------------------------------------------------------------------------
# TOML text (the standard library reads TOML but does not write it)
# --------------------------------------------------------------------------------------------


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML has no {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_text(document: dict, header: str = "") -> str:
    """TOML text of a study document: scalars and lists first, then tables, then arrays of tables.

    Lists of strings are written one item a line.
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    if lines:
        lines.append("")
    tables, arrays = {}, {}
    for key, value in document.items():
        if isinstance(value, dict):
            tables[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays[key] = value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lines.append(f"{key} = [")
            lines += [f"  {_toml_value(v)}," for v in value]
            lines.append("]")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables.items():
        lines += ["", f"[{key}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for key, rows in arrays.items():
        for row in rows:
            lines += ["", f"[[{key}]]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Writing everything
# --------------------------------------------------------------------------------------------


def patients_csv(trial: PublicTrial, root: Path) -> Path:
    """``data/examples/<id>/patients.csv`` under ``root``."""
    return root / "data" / "examples" / trial.id / "patients.csv"


def study_path(trial: PublicTrial, scenario: str, root: Path) -> Path:
    """``data/studies/<id>_<scenario>.toml`` under ``root`` (``patients``: the patient data)."""
    return root / "data" / "studies" / f"{trial.id}_{scenario}.toml"


def write_trial(trial: PublicTrial, root: Path = ROOT) -> list[Path]:
    """Write the trial's patient CSV, its three scenario study files and its patient study file."""
    patients = trial.patients()
    csv = patients_csv(trial, root)
    csv.parent.mkdir(parents=True, exist_ok=True)
    patients.to_csv(csv, index=False, float_format="%.10g")
    # the numbers come from the CSV as written, as a reader of the file would compute them
    numbers = paper_numbers(trial, pd.read_csv(csv, dtype={"arm": str}))
    header = (
        f"{trial.title}: {trial.endpoint_name}.\n"
        "Generated by benchmarks/public_trials.py from lifelines' copy of the data; do not edit.\n"
        "Format: data/README.md."
    )
    written = [csv]
    for scenario in SCENARIOS:
        path = study_path(trial, scenario, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = toml_text(study_document(trial, numbers, scenario), header)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    path = study_path(trial, "patients", root)
    relative = Path("..") / "examples" / trial.id / "patients.csv"
    path.write_text(
        toml_text(patients_document(trial, numbers, relative.as_posix()), header), encoding="utf-8"
    )
    written.append(path)
    return written


def main() -> None:
    """Write every trial's files under the repository (or ``--root``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root to write under")
    args = parser.parse_args()
    for trial in TRIALS.values():
        for path in write_trial(trial, args.root):
            print(path.relative_to(args.root))


if __name__ == "__main__":
    main()
