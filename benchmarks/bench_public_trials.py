"""Benchmark: summary-only vs patient-level posteriors on three public trials.

For each trial of ``benchmarks/public_trials.py`` (leukemia, GBSG2, Rossi) the same Weibull PH
model (``models/example_weibull.toml``) under the same prior rule (``--priors``; default
``auto``: each data set's own weakly informative set, what ``resurv fit`` uses without
``--priors``, medians centred on the data's time scale, log HR N(0, 1)) is fitted

* to the trial's patient data (``data/studies/<id>_patients.toml``), and
* to each reporting scenario's published summaries alone (``data/studies/<id>_<scenario>.toml``:
  abstract, typical, full),

and the posteriors are compared: posterior median and 95% equal-tailed interval of the log HR
and of each arm's median (months), the ratio of 95% widths (summary-only / patient-level), and
whether the summary-only 95% interval contains the patient-level posterior median. Each fit's
convergence gates (R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences) are reported beside
it. The study files are regenerated first (``public_trials.write_trial``) with the kinds of
published statistic this version of resurv registers.

Writes ``reports/public_trials/comparison.csv`` and ``comparison.md`` (with the run's
provenance: git commit, date, settings, timings), ``fits.csv`` (each fit's gates and timings)
and ``fits/<study>.json`` (each fit's intervals, reused by a rerun with the same inputs), and
prints the table. Models are compiled once
per structure (:class:`resurv.inference.fit.Fitter`).

Run: ``.venv/bin/python benchmarks/bench_public_trials.py [--draws N] [--tune N] [--chains N]
[--trials leukemia gbsg2 rossi] [--scenarios abstract typical full] [--out DIR]``
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import public_trials  # noqa: E402

from resurv.api import build, resolve_priors  # noqa: E402
from resurv.inference.diagnostics import ConvergenceWarning, check_convergence  # noqa: E402
from resurv.inference.fit import Fitter, SamplerSettings, package_versions  # noqa: E402
from resurv.io.auto_priors import is_auto, vague_template_path  # noqa: E402
from resurv.io.modelspec import load_model_spec  # noqa: E402
from resurv.io.study import load_study  # noqa: E402
from resurv.models.built import stacked_draws  # noqa: E402
from resurv.statistics.published import KINDS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "example_weibull.toml"
#: The prior set of every fit: ``auto`` derives each study's own weakly informative set
#: (medians centred on the study's time scale; :mod:`resurv.io.auto_priors`), as ``resurv fit``
#: does without ``--priors``; or a prior file.
PRIORS = "auto"


def posterior_quantities(tree) -> dict[str, np.ndarray]:
    """Draws of the compared quantities: log HR and each arm's median (months)."""
    post = tree.posterior.to_dataset()
    medians = stacked_draws(post, "median_months")
    return {
        "log_hr": stacked_draws(post, "log_hr"),
        "median_reference": medians[:, 0],
        "median_comparator": medians[:, 1],
    }


def interval(draws: np.ndarray) -> tuple[float, float, float]:
    """Posterior median and 95% equal-tailed interval."""
    low, mid, high = np.quantile(draws, [0.025, 0.5, 0.975])
    return float(mid), float(low), float(high)


def fit_one(fitter: Fitter, spec, priors: str, study_file: Path, seed: int) -> dict:
    """Fit the model to one study file; the compared quantities' intervals, gates and timings.

    ``priors``: a prior file, or ``auto`` for the set derived from this study file.
    """
    study = load_study(study_file)
    prior_file, _ = resolve_priors(priors, study, spec)
    built = build(spec, prior_file, study)
    compiled_before = set(fitter.compile_seconds)
    start = time.perf_counter()
    # the compared quantities and every free parameter (the gates' variables): a smaller
    # function to compile than one carrying every derived quantity
    kept = ["median_months", *(v.name for v in built.model.free_RVs)]
    tree = fitter.sample(built, seed=seed, posterior_only=True, var_names=kept)
    seconds = time.perf_counter() - start
    compile_seconds = fitter.compile_seconds[built.key] if built.key not in compiled_before else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        diag = check_convergence(tree)
    return {
        "intervals": {q: interval(d) for q, d in posterior_quantities(tree).items()},
        "arms": [a.label for a in study.arms],
        "gates": diag.passed,
        "failures": "; ".join(diag.failures()),
        "max_rhat": diag.max_rhat,
        "min_ess_bulk": diag.min_ess_bulk,
        "divergences": diag.divergences,
        "compile_seconds": compile_seconds,
        "sample_seconds": seconds - compile_seconds,
    }


def fit_cached(
    fitter: Fitter, spec, priors: str, study_file: Path, seed: int, folder: Path, fit: bool = True
) -> dict | None:
    """:func:`fit_one`, kept in ``folder/<study>.json`` with the hash of its inputs.

    A rerun with the same study, model and prior files, sampler settings, seed and library
    source reads the saved result instead of fitting again, so an interrupted run resumes where
    it stopped. With ``fit`` False, None when no such saved result exists.
    """
    s = fitter.settings
    digest = hashlib.sha256()
    prior_path = vague_template_path() if is_auto(priors) else Path(priors)
    digest.update(str(priors).encode())
    for path in (study_file, MODEL, prior_path):
        digest.update(Path(path).read_bytes())
    digest.update(f"{s.draws}|{s.tune}|{s.chains}|{seed}".encode())
    digest.update(
        "".join(
            Path(p).read_text() for p in sorted((ROOT / "src" / "resurv").rglob("*.py"))
        ).encode()
    )
    saved = folder / f"{study_file.stem}.json"
    if saved.exists():
        result = json.loads(saved.read_text())
        if result.get("inputs") == digest.hexdigest():
            return result
    if not fit:
        return None
    result = {"inputs": digest.hexdigest(), **fit_one(fitter, spec, priors, study_file, seed)}
    folder.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=1))
    return result


def comparison_rows(trial_id: str, scenario: str, summary: dict, patients: dict) -> list[dict]:
    """One row per compared quantity of one (trial, scenario)."""
    rows = []
    for quantity, (s_mid, s_low, s_high) in summary["intervals"].items():
        p_mid, p_low, p_high = patients["intervals"][quantity]
        arm = {"median_reference": 0, "median_comparator": 1}.get(quantity)
        rows.append(
            {
                "trial": trial_id,
                "scenario": scenario,
                "quantity": quantity,
                "arm": "" if arm is None else summary["arms"][arm],
                "summary_median": s_mid,
                "summary_low": s_low,
                "summary_high": s_high,
                "patient_median": p_mid,
                "patient_low": p_low,
                "patient_high": p_high,
                "width_ratio": (s_high - s_low) / (p_high - p_low),
                "summary_ci_contains_patient_median": bool(s_low <= p_mid <= s_high),
                "summary_gates_passed": summary["gates"],
                "summary_gate_failures": summary["failures"],
                "patient_gates_passed": patients["gates"],
            }
        )
    return rows


#: Largest width ratio (summary-only / patient-level) of the log HR's 95% interval allowed in
#: the full scenario.
FULL_WIDTH_RATIO_MAX = 1.25


def requirements(table: pd.DataFrame, scenarios=("abstract", "typical", "full")) -> pd.DataFrame:
    """Per trial, the comparison's requirements on the log HR, each True or False.

    ``contains``: in every scenario the summary-only 95% interval contains the patient-level
    posterior median; ``ratio_falls``: the width ratio falls strictly from each scenario to the
    next in the order ``scenarios`` (as information is added); ``full_ratio_ok``: the full
    scenario's ratio is at most :data:`FULL_WIDTH_RATIO_MAX`; ``gates``: every summary-only fit
    passed its convergence gates. A trial missing a scenario fails every requirement that
    needs it.
    """
    log_hr = table[table["quantity"] == "log_hr"]
    rows = []
    for trial_id, rows_of_trial in log_hr.groupby("trial", sort=False):
        by = rows_of_trial.set_index("scenario")
        complete = all(sc in by.index for sc in scenarios)
        ratios = [float(by.loc[sc, "width_ratio"]) for sc in scenarios if sc in by.index]
        rows.append(
            {
                "trial": trial_id,
                "contains": complete and bool(by["summary_ci_contains_patient_median"].all()),
                "ratio_falls": complete
                and all(a > b for a, b in zip(ratios[:-1], ratios[1:], strict=True)),
                "full_ratio_ok": "full" in by.index
                and bool(by.loc["full", "width_ratio"] <= FULL_WIDTH_RATIO_MAX),
                "gates": complete and bool(by["summary_gates_passed"].all()),
            }
        )
    return pd.DataFrame(
        rows, columns=["trial", "contains", "ratio_falls", "full_ratio_ok", "gates"]
    )


def git_commit() -> str:
    """The checked-out commit, with ``+modified`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+modified" if dirty else "")


def markdown(
    table: pd.DataFrame, fits: pd.DataFrame, provenance: list[str], priors: str = PRIORS
) -> str:
    """The comparison as Markdown: one table per trial, then the fits' gates and timings."""
    lines = ["# Summary-only vs patient-level posteriors on three public trials", ""]
    lines += [
        "Weibull PH (`models/example_weibull.toml`) under "
        + (
            "the weakly informative priors each data set derives for itself (`--priors auto`: "
            "medians centred on its own time scale, log-SD 1.5; log HR N(0, 1))"
            if is_auto(priors)
            else f"`{priors}`"
        )
        + ", fitted to each "
        "reporting scenario's published summaries alone and to the same trial's patient data. "
        "Posterior median [95% interval]; *ratio*: 95% width summary-only / patient-level; "
        "*contains*: the summary-only 95% interval contains the patient-level posterior median. "
        "Study files: `data/studies/<trial>_<scenario>.toml` (generated by "
        "`benchmarks/public_trials.py`); regenerate this report with "
        "`benchmarks/bench_public_trials.py`.",
        "",
    ]

    log_hr = table[table["quantity"] == "log_hr"]
    lines += [
        "## Log HR at a glance",
        "",
        "Width ratio of the 95% intervals (summary-only / patient-level); a star marks a "
        "summary-only interval that does not contain the patient-level posterior median.",
        "",
        "| trial | " + " | ".join(log_hr["scenario"].unique()) + " |",
        "|---|" + "---|" * log_hr["scenario"].nunique(),
    ]
    scenarios = list(log_hr["scenario"].unique())
    for trial_id, rows in log_hr.groupby("trial", sort=False):
        by_scenario = {
            r.scenario: f"{r.width_ratio:.2f}"
            + ("" if r.summary_ci_contains_patient_median else " *")
            for r in rows.itertuples()
        }
        cells = [by_scenario.get(sc, "not finished") for sc in scenarios]
        lines.append(f"| {trial_id} | " + " | ".join(cells) + " |")
    lines.append("")

    met = requirements(table)
    lines += [
        "## Requirements on log HR",
        "",
        "*contains*: in every scenario the summary-only 95% interval contains the patient-level "
        "posterior median; *ratio falls*: the width ratio falls from abstract to typical to full; "
        f"*full ratio*: at most {FULL_WIDTH_RATIO_MAX:g} in the full scenario; *gates*: every "
        "summary-only fit passed its convergence gates.",
        "",
        "| trial | contains | ratio falls | full ratio | gates |",
        "|---|---|---|---|---|",
    ]
    for r in met.itertuples():
        marks = [
            "yes" if v else "NO" for v in (r.contains, r.ratio_falls, r.full_ratio_ok, r.gates)
        ]
        lines.append(f"| {r.trial} | " + " | ".join(marks) + " |")
    lines.append("")

    def cell(mid, low, high, digits):
        return f"{mid:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    for trial_id, rows in table.groupby("trial", sort=False):
        lines += [f"## {trial_id}", ""]
        lines += [
            "| scenario | quantity | summary-only | patient-level | ratio | contains | gates |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows.itertuples():
            digits = 3 if r.quantity == "log_hr" else 2
            name = r.quantity if not r.arm else f"median, {r.arm} (months)"
            gates = "pass" if r.summary_gates_passed else f"FAIL ({r.summary_gate_failures})"
            lines.append(
                f"| {r.scenario} | {name} | "
                f"{cell(r.summary_median, r.summary_low, r.summary_high, digits)} | "
                f"{cell(r.patient_median, r.patient_low, r.patient_high, digits)} | "
                f"{r.width_ratio:.2f} | {'yes' if r.summary_ci_contains_patient_median else 'NO'}"
                f" | {gates} |"
            )
        lines.append("")
    lines += ["## Fits", ""]
    lines += [
        "| trial | data | gates | max R-hat | min bulk ESS | divergences | compile s | sample s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in fits.itertuples():
        lines.append(
            f"| {r.trial} | {r.data} | {'pass' if r.gates else 'FAIL'} | {r.max_rhat:.3f} | "
            f"{r.min_ess_bulk:.0f} | {r.divergences} | {r.compile_seconds:.0f} | "
            f"{r.sample_seconds:.0f} |"
        )
    lines += ["", "## Provenance", ""] + [f"- {p}" for p in provenance]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Regenerate the study files, fit everything and write the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--priors", default=PRIORS, help="a prior file, or auto (the default)")
    parser.add_argument("--trials", nargs="*", default=list(public_trials.TRIALS))
    parser.add_argument("--scenarios", nargs="*", default=list(public_trials.SCENARIOS))
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "public_trials")
    parser.add_argument(
        "--saved-only",
        action="store_true",
        help="write the tables from the saved fits alone; a fit not saved is listed as missing",
    )
    args = parser.parse_args()

    started = datetime.datetime.now(datetime.UTC)
    commit = git_commit()  # the code that runs: read before any fit
    wall = time.perf_counter()
    spec = load_model_spec(MODEL)
    priors = args.priors
    fitter = Fitter(SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains))
    rows, fits, missing = [], [], []
    for trial_id in args.trials:
        trial = public_trials.TRIALS[trial_id]
        public_trials.write_trial(trial, ROOT)
        print(f"{trial_id}: patient-level fit", file=sys.stderr, flush=True)
        path = public_trials.study_path(trial, "patients", ROOT)
        fit = not args.saved_only
        patients = fit_cached(fitter, spec, priors, path, args.seed, args.out / "fits", fit)
        if patients is None:
            missing += [(trial_id, d) for d in ("patients", *args.scenarios)]
            continue
        fits.append({"trial": trial_id, "data": "patients", **patients})
        for scenario in args.scenarios:
            print(f"{trial_id}: {scenario} summary fit", file=sys.stderr, flush=True)
            path = public_trials.study_path(trial, scenario, ROOT)
            summary = fit_cached(fitter, spec, priors, path, args.seed, args.out / "fits", fit)
            if summary is None:
                missing.append((trial_id, scenario))
                continue
            fits.append({"trial": trial_id, "data": scenario, **summary})
            rows += comparison_rows(trial_id, scenario, summary, patients)
    table = pd.DataFrame(rows)
    fit_table = pd.DataFrame(fits).drop(columns=["intervals", "arms", "inputs"])
    elapsed = time.perf_counter() - wall
    versions = package_versions()
    provenance = [
        f"git commit: {commit}",
        f"started: {started.isoformat(timespec='seconds')}; wall time {elapsed / 60:.1f} min "
        f"on {platform.node() or 'this machine'} ({platform.machine()})",
        "command: python benchmarks/bench_public_trials.py " + shlex.join(sys.argv[1:]),
        f"sampler: nutpie, {args.chains} chains x {args.draws} draws after {args.tune} tuning "
        f"steps, seed {args.seed}; the gates over the free parameters and the arm medians",
        f"priors: {args.priors}",
        "registered kinds of published statistic: " + ", ".join(KINDS),
        "each fit is saved in fits/<study>.json and reused only when the hash of its inputs "
        "(study, model and prior files, sampler settings, seed, library source) matches; the "
        "Fits table gives each fit's own compile and sampling times",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "comparison.csv", index=False, float_format="%.6g")
    fit_table.to_csv(args.out / "fits.csv", index=False, float_format="%.6g")
    if missing:
        provenance.insert(
            0,
            "NOT FINISHED (no saved fit when this table was written): "
            + ", ".join(f"{t} {d}" for t, d in missing),
        )
    text = markdown(table, fit_table, provenance, args.priors)
    (args.out / "comparison.md").write_text(text, encoding="utf-8")
    shown = table[table["quantity"] == "log_hr"][
        [
            "trial",
            "scenario",
            "summary_median",
            "summary_low",
            "summary_high",
            "patient_median",
            "width_ratio",
            "summary_ci_contains_patient_median",
            "summary_gates_passed",
        ]
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(
            table[table["quantity"] != "log_hr"][
                [
                    "trial",
                    "scenario",
                    "arm",
                    "summary_median",
                    "patient_median",
                    "width_ratio",
                    "summary_ci_contains_patient_median",
                ]
            ].to_string(index=False, float_format=lambda v: f"{v:.2f}")
        )
    print(f"wall time {elapsed / 60:.1f} min; wrote {args.out}")


if __name__ == "__main__":
    main()
