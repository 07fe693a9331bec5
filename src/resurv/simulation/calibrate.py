"""Calibration of the summary-data likelihood by simulation (resurv statistical design, section 6).

For each replicate r = 1..N:

1. draw parameters θ_r and the follow-up design (A_r, F_r) from the prior;
2. simulate a trial of the study's design (arm sizes, uniform accrual, minimum follow-up);
3. reduce it to the statistics the paper reported, with the paper's estimators (a simulated arm
   whose KM median is not reached reports "not reached", not a median);
4. fit the summary-data model (one compile per structure of reported statistics; the statistics
   enter as ``pm.Data``) and, optionally, the same trial's patient data;
   each fit samples at the calibration's target acceptance (0.9 by default) and a fit with
   divergent transitions is sampled again at the model's higher one (what an analyst does
   with a divergent fit; summary-data models and some model files raise it for ridges and
   funnels that most simulated trials do not have, and it costs two to four times the leapfrog
   steps);
5. record whether the central 50/80/95% posterior intervals cover θ_r and the rank of θ_r among
   posterior draws (simulation-based calibration; Talts S et al. arXiv:1804.06788).

Empirical coverage within two binomial standard errors of nominal, and uniform SBC ranks, show
that the approximations (joint normal, asymptotic covariances at n ≈ 15) are good enough.

A long calibration can be interrupted and resumed: with a ``checkpoint`` file every finished
replicate is appended to it (one JSON line), and a later run with the same inputs, seed,
settings, package versions and resurv source skips the replicates it holds. The result is
identical to an uninterrupted run (the random stream used for SBC thinning is advanced past
the finished replicates).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import stats

from resurv.errors import InputError, SamplingError
from resurv.inference.fit import Fitter, SamplerSettings, exact_arithmetic, package_versions
from resurv.inference.provenance import source_digest as _source_digest
from resurv.io.modelspec import ModelSpec
from resurv.io.patient_data import PatientData
from resurv.io.priors import PriorFile
from resurv.io.study import Study
from resurv.models.built import BuiltModel, stacked_draws
from resurv.models.summary_data import (
    DESIGN_VARIABLES,
    FOLLOWUP_LATENT,
    build_survival_summary,
)
from resurv.models.survival import (
    ArmCurves,
    build_survival_patients,
    curves_from_posterior,
    for_arms,
)
from resurv.simulation.simulate import SimulatedTrials, simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.published.base import TrialData

__all__ = [
    "CHECKPOINT_NAME",
    "CalibrationJob",
    "CalibrationResult",
    "ReplicateTask",
    "calibrate",
    "checkpoint_identity",
    "fit_replicate",
    "fit_replicate_batch",
    "SimulatedReplicates",
    "reduce_trial",
    "simulated_replicates",
    "targets_for",
]

log = logging.getLogger(__name__)

LEVELS = (0.5, 0.8, 0.95)
#: File in the output folder of ``resurv calibrate`` holding finished replicates until the end.
CHECKPOINT_NAME = "replicates.partial.jsonl"
SBC_DRAWS = 99
#: The variables the targets of :func:`targets_for` read; a replicate's fit draws no other
#: (besides the free parameters sampled without a transform), so its model compiles faster.
TARGET_VARIABLES = ("log_hr", "log_tr", "median_months", "rmst_months")


def targets_for(spec: ModelSpec) -> dict[str, Callable]:
    """Quantities whose calibration is checked: effect, per-arm median, RMST at the first horizon.

    ``spec`` as fitted (:func:`resurv.models.survival.for_arms`): a single-arm model has its
    arm's median and RMST only.

    Each maps a posterior (or prior) dataset to draws.
    """
    targets = {}
    if spec.effect == "ph":
        targets["log_hr"] = lambda d: stacked_draws(d, "log_hr")
    elif spec.effect == "aft":
        targets["log_tr"] = lambda d: stacked_draws(d, "log_tr")
    for j, arm in enumerate(("reference", "comparator")[: ArmCurves(spec).n_arms]):
        targets[f"median_{arm}"] = lambda d, j=j: stacked_draws(d, "median_months")[:, j]
        tau = spec.rmst_horizons[0]
        targets[f"rmst{tau:g}_{arm}"] = lambda d, j=j: stacked_draws(d, "rmst_months")[:, j, 0]
    return targets


def reduce_trial(study: Study, endpoint: str, time_, event, arm) -> Study:
    """The study as a paper would have reported one simulated trial of its design.

    Each published statistic of ``endpoint`` is recomputed with the paper's estimator (its
    kind's ``reduce``, :mod:`resurv.statistics.published`); a median (reached or not) becomes
    whichever the simulated KM curve gives. The study keeps the statistics of ``endpoint`` only.
    """
    trial = TrialData(*(np.asarray(x)[None, :] for x in (time_, event, arm)))
    out = [s.reduce(trial, study) for s in study.survival_statistics(endpoint)]
    return dataclasses.replace(study, survival=tuple(out))


@dataclass
class CalibrationResult:
    """Per-replicate records, coverage table, SBC ranks and timings."""

    records: pd.DataFrame
    coverage: pd.DataFrame
    width_ratio: pd.DataFrame
    timings: dict

    def write(self, out_dir: str | Path) -> Path:
        """Write calibration.csv, coverage.csv, width_ratio.csv, calibration.json, SBC figures."""
        from resurv.report.figures import sbc_histogram

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.records.to_csv(out / "calibration.csv", index=False, float_format="%.6g")
        self.coverage.to_csv(out / "coverage.csv", index=False, float_format="%.4g")
        self.width_ratio.to_csv(out / "width_ratio.csv", index=False, float_format="%.4g")
        (out / "calibration.json").write_text(json.dumps(self.timings, indent=2) + "\n")
        for target, rows in self.records.groupby("target"):
            png = sbc_histogram(rows["rank"].to_numpy(), SBC_DRAWS, str(target))
            (out / f"sbc_{target}.png").write_bytes(png)
        return out

    def timing_lines(self) -> list[str]:
        """Compile and run times in words (printed by ``resurv calibrate``)."""
        return timing_lines(self.timings)


def timing_lines(timings: dict) -> list[str]:
    """Compile and run times, and the sampler's record, of a calibration (``calibration.json``)."""
    t = timings
    s = t["sampler"]
    if "target_accept_after_divergences" in s:
        after = s["target_accept_after_divergences"]
        again = f" ({after:g} after divergences)" if after > s["target_accept"] else ""
        target = f"target acceptance {s['target_accept']:g}{again}"
    else:  # written before the resampling rule: every fit used the model's value
        target = "the model's target acceptance (value not recorded)"
    lines = [
        f"NUTS (nutpie): {s['chains']} chains of {s['draws']} draws after {s['tune']} tuning "
        f"steps, {target}"
    ]
    compiled, summary_keys = t["compile_seconds"], set(t.get("summary_models", []))
    summary = [v for k, v in compiled.items() if k in summary_keys]
    other = [v for k, v in compiled.items() if k not in summary_keys]
    lines.append(
        f"compiled {len(summary)} summary-data model structure(s): "
        + ", ".join(f"{v:.1f} s" for v in summary)
    )
    if other:
        lines.append(
            f"compiled {len(other)} patient-data model(s): "
            + ", ".join(f"{v:.1f} s" for v in other)
        )
    n = t["replicates"]
    lines.append(
        f"{n} replicates in {t['total_seconds']:.0f} s ({t['total_seconds'] / n:.1f} s each, "
        f"compiling included); {t.get('replicates_refitted', 0)} sampled again at a higher "
        f"target acceptance after divergences; {t['replicates_with_divergences']} with "
        "divergences in the fit kept"
    )
    return lines


def _reported(replica: Study) -> str:
    """The kinds of statistics a replicate reports, e.g. ``median:sirt;logrank:``."""
    return ";".join(f"{s.statistic}:{s.arm or ''}" for s in replica.survival)


def _fit(fitter: Fitter, built, seed: int):
    """Posterior of ``built`` at the settings' target acceptance; again at the model's if divergent.

    Returns the tree and the target acceptance of the fit kept.
    """
    target_accept = fitter.settings.target_accept
    kept = list(TARGET_VARIABLES)
    tree = fitter.sample(
        built, seed, posterior_only=True, target_accept=target_accept, var_names=kept
    )
    higher = fitter.target_accept(built)
    if higher > target_accept and tree.sample_stats["diverging"].values.any():
        log.info("divergences at target_accept %.2f: sampling again at %.2f", target_accept, higher)
        tree = fitter.sample(built, seed, posterior_only=True, target_accept=higher, var_names=kept)
        target_accept = higher
    return tree, target_accept


def _interval_records(target, truth, draws, thinning: np.ndarray | None) -> dict:
    rec = {"target": target, "truth": truth, "posterior_median": float(np.median(draws))}
    for level in LEVELS:
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
        rec[f"covered{int(level * 100)}"] = bool(lo <= truth <= hi)
        rec[f"width{int(level * 100)}"] = float(hi - lo)
    if thinning is None:
        raise ValueError(
            f"SBC ranks need at least {SBC_DRAWS} posterior draws (draws × chains); "
            f"got {len(draws)}"
        )
    thinned = np.asarray(draws)[thinning]
    rec["rank"] = int(np.sum(thinned < truth))
    return rec


def _thinning(n_draws: int, rng) -> np.ndarray:
    """Indices of the SBC_DRAWS posterior draws, out of ``n_draws``, that rank the truth."""
    return rng.choice(n_draws, size=SBC_DRAWS, replace=False)


def _coverage_table(records: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for target, g in records.groupby("target", sort=False):
        n = len(g)
        counts = np.bincount(g["rank"], minlength=SBC_DRAWS + 1)
        bins = counts.reshape(-1, (SBC_DRAWS + 1) // 20).sum(axis=1)
        sbc_p = float(stats.chisquare(bins).pvalue)
        for level in LEVELS:
            cov = float(g[f"covered{int(level * 100)}"].mean())
            se = float(np.sqrt(level * (1 - level) / n))
            rows.append(
                {
                    "target": target,
                    "nominal": level,
                    "coverage": cov,
                    "replicates": n,
                    "binomial_se": se,
                    "within_2se": abs(cov - level) <= 2 * se,
                    "sbc_uniformity_p": sbc_p,
                }
            )
    return pd.DataFrame(rows)


class SimulatedReplicates(NamedTuple):
    """Steps 1-2 of a calibration (see :func:`simulated_replicates`)."""

    prior: xr.Dataset
    trials: SimulatedTrials
    rng: np.random.Generator
    template: BuiltModel


def simulated_replicates(
    spec: ModelSpec, priors: PriorFile, study: Study, replicates: int, seed: int
) -> SimulatedReplicates:
    """Parameters and follow-up designs drawn from the prior, and a trial of the design for each.

    Returns the prior draws (with ``median_months`` and ``rmst_months``), the simulated trials,
    the random stream, which the calibration goes on using (SBC thinning) so that the same seed
    gives the same calibration, and the summary-data model of the study itself.
    """
    spec = for_arms(spec, study.n_arms)
    rng = np.random.default_rng([seed, 6])
    template = build_survival_summary(spec, priors, study)
    # every parameter except the latent largest observed times (their law is a potential, which
    # prior predictive sampling cannot draw; the simulated trials give them anyway)
    # (nor the latent coordinate of a minimum follow-up parametrized through the median
    # follow-up, whose prior is a potential: F is drawn from its prior below)
    wanted = [
        v.name
        for v in template.model.free_RVs
        if "_horizon_raw_" not in v.name and v.name != FOLLOWUP_LATENT
    ]
    # the potentials are the summary likelihood: the draws wanted here are from the prior alone
    with template.model, exact_arithmetic(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        prior = pm.sample_prior_predictive(
            draws=replicates,
            var_names=[*wanted, "median_months", "rmst_months"],
            random_seed=int(rng.integers(2**31)),
        ).prior.to_dataset()
    curves = curves_from_posterior(spec, prior)
    # a design value fixed in the study file is a constant, not a prior draw (dropout: 0 if absent)
    fixed = {
        k: float(v.args["value"]) for k, v in study.followup_priors.items() if v.dist == "fixed"
    }
    values = {
        v: stacked_draws(prior, v) if v in prior else np.full(replicates, fixed.get(v, 0.0))
        for v in DESIGN_VARIABLES
    }
    if FOLLOWUP_LATENT in template.model.named_vars:
        values["followup_months"] = _followup_prior_draws(study, template, values, rng)
    design = FollowUp(*(values[v] for v in DESIGN_VARIABLES))
    trials = simulate_trials(
        rng,
        [c.inv_cum_hazard for c in curves],
        [a.n for a in study.arms],
        design,
        n_trials=replicates,
    )
    return SimulatedReplicates(prior, trials, rng, template)


@dataclass(frozen=True)
class CalibrationJob:
    """What every replicate's fit of one calibration shares (sent to each worker once a batch).

    ``spec`` as fitted (:func:`resurv.models.survival.for_arms`).
    """

    spec: ModelSpec
    priors: PriorFile
    study: Study
    seed: int
    settings: SamplerSettings
    with_ipd: bool


@dataclass(frozen=True)
class ReplicateTask:
    """One replicate: its simulated trial, true values and SBC thinning (drawn in order)."""

    replicate: int
    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray
    reported: str
    truths: dict[str, float]
    thinning: tuple[np.ndarray | None, ...]


def fit_replicate(fitter: Fitter, job: CalibrationJob, task: ReplicateTask) -> dict:
    """Fit one replicate (summary data, and patient data with ``job.with_ipd``).

    Returns the finished replicate as the checkpoint holds it: its records, whether it diverged
    or was sampled again, its summary model's key, the models compiled for it and its seconds.
    A failed fit raises :class:`SamplingError` naming the replicate and what it reported.
    """
    spec, priors, study, r = job.spec, job.priors, job.study, task.replicate
    start = time.perf_counter()
    compiled_before = set(fitter.compile_seconds)
    replica = reduce_trial(study, spec.endpoint, task.time, task.event, task.arm)
    built = build_survival_summary(spec, priors, replica)
    try:
        tree, target_accept = _fit(fitter, built, job.seed + r)
    except SamplingError as exc:
        raise SamplingError(
            f"calibration replicate {r} (reported: {_reported(replica)}): {exc}"
        ) from exc
    post = tree.posterior.to_dataset()
    divergences = int(tree.sample_stats["diverging"].values.sum())
    ipd_post = None
    if job.with_ipd:
        data = PatientData(
            task.time, task.event.astype(bool), task.arm, None, tuple(x.id for x in study.arms), ""
        )
        ipd_built = build_survival_patients(spec, priors, data, [x.label for x in study.arms])
        ipd_post = _fit(fitter, ipd_built, job.seed + r)[0].posterior.to_dataset()
    stat_kinds = _reported(replica)
    records = []
    for (name, fn), thinning in zip(targets_for(spec).items(), task.thinning, strict=True):
        truth = task.truths[name]
        rec = _interval_records(name, truth, fn(post), thinning)
        rec.update(
            replicate=r,
            divergences=divergences,
            target_accept=target_accept,
            reported=stat_kinds,
        )
        if ipd_post is not None:
            ipd_draws = fn(ipd_post)
            lo, hi = np.quantile(ipd_draws, [0.025, 0.975])
            rec["ipd_width95"] = float(hi - lo)
            rec["ipd_covered95"] = bool(lo <= truth <= hi)
        records.append(rec)
    compiled = {k: v for k, v in fitter.compile_seconds.items() if k not in compiled_before}
    return {
        "replicate": r,
        "records": records,
        "divergent": bool(divergences > 0),
        "refitted": bool(target_accept > job.settings.target_accept),
        "summary_model": built.key,
        "compiled": compiled,
        "seconds": time.perf_counter() - start,
    }


def fit_replicate_batch(tasks: list[ReplicateTask], job: CalibrationJob) -> list[dict]:
    """Fit a batch of replicates on a cluster worker, with the model it keeps compiled."""
    from resurv.inference.cluster import worker_fitter

    fitter = worker_fitter(job.settings)
    return [fit_replicate(fitter, job, task) for task in tasks]


def calibrate(
    spec: ModelSpec,
    priors: PriorFile,
    study: Study,
    *,
    replicates: int,
    seed: int,
    settings: SamplerSettings | None = None,
    with_ipd: bool = True,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | Path | None = None,
    fitter: Fitter | None = None,
    cluster=None,
) -> CalibrationResult:
    """Run the calibration study of the summary-data model of ``spec`` for ``study``'s design.

    With ``checkpoint`` (a file path) finished replicates are appended to it and replicates it
    already holds are not refitted; a checkpoint written by a different calibration (inputs,
    seed, settings, package versions or resurv source) raises :class:`InputError`.
    ``fitter`` (optional) supplies compiled models from earlier runs; its settings are used.
    ``progress(done, total)`` is called as each replicate finishes.

    ``cluster`` (:class:`resurv.inference.cluster.ClusterOptions`): fit the replicates on a Dask
    cluster, in batches of replicates reporting the same statistics (one model structure). The
    result is the serial one: each replicate's seed and SBC thinning are its own, drawn here in
    replicate order, and the records are put back in that order; the checkpoint is the same.
    """
    settings = (
        fitter.settings if fitter else settings or SamplerSettings(draws=500, tune=500, chains=2)
    )
    fitter = fitter or Fitter(settings)
    identity = checkpoint_identity(
        spec, priors, study, replicates=replicates, seed=seed, settings=settings, with_ipd=with_ipd
    )
    done = _read_checkpoint(Path(checkpoint), identity) if checkpoint else {}
    if done:
        log.info("resuming from %s: %d of %d replicates done", checkpoint, len(done), replicates)
    prior, trials, rng, template = simulated_replicates(spec, priors, study, replicates, seed)
    spec = for_arms(spec, study.n_arms)
    targets = targets_for(spec)
    truths = {name: fn(prior) for name, fn in targets.items()}
    # the stream moves on replicate by replicate, finished or not
    n_draws = settings.draws * settings.chains
    thinning = [
        tuple(_thinning(n_draws, rng) if n_draws >= SBC_DRAWS else None for _ in targets)
        for _ in range(replicates)
    ]
    job = CalibrationJob(spec, priors, study, seed, settings, with_ipd)
    tasks = []
    for r in range(replicates):
        if r in done:
            continue
        row = trials.row(r)
        t, e, a = row.time[0], row.event[0], row.arm
        tasks.append(
            ReplicateTask(
                replicate=r,
                time=t,
                event=e,
                arm=a,
                reported=_reported(reduce_trial(study, spec.endpoint, t, e, a)),
                truths={name: float(v[r]) for name, v in truths.items()},
                thinning=thinning[r],
            )
        )
    entries = dict(done)

    def finished(entry: dict) -> None:
        entries[entry["replicate"]] = entry
        if checkpoint:
            _append_checkpoint(Path(checkpoint), identity, entry)
        if progress:
            progress(len(entries), replicates)

    try:
        if cluster is None:
            for task in tasks:
                finished(fit_replicate(fitter, job, task))
        else:
            _fit_on_cluster(cluster, job, tasks, finished)
    except SamplingError as exc:
        if checkpoint and Path(checkpoint).exists():
            raise SamplingError(f"{exc}; the finished replicates are kept in {checkpoint}") from exc
        raise
    records = []
    total_seconds = 0.0
    n_failed = n_refitted = 0
    summary_keys: set[str] = set()
    compile_seconds: dict[str, float] = {}
    for r in range(replicates):
        entry = entries[r]
        records.extend(entry["records"])
        n_failed += entry["divergent"]
        n_refitted += entry["refitted"]
        summary_keys.add(entry["summary_model"])
        for key, seconds in entry["compiled"].items():
            compile_seconds.setdefault(key, seconds)
        total_seconds += entry["seconds"]
    table = pd.DataFrame(records)
    widths = table.groupby("target", sort=False).agg(
        summary_width95=("width95", "median"),
        ipd_width95=("ipd_width95", "median") if with_ipd else ("width95", "size"),
    )
    if with_ipd:
        widths["width_ratio"] = widths["summary_width95"] / widths["ipd_width95"]
    timings = {
        "replicates": replicates,
        "compile_seconds": compile_seconds,
        "compiled_models": len(compile_seconds),
        "summary_models": sorted(summary_keys),
        "total_seconds": round(total_seconds, 1),
        "resumed_replicates": len(done),
        "replicates_with_divergences": int(n_failed),
        "replicates_refitted": int(n_refitted),
        "sampler": {
            **dataclasses.asdict(settings),
            "target_accept_after_divergences": fitter.target_accept(template),
        },
        "seed": seed,
        "model": spec.to_dict(),
        "priors": priors.path,
        "study": study.path,
        "priors_sha256": identity["priors"],
        "study_sha256": identity["study"],
        "with_ipd": with_ipd,
        "packages": identity["packages"],
        "resurv_source_sha256": identity["resurv_source"],
    }
    if cluster is not None:
        timings["cluster"] = repr(cluster)
    return CalibrationResult(table, _coverage_table(table), widths.reset_index(), timings)


def _fit_on_cluster(cluster, job: CalibrationJob, tasks: list[ReplicateTask], finished) -> None:
    """Fit ``tasks`` on the Dask cluster of ``cluster``, batched by reported statistics."""
    from resurv.inference.cluster import batches, cluster_client, n_workers, run_batches

    groups: dict[str, list[ReplicateTask]] = {}
    for task in tasks:
        groups.setdefault(task.reported, []).append(task)
    with cluster_client(cluster) as client:
        work = batches(groups.items(), n_workers(client), cluster.batch_size)
        log.info("%d replicates in %d batches on the cluster", len(tasks), len(work))

        def each(results: list[dict]) -> None:
            for entry in results:
                finished(entry)

        run_batches(client, fit_replicate_batch, work, job, on_result=each)


def _digest(path) -> str:
    p = Path(path) if path is not None else None
    if p is None or not p.is_file():
        return str(path)
    return hashlib.sha256(p.read_bytes()).hexdigest()


def checkpoint_identity(
    spec: ModelSpec,
    priors: PriorFile,
    study: Study,
    *,
    replicates: int,
    seed: int,
    settings: SamplerSettings,
    with_ipd: bool,
) -> dict:
    """What a calibration's results depend on (as it reads back from JSON)."""
    identity = {
        "model": spec.to_dict(),
        "priors": _digest(priors.path),
        "study": _digest(study.path),
        "replicates": replicates,
        "seed": seed,
        "sampler": dataclasses.asdict(settings),
        "with_ipd": with_ipd,
        "packages": package_versions(),
        "resurv_source": _source_digest(),
    }
    return json.loads(json.dumps(identity))


def _read_checkpoint(path: Path, identity: dict) -> dict[int, dict]:
    """Finished replicates held by ``path`` (empty if it does not exist).

    A last line cut short (the run was stopped while writing it) is dropped.
    """
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    try:
        header = json.loads(lines[0])["identity"] if lines else None
    except (json.JSONDecodeError, KeyError, TypeError):
        header = None
    if header is None:
        raise InputError(path, "checkpoint", "is not a resurv calibration checkpoint")
    differ = sorted(k for k in identity.keys() | header.keys() if identity.get(k) != header.get(k))
    if differ:
        raise InputError(
            path,
            "checkpoint",
            f"was written by a different calibration ({', '.join(differ)} differ); "
            "delete it to start again",
        )
    done = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                log.warning("%s: dropped an unfinished last line", path)
                path.write_text("\n".join(lines[:-1]) + "\n")
                break
            raise InputError(path, f"line {number}", "is not valid JSON") from None
        if not isinstance(entry, dict) or not _ENTRY_KEYS <= entry.keys():
            raise InputError(
                path,
                f"line {number}",
                f"a finished replicate needs {', '.join(sorted(_ENTRY_KEYS))}",
            )
        done[int(entry["replicate"])] = entry
    return done


_ENTRY_KEYS = frozenset(
    {"replicate", "records", "divergent", "refitted", "summary_model", "compiled", "seconds"}
)


def _append_checkpoint(path: Path, identity: dict, entry: dict) -> None:
    """Append one finished replicate (writing the identity first if the file is new)."""
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        if new:
            f.write(json.dumps({"identity": identity}) + "\n")
        f.write(json.dumps(entry) + "\n")


def _followup_prior_draws(study, template, values, rng) -> np.ndarray:
    """Minimum follow-up drawn from its prior given accrual, restricted to A + F > c.

    The prior of F parametrized through the median follow-up is a potential
    (:func:`resurv.models.summary_data._followup_through_median`), which prior predictive
    sampling cannot draw: F is drawn by inversion from p(F) 1{F > c − A} (c the largest
    observed time, a data container of the model), the prior the other parametrization draws.
    """
    frozen = study.followup_priors["followup_months"].scipy_frozen()
    largest = float(template.model["design__largest_reached_median"].get_value())
    below = frozen.cdf(largest - values["accrual_months"])
    u = rng.uniform(size=below.shape)
    return frozen.ppf(below + u * (1.0 - below))
