"""Report sections read from files only, the same on a fresh clone (no posterior draws).

The study, the assumptions, calibration, prior sets, diagnostics and provenance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from resurv.checks.prior_ess import ESS_SCALES, effective_sample_size
from resurv.errors import InputError
from resurv.io.priors import PriorFile
from resurv.report.document import Figure, Section
from resurv.simulation.calibrate import timing_lines

__all__ = [
    "assumptions_section",
    "calibration_section",
    "diagnostics_table",
    "gate_alert_section",
    "priors_section",
    "provenance_section",
    "study_section",
    "usage_section",
]


def _arm_role(study, arm) -> str:
    """'reference' or 'comparator'; 'single arm' in a single-arm study."""
    return "single arm" if study.n_arms == 1 else ["reference", "comparator"][arm.index]


def study_section(study) -> Section:
    """The study, its arms and every published number with the sentence it came from."""
    sec = Section("The study and its published values")
    sec.text(f"{study.title}. {study.citation}.")
    arms = pd.DataFrame(
        [{"arm": a.label, "role": _arm_role(study, a), "n": a.n} for a in study.arms]
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
        rows.append(
            {
                "endpoint": s.endpoint,
                "arm": study.arm(s.arm).label if s.arm else "between arms",
                "published": s.describe(study),
                "quote": s.quote,
            }
        )
    sec.table(pd.DataFrame(rows), "Every published number, with the sentence it came from")
    if study.unknown:
        sec.text("Not reported by the paper: " + "; ".join(study.unknown) + ".")
    if study.reported_without_numbers:
        sec.text("Reported without numbers: " + " ".join(study.reported_without_numbers))
    return sec


def usage_section(results) -> Section:
    """Every number of the study file, how the fits used it, and those no fit used (and why).

    Read from each fit's saved inventory (:mod:`resurv.models.inventory`).
    """
    from resurv.models.inventory import USED, not_used

    sec = Section("Published numbers and how they were used")
    frames = []
    for run in results.runs:
        frame = run.published_numbers()
        if len(frame):
            frame.insert(0, "fit", run.label)
            frames.append(frame)
    if not frames:
        return sec.text("The fits saved no inventory of the study file's numbers.")
    sec.text(
        "Each number of the study file is used by a fit's likelihood, used as a posterior "
        "predictive check target, or a prior of the follow-up design; a number no fit used is "
        "listed below with the reason."
    )
    table = pd.concat(frames, ignore_index=True)
    used = table[table["role"].isin(USED)]
    summary = (
        used.groupby(
            ["record", "field", "endpoint", "arm", "published", "role", "how"], sort=False
        )["fit"]
        .count()
        .rename("fits")
        .reset_index()
    )
    sec.table(summary, "Numbers used, by role (fits: how many fits used it so)")
    missing = not_used(frames)
    if len(missing):
        sec.table(missing, "Published but not used")
    else:
        sec.text("Published but not used: none. Every number of the study file was used.")
    return sec


def assumptions_section(study) -> Section:
    """What the analysis adds to the published numbers, stated one by one."""
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
        "Follow-up model: patients enter uniformly over an accrual period of A months and are "
        "analysed F months after the last entry, so administrative censoring is uniform on "
        "[F, A + F]; the paper reports neither, so A and F carry the wide priors above and are "
        "estimated jointly with the survival parameters. A reported median is an observed event "
        "time, so for an endpoint with reached medians the priors are restricted to A + F beyond "
        "the largest of them, and each median's likelihood includes the chance that a patient "
        "of its arm was still observed at that time (docs/statistics.md, T1)."
    )
    sec.text(
        "SPSS mean: the '±' after a Kaplan-Meier mean whose median was not reached is read as the "
        "standard error SPSS prints, the area under the KM step function up to each arm's largest "
        "observed time (event or censored; Miller 1981). That largest time is latent, with its "
        "exact distribution under the model, and given it the mean has the mean and variance "
        "of the Kaplan-Meier area when one patient is followed to that time and the others "
        "left earlier (docs/statistics.md, T3). Published SEs are predictive check targets, "
        "never known variances."
    )
    sec.text(
        "Joint-normal approximation: the reported survival statistics of one endpoint (log "
        "medians, SPSS means, log-rank Z) are treated as jointly normal around their model "
        "values, with the model-implied covariance of their martingale influence integrals "
        "(not the paper's SEs), so that statistics computed from the same deaths are not counted "
        "twice. A median 'not reached' enters as its own factor, the probability that the "
        "Kaplan-Meier curve stays above one half up to the arm's largest observed time. Both are "
        f"asymptotic approximations at n = {' and '.join(str(a.n) for a in study.arms)}; their "
        "calibration by simulation is reported in the next section."
    )
    return sec


def calibration_section(sweep_dir: Path) -> Section:
    """Coverage of the summary-data likelihood from ``calibration/**/coverage.csv``, if run."""
    sec = Section("Calibration of the summary-data likelihood")
    files = sorted((sweep_dir / "calibration").glob("**/coverage.csv"))
    if not files:
        sec.text(
            "Calibration was not run for this report (no calibration/coverage.csv). Run "
            "`resurv calibrate MODEL --data STUDY --priors PRIORS --out "
            f"{sweep_dir.as_posix()}/calibration/<model>` and rebuild with `resurv report` to "
            "add it: trials simulated from the prior, reduced to the published statistics, "
            "refitted from those statistics; 50/80/95% intervals should cover the truth at "
            "their nominal rates and simulation-based-calibration ranks should be uniform."
        )
        return sec
    sec.text(
        "Trials were simulated from the prior with the study's design, reduced to the statistics "
        "the paper reported (with the paper's estimators) and refitted from those statistics. "
        "Coverage within two binomial standard errors of nominal, and an SBC uniformity p-value "
        "that is not small, support the joint-normal approximation."
    )
    for path in files:
        where = path.parent.relative_to(sweep_dir).as_posix()
        cov = pd.read_csv(path)
        sec.table(cov, f"Interval coverage and SBC uniformity ({where}/coverage.csv)")
        _sbc_figure(sec, path.parent, where)
        bad = cov[~cov["within_2se"].astype(bool)] if "within_2se" in cov else cov.iloc[:0]
        if len(bad):
            sec.text(
                "Coverage outside two binomial SEs of nominal for: "
                + ", ".join(
                    f"{t} at {n:g}" for t, n in zip(bad["target"], bad["nominal"], strict=True)
                )
                + "."
            )
        record = path.parent / "calibration.json"
        if record.is_file():
            timings = _calibration_record(record)
            sec.text(
                f"{where}: model {timings['model']['name']}, priors "
                f"{Path(timings['priors']).name}, seed {timings['seed']}. "
                + "; ".join(timing_lines(timings))
                + "."
            )
        widths = path.parent / "width_ratio.csv"
        if widths.is_file():
            sec.table(
                pd.read_csv(widths),
                "Interval width from the summaries relative to the same trials' patient data",
            )
    return sec


def _sbc_figure(sec: Section, folder: Path, where: str) -> None:
    """The PIT ECDF of the calibration's SBC ranks (``calibration.csv``), when saved."""
    from resurv.report.calibration_figures import sbc_ecdf_figure
    from resurv.simulation.calibrate import SBC_DRAWS

    table = folder / "calibration.csv"
    if not table.is_file():
        return
    png = sbc_ecdf_figure(pd.read_csv(table), SBC_DRAWS)
    if png is None:
        return
    name = "sbc_ecdf_" + re.sub(r"[^a-z0-9]+", "_", where.lower()).strip("_")
    sec.figure(
        Figure(
            name,
            png,
            f"{where}: ECDF of the SBC ranks as PIT values minus the uniform CDF, per target "
            "(ArviZ plot_ecdf_pit; the p-value of its uniformity test on each panel). A "
            "calibrated posterior stays near 0; a single hump (∩ or ∪) means a bias, a wave above "
            "then below 0 intervals too narrow, below then above intervals too wide.",
        )
    )


_RECORD_FIELDS = {
    "model": dict,
    "sampler": dict,
    "compile_seconds": dict,
    "replicates": int,
    "total_seconds": (int, float),
    "replicates_with_divergences": int,
    "seed": int,
    "priors": str,
}


def _calibration_record(path: Path) -> dict:
    """``calibration.json`` as ``resurv calibrate`` writes it; :class:`InputError` otherwise."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            path, None, f"must be the JSON that resurv calibrate writes ({exc})"
        ) from None
    if not isinstance(record, dict):
        raise InputError(path, None, "must be a JSON object")
    for key, kind in _RECORD_FIELDS.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            raise InputError(path, key, "required, as resurv calibrate writes it")
    for key in ("chains", "draws", "tune", "target_accept"):
        if not isinstance(record["sampler"].get(key), int | float):
            raise InputError(path, f"sampler.{key}", "required, a number")
    if not isinstance(record["model"].get("name"), str):
        raise InputError(path, "model.name", "required, a string")
    return record


def priors_section(
    prior_files: list[PriorFile], endpoints: list[str], studies: dict | None = None
) -> Section:
    """Each prior set with sources and effective sample sizes (for the plan's endpoints).

    ``studies`` maps a prior file's SHA-256 to the studies fitted under it: a set whose name
    several files share (``auto``, derived from each study of a plan) is shown once per study.
    """
    sec = Section("Prior sets")
    sec.text(
        "Effective sample size (ESS): for a Beta prior a + b patients; for a normal prior on the "
        "log HR about 4/σ² events; otherwise the expected local information ratio (ELIR) where "
        "defined. Robust mixtures give the ESS of the mixture (resurv.io.priors)."
    )
    for pf in prior_files:
        rows = []
        for endpoint, params in pf.priors.items():
            if endpoint not in endpoints:
                continue
            for name, spec in params.items():
                ess, method = effective_sample_size(spec, ESS_SCALES.get(name, ""))
                rows.append(
                    {
                        "endpoint": endpoint,
                        "parameter": name,
                        "prior": spec.describe(),
                        "ESS": "" if ess is None else f"{ess:.1f} ({method})",
                        "source": spec.source,
                    }
                )
        shared = sum(other.name == pf.name for other in prior_files) > 1
        fitted = (studies or {}).get(pf.sha256, ())
        which = f" for study {', '.join(fitted)}" if shared and fitted else ""
        sec.text(f"{pf.name}{which}: {pf.description}")
        sec.table(
            pd.DataFrame(rows),
            f"Prior set '{pf.name}'{which} ({Path(pf.path).name}, sha256 {pf.sha256[:12]})",
        )
    return sec


def diagnostics_table(runs) -> pd.DataFrame:
    """One row per run: R-hat, ESS, divergences and the gate verdict."""
    rows = []
    for run in runs:
        d = run.diagnostics()
        rows.append(
            {
                "model": run.model,
                "priors": run.prior_name,
                "max R-hat": d["max_rhat"],
                "min ESS bulk": d["min_ess_bulk"],
                "min ESS tail": d["min_ess_tail"],
                "divergences": d["divergences"],
                "gates": "passed" if d["passed"] else "FAILED: " + "; ".join(d["failures"]),
            }
        )
    return pd.DataFrame(rows)


def _calibration_failures(sweep_dir: Path) -> pd.DataFrame:
    """Rows of every ``calibration/**/coverage.csv`` outside two binomial SEs of nominal."""
    rows = []
    for path in sorted((sweep_dir / "calibration").glob("**/coverage.csv")):
        cov = pd.read_csv(path)
        if "within_2se" not in cov:
            continue
        bad = cov[~cov["within_2se"].astype(bool)]
        where = path.parent.relative_to(sweep_dir).as_posix()
        rows += [
            {"calibration": where, "target": t, "nominal": n, "coverage": c}
            for t, n, c in zip(bad["target"], bad["nominal"], bad["coverage"], strict=True)
        ]
    return pd.DataFrame(rows, columns=["calibration", "target", "nominal", "coverage"])


def calibration_alert_section(sweep_dir: Path) -> Section | None:
    """The prominent section listing calibrations whose coverage missed nominal (or ``None``)."""
    failed = _calibration_failures(Path(sweep_dir))
    if not len(failed):
        return None
    studies = ", ".join(dict.fromkeys(failed["calibration"]))
    return (
        Section("Calibration below nominal", alert=True)
        .text(
            f"Simulation found intervals of the summary-data model too narrow ({studies}): "
            "the coverage below is outside two binomial standard errors of nominal. Read those "
            "models' intervals as optimistic; see the calibration section."
        )
        .table(failed)
    )


def gate_alert_section(diag: pd.DataFrame) -> Section | None:
    """The prominent section listing failed gates (``None`` when every gate passed)."""
    if not len(diag):
        return None
    failed = diag[diag["gates"] != "passed"]
    if not len(failed):
        return None
    return (
        Section("Convergence gates failed", alert=True)
        .text(
            f"{len(failed)} of {len(diag)} fits did not pass the convergence gates (R-hat ≤ 1.01, "
            "bulk and tail ESS ≥ 400, no divergent transitions); do not use their numbers."
        )
        .table(failed.reset_index(drop=True))
    )


def provenance_section(results, report_command: str) -> Section:
    """Versions, seed, sampler settings, input hashes, per-run hashes and the commands."""
    plan = results.plan
    sec = Section("Provenance")
    sec.text("Reproduce the fits and this report with: " + plan.get("command", "resurv run"))
    sec.text(
        f"Rebuild this report from the saved results, without refitting: {report_command} "
        "(fits whose inputs are unchanged are reused by the command above too)."
    )
    items = [{"item": k, "value": v} for k, v in plan.get("versions", {}).items()]
    items.append({"item": "seed", "value": plan["seed"]})
    items += [{"item": f"sampler {k}", "value": v} for k, v in plan.get("sampler", {}).items()]
    items += [{"item": p, "value": h} for p, h in plan.get("hashes", {}).items()]
    sec.table(pd.DataFrame(items), "Package versions, seed, sampler and input-file SHA-256")
    runs = pd.DataFrame(
        [
            {
                "fit folder": run.folder.name,
                "seed": results.plan["seed"],
                "input hash": run.record.get("hash", ""),
            }
            for run in results.runs
        ]
    )
    if len(runs):
        sec.table(runs, "Fits: folder, seed and hash of their inputs (model, priors, data)")
    if plan.get("grids"):
        sec.text("Prior grids: " + json.dumps(plan["grids"]))
    return sec
