"""The report's opening section: what the fits found, per endpoint, with the design caveats.

For every endpoint the key posterior quantities of each fit (model × prior set) are computed from
the fit's saved draws (``posterior.nc``, :meth:`resurv.report.runs.Run.posterior`), never from a
summary table:

- binary endpoints: the difference of proportions p_comparator − p_reference (posterior median
  and 95% equal-tailed interval, in percentage points) and P(p_comparator > p_reference);
- survival endpoints with two arms: the hazard ratio (proportional hazards) with P(HR < 1) and
  P(HR < 0.8), or the time ratio (accelerated failure time) with P(time ratio > 1); the
  difference of the arms' median survival (comparator − reference) and of their restricted mean
  survival times at each horizon of the model (posterior median and 95% interval, months).

A probability is the share of posterior draws in which the event holds; a posterior median and
its interval are the 50%, 2.5% and 97.5% quantiles of the draws (linear interpolation, as
:func:`numpy.quantile`). The table is saved as ``conclusions.csv`` beside the report, at full
precision. The primary analysis of an endpoint is the one the plan names (``primary`` in the plan
file, recorded in ``plan.json``); fits that failed their convergence gates stay in the table,
marked, and are left out of the sentences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resurv.models.built import stacked_draws
from resurv.report.document import Figure, Section
from resurv.report.figures import effects_forest

__all__ = [
    "CONCLUSIONS_FILE",
    "PROBABILITY",
    "conclusions_frame",
    "conclusions_section",
    "design_caveats",
    "primary_of",
]

CONCLUSIONS_FILE = "conclusions.csv"
#: ``kind`` of a row whose ``value`` is a posterior probability (no interval).
PROBABILITY = "probability"
ESTIMATE = "posterior median"
#: Cell marks in the shown table.
PRIMARY_MARK = "†"
FAILED_MARK = "⚠"


def primary_of(plan: dict) -> list[tuple[str, str]]:
    """(model file, prior-set name) of each primary analysis the plan record names."""
    return [(str(p["model"]), str(p["priors"])) for p in plan.get("primary", [])]


def _quantiles(draws: np.ndarray) -> tuple[float, float, float]:
    draws = np.asarray(draws, dtype=float).ravel()
    low, mid, high = np.quantile(draws, [0.025, 0.5, 0.975])
    return float(mid), float(low), float(high)


def _estimate(name: str, draws: np.ndarray, unit: str) -> dict:
    mid, low, high = _quantiles(draws)
    return {
        "quantity": name,
        "kind": ESTIMATE,
        "unit": unit,
        "value": mid,
        "eti95_lb": low,
        "eti95_ub": high,
    }


def _probability(name: str, hits: np.ndarray) -> dict:
    hits = np.asarray(hits, dtype=bool).ravel()
    return {
        "quantity": name,
        "kind": PROBABILITY,
        "unit": "",
        "value": float(hits.mean()),
        "eti95_lb": float("nan"),
        "eti95_ub": float("nan"),
    }


def _arm_draws(post, name: str) -> tuple[np.ndarray, list[str]]:
    """Draws of a per-arm variable as (samples, arm, ...) and the arm labels."""
    da = post[name].stack(sample=("chain", "draw")).transpose("sample", "arm", ...)
    return da.values, [str(a) for a in da["arm"].values]


def run_rows(run) -> list[dict]:
    """The key quantities of one fit (rows of :func:`conclusions_frame` without run columns)."""
    post = run.posterior()
    rows = []
    if run.spec.likelihood == "binomial":
        if "p_difference" not in post:
            return rows
        diff = stacked_draws(post, "p_difference")
        rows.append(_estimate("difference in proportion (comparator − reference)", diff, "points"))
        rows[-1].update(
            value=100 * rows[-1]["value"],
            eti95_lb=100 * rows[-1]["eti95_lb"],
            eti95_ub=100 * rows[-1]["eti95_ub"],
        )
        rows.append(_probability("P(comparator proportion > reference)", diff > 0))
        return rows
    if "median_months" not in post or post.sizes.get("arm", 1) < 2:
        return rows
    if "hr" in post:
        hr = stacked_draws(post, "hr")
        rows += [
            _estimate("hazard ratio (comparator / reference)", hr, ""),
            _probability("P(HR < 1)", hr < 1),
            _probability("P(HR < 0.8)", hr < 0.8),
        ]
    if "time_ratio" in post:
        tr = stacked_draws(post, "time_ratio")
        rows += [
            _estimate("time ratio (comparator / reference)", tr, ""),
            _probability("P(time ratio > 1)", tr > 1),
        ]
    medians, _ = _arm_draws(post, "median_months")
    rows.append(
        _estimate(
            "median difference (comparator − reference)", medians[:, 1] - medians[:, 0], "months"
        )
    )
    if "rmst_months" in post:
        rmst, _ = _arm_draws(post, "rmst_months")
        for k, horizon in enumerate(post["rmst_months"]["horizon"].values.tolist()):
            rows.append(
                _estimate(
                    f"RMST difference at {horizon:g} months (comparator − reference)",
                    rmst[:, 1, k] - rmst[:, 0, k],
                    "months",
                )
            )
    return rows


def conclusions_frame(results) -> pd.DataFrame:
    """One row per (fit, key quantity): endpoint, model, priors, primary, gates, value, interval.

    Fits in plan order; ``primary`` is True for the analysis the plan names primary;
    ``gates_passed`` from the fit's ``diagnostics.json``.
    """
    primary = set(primary_of(results.plan))
    rows = []
    for run in results.runs:
        is_primary = (run.provenance.get("resurv_model_file", ""), run.prior_name) in primary
        passed = bool(run.diagnostics().get("passed"))
        for row in run_rows(run):
            rows.append(
                {
                    "endpoint": run.record["endpoint"],
                    "model": run.model,
                    "priors": run.prior_name,
                    "primary": is_primary,
                    "gates_passed": passed,
                    **row,
                }
            )
    columns = [
        "endpoint",
        "model",
        "priors",
        "primary",
        "gates_passed",
        "quantity",
        "kind",
        "unit",
        "value",
        "eti95_lb",
        "eti95_ub",
    ]
    return pd.DataFrame(rows, columns=columns)


def format_cell(row) -> str:
    """A value as shown: a probability to 2 decimals, an estimate with its 95% interval."""
    if row["kind"] == PROBABILITY:
        text = f"{row['value']:.2f}"
    else:
        text = f"{row['value']:.3g} ({row['eti95_lb']:.3g} to {row['eti95_ub']:.3g})"
    if row["primary"]:
        text += f" {PRIMARY_MARK}"
    if not row["gates_passed"]:
        text += f" {FAILED_MARK}"
    return text


def shown_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The conclusions as shown: rows (endpoint, model, quantity), one column per prior set."""
    if not len(frame):
        return frame
    cells = frame.assign(cell=[format_cell(r) for _, r in frame.iterrows()])
    wide = cells.pivot_table(
        index=["endpoint", "model", "quantity"],
        columns="priors",
        values="cell",
        aggfunc="first",
        sort=False,
    )
    wide = wide[list(dict.fromkeys(frame["priors"]))].fillna("")
    wide.columns.name = None
    return wide.reset_index()


def design_caveats(study) -> list[str]:
    """The study file's words on its design and source (study ``notes`` and ``source``)."""
    meta = dict(study.raw.get("study", {})) if study.raw else {}
    caveats = []
    if meta.get("notes"):
        caveats.append(f"Design: {meta['notes']}")
    if meta.get("source"):
        caveats.append(f"Source: {meta['source']}.")
    if study.unknown:
        caveats.append("Not reported by the paper: " + "; ".join(study.unknown) + ".")
    return caveats


def _range(values: pd.Series, fmt: str) -> str:
    low, high = float(values.min()), float(values.max())
    return format(low, fmt) if low == high else f"{format(low, fmt)} to {format(high, fmt)}"


def _sentence(endpoint: str, rows: pd.DataFrame, arms: tuple[str, str]) -> str:
    """One plain sentence for an endpoint from its gate-passing fits (primary first if any)."""
    ok = rows[rows["gates_passed"]]
    if not len(ok):
        return f"{endpoint.upper()}: no fit passed its convergence gates; nothing is concluded."
    reference, comparator = arms
    lead = ok[ok["primary"]]
    first = lead if len(lead) else ok
    named = (
        f"in the primary analysis ({first['model'].iloc[0]} × {first['priors'].iloc[0]})"
        if len(lead)
        else "across the prior sets"
    )
    probs = ok[ok["kind"] == PROBABILITY]
    if "P(HR < 1)" in set(probs["quantity"]):
        key = "P(HR < 1)"
        event = f"{comparator} has a lower hazard of the event than {reference}"
    elif "P(comparator proportion > reference)" in set(probs["quantity"]):
        key = "P(comparator proportion > reference)"
        event = f"the proportion is higher with {comparator} than with {reference}"
    elif "P(time ratio > 1)" in set(probs["quantity"]):
        key = "P(time ratio > 1)"
        event = f"{comparator} prolongs the time to the event relative to {reference}"
    else:
        est = first[first["quantity"].str.startswith("median difference")]
        if not len(est):
            return f"{endpoint.upper()}: no between-arm quantity."
        return (
            f"{endpoint.upper()}: {named}, the median of {comparator} minus that of {reference} "
            f"is {_range(est['value'], '.3g')} months (posterior median), with 95% intervals "
            f"from {est['eti95_lb'].min():.3g} to {est['eti95_ub'].max():.3g} months."
        )
    main = first[first["quantity"] == key]
    every = probs[probs["quantity"] == key]
    text = (
        f"{endpoint.upper()}: {named}, the posterior probability that {event} is "
        f"{_range(main['value'], '.2f')}"
    )
    if len(lead):
        text += f" ({_range(every['value'], '.2f')} across every gate-passing fit)"
    return text + "."


def conclusions_section(results, study) -> Section:
    """The opening section: key quantities per endpoint and prior set, sentences, caveats.

    Writes nothing; :func:`resurv.report.build.build_report` saves :func:`conclusions_frame` as
    ``conclusions.csv``.
    """
    sec = Section("Conclusions")
    frame = conclusions_frame(results)
    caveats = design_caveats(study)
    if caveats:
        sec.text(
            "Read every number below with the study's design in mind: "
            + " ".join(caveats)
            + " A difference between the arms is an association in this cohort, not a "
            "treatment effect, unless the arms are comparable."
        )
    primary = primary_of(results.plan)
    if primary:
        sec.text(
            "Primary analysis named by the plan: "
            + "; ".join(f"{m} under the prior set '{p}'" for m, p in primary)
            + f" (marked {PRIMARY_MARK})."
        )
    else:
        sec.text("The plan names no primary analysis; every prior set is shown alike.")
    if not len(frame):
        return sec.text("No between-arm quantity in these fits.")
    arms = _arm_labels(results)
    for endpoint, rows in frame.groupby("endpoint", sort=False):
        sec.text(_sentence(str(endpoint), rows, arms))
    failed = frame.loc[~frame["gates_passed"], ["model", "priors"]].drop_duplicates()
    legend = (
        "Posterior median (95% equal-tailed interval) of each difference or ratio, and posterior "
        "probabilities, per prior set"
    )
    if frame["primary"].any():
        legend += f"; {PRIMARY_MARK} the primary analysis"
    if len(failed):
        legend += (
            f"; {FAILED_MARK} the fit failed its convergence gates (left out of the sentences "
            "above): " + ", ".join(f"{m} × {p}" for m, p in failed.itertuples(index=False))
        )
    sec.table(shown_table(frame), legend + ". Differences in months or percentage points.")
    panels = forest_panels(frame)
    if panels:
        sec.figure(
            Figure(
                "conclusions_forest",
                effects_forest(panels, "Key effect per endpoint across prior sets"),
                "Key effect of each endpoint, per fit (model · prior set): posterior median and "
                "95% equal-tailed interval"
                + (f"; {PRIMARY_MARK} primary analysis" if frame["primary"].any() else "")
                + (f"; {FAILED_MARK} failed its convergence gates" if len(failed) else "")
                + ". Hazard and time ratios on a log axis.",
            )
        )
    return sec


#: The effect shown per endpoint in the forest plot, first found (name, log axis).
FOREST_EFFECTS = (
    ("hazard ratio (comparator / reference)", True),
    ("time ratio (comparator / reference)", True),
    ("difference in proportion (comparator − reference)", False),
    ("median difference (comparator − reference)", False),
)


def forest_panels(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame, bool]]:
    """(heading, rows, log axis) per endpoint for :func:`resurv.report.figures.effects_forest`."""
    panels = []
    for endpoint, rows in frame.groupby("endpoint", sort=False):
        for name, log_axis in FOREST_EFFECTS:
            chosen = rows[rows["quantity"] == name]
            if not len(chosen):
                continue
            labels = [
                f"{m} · {p}"
                + (f" {PRIMARY_MARK}" if prim else "")
                + ("" if ok else f" {FAILED_MARK}")
                for m, p, prim, ok in zip(
                    chosen["model"],
                    chosen["priors"],
                    chosen["primary"],
                    chosen["gates_passed"],
                    strict=True,
                )
            ]
            unit = chosen["unit"].iloc[0]
            heading = f"{str(endpoint).upper()}: {name}" + (f" ({unit})" if unit else "")
            panels.append((heading, chosen.assign(label=labels).reset_index(drop=True), log_axis))
            break
    return panels


def _arm_labels(results) -> tuple[str, str]:
    for run in results.runs:
        post = run.posterior()
        for name in ("median_months", "p"):
            if name in post and "arm" in post[name].dims and post.sizes["arm"] >= 2:
                labels = [str(a) for a in post[name]["arm"].values]
                return labels[0], labels[1]
    return "the reference arm", "the comparator arm"
