"""Assemble the posterior report of a sweep folder from saved results (no refitting).

``build_report(sweep_dir)`` reads ``plan.json``, ``sweep.csv`` and each run's saved tables, and
writes ``report.md`` (with ``figures/*.png``) and a self-contained ``index.html``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd

from ..priors import effective_sample_size, load_priors
from ..study import load_study
from .document import Figure, Section, render_html, render_markdown
from .figures import forest_plot

__all__ = ["build_report"]

log = logging.getLogger(__name__)

_ESS_SCALE = {
    "p_reference": "probability",
    "p_comparator": "probability",
    "log_hr": "log_hr",
    "median_reference": "log_median",
    "median_comparator": "log_median",
}


def _study_section(study) -> Section:
    sec = Section("The study and its published values")
    sec.text(f"{study.title}. {study.citation}.")
    arms = pd.DataFrame(
        [
            {"arm": a.label, "role": ["reference", "comparator"][a.index], "n": a.n}
            for a in study.arms
        ]
    )
    sec.table(arms, "Arms")
    rows = [
        {
            "endpoint": b.endpoint,
            "arm": study.arm(b.arm).label,
            "published": f"{b.events}/{b.n} ({b.published_percent}%)",
            "quote": b.quote,
        }
        for b in study.binary
    ]
    for s in study.survival:
        value = {
            "median": f"median {s.value} months",
            "median_not_reached": "median not reached",
            "rmean": f"mean {s.value} ± {s.spread} ({s.spread_kind}) months",
            "logrank": f"log-rank P = {s.p_value}"
            + (
                f", {study.arm(s.better_arm).label} better"
                if s.better_arm
                else ", direction not stated"
            ),
            "landmark": f"S({s.t_months}) = {s.value}",
            "hr": f"HR {s.value}",
            "events": f"{s.value} events",
        }[s.statistic]
        rows.append(
            {
                "endpoint": s.endpoint,
                "arm": study.arm(s.arm).label if s.arm else "between arms",
                "published": value,
                "quote": s.quote,
            }
        )
    sec.table(pd.DataFrame(rows), "Every published number, with the sentence it came from")
    sec.text("Not reported by the paper: " + "; ".join(study.unknown) + ".")
    if study.reported_without_numbers:
        sec.text("Reported without numbers: " + " ".join(study.reported_without_numbers))
    return sec


def _assumptions_section(study) -> Section:
    sec = Section("Assumptions added to the published values")
    if study.followup_note:
        sec.text("Follow-up: " + study.followup_note)
    rows = [
        {
            "quantity": k,
            "prior": v.describe() if v.dist != "fixed" else f"fixed at {v.args['value']}",
            "source": v.source,
        }
        for k, v in study.followup_priors.items()
    ]
    if rows:
        sec.table(pd.DataFrame(rows), "Follow-up design priors (stated in the study file)")
    sec.text(
        "The '±' after the PFS means is read as the standard error that SPSS prints beside a "
        "Kaplan-Meier mean when the median is not reached: the area under the KM curve up to each "
        "arm's largest observed time. Published SEs are used as predictive check targets, never as "
        "known variances."
    )
    return sec


def _priors_section(prior_files: list[str]) -> Section:
    sec = Section("Prior sets")
    for path in prior_files:
        pf = load_priors(path)
        rows = []
        for endpoint, params in pf.priors.items():
            for name, spec in params.items():
                ess, method = effective_sample_size(spec, _ESS_SCALE.get(name, ""))
                rows.append(
                    {
                        "endpoint": endpoint,
                        "parameter": name,
                        "prior": spec.describe(),
                        "ESS": "" if ess is None else f"{ess:.1f} ({method})",
                        "source": spec.source,
                    }
                )
        sec.text(f"{pf.name}: {pf.description}")
        sec.table(
            pd.DataFrame(rows),
            f"Prior set '{pf.name}' ({Path(path).name}, sha256 {pf.sha256[:12]})",
        )
    return sec


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def build_report(sweep_dir: str | Path) -> Path:
    """Write ``report.md``, ``figures/`` and ``index.html`` into ``sweep_dir``."""
    sweep_dir = Path(sweep_dir)
    plan = json.loads((sweep_dir / "plan.json").read_text())
    table = pd.read_csv(sweep_dir / "sweep.csv")
    study = load_study(plan["studies"][0])
    order = {Path(m).stem: i for i, m in enumerate(plan["models"])}
    prior_order = {load_priors(p).name: i for i, p in enumerate(plan["priors"])}
    runs = [(json.loads(p.read_text()), p.parent) for p in (sweep_dir / "fits").glob("*/run.json")]
    runs.sort(key=lambda rd: (order.get(rd[0]["model"], 99), prior_order.get(rd[0]["priors"], 99)))
    runs = [(r, d) for r, d in runs if r["study"] == study.id]
    sections: list[Section] = []

    diag_rows = []
    for run, folder in runs:
        d = json.loads((folder / "diagnostics.json").read_text())
        diag_rows.append(
            {
                "model": run["model"],
                "priors": run["priors"],
                "max R-hat": d["max_rhat"],
                "min ESS bulk": d["min_ess_bulk"],
                "min ESS tail": d["min_ess_tail"],
                "divergences": d["divergences"],
                "gates": "passed" if d["passed"] else "FAILED: " + "; ".join(d["failures"]),
            }
        )
    diag = pd.DataFrame(diag_rows)
    failed = diag[diag["gates"] != "passed"] if len(diag) else diag
    if len(failed):
        sections.append(
            Section("Convergence gates failed", alert=True)
            .text("These fits did not pass the convergence gates; do not use their numbers.")
            .table(failed)
        )
    sections += [
        _study_section(study),
        _assumptions_section(study),
        _priors_section(plan["priors"]),
    ]

    comp = Section("Published values beside the posterior")
    comp.text(
        "Each published value beside its posterior counterpart (median and 95% interval) and its "
        "two-sided posterior predictive p-value (ppp): the probability, under the fitted model, of a "
        "replicate trial of the published size giving a value at least as extreme."
    )
    for model in dict.fromkeys(r["model"] for r, _ in runs):
        frames = []
        for run, folder in runs:
            if run["model"] == model:
                f = pd.read_csv(folder / "published_vs_posterior.csv")
                f.insert(0, "priors", run["priors"])
                frames.append(f)
        comp.table(pd.concat(frames, ignore_index=True), f"Model '{model}'")
    sections.append(comp)

    post = Section("Key posterior quantities")
    keep = table[~table["quantity"].astype(str).str.startswith("P(")]
    post.table(
        keep[["model", "priors", "quantity", "mean", "sd", "ci_low", "ci_high"]],
        "Posterior mean, SD and 95% equal-tailed interval",
    )
    probs = table[table["quantity"].astype(str).str.startswith("P(")]
    if len(probs):
        post.table(probs[["model", "priors", "quantity", "mean"]], "Posterior probabilities")
    sections.append(post)

    freq = Section("Frequentist values from the published numbers")
    seen = set()
    for run, folder in runs:
        if run["model"] in seen or not (folder / "frequentist.csv").is_file():
            continue
        seen.add(run["model"])
        f = pd.read_csv(folder / "frequentist.csv")
        if len(f):
            freq.table(f, f"Model '{run['model']}'")
    sections.append(freq)

    sens = Section("Sensitivity to the prior")
    for quantity, rows in keep.groupby("quantity", sort=False):
        if rows["priors"].nunique() < 2:
            continue
        png = forest_plot(rows.reset_index(drop=True), str(quantity), str(quantity))
        sens.figure(
            Figure(
                f"forest_{_slug(str(quantity))}", png, f"{quantity} across models and prior sets"
            )
        )
    sections.append(sens)

    sections.append(Section("Convergence diagnostics").table(diag))

    prov = Section("Provenance")
    prov.text("Reproduce with: " + plan.get("command", "resurv run"))
    prov.table(
        pd.DataFrame(
            [{"item": k, "value": v} for k, v in plan.get("versions", {}).items()]
            + [{"item": "seed", "value": plan["seed"]}]
            + [{"item": Path(p).name, "value": h} for p, h in plan.get("hashes", {}).items()]
        ),
        "Package versions, seed and input-file SHA-256",
    )
    sections.append(prov)

    title = f"Bayesian re-analysis: {study.citation}"
    md, files = render_markdown(title, sections)
    for name, data in files.items():
        (sweep_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (sweep_dir / name).write_bytes(data)
    (sweep_dir / "report.md").write_text(md, encoding="utf-8")
    (sweep_dir / "index.html").write_text(render_html(title, sections), encoding="utf-8")
    log.info("wrote report to %s", sweep_dir)
    return sweep_dir / "index.html"
