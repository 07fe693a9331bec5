"""Assemble the posterior report of a sweep folder from saved results (no refitting).

``build_report(sweep_dir)`` reads ``plan.json``, ``sweep.csv`` and each run's saved tables and
``posterior.nc`` (draws, predictive checks, and the model, prior and study files as its
provenance recorded them: :mod:`resurv.report.runs`), and writes
``report.md`` (with ``figures/*.png``) and a self-contained ``index.html`` (figures embedded as
data URIs; it opens from disk with no server or network).

Sections, in order (:func:`report_sections`): the conclusions (key posterior quantities per
endpoint and prior set, the primary analysis, the design caveats; also saved as
``conclusions.csv``, :mod:`resurv.report.conclusions`); failed convergence gates and calibrations
below nominal (only when there are any; highlighted); then the details (:data:`DETAIL_SECTIONS`):
the study and its published values; the assumptions added; calibration
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

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from resurv.errors import InputError
from resurv.report.conclusions import CONCLUSIONS_FILE, conclusions_frame, conclusions_section
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
from resurv.report.runs import distinct_prior_files, load_fit, load_runs
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

__all__ = [
    "DETAIL_SECTIONS",
    "SECTION_TITLES",
    "build_report",
    "detail_sections",
    "opening_sections",
    "report_sections",
]

log = logging.getLogger(__name__)

#: Section headings every report has (the failed-gates section is added only when needed).
SECTION_TITLES = (
    "Conclusions",
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


def opening_sections(results, study, sweep_dir: Path) -> list[Section]:
    """What the report opens with: the conclusions, then the alerts.

    The alerts (failed gates, calibrations below nominal) appear only when there is something
    to say.
    """
    diag = diagnostics_table(results.runs)
    sections = [conclusions_section(results, study)]
    for alert in (gate_alert_section(diag), calibration_alert_section(sweep_dir)):
        if alert is not None:
            sections.append(alert)
    return sections


def detail_sections(results, study, sweep_dir: Path) -> list[Section]:
    """The details, in order, after the opening sections.

    A new section is one function ``(results, study, sweep_dir) -> Section | None`` appended to
    :data:`DETAIL_SECTIONS` (or inserted where it belongs); ``None`` leaves it out.
    """
    out = []
    for make in DETAIL_SECTIONS:
        sec = make(results, study, sweep_dir)
        if sec is not None:
            out.append(sec)
    return out


def report_sections(results, study, sweep_dir: Path) -> list[Section]:
    """Every section of the report: :func:`opening_sections`, then :func:`detail_sections`."""
    return opening_sections(results, study, sweep_dir) + detail_sections(results, study, sweep_dir)


def _posterior_section(results, study, sweep_dir) -> Section:
    post = Section("Posterior quantities")
    keep = _posterior_quantities(results)
    if "median" in keep:
        shown = keep[
            ["model", "priors", "quantity", "median", "ci_low", "ci_high", "hdi_low", "hdi_high"]
        ]
        shown = shown.rename(
            columns={
                "median": "posterior median",
                "ci_low": "ETI 2.5%",
                "ci_high": "ETI 97.5%",
                "hdi_low": "HDI 95% low",
                "hdi_high": "HDI 95% high",
            }
        )
        caption = (
            "Posterior median, 95% equal-tailed interval (ETI) and 95% highest-density interval "
            "(HDI); means are left out (meaningless for heavy-tailed quantities such as a median "
            "that may not be reached)"
        )
    else:  # a run folder written before the tidy table had medians
        shown = keep[["model", "priors", "quantity", "mean", "sd", "ci_low", "ci_high"]]
        caption = "Posterior mean, SD and 95% equal-tailed interval"
    return post.table(shown, caption)


def _convergence_section(results, study, sweep_dir) -> Section:
    return (
        Section("Convergence diagnostics")
        .text(
            "Gates: R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergent transitions "
            "(resurv.inference.diagnostics)."
        )
        .table(diagnostics_table(results.runs))
    )


def _provenance(results, study, sweep_dir) -> Section:
    return provenance_section(results, f"resurv report {Path(sweep_dir).as_posix()}")


#: The detail sections in report order: each ``(results, study, sweep_dir) -> Section | None``.
DETAIL_SECTIONS: list[Callable] = [
    lambda results, study, sweep_dir: study_section(study),
    lambda results, study, sweep_dir: assumptions_section(study),
    lambda results, study, sweep_dir: calibration_section(sweep_dir),
    lambda results, study, sweep_dir: priors_section(
        results.prior_files,
        list(dict.fromkeys(r.record["endpoint"] for r in results.runs)),
        results.prior_studies,
    ),
    lambda results, study, sweep_dir: comparison_section(results),
    lambda results, study, sweep_dir: usage_section(results),
    lambda results, study, sweep_dir: prior_posterior_section(results),
    lambda results, study, sweep_dir: curves_section(results),
    lambda results, study, sweep_dir: effects_section(results),
    lambda results, study, sweep_dir: model_comparison_section(results),
    lambda results, study, sweep_dir: sensitivity_section(results),
    lambda results, study, sweep_dir: prior_conflict_section(results),
    lambda results, study, sweep_dir: conclusions_sensitivity_section(results),
    _posterior_section,
    lambda results, study, sweep_dir: _frequentist_section(results),
    _convergence_section,
    _provenance,
]


def build_report(sweep_dir: str | Path) -> Path:
    """Write ``report.md``, ``figures/`` and ``index.html`` into ``sweep_dir``.

    Parameters
    ----------
    sweep_dir : str or pathlib.Path
        A folder written by :func:`resurv.inference.sweep.run_plan` (``resurv run`` or ``resurv
        sweep``), or one fit's folder (``resurv fit --out DIR``, read by
        :func:`resurv.report.runs.load_fit`).

    Returns
    -------
    pathlib.Path
        The path of ``index.html``.
    """
    sweep_dir = Path(sweep_dir)
    run_folder = (sweep_dir / "plan.json").is_file()
    results = load_runs(sweep_dir) if run_folder else load_fit(sweep_dir)
    studies = []
    for path in results.plan["studies"]:
        try:
            studies.append(results.study(path))
        except InputError:
            log.info("no finished fit of the study %s: not reported", path)
    if not studies:
        results.study(results.plan["studies"][0])  # raises, naming the study
    others = [(s, Path(OTHER_STUDIES) / s.id) for s in studies[1:]]
    prior_index = {str(p): i for i, p in enumerate(results.plan["priors"])}

    def prior_order(run) -> tuple[int, int]:
        return 0, prior_index.get(run.provenance.get("resurv_priors_file", ""), 0)

    for k, study in enumerate(studies):
        runs = [r for r in results.runs if r.record["study"] == study.id]
        one = dataclasses.replace(results, runs=runs)
        if len(studies) > 1:  # each study's own prior sets (its auto set, not the others')
            files, by_sha = distinct_prior_files(runs, prior_order)
            one = dataclasses.replace(one, prior_files=files, prior_studies=by_sha)
        sections = report_sections(one, study, sweep_dir)
        if k == 0 and others:
            sections.insert(1, _other_studies_section(others))
        out = sweep_dir if k == 0 else sweep_dir / others[k - 1][1]
        _write_report(out, one, study, sections)
    log.info("wrote report to %s", sweep_dir)
    return sweep_dir / "index.html"


#: Where the reports of a plan's second and later studies go, one folder per study id.
OTHER_STUDIES = "studies"


def _other_studies_section(others) -> Section:
    sec = Section("Other studies of this plan")
    sec.text(
        "This report is of the plan's first study; each other study has its own report, "
        "built the same way from the same run folder."
    )
    rows = [
        {"study": s.id, "citation": s.citation, "report": f"{folder.as_posix()}/report.md"}
        for s, folder in others
    ]
    return sec.table(pd.DataFrame(rows))


def _write_report(out: Path, results, study, sections) -> None:
    """Write ``report.md``, ``figures/``, ``index.html`` and ``conclusions.csv`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    conclusions_frame(results).to_csv(out / CONCLUSIONS_FILE, index=False, float_format="%.17g")
    title = f"{results.plan.get('title') or 'Bayesian re-analysis'}: {study.citation}"
    md, files = render_markdown(title, sections)
    figures = out / "figures"
    if figures.is_dir():
        for old in figures.glob("*.png"):
            if f"figures/{old.name}" not in files:
                old.unlink()
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    (out / "report.md").write_text(md, encoding="utf-8")
    (out / "index.html").write_text(render_html(title, sections), encoding="utf-8")
