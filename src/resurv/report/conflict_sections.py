"""Report sections on prior-data conflict and on what moves the conclusions.

- :func:`prior_conflict_section`: the prior predictive p-value of each published statistic per
  prior set (:mod:`resurv.checks.prior_predictive`, saved as ``prior_predictive.csv`` in each
  fit's folder), with the statistics it flags listed per prior set; and the power-scaling
  sensitivity of each quantity to each likelihood term (``psense_terms.csv``).
- :func:`conclusions_sensitivity_section`: one table setting each fit of the sweep (every study
  variant, model and prior set) beside the others by the quantities the conclusions rest on.

Both read the saved files only. A fit that failed its convergence gates is marked in every row
it appears in (:func:`resurv.inference.diagnostics.passes_gates`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from resurv.checks.prior_predictive import CONFLICT_P, FILE, TENSION_P
from resurv.inference.diagnostics import passes_gates
from resurv.report.document import Section

__all__ = [
    "CONCLUSION_QUANTITIES",
    "conclusions_sensitivity_section",
    "prior_conflict_section",
    "prior_conflict_table",
]

#: Quantities the conclusions rest on, in the order shown (those a fit has).
CONCLUSION_QUANTITIES = (
    "P(p_comparator > p_reference)",
    "p_difference",
    "P(HR < 1)",
    "hr",
    "time_ratio",
    "P(median comparator > reference)",
    "median_difference",
    "rmst_difference[60.0]",
)
_PROBABILITY = "P("
#: Quantities left out of the per-term sensitivity table (design and bookkeeping).
_NOT_TERM_QUANTITIES = ("expected_events", "accrual_months", "followup_months", "dropout_rate")
_GATE_MARK = "FAILED gates"


def _gate_label(run) -> str:
    return "passed" if passes_gates(run) else _GATE_MARK


def prior_conflict_table(runs) -> pd.DataFrame:
    """Prior predictive p-value per published statistic (rows) and prior set (columns).

    Cells: the p-value, followed by its label ("conflict", "tension") where there is one; a
    fit that failed its gates has "(gates failed)" after its prior set's name.
    """
    rows = []
    for run in runs:
        table = run.table(FILE)
        if not len(table):
            continue
        prior = run.prior_name + ("" if passes_gates(run) else " (gates failed)")
        for rec in table.to_dict("records"):
            p = float(rec["prior_predictive_p"])
            flag = rec.get("prior_conflict")
            flag = flag if isinstance(flag, str) else ""
            rows.append(
                {
                    "model": run.model,
                    "statistic": rec["statistic"],
                    "arm": rec["arm"],
                    "published": rec["published"],
                    "prior": prior,
                    "cell": f"{p:.3f}" + (f" {flag}" if flag else ""),
                }
            )
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    wide = frame.pivot_table(
        index=["model", "statistic", "arm", "published"],
        columns="prior",
        values="cell",
        aggfunc="first",
        sort=False,
    ).reset_index()
    wide.columns.name = None
    return wide


def _flags_by_prior(runs) -> dict[str, list[str]]:
    flags: dict[str, list[str]] = {}
    for run in runs:
        table = run.table(FILE)
        flags.setdefault(run.prior_name, [])
        if not len(table):
            continue
        for rec in table.to_dict("records"):
            flag = rec.get("prior_conflict")
            if isinstance(flag, str) and flag:
                p = float(rec["prior_predictive_p"])
                flags[run.prior_name].append(
                    f"{rec['statistic']} ({rec['arm']}) = {rec['published']:g}: {flag}, "
                    f"p {p:.3f} [{run.model}]"
                )
    return flags


def _term_table(runs) -> pd.DataFrame:
    """Likelihood power-scaling sensitivity per (model, prior set, term) and quantity."""
    frames = []
    for run in runs:
        terms = run.table("psense_terms.csv")
        if not len(terms):
            continue
        keep = ~terms["quantity"].astype(str).str.startswith(_NOT_TERM_QUANTITIES)
        terms = terms[keep].assign(model=run.model, priors=run.prior_name)
        frames.append(terms)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    frame["term"] = frame["term"].astype(str).str.replace("loglik__", "", regex=False)
    wide = frame.pivot_table(
        index=["model", "priors", "term"],
        columns="quantity",
        values="psense_likelihood",
        aggfunc="first",
        sort=False,
    ).reset_index()
    wide.columns.name = None
    return wide.round(3)


def prior_conflict_section(results) -> Section:
    """Prior predictive p-values per statistic and prior set, and psense per likelihood term."""
    runs = [r for r in results.runs if not str(r.record.get("setting", "") or "")]
    sec = Section("Prior-data conflict per published statistic")
    sec.text(
        "How surprising each published value is under the prior alone (prior predictive check: "
        "Box 1980; Evans and Moshonov 2006): parameters drawn from the prior set, one replicate "
        "trial of the published size per draw, and the published value placed among the "
        "replicates (Box's density p-value for counts and indicators, the two-sided tail area "
        f"otherwise; resurv.checks.prior_predictive). p < {CONFLICT_P:g}: conflict; "
        f"p < {TENSION_P:g}: tension (the value is among the least expected {TENSION_P:.0%} of "
        "what the prior predicts). Unlike the power-scaling diagnosis below, which marks a "
        "quantity whenever both its prior and its likelihood move it, this marks only values "
        "the prior did not expect."
    )
    table = prior_conflict_table(runs)
    if not len(table):
        sec.text("No fit of this report has a prior predictive check.")
    else:
        sec.table(table, "Prior predictive p-value of each published statistic, per prior set")
        lines = []
        for prior, flagged in _flags_by_prior(runs).items():
            lines.append(f"{prior}: " + ("; ".join(flagged) if flagged else "nothing flagged"))
        sec.text("Flagged, per prior set — " + " | ".join(lines) + ".")
    terms = _term_table(runs)
    if len(terms):
        sec.text(
            "Power-scaling sensitivity of each quantity to each likelihood term alone "
            "(Kallioinen et al. 2024, resurv.checks.sensitivity.power_scaling_by_term): how "
            "much the quantity's posterior moves when only that term is raised to a power near "
            "1; ≥ 0.05 means that term informs it."
        )
        sec.table(terms, "Likelihood sensitivity per term (rows) and quantity (columns)")
    return sec


def _variant_label(study: str, reference: str) -> str:
    if study == reference:
        return "as in the study file"
    if study.startswith(reference + "_"):
        return study[len(reference) + 1 :].replace("_", " ")
    return study


def _cell(row: pd.Series, quantity: str) -> str:
    if quantity.startswith(_PROBABILITY):
        return f"{float(row['mean']):.2f}"
    low, high = float(row["ci_low"]), float(row["ci_high"])
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f"{float(row['mean']):.3g} ({low:.3g} to {high:.3g})"


def conclusions_sensitivity_section(results) -> Section | None:
    """One table: each fit (study variant, model, prior set) by the quantities concluded on.

    None when the sweep has a single fit per endpoint (nothing to compare).
    """
    table = results.table
    if "grid_parameter" in table:
        table = table[table["grid_parameter"].fillna("").astype(str) == ""]
    table = table[table["quantity"].isin(CONCLUSION_QUANTITIES)]
    if not len(table):
        return None
    groups = table.groupby(["endpoint"], sort=False)
    if all(len(g.groupby(["study", "model", "priors"])) < 2 for _, g in groups):
        return None
    reference = str(results.plan.get("studies", [""])[0])
    reference_id = table["study"].iloc[0]
    for study_id in table["study"].unique():
        if reference.endswith(f"{study_id}.toml"):
            reference_id = study_id
    rows = []
    for (study, model, priors), g in table.groupby(["study", "model", "priors"], sort=False):
        by_q = g.set_index("quantity")
        gates = ""
        if "gates_passed" in g:
            passed = g["gates_passed"].astype(str).str.lower().isin(["true", "1", "1.0"]).all()
            gates = "passed" if passed else _GATE_MARK
        row = {
            "endpoint": g["endpoint"].iloc[0],
            "assumption": _variant_label(str(study), str(reference_id)),
            "model": model,
            "priors": priors,
            "gates": gates,
        }
        for quantity in CONCLUSION_QUANTITIES:
            if quantity in by_q.index:
                row[quantity] = _cell(by_q.loc[quantity], quantity)
        rows.append(row)
    frame = pd.DataFrame(rows).fillna("")
    frame = frame.sort_values(["endpoint"], kind="stable").reset_index(drop=True)
    sec = Section("How each assumption moves the conclusions")
    sec.text(
        "Each fit of this sweep by the quantities the conclusions rest on: posterior "
        "probabilities, and for effects the posterior mean with its 95% equal-tailed interval. "
        "'assumption' names what a study variant changes (data/studies/sensitivity/); "
        "'as in the study file' is the bundled study. A fit that failed its convergence gates "
        f"is marked '{_GATE_MARK}': its numbers are not to be concluded on."
    )
    sec.table(frame, "Conclusions across assumptions, models and prior sets")
    return sec
