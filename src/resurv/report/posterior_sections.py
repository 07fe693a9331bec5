"""Report sections about the posterior.

Published values beside the posterior, prior against posterior, survival curves, arm effects,
model comparison and sensitivity.

Tables come from the saved CSV files; figures from the saved draws in each run's ``posterior.nc``
(the predictive checks from its ``posterior_predictive`` and ``observed_data`` groups), with the
model and prior files its provenance records (:mod:`resurv.report.runs`). No model is rebuilt.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from resurv.models.built import stacked_draws
from resurv.models.survival import ArmCurves
from resurv.report.document import Figure, Section
from resurv.report.figures import forest_plot
from resurv.report.posterior_figures import (
    effect_density_figure,
    predictive_panel,
    prior_posterior_figure,
    survival_bands,
    survival_curves_figure,
)

__all__ = [
    "KEY_PARAMETERS",
    "comparison_section",
    "curves_section",
    "effects_section",
    "model_comparison_section",
    "prior_posterior_section",
    "sensitivity_section",
]

log = logging.getLogger(__name__)

#: Parameters shown prior against posterior (when the model has them).
KEY_PARAMETERS = (
    "p_reference",
    "p_comparator",
    "median_reference",
    "median_comparator",
    "log_hr",
    "log_tr",
)

#: Largest number of posterior draws used for curve bands.
CURVE_DRAWS = 1000


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _is_survival(run) -> bool:
    return run.spec.likelihood == "survival"


def comparison_section(results) -> Section:
    """Every published value beside its posterior estimate, interval and ppp, per prior set.

    The predictive distributions (published value marked) are drawn under the plan's first prior
    set, from the replicate draws the fit saved (``posterior_predictive``).
    """
    sec = Section("Published values beside the posterior")
    first = results.prior_files[0].name if results.prior_files else ""
    sec.text(
        "Each published value beside its posterior counterpart (median and 95% equal-tailed "
        "interval) and its two-sided posterior predictive p-value (ppp): how far out the "
        "published value lies among the same statistic computed, with the paper's estimator, on "
        "replicate trials of the published size (one per posterior draw). A small ppp (below "
        "0.05) means the model does not reproduce that number. Statistics without a model "
        f"counterpart (SPSS means, log-rank p) have only a ppp. Figures: prior set '{first}'."
    )
    for model, runs in results.by_model().items():
        frames = []
        for run in runs:
            f = run.table("published_vs_posterior.csv")
            f.insert(0, "priors", run.prior_name)
            frames.append(f)
        sec.table(pd.concat(frames, ignore_index=True), f"Model '{model}'")
        for run in runs:
            _digitization_blocks(sec, run)
        for diagnosed in runs:
            _diagnosis(sec, diagnosed, results.runs)
        run = runs[0]
        items = run.predictive_checks()
        if items:
            png = predictive_panel(items, f"Predictive checks: {run.label}")
            sec.figure(
                Figure(
                    f"ppc_{_slug(run.model)}_{_slug(run.prior_name)}",
                    png,
                    f"Predictive distribution of each published statistic in replicate trials "
                    f"({run.label}); red line: the published value.",
                )
            )
    return sec


#: Column headings of the table of sensitivity to digitization error (saved name → shown).
DIGITIZATION_COLUMNS = {
    "quantity": "quantity",
    "posterior_median": "posterior median",
    "width_95": "95% width",
    "fits": "perturbed fits",
    "sd_of_medians": "SD of medians",
    "mcse_median": "MCSE of median",
    "sd_beyond_mcse": "SD beyond MCSE",
    "lowest_median": "lowest median",
    "highest_median": "highest median",
}


def _digitization_blocks(sec: Section, run) -> None:
    """The run's table "sensitivity to digitization error" and its sentence (when it has one).

    Read from the run's saved ``digitization_error.csv`` and ``digitization_fits.csv``
    (:mod:`resurv.inference.digitization_error`); nothing for a fit not on digitized curves.
    """
    from resurv.inference.digitization_error import FITS_FILE, SPREAD_FILE

    table = run.table(SPREAD_FILE)
    if not len(table):
        return
    settings = run.record.get("digitization", {})
    fits = run.table(FITS_FILE)
    perturbed = fits[fits["fit"].astype(str).str.startswith("perturbation")]
    refused = perturbed.loc[perturbed["refused"].fillna("").astype(str) != "", "fit"].nunique()
    numbered = perturbed[perturbed["refused"].fillna("").astype(str) == ""]
    failed = numbered.loc[~numbered["gates_passed"].astype(bool), "fit"].nunique()
    ratio = (table["sd_beyond_mcse"] / table["width_95"]).to_numpy(dtype=float)
    sentence = (
        f"Refitted on {settings.get('perturbations', int(table['fits'].max()))} reconstructions "
        "of perturbed digitizations (every point of each curve moved by a normal error of SD "
        f"{settings.get('time_sd', float('nan')):g} × the curve's last time and "
        f"{settings.get('survival_sd', float('nan')):g} in survival; same at-risk table, model, "
        "priors and seed), the posterior medians moved by the SDs in the table; "
    )
    if np.isfinite(ratio).any() and np.nanmax(ratio) > 0:
        worst = int(np.nanargmax(ratio))
        sentence += (
            f"the part beyond Monte Carlo error is largest for {table['quantity'].iloc[worst]}, "
            f"at {ratio[worst]:.1%} of its 95% interval width."
        )
    else:
        sentence += "for every summary that spread is within Monte Carlo error."
    if refused:
        sentence += f" {refused} perturbed digitization(s) could not be reconstructed (left out)."
    if failed:
        sentence += (
            f" {failed} of the perturbed fits failed their convergence gates (their numbers are "
            "in the table all the same)."
        )
    shown = table[[c for c in DIGITIZATION_COLUMNS if c in table]].rename(
        columns=DIGITIZATION_COLUMNS
    )
    sec.table(shown, f"Sensitivity to digitization error: {run.label}")
    sec.text(sentence)


def reproducing_fits(statistics: tuple[str, ...], run, runs) -> list[tuple[str, float]]:
    """(model, joint predictive p) of the other fits that reproduce ``statistics`` together.

    The other models fitted under ``run``'s prior set that passed their convergence gates and
    whose replicate trials hold the published values of ``statistics`` jointly (joint
    predictive p ≥ :data:`resurv.checks.conflict.ALPHA`, from their saved groups).
    """
    from resurv.checks.conflict import ALPHA

    found = []
    for other in runs:
        if other.model == run.model or other.prior_name != run.prior_name:
            continue
        if not other.diagnostics().get("passed"):
            continue
        p = other.joint_ppp(statistics)
        if np.isfinite(p) and p >= ALPHA:
            found.append((other.model, p))
    return found


def _diagnosis(sec: Section, run, runs) -> None:
    """The fit's diagnosis (diagnostics.json): its message, its checks, the fits that fit."""
    from resurv.checks.conflict import ALPHA

    record = run.diagnostics().get("diagnosis")
    if not record:
        return
    sec.text(f"Diagnosis of {run.label}: {record['message']}")
    rows = []
    for conflict in record.get("conflicts", []):
        names = tuple(conflict["statistics"])
        for name, value, p in zip(names, conflict["published"], conflict["each_ppp"], strict=True):
            rows.append(
                {
                    "statistics": " + ".join(names),
                    "statistic": name,
                    "published": value,
                    "predictive p alone": p,
                    "joint predictive p": conflict["joint_ppp"],
                }
            )
    for tail in record.get("in_tail", []):
        rows.append(
            {
                "statistics": tail["statistic"],
                "statistic": tail["statistic"],
                "published": tail["published"],
                "predictive p alone": tail["ppp"],
                "joint predictive p": tail["ppp"],
            }
        )
    if not rows:
        return
    table = pd.DataFrame(rows)
    sets = list(dict.fromkeys(table["statistics"]))
    reproduced = []
    for joined in sets:
        names = tuple(table.loc[table["statistics"] == joined, "statistic"])
        fits = reproducing_fits(names, run, runs)
        table.loc[table["statistics"] == joined, "reproduced by"] = (
            ", ".join(f"{m} (joint p {p:.2f})" for m, p in fits) or "no other fit of this plan"
        )
        if fits:
            reproduced.append(f"{' and '.join(names)}: {', '.join(m for m, _ in fits)}")
    sec.table(
        table,
        f"{run.label}: published statistics the model cannot reconcile, with their "
        "predictive p-values (replicate trials of the published size)",
    )
    if reproduced:
        sec.text(
            "Reproduced together by another model of this plan (gates passed, joint predictive "
            f"p ≥ {ALPHA:g}) under prior set '{run.prior_name}': " + "; ".join(reproduced) + "."
        )


def prior_posterior_section(results) -> Section:
    """Prior density against posterior draws for the key parameters of each model."""
    sec = Section("Prior against posterior")
    sec.text(
        "Prior density (line) against the posterior draws (histogram) of the parameters that "
        "carry the prior: response probabilities, arm medians (months), log hazard ratio or log "
        "time ratio. Where the two coincide, the data said little about that parameter."
    )
    for model, runs in results.by_model().items():
        kept = runs
        endpoint = kept[0].spec.endpoint
        params = [
            p
            for p in KEY_PARAMETERS
            if p in kept[0].posterior().data_vars
            and all(p in r.priors.for_endpoint(endpoint) for r in kept)
        ]
        if not params:
            continue
        panels = [
            [(r.priors.for_endpoint(endpoint)[p], stacked_draws(r.posterior(), p)) for p in params]
            for r in kept
        ]
        png = prior_posterior_figure(
            panels, [r.prior_name for r in kept], params, f"Prior vs posterior: {model}"
        )
        sec.figure(
            Figure(
                f"prior_posterior_{_slug(model)}",
                png,
                f"Model '{model}': prior (line) and posterior (histogram), one row per prior set.",
            )
        )
    return sec


def curves_section(results) -> Section:
    """Posterior survival curves per arm with pointwise 95% bands, per model and prior set."""
    from resurv.models.survival import curves_from_posterior

    sec = Section("Posterior survival curves")
    sec.text(
        "Survival S(t) per arm from the posterior draws (pointwise posterior median and 95% "
        f"equal-tailed band; at most {CURVE_DRAWS} draws, thinned evenly), drawn to a horizon "
        "past the published medians. The dotted line marks S = 0.5, where a curve's median is "
        "read; the dashed line marks where the data end (summary-data fits: the posterior median "
        "of accrual + follow-up, the longest time a patient could have been followed): beyond "
        "it the curves are the model's extrapolation."
    )
    any_curves = False
    for model, runs in results.by_model().items():
        kept = [r for r in runs if _is_survival(r)]
        if not kept:
            continue
        any_curves = True
        spec = kept[0].spec
        ends = {r.prior_name: data_end(r) for r in kept}
        horizon = curve_horizon(spec, kept, ends.values())
        grid = np.linspace(0.0, horizon, 121)
        panels = {}
        labels = ()
        for r in kept:
            post = r.posterior()
            n_all = stacked_draws(post, "median_months").shape[0]
            step = max(1, int(np.ceil(n_all / CURVE_DRAWS)))
            curves = curves_from_posterior(spec, post, draws=slice(None, None, step))
            panels[r.prior_name] = [survival_bands(c, grid) for c in curves]
            labels = tuple(str(a) for a in post["median_months"].coords["arm"].values)
        png = survival_curves_figure(
            panels, grid, labels, f"{spec.endpoint.upper()}: {model}", data_end=ends
        )
        sec.figure(
            Figure(
                f"curves_{_slug(model)}",
                png,
                f"Posterior {spec.endpoint.upper()} curves, model '{model}', "
                "one panel per prior set.",
            )
        )
    if not any_curves:
        sec.text("No survival models in this plan.")
    return sec


def published_medians(run) -> list[float]:
    """The finite published medians (months) of a fit's endpoint, from its saved table."""
    table = run.table("published_vs_posterior.csv")
    if not len(table) or "statistic" not in table:
        return []
    rows = table[table["statistic"].astype(str).str.endswith("_median_months")]
    values = pd.to_numeric(rows["published"], errors="coerce").to_numpy(dtype=float)
    return [float(v) for v in values if np.isfinite(v)]


def data_end(run) -> float | None:
    """Where a summary-data fit's data end: posterior median of accrual + follow-up (months).

    None for a fit without those design parameters (patient data).
    """
    post = run.posterior()
    if "accrual_months" not in post or "followup_months" not in post:
        return None
    total = stacked_draws(post, "accrual_months") + stacked_draws(post, "followup_months")
    return float(np.median(total))


def curve_horizon(spec, runs, ends) -> float:
    """Horizon of the curves (months): the latest of the candidates below.

    60 months, the model's landmarks and RMST horizons, 1.5 × the largest published median and
    1.1 × where the data end.
    """
    medians = [m for r in runs for m in published_medians(r)]
    finite_ends = [e for e in ends if e is not None and np.isfinite(e)]
    return float(
        max(
            [
                60.0,
                *spec.landmarks,
                *spec.rmst_horizons,
                *(1.5 * m for m in medians),
                *(1.1 * e for e in finite_ends),
            ]
        )
    )


_EFFECT_ROWS = {
    "hr": "HR",
    "time_ratio": "time ratio",
    "median_difference": "median difference (months)",
}
_PROB_ROWS = ("P(HR < 1)", "P(HR < 0.7)", "P(time ratio > 1)", "P(median comparator > reference)")


def effects_section(results) -> Section:
    """HR / time-ratio posteriors with P(HR < 1), P(HR < 0.7), from the tidy table."""
    sec = Section("Hazard ratios and time ratios")
    survival = [r for r in results.runs if _is_survival(r)]
    if survival and all(ArmCurves(r.spec).n_arms == 1 for r in survival):
        return sec.text(
            "The study has one arm: there is no hazard ratio, time ratio or difference between "
            "arms, and its survival models have the one arm's parameters only."
        )
    sec.text(
        "Comparator (second arm) against reference: hazard ratio under proportional hazards, "
        "time ratio under accelerated failure time, difference of medians for separate curves. "
        "HR < 1 and time ratio > 1 favour the comparator."
    )
    table = _base_rows(results.table)
    rows = []
    for (model, priors), g in table.groupby(["model", "priors"], sort=False):
        by_q = g.set_index("quantity")
        for quantity, label in _EFFECT_ROWS.items():
            if quantity not in by_q.index:
                continue
            q = by_q.loc[quantity]
            row = {
                "model": model,
                "priors": priors,
                "effect": label,
                **(
                    {"posterior median": q["median"]}
                    if "median" in q and pd.notna(q["median"])
                    else {"mean": q["mean"]}
                ),
                "ci_low": q["ci_low"],
                "ci_high": q["ci_high"],
            }
            for p in _PROB_ROWS:
                row[p] = by_q.loc[p, "mean"] if p in by_q.index else float("nan")
            rows.append(row)
    if not rows:
        return sec.text("No survival models with an arm effect in this plan.")
    frame = pd.DataFrame(rows)
    frame = frame.dropna(axis=1, how="all")
    sec.table(
        frame,
        "Posterior median (mean in older sweep folders), 95% equal-tailed interval and posterior "
        "probabilities of the arm effect",
    )
    for quantity, label in (("hr", "hazard ratio"), ("time_ratio", "time ratio")):
        runs = [
            r
            for r in results.runs
            if _is_survival(r) and r.spec.effect == {"hr": "ph", "time_ratio": "aft"}[quantity]
        ]
        if not runs:
            continue
        draws = {r.label: stacked_draws(r.posterior(), quantity) for r in runs}
        log_name = {"hr": "log_hr", "time_ratio": "log_tr"}[quantity]
        priors = {
            r.label: r.priors.for_endpoint(r.spec.endpoint)[log_name]
            for r in runs
            if log_name in r.priors.for_endpoint(r.spec.endpoint)
        }
        sec.figure(
            Figure(
                f"effect_{quantity}",
                effect_density_figure(
                    draws, label, f"Posterior {label} (dotted: 0.7 and 1)", priors=priors
                ),
                f"Posterior density of the {label} (solid) and its prior (dashed), per model and "
                "prior set (log axis).",
            )
        )
    return sec


def _base_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the prior files as written (not grid settings)."""
    if "grid_parameter" in table:
        return table[table["grid_parameter"].fillna("").astype(str) == ""]
    return table


def model_comparison_section(results) -> Section:
    """Predictive p-values side by side per family; PSIS-LOO for patient-data fits."""
    from resurv.checks.compare import compare_fits

    sec = Section("Model comparison across families")
    sec.text(
        "Summary-data fits have no pointwise likelihood of patients, so families are compared "
        "by how well each reproduces the published values: the posterior predictive p-values "
        "side by side (columns: models of the same endpoint). A family with small ppps does not "
        "fit what the paper printed."
    )
    survival = [r for r in results.runs if _is_survival(r)]
    endpoints = list(dict.fromkeys(r.spec.endpoint for r in survival))
    for endpoint in endpoints:
        runs = [r for r in survival if r.spec.endpoint == endpoint]
        frames = []
        for r in runs:
            f = r.table("published_vs_posterior.csv")
            if "ppp" not in f:
                continue
            frames.append(f.assign(model=r.model, priors=r.prior_name))
        if not frames:
            continue
        long = pd.concat(frames, ignore_index=True)
        families = long.groupby("priors", sort=False)["model"].nunique()
        compared = families[families >= 2].index
        if 0 < len(compared) < len(families):
            long = long[long["priors"].isin(compared)]
            sec.text(
                f"{endpoint.upper()}: families are compared under the prior set(s) "
                f"{', '.join(repr(p) for p in compared)}, the ones the plan fits them all under."
            )
        wide = long.pivot_table(
            index=["priors", "statistic", "arm", "published"],
            columns="model",
            values="ppp",
            sort=False,
        ).reset_index()
        wide.columns.name = None
        sec.table(wide, f"{endpoint.upper()}: ppp per model (rows: prior set, published value)")
        if long["model"].nunique() < 2:
            sec.text(
                f"The plan fits one family for {endpoint.upper()}; list more model files of this "
                "endpoint in the plan (or run `resurv sweep`) to compare families."
            )
        ipd = [r for r in runs if "survival_ipd" in r.log_likelihood_names()]
        for priors in dict.fromkeys(r.prior_name for r in ipd):
            import xarray as xr

            group = [r for r in ipd if r.prior_name == priors]
            if len(group) < 2:
                continue
            trees = {r.model: xr.open_datatree(r.path) for r in group}
            try:
                loo = compare_fits(trees)
            finally:
                for t in trees.values():
                    t.close()
            sec.table(loo, f"{endpoint.upper()}, prior set '{priors}': PSIS-LOO comparison")
    if not endpoints:
        sec.text("No survival models in this plan.")
    else:
        sec.text(
            "LOO (PSIS, resurv.checks.compare) is shown for patient-data fits only; none here."
        )
    return sec


_FOREST_NAMES = {*KEY_PARAMETERS, "p", "median_months", "p_difference", "odds_ratio", *_EFFECT_ROWS}


def sensitivity_section(results) -> Section:
    """Forest plots across priors and models, and the power-scaling diagnoses."""
    sec = Section("Sensitivity to the prior and the model")
    keep = _base_rows(results.table)
    keep = keep[~keep["quantity"].astype(str).str.startswith("P(")]
    for (endpoint, quantity), rows in keep.groupby(["endpoint", "quantity"], sort=False):
        if rows["priors"].nunique() < 2 and rows["model"].nunique() < 2:
            continue
        if str(quantity).split("[")[0] not in _FOREST_NAMES:
            continue
        ref = 1.0 if quantity in ("hr", "time_ratio", "odds_ratio") else None
        ref = 0.0 if quantity in ("log_hr", "log_tr", "p_difference") else ref
        title = f"{endpoint}: {quantity}"
        png = forest_plot(rows.reset_index(drop=True), title, str(quantity), ref)
        sec.figure(Figure(f"forest_{_slug(title)}", png, f"{title} across models and prior sets"))
    sec.text(
        "Power-scaling sensitivity (Kallioinen et al. 2024): how much each quantity's posterior "
        "moves when the prior or the likelihood is raised to a power near 1. Both ≥ 0.05: "
        "prior-data conflict; prior ≥ 0.05 with likelihood < 0.05: strong prior, weak likelihood."
    )
    if "psense_diagnosis" not in keep:
        return sec.text("The tidy table has no power-scaling columns.")
    flagged = keep[~keep["psense_diagnosis"].fillna("ok").astype(str).isin(["", "ok"])]
    counts = (
        keep.assign(flag=keep["psense_diagnosis"].fillna("").astype(str))
        .query("flag != ''")
        .groupby(["model", "priors", "flag"], sort=False)
        .size()
        .unstack("flag", fill_value=0)
        .reset_index()
    )
    counts.columns.name = None
    if len(counts):
        sec.table(counts, "Number of quantities per power-scaling diagnosis")
    if len(flagged):
        sec.table(
            flagged[
                [
                    "model",
                    "priors",
                    "quantity",
                    "psense_prior",
                    "psense_likelihood",
                    "psense_diagnosis",
                ]
            ].reset_index(drop=True),
            "Quantities flagged by power-scaling",
        )
    else:
        sec.text("No quantity is flagged by power-scaling.")
    return sec
