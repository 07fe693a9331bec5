"""Command line: a thin layer over :mod:`resurv.api`.

Exit codes: 0 success; 1 a failed convergence gate (with ``--strict``) or a run error;
2 bad input (the message names the file, the field and the rule).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from resurv.errors import InputError, SamplingError

__all__ = ["main"]


def _add_sampler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--draws", type=int, default=2000, help="draws per chain (default 2000)")
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")


def _settings(args):
    from resurv.inference.fit import SamplerSettings

    for name in ("draws", "tune", "chains"):
        if getattr(args, name) <= 0:
            raise InputError(
                None, f"--{name}", f"must be a positive whole number; got {getattr(args, name)}"
            )
    return SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains)


def _add_cluster_args(p: argparse.ArgumentParser) -> None:
    """Where to fit: serially (default), on a local Dask cluster or on an existing one."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="fit on a local Dask cluster of N single-threaded worker processes (one per core; "
        "needs resurv[dask])",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="fit on the existing Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786 "
        "(needs resurv[dask]; the output folder must be on a file system its workers share)",
    )


def _cluster(args):
    """The cluster options of ``--workers``/``--scheduler`` (None: serial)."""
    if args.workers is None and args.scheduler is None:
        return None
    flag = "--workers" if args.workers is not None else "--scheduler"
    if args.workers is not None and args.workers < 1:
        raise InputError(None, flag, f"must be a positive whole number; got {args.workers}")
    from resurv.inference.cluster import ClusterOptions, require_dask

    try:
        require_dask()
    except ImportError as exc:
        raise InputError(None, flag, str(exc)) from None
    return ClusterOptions(workers=args.workers, scheduler=args.scheduler)


def _add_csv_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("patient-data CSV options")
    g.add_argument("--time-column", default="time", help="time column (default 'time')")
    g.add_argument("--event-column", default="event", help="event column, 1/0 (default 'event')")
    g.add_argument("--arm-column", default="arm", help="arm column (default 'arm')")
    g.add_argument("--entry-column", default=None, help="delayed-entry time column (optional)")
    g.add_argument(
        "--time-unit",
        default="months",
        choices=["days", "weeks", "months", "years"],
        help="unit of the times, converted to months (default months)",
    )
    g.add_argument(
        "--reference-arm", default=None, help="reference arm label (default: first sorted)"
    )


def _csv_options(args) -> dict:
    return {
        "time": args.time_column,
        "event": args.event_column,
        "arm": args.arm_column,
        "entry": args.entry_column,
        "time_unit": args.time_unit,
        "reference_arm": args.reference_arm,
    }


def cmd_fit(args) -> int:
    """Resurv fit MODEL --data DATA --priors PRIORS --out DIR."""
    from resurv.api import fit_files
    from resurv.io.auto_priors import AUTO_FILE_NAME, is_auto

    result = fit_files(
        args.model,
        args.data,
        args.priors,
        seed=args.seed,
        settings=_settings(args),
        out_dir=args.out,
        command=_command(),
        csv_options=_csv_options(args),
    )
    diag = result.diagnostics
    if not args.quiet:
        print(result.published.to_string(index=False))
        if is_auto(args.priors):
            print(f"priors derived from the study: {Path(args.out) / AUTO_FILE_NAME}")
        print(f"wrote {args.out}")
    if result.diagnosis.found:
        print("DIAGNOSIS: " + result.diagnosis.message, file=sys.stderr)
    if not diag.passed:
        print("CONVERGENCE GATES FAILED: " + "; ".join(diag.failures()), file=sys.stderr)
        return 1 if args.strict else 0
    return 0


def cmd_freq(args) -> int:
    """Resurv freq IPD_CSV: the frequentist statistics papers report, from patient data."""
    import json

    from resurv.io.patient_data import read_ipd
    from resurv.statistics.frequentist import format_table, frequentist_summary, to_jsonable

    if args.entry_column:
        raise InputError(args.csv, "--entry-column", "delayed entry is not supported by freq")
    data = read_ipd(args.csv, require_two_arms=False, **_csv_options(args))
    summary = frequentist_summary(data.time, data.event, data.arm, arm_labels=data.arm_labels)
    print(json.dumps(to_jsonable(summary), indent=2) if args.json else format_table(summary))
    return 0


def cmd_simulate(args) -> int:
    """Resurv simulate: one trial (two arms, or one) from a parametric model, as a CSV."""
    import math

    import numpy as np

    from resurv.families import FAMILIES, Curve
    from resurv.simulation.simulate import simulate_trials, write_ipd_csv
    from resurv.statistics.followup import FollowUp

    if args.family not in FAMILIES:
        raise InputError(None, "--family", f"must be one of {', '.join(FAMILIES)}")
    fam = FAMILIES[args.family]
    if any(p.domain == "vector" for p in fam.parameters):
        raise InputError(None, "--family", f"'{fam.name}' cannot be simulated here")
    shapes = [p for p in fam.parameters if p.name != "median"]
    names = ", ".join(p.name for p in shapes) or "none"
    if len(args.shape) != len(shapes):
        rule = f"family '{fam.name}' takes {len(shapes)} value(s) ({names}); got {len(args.shape)}"
        raise InputError(None, "--shape", rule)
    checks = [
        ("--median", args.median > 0, "must be > 0"),
        ("--accrual", args.accrual > 0, "must be > 0"),
        ("--followup", args.followup >= 0, "must be >= 0"),
        ("--dropout", args.dropout >= 0, "must be >= 0"),
        ("--n", len(args.n) in (1, 2), "gives one arm size (a single-arm trial) or two"),
        ("--n", min(args.n) >= 1, "each arm needs at least one patient"),
    ]
    if len(args.n) == 1 and (args.log_hr is not None or args.log_tr is not None):
        flag = "--log-hr" if args.log_hr is not None else "--log-tr"
        raise InputError(None, flag, "a single-arm trial (one --n) has no arm effect")
    checks += [
        ("--shape", p.domain != "positive" or v > 0, f"{p.name} must be > 0")
        for p, v in zip(shapes, args.shape, strict=True)
    ]
    numbers = [args.median, args.accrual, args.followup, args.dropout, *args.shape]
    numbers += [v for v in (args.log_hr, args.log_tr) if v is not None]
    if not all(math.isfinite(v) for v in numbers):
        raise InputError(None, None, f"numbers must be finite; got {numbers}")
    for flag, ok, rule in checks:
        if not ok:
            raise InputError(None, flag, f"{rule}; got {getattr(args, flag[2:])}")
    params = {"median": args.median, **{p.name: v for p, v in zip(shapes, args.shape, strict=True)}}
    curves = (Curve(fam, params), Curve(fam, params, log_hr=args.log_hr, log_tr=args.log_tr))
    curves = curves[: len(args.n)]
    rng = np.random.default_rng(args.seed)
    inverses = [c.inv_cum_hazard for c in curves]
    design = FollowUp(args.accrual, args.followup, args.dropout)
    trials = simulate_trials(rng, inverses, args.n, design, n_trials=1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_ipd_csv(out, trials)
    if not args.quiet:
        print(f"wrote {out} ({sum(args.n)} patients, {int(trials.event.sum())} events)")
    return 0


def _progress(args, unit: str):
    """The progress display on stderr (None with ``--quiet``): a bar on a terminal, else lines."""
    if args.quiet:
        return None
    from resurv.inference.progress import ProgressDisplay

    return ProgressDisplay(sys.stderr, unit)


def _run_plan(plan, out, args):
    """``run_plan`` with the progress display of the command line."""
    from resurv.inference.sweep import run_plan

    shown = _progress(args, "runs")
    try:
        return run_plan(
            plan,
            out,
            progress=shown.message if shown else None,
            steps=shown.step if shown else None,
            command=_command(),
            cluster=_cluster(args),
        )
    finally:
        if shown:
            shown.close()


def cmd_sweep(args) -> int:
    """Run `resurv sweep PLAN --out DIR`."""
    from resurv.inference.sweep import load_plan

    plan = _with_digitization(load_plan(args.plan), args)
    table = _run_plan(plan, args.out, args)
    if not args.quiet:
        runs = table[["model", "priors"]].drop_duplicates().shape[0]
        print(f"wrote {args.out}/sweep.csv ({runs} runs)")
    return _gates_exit_code(table, args.strict)


def _add_digitization_args(p: argparse.ArgumentParser) -> None:
    """Settings of the refits on perturbed digitizations (they override the plan's)."""
    p.add_argument(
        "--perturbations",
        type=int,
        help="fits on digitized Kaplan-Meier curves: refits on K perturbed digitizations "
        "(0: none; default: the plan's [digitization] perturbations, else 8)",
    )
    p.add_argument(
        "--digitization-time-sd",
        type=float,
        help="time error of a perturbed digitization, as a fraction of each curve's last time "
        "(default: the plan's, else 0.003)",
    )
    p.add_argument(
        "--digitization-survival-sd",
        type=float,
        help="survival error of a perturbed digitization (default: the plan's, else 0.004)",
    )


def _with_digitization(plan, args):
    """``plan`` with the digitization settings given on the command line."""
    import dataclasses

    from resurv.inference.digitization_error import DigitizationSettings

    given = {
        "perturbations": ("--perturbations", args.perturbations),
        "time_sd": ("--digitization-time-sd", args.digitization_time_sd),
        "survival_sd": ("--digitization-survival-sd", args.digitization_survival_sd),
    }
    values = plan.digitization.as_dict()
    values.update({k: v for k, (_, v) in given.items() if v is not None})
    try:
        settings = DigitizationSettings(**values)
    except ValueError as exc:
        flag = next((f for k, (f, v) in given.items() if v is not None and k in str(exc)), None)
        raise InputError(None, flag, str(exc)) from None
    return dataclasses.replace(plan, digitization=settings)


def _gates_exit_code(table, strict: bool) -> int:
    """Name every run whose convergence gates failed; 1 with ``--strict``, else 0."""
    failed = table.loc[~table["gates_passed"].astype(bool), ["model", "priors"]].drop_duplicates()
    if len(failed):
        names = ", ".join(f"{m} × {p}" for m, p in failed.values)
        print(f"CONVERGENCE GATES FAILED: {names}", file=sys.stderr)
        return 1 if strict else 0
    return 0


def cmd_report(args) -> int:
    """Run `resurv report DIR`: rebuild the report from saved results."""
    from resurv.report.build import build_report

    path = build_report(args.dir)
    if not args.quiet:
        print(f"wrote {path}")
    return 0


def cmd_extrapolate(args) -> int:
    """Run `resurv extrapolate FIT --horizon T ... --out DIR`."""
    from resurv.inference.extrapolation import extrapolate_fit
    from resurv.report.extrapolation import write_extrapolation

    fit = Path(args.fit)
    if not (fit / "posterior.nc").is_file():
        raise InputError(fit, None, "is not a fit folder: it has no posterior.nc")
    horizons = args.horizon or [120.0]
    if any(not (h > 0) for h in horizons):
        raise InputError(None, "--horizon", f"must be positive months; got {horizons}")
    ext = extrapolate_fit(fit, horizons)
    path = write_extrapolation(ext, args.out, fit.name)
    if not args.quiet:
        print(ext.rmst.to_string(index=False))
        print(f"wrote {path}")
    return 0


def cmd_run(args) -> int:
    """Run `resurv run [PLAN]`: the full analysis plan, then the report."""
    from resurv.inference.sweep import load_plan
    from resurv.report.build import build_report

    plan = _with_digitization(load_plan(args.plan), args)
    out = args.out or str(Path("reports") / plan.name)
    table = _run_plan(plan, out, args)
    path = build_report(out)
    if not args.quiet:
        print(f"wrote {path}")
    return _gates_exit_code(table, args.strict)


def cmd_calibrate(args) -> int:
    """Run `resurv calibrate`: coverage and SBC of the summary-data model by simulation."""
    from resurv.api import load_data, resolve_priors
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.simulation.calibrate import CHECKPOINT_NAME, calibrate

    if args.replicates <= 0:
        raise InputError(
            None, "--replicates", f"must be a positive whole number; got {args.replicates}"
        )
    cluster = _cluster(args)
    spec = load_model_spec(args.model)
    study = load_data(args.data)
    priors, auto = resolve_priors(args.priors, study, spec)
    if auto is not None:  # the derived set, as a file beside the results (and their hash)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        priors = load_priors(auto.write(args.out))
    shown = _progress(args, "replicates")
    checkpoint = Path(args.out) / CHECKPOINT_NAME
    if checkpoint.exists() and not args.quiet:
        print(f"resuming from {checkpoint}")
    result = calibrate(
        spec,
        priors,
        study,
        replicates=args.replicates,
        seed=args.seed,
        settings=_settings(args),
        with_ipd=not args.no_ipd,
        progress=(lambda i, n: shown.step(i, n, f"replicate {i}")) if shown else None,
        checkpoint=checkpoint,
        cluster=cluster,
    )
    if shown:
        shown.close()
    result.write(args.out)
    checkpoint.unlink()
    if not args.quiet:
        print(result.coverage.to_string(index=False))
        print("\n".join(result.timing_lines()))
        print(f"wrote {args.out}")
    return 0


def _command() -> str:
    return "resurv " + shlex.join(sys.argv[1:])


AUTO_HELP = (
    "prior file (priors/*.toml), or 'auto' (the default): weakly informative priors centred on "
    "the study's own medians (resurv.io.auto_priors)"
)


def cmd_reconstruct(args) -> int:
    """Resurv reconstruct CURVE --at-risk TABLE: patient data from a digitized KM curve."""
    from resurv.errors import StudyValidationError
    from resurv.reconstruct.curve import (
        prepare_risk_table,
        read_curve,
        read_risk_table,
        reconstruct_arm,
        write_reconstruction,
    )

    for flag in ("events", "n"):
        value = getattr(args, flag)
        if value is not None and value < 0:
            raise InputError(None, f"--{flag}", f"must be a whole number >= 0; got {value}")
    curve = read_curve(args.curve, scale=args.scale)
    times, numbers, lines = read_risk_table(args.at_risk)

    def where(i, column, rule):
        if i is None:
            return InputError(None, f"--{column}", rule)
        return StudyValidationError(args.at_risk, f"row {lines[i]} column '{column}'", rule)

    table = prepare_risk_table(times, numbers, curve, args.n, where)
    arm = reconstruct_arm(curve, table, args.events)
    label = args.arm or Path(args.curve).stem
    out, checks = write_reconstruction([(label, arm)], args.out)
    if not args.quiet:
        c = arm.checks
        published = c["events_published"]
        gap = c["largest_gap"]
        print(
            f"{c['n']} patients, {c['events']} events"
            + (f" ({published} published)" if published is not None else "")
            + f"; numbers at risk reproduced: {'yes' if c['at_risk_reproduced'] else 'no'}; "
            f"largest gap to the curve {gap['value']:.4f} at {gap['time']:g}"
        )
        for repair in c["repairs"]:
            print(f"repaired: {repair['rule']}: {repair['detail']}")
        print(f"wrote {out} and {checks}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="resurv", description="Bayesian re-analysis of survival studies."
    )
    parser.add_argument("--quiet", action="store_true", help="no progress or tables")
    parser.add_argument("--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit one model to one data file under one prior file")
    p.add_argument("model", help="model file (models/*.toml)")
    p.add_argument("--data", required=True, help="study file (TOML) or patient-data CSV")
    p.add_argument("--priors", default="auto", help=AUTO_HELP)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--strict", action="store_true", help="exit 1 when a convergence gate fails")
    _add_sampler_args(p)
    _add_csv_args(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "reconstruct",
        help="patient data from a digitized Kaplan-Meier curve and its at-risk table (Guyot)",
    )
    p.add_argument("curve", help="digitized curve CSV: rows time,survival (header optional)")
    p.add_argument("--at-risk", required=True, help="at-risk table CSV: columns time,at_risk")
    p.add_argument("--events", type=int, default=None, help="total events, when published")
    p.add_argument("--n", type=int, default=None, help="arm size (adds time 0 to the table)")
    p.add_argument(
        "--scale",
        default="auto",
        choices=["auto", "fraction", "percent"],
        help="survival axis: fraction (0-1), percent (0-100) or auto (default)",
    )
    p.add_argument("--arm", default=None, help="arm label in the output (default: curve name)")
    p.add_argument("--out", required=True, help="patient-data CSV to write (checks beside it)")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("freq", help="frequentist statistics of a patient-data CSV")
    p.add_argument("csv", help="patient-data CSV")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_csv_args(p)
    p.set_defaults(func=cmd_freq)

    p = sub.add_parser(
        "simulate", help="simulate one trial (two arms, or one) as a patient-data CSV"
    )
    p.add_argument("--family", required=True, help="survival family (e.g. weibull)")
    p.add_argument("--median", required=True, type=float, help="reference-arm median (months)")
    p.add_argument("--shape", nargs="*", type=float, default=[], help="family shape value(s)")
    effect = p.add_mutually_exclusive_group()
    effect.add_argument("--log-hr", type=float, default=None, help="log hazard ratio (PH)")
    effect.add_argument("--log-tr", type=float, default=None, help="log time ratio (AFT)")
    p.add_argument(
        "--n",
        required=True,
        nargs="+",
        type=int,
        metavar="N",
        help="arm sizes: N0 N1 for two arms, or N for a single-arm trial",
    )
    p.add_argument("--accrual", required=True, type=float, help="accrual period (months)")
    p.add_argument("--followup", required=True, type=float, help="follow-up after the last entry")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout rate per month (default 0)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", required=True, help="CSV file to write (columns time,event,arm)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("sweep", help="fit studies × models × prior files from a plan file")
    p.add_argument("plan", help="plan file (TOML)")
    p.add_argument("--out", required=True, help="output folder (reruns reuse finished fits)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a convergence gate fails")
    _add_digitization_args(p)
    _add_cluster_args(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("calibrate", help="coverage and SBC of the summary-data model by simulation")
    p.add_argument("model", help="survival model file")
    p.add_argument("--data", required=True, help="study file: its design and reported statistics")
    p.add_argument("--priors", default="auto", help=AUTO_HELP + "; parameters are drawn from it")
    p.add_argument("--replicates", type=int, default=200, help="simulated trials (default 200)")
    p.add_argument(
        "--out",
        required=True,
        help="output folder; finished replicates are kept in it until the end, so that the "
        "same command resumes an interrupted run",
    )
    p.add_argument("--no-ipd", action="store_true", help="skip the patient-data fits")
    _add_sampler_args(p)
    _add_cluster_args(p)
    p.set_defaults(func=cmd_calibrate, draws=500, tune=500, chains=2)

    p = sub.add_parser("report", help="rebuild a report from a saved run or sweep folder")
    p.add_argument("dir", help="folder written by 'resurv run' or 'resurv sweep'")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "extrapolate", help="posterior survival, hazard and RMST of a fit beyond its data"
    )
    p.add_argument("fit", help="fit folder written by 'resurv fit'")
    p.add_argument(
        "--horizon",
        type=float,
        action="append",
        help="RMST horizon in months (repeatable; default 120); the curves run to the largest",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_extrapolate)

    p = sub.add_parser("run", help="the main job: the full re-analysis of the bundled study")
    p.add_argument("plan", nargs="?", default="models/plan.toml", help="plan file")
    p.add_argument("--out", help="output folder (default reports/<plan name>)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a convergence gate fails")
    _add_digitization_args(p)
    _add_cluster_args(p)
    p.set_defaults(func=cmd_run)

    _add_elicit_parser(sub)
    return parser


def cmd_elicit(args) -> int:
    """Run ``resurv elicit KIND ...`` or ``resurv elicit --curves PRIORS --model M --png OUT``."""
    from resurv.io.elicit import elicit, prior_entry_toml, prior_predictive_curves

    if args.ess:
        from resurv.checks.prior_ess import ess_table
        from resurv.io.priors import load_priors

        auto = _elicit_auto(args, args.ess, None)
        table = ess_table(auto.prior_file if auto else load_priors(args.ess))
        table = table[table["scale"] != ""].drop(columns="source")
        sys.stdout.write(table.to_string(index=False, float_format=lambda v: f"{v:.1f}") + "\n")
        return 0
    if args.curves:
        if not (args.model and args.png):
            raise InputError(None, "--curves", "needs --model and --png")
        auto = _elicit_auto(args, args.curves, args.model)
        priors = auto.write(Path(args.png).parent) if auto else args.curves
        prior_predictive_curves(priors, args.model, args.png, n_draws=args.draws, seed=args.seed)
        if not args.quiet:
            sys.stdout.write(f"wrote {args.png}\n")
        return 0
    if args.kind is None or args.upper is None:
        raise InputError(None, "kind", "give KIND and --upper (or --curves PRIORS)")
    result = elicit(
        args.kind,
        upper=args.upper,
        lower=args.lower,
        center=args.center,
        mass=args.mass,
        unit=args.unit,
    )
    text = prior_entry_toml(args.endpoint, args.parameter, result.spec)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    sys.stdout.write(text)
    return 0


def _elicit_auto(args, priors: str, model: str | None):
    """``--curves auto`` / ``--ess auto``: the prior set derived from ``--data`` (else None)."""
    from resurv.api import load_data
    from resurv.io.auto_priors import derive_auto_priors, is_auto
    from resurv.io.modelspec import load_model_spec

    if not is_auto(priors):
        return None
    if not args.data:
        raise InputError(None, "--data", "'auto' priors are derived from a study: give --data")
    spec = load_model_spec(model) if model else None
    survival = [spec.endpoint] if spec is not None and spec.likelihood == "survival" else []
    return derive_auto_priors(load_data(args.data), survival)


def _add_elicit_parser(sub) -> argparse.ArgumentParser:
    """Add the ``elicit`` subcommand to the command line's subparsers."""
    from resurv.io.elicit import ELICITORS

    p = sub.add_parser(
        "elicit",
        help="turn 'median 36 months, 90%% sure between 20 and 60' into a prior-file entry",
        description="Maximum-entropy elicitation (PreliZ maxent) written as a prior-file entry; "
        "or, with --curves, a plot of the survival curves a prior file implies for a model.",
    )
    p.add_argument("kind", nargs="?", choices=list(ELICITORS), help="lognormal, ratio or beta")
    p.add_argument("--center", type=float, help="median (lognormal), ratio, or mean (beta)")
    p.add_argument("--lower", type=float, help="lower end (omit for 'sure below UPPER')")
    p.add_argument("--upper", type=float, help="upper end of the interval")
    p.add_argument("--mass", type=float, default=0.9, help="probability of the interval (0.9)")
    p.add_argument("--unit", default="", help="unit for the source text, e.g. months")
    p.add_argument("--endpoint", default="os", help="endpoint table of the entry (default os)")
    p.add_argument("--parameter", default="median_reference", help="parameter of the entry")
    p.add_argument("--out", help="append the entry to this prior file")
    p.add_argument("--curves", metavar="PRIORS", help="plot prior predictive survival curves")
    p.add_argument(
        "--ess", metavar="PRIORS", help="print each prior's ESS (moment and ELIR methods)"
    )
    p.add_argument("--model", help="survival model file for --curves")
    p.add_argument("--data", help="study file for --curves auto / --ess auto (derived priors)")
    p.add_argument("--png", help="output PNG for --curves")
    p.add_argument("--draws", type=int, default=2000, help="prior draws for --curves")
    p.add_argument("--seed", type=int, default=1, help="seed for --curves")
    p.set_defaults(func=cmd_elicit)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SamplingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
