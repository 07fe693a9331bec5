"""Assemble the posterior report of a sweep folder from saved results (no refitting).

``build_report(sweep_dir)`` reads ``plan.json``, ``sweep.csv`` and each run's saved tables and
``posterior.nc`` (draws, predictive checks, and the model, prior and study files as its
provenance recorded them: :mod:`resurv.report.runs`), and writes
``report.md`` (with ``figures/*.png``) and a self-contained ``index.html`` (figures embedded as
data URIs; it opens from disk with no server or network).

Sections, in order: failed convergence gates and calibrations below nominal (only when there are
any; first, highlighted); the study and its published values; the assumptions added; calibration
of the summary-data likelihood; prior sets; published values beside the posterior with predictive
checks; the published numbers and how the fits used them (with those no fit used); prior against
posterior; posterior survival curves; hazard ratios and time ratios; model
comparison; sensitivity; prior-data conflict per published statistic (with the power-scaling
sensitivity per likelihood term); how each assumption moves the conclusions (when the sweep has
several fits per endpoint); convergence diagnostics; provenance. The output is a pure function of
the saved files (it never reads today's model, prior or study files, and never rebuilds a
model): rebuilding gives byte-identical files, whatever happened to the input files since.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from resurv.report.conflict_sections import (
    conclusions_sensitivity_section,
    prior_conflict_section,
)
from resurv.report.document import Section, render_html, render_markdown
from resurv.report.posterior_sections import (
    comparison_section,
    curves_section,
    effects_section,
    model_comparison_section,
    prior_posterior_section,
    sensitivity_section,
)
from resurv.report.runs import load_runs
from resurv.report.sections import (
    assumptions_section,
    calibration_alert_section,
    calibration_section,
    diagnostics_table,
    gate_alert_section,
    priors_section,
    provenance_section,
    study_section,
    usage_section,
)

__all__ = ["SECTION_TITLES", "build_report"]

log = logging.getLogger(__name__)

#: Section headings every report has (the failed-gates section is added only when needed).
SECTION_TITLES = (
    "The study and its published values",
    "Assumptions added to the published values",
    "Calibration of the summary-data likelihood",
    "Prior sets",
    "Published values beside the posterior",
    "Published numbers and how they were used",
    "Prior against posterior",
    "Posterior survival curves",
    "Hazard ratios and time ratios",
    "Model comparison across families",
    "Sensitivity to the prior and the model",
    "Prior-data conflict per published statistic",
    "Frequentist values from the published numbers",
    "Convergence diagnostics",
    "Provenance",
)


def _frequentist_section(results) -> Section:
    sec = Section("Frequentist values from the published numbers")
    seen = set()
    for run in results.runs:
        f = run.table("frequentist.csv")
        if run.model in seen or not len(f):
            continue
        seen.add(run.model)
        sec.table(f, f"Model '{run.model}'")
    if not seen:
        sec.text("No frequentist counterparts were computed for these models.")
    return sec


def _posterior_quantities(results) -> pd.DataFrame:
    table = results.table
    if "grid_parameter" in table:
        table = table[table["grid_parameter"].fillna("").astype(str) == ""]
    return table[~table["quantity"].astype(str).str.startswith("P(")]


def build_report(sweep_dir: str | Path) -> Path:
    """Write ``report.md``, ``figures/`` and ``index.html`` into ``sweep_dir``.

    Parameters
    ----------
    sweep_dir : str or pathlib.Path
        A folder written by :func:`resurv.inference.sweep.run_plan` (``resurv run`` or ``resurv
        sweep``).

    Returns
    -------
    pathlib.Path
        The path of ``index.html``.
    """
    sweep_dir = Path(sweep_dir)
    results = load_runs(sweep_dir)
    study = results.study(results.plan["studies"][0])
    results.runs = [r for r in results.runs if r.record["study"] == study.id]
    endpoints = list(dict.fromkeys(r.record["endpoint"] for r in results.runs))

    diag = diagnostics_table(results.runs)
    sections: list[Section] = []
    for alert in (gate_alert_section(diag), calibration_alert_section(sweep_dir)):
        if alert is not None:
            sections.append(alert)
    sections += [
        study_section(study),
        assumptions_section(study),
        calibration_section(sweep_dir),
        priors_section(results.prior_files, endpoints, results.prior_studies),
        comparison_section(results),
        usage_section(results),
        prior_posterior_section(results),
        curves_section(results),
        effects_section(results),
        model_comparison_section(results),
        sensitivity_section(results),
        prior_conflict_section(results),
    ]
    moved = conclusions_sensitivity_section(results)
    if moved is not None:
        sections.append(moved)
    post = Section("Posterior quantities")
    keep = _posterior_quantities(results)
    post.table(
        keep[["model", "priors", "quantity", "mean", "sd", "ci_low", "ci_high"]],
        "Posterior mean, SD and 95% equal-tailed interval",
    )
    sections += [post, _frequentist_section(results)]
    sections.append(
        Section("Convergence diagnostics")
        .text(
            "Gates: R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergent transitions "
            "(resurv.inference.diagnostics)."
        )
        .table(diag)
    )
    sections.append(provenance_section(results, f"resurv report {sweep_dir.as_posix()}"))

    title = f"{results.plan.get('title') or 'Bayesian re-analysis'}: {study.citation}"
    md, files = render_markdown(title, sections)
    figures = sweep_dir / "figures"
    if figures.is_dir():
        for old in figures.glob("*.png"):
            if f"figures/{old.name}" not in files:
                old.unlink()
    for name, data in files.items():
        (sweep_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (sweep_dir / name).write_bytes(data)
    (sweep_dir / "report.md").write_text(md, encoding="utf-8")
    (sweep_dir / "index.html").write_text(render_html(title, sections), encoding="utf-8")
    log.info("wrote report to %s", sweep_dir)
    return sweep_dir / "index.html"
