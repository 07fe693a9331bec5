"""The frequentist statistics survival papers report, from individual patient data.

Per arm: number of patients and events, Kaplan–Meier median with its 95% confidence interval
(or "not reached"), and the SPSS-style mean (area under the Kaplan–Meier curve up to the arm's
largest observed time) ± SE. Between arms: the log-rank test and the Cox log hazard ratio (a
single-arm data set has none).
Follow-up: the numbers at risk at regular times (the table under a KM plot) and the median
follow-up (reverse Kaplan–Meier, per arm and pooled; among patients without the event; of all
patients).
The same estimators serve posterior predictive checks (:mod:`resurv.statistics`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from resurv.statistics.at_risk import numbers_at_risk
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.median_followup import followup_median_estimate, followup_range
from resurv.statistics.rmean import km_restricted_mean

__all__ = ["at_risk_times", "format_table", "frequentist_summary", "to_jsonable"]

#: Steps (months) of the times at which numbers at risk are printed: the smallest giving at
#: most eight columns after time 0 up to the largest observed time.
AT_RISK_STEPS = (1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0)


def at_risk_times(largest_time: float) -> list[float]:
    """Times 0, s, 2s, … up to the largest observed time; s the first step giving at most 8."""
    step = next((s for s in AT_RISK_STEPS if largest_time / s <= 8.0), AT_RISK_STEPS[-1])
    return [step * k for k in range(int(largest_time // step) + 1)]


def frequentist_summary(time, event, arm, arm_labels=("0", "1")) -> dict[str, Any]:
    """Compute the frequentist summary of one dataset of two arms (or of one arm).

    Parameters
    ----------
    time : array_like, shape (n,)
        Observed times (months).
    event : array_like of bool or {0, 1}, shape (n,)
        True where the time is an event.
    arm : array_like of int in {0, 1}, shape (n,)
        0 = reference arm, 1 = comparator (all 0 for a single-arm data set).
    arm_labels : pair of str, or one str in a sequence
        Names of arm 0 and arm 1 (one name: a single-arm data set, without between-arm keys).

    Returns
    -------
    dict
        ``arms``: a dict per arm label with ``n``, ``events``, ``median`` (inf when not
        reached), ``median_ci`` (pair; inf where a limit is not reached), ``median_reached``,
        ``rmean``, ``rmean_se``, ``rmean_tau``, ``at_risk`` (numbers with observed time ≥ t at
        ``at_risk_times``), ``median_followup`` (reverse KM); ``at_risk_times``;
        ``median_followup`` (pooled: ``reverse_km``, ``survivors``, ``all`` and ``range``, the
        smallest and largest observed time); and between arms ``logrank_chisq``,
        ``logrank_p``, ``logrank_direction`` (sign of O₁ − E₁: −1 when arm 1 had fewer events
        than expected), ``logrank_favours`` (label of the arm with fewer events than expected,
        or None), ``cox_log_hr`` and ``cox_se`` (arm 1 vs arm 0; nan when not estimable).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    arm = np.asarray(arm)
    if time.ndim != 1 or event.shape != time.shape or arm.shape != time.shape:
        raise ValueError("time, event and arm must be 1-D arrays of the same length")
    if not np.all((arm == 0) | (arm == 1)):
        raise ValueError("arm must be coded 0 (reference) or 1 (comparator)")
    arm = arm.astype(np.int64)
    labels = tuple(str(label) for label in arm_labels)
    if len(labels) not in (1, 2):
        raise ValueError("arm_labels needs two labels, or one for a single-arm data set")
    if len(labels) == 1 and np.any(arm != 0):
        raise ValueError("a single-arm data set has arm code 0 only")

    median = km_median(time, event, arm)
    rmean = km_restricted_mean(time, event, arm)

    grid = at_risk_times(float(time.max()))
    followup = {
        method: float(followup_median_estimate(time, event, arm, method, None)[0])
        for method in ("reverse_km", "survivors", "all")
    }
    followup["range"] = tuple(float(v) for v in followup_range(time, event, arm, "all", None)[0])
    arms = {}
    for j, label in enumerate(labels):
        in_arm = arm == j
        arms[label] = {
            "n": int(in_arm.sum()),
            "events": int(event[in_arm].sum()),
            "median": float(median.median[0, j]),
            "median_ci": (float(median.ci_low[0, j]), float(median.ci_high[0, j])),
            "median_reached": bool(median.reached[0, j]),
            "rmean": float(rmean.rmean[0, j]),
            "rmean_se": float(rmean.se[0, j]),
            "rmean_tau": float(rmean.tau[0, j]),
            "at_risk": [int(v) for v in numbers_at_risk(time, in_arm, grid)[0]],
            "median_followup": float(
                followup_median_estimate(time, event, arm, "reverse_km", j)[0]
            ),
        }
    if len(labels) == 1:
        return {"arms": arms}
    logrank = logrank_test(time, event, arm)
    cox = cox_two_arm(time, event, arm)
    direction = int(logrank.direction[0])
    favours = {-1: labels[1], 1: labels[0]}.get(direction)
    return {
        "arms": arms,
        "logrank_chisq": float(logrank.chisq[0]),
        "logrank_p": float(logrank.p_value[0]),
        "logrank_direction": direction,
        "logrank_favours": favours,
        "cox_log_hr": float(cox.log_hr[0]),
        "cox_se": float(cox.se[0]),
        "at_risk_times": grid,
        "median_followup": followup,
    }


def to_jsonable(summary: dict[str, Any]) -> Any:
    """Copy of a summary with non-finite floats (inf, nan) replaced by None, for strict JSON."""
    if isinstance(summary, dict):
        return {key: to_jsonable(value) for key, value in summary.items()}
    if isinstance(summary, list | tuple):
        return [to_jsonable(value) for value in summary]
    if isinstance(summary, float) and not math.isfinite(summary):
        return None
    return summary


def _number(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "NR"
    return f"{value:.{digits}f}"


def format_table(summary: dict[str, Any]) -> str:
    """Plain-text table of a :func:`frequentist_summary` for the command line.

    "NR" marks a median or confidence limit not reached, "-" a value that cannot be computed.
    """
    header = ["arm", "n", "events", "median (95% CI)", "mean ± SE (up to τ)", "τ"]
    rows = [header]
    for label, arm in summary["arms"].items():
        low, high = arm["median_ci"]
        median = f"{_number(arm['median'])} ({_number(low)}, {_number(high)})"
        mean = f"{_number(arm['rmean'])} ± {_number(arm['rmean_se'])}"
        rows.append(
            [label, str(arm["n"]), str(arm["events"]), median, mean, _number(arm["rmean_tau"])]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    labels = list(summary["arms"])
    if "logrank_p" not in summary:  # a single arm: nothing between arms
        return "\n".join(lines)
    p_value = summary["logrank_p"]
    p_text = "-" if math.isnan(p_value) else f"{p_value:.4g}"
    favours = summary["logrank_favours"]
    lines.append("")
    lines.append(
        f"log-rank: chi-square {_number(summary['logrank_chisq'], 3)}, p = {p_text}"
        + (f" (fewer events than expected: {favours})" if favours else "")
    )
    log_hr, se = summary["cox_log_hr"], summary["cox_se"]
    if math.isnan(log_hr):
        lines.append(f"Cox HR {labels[1]} vs {labels[0]}: not estimable")
    else:
        z = 1.959963984540054  # Φ⁻¹(0.975)
        low, high = math.exp(log_hr - z * se), math.exp(log_hr + z * se)
        lines.append(
            f"Cox HR {labels[1]} vs {labels[0]}: {math.exp(log_hr):.3f} "
            f"(95% CI {low:.3f}, {high:.3f}); log HR {log_hr:.4f}, SE {se:.4f}"
        )
    lines.extend(_followup_lines(summary))
    return "\n".join(lines)


def _followup_lines(summary: dict[str, Any]) -> list[str]:
    """Numbers at risk per arm at the printed times, and the median follow-up."""
    times = summary["at_risk_times"]
    head = ["months", *(f"{t:g}" for t in times)]
    rows = [head] + [
        [label, *(str(v) for v in arm["at_risk"])] for label, arm in summary["arms"].items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["", "numbers at risk:"]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    fu = summary["median_followup"]
    per_arm = ", ".join(
        f"{label} {_number(arm['median_followup'])}" for label, arm in summary["arms"].items()
    )
    lines.append(
        f"median follow-up (reverse KM): {_number(fu['reverse_km'])} months ({per_arm}); "
        f"among patients without the event {_number(fu['survivors'])}; of all patients "
        f"{_number(fu['all'])} (range {_number(fu['range'][0])}-{_number(fu['range'][1])})"
    )
    return lines
