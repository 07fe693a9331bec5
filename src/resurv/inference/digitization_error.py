"""How much a fit on digitized Kaplan–Meier curves moves under digitization error.

A fit whose endpoint comes from ``[[km_curve]]`` entries uses patients reconstructed from one
digitization of each curve (Guyot's algorithm, :mod:`resurv.reconstruct`). Another reader, or
the same reader on another day, would have clicked slightly different points. Each of K
perturbations moves every point of every curve of the endpoint by a digitizer's error
(:func:`resurv.reconstruct.digitization.jitter_points`: the points of one time share a normal
time error of SD ``time_sd`` × the curve's last time, each survival value gets an independent
normal error of SD ``survival_sd``; (0, 1) is kept), repairs the perturbed points as a
digitization is repaired (:func:`resurv.reconstruct.curve.clean_curve`), reconstructs the
patients against the same at-risk table and total events, and refits the same model and priors
with the same sampler seed. Perturbation k draws its errors from
``numpy.random.default_rng([seed, k])``: reproducible, and the first k perturbations are the
same whatever K is.

The reconstruction has as many patients as the at-risk table's first number, whatever the
perturbation, so the perturbed fits share the compile key of the fit itself and reuse its
compiled model (the patients enter through ``pm.Data``).

For each posterior summary (log HR or log time ratio, each arm's median and RMST) the spread is
the standard deviation over the K fits of the posterior median, SD = √(Σ (m_k − m̄)² / (K − 1)).
It holds Monte Carlo error too: MCSE is the root mean square of the fits' Monte Carlo standard
errors of the posterior median (``arviz_stats.mcse``, method ``median``), and the part beyond it
is √max(SD² − MCSE², 0), as in ``benchmarks/km_reconstruction.py``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resurv.errors import ConvergenceWarning, InputError

__all__ = [
    "AS_DIGITIZED",
    "FITS_FILE",
    "SPREAD_FILE",
    "DigitizationSettings",
    "applies",
    "perturbed_patients",
    "refit_perturbed",
    "spread",
    "summaries",
    "write",
]

log = logging.getLogger(__name__)

#: Per perturbation and quantity: posterior median, 95% limits, MCSE of the median, gates.
FITS_FILE = "digitization_fits.csv"
#: Name of the fit on the digitization as given in :data:`FITS_FILE`.
AS_DIGITIZED = "as digitized"
#: Per quantity: the spread of the posterior medians over the perturbations (the report's table).
SPREAD_FILE = "digitization_error.csv"


@dataclass(frozen=True)
class DigitizationSettings:
    """K perturbed digitizations and the digitizer's error.

    ``time_sd`` is a fraction of each curve's last time (0.003: 0.25 months on a 7-year curve,
    the worked example's error); ``survival_sd`` is on the survival axis (0.004: about a pixel
    of a printed figure). ``perturbations`` = 0 turns the refits off; otherwise at least 2.
    """

    perturbations: int = 8
    time_sd: float = 0.003
    survival_sd: float = 0.004

    def __post_init__(self):
        if self.perturbations < 0 or self.perturbations == 1:
            raise ValueError(
                f"perturbations must be 0 (off) or at least 2; got {self.perturbations}"
            )
        for name in ("time_sd", "survival_sd"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number >= 0; got {value}")

    def as_dict(self) -> dict:
        """JSON-ready form (recorded in the run's ``run.json``)."""
        return {
            "perturbations": int(self.perturbations),
            "time_sd": float(self.time_sd),
            "survival_sd": float(self.survival_sd),
        }

    def key(self) -> str:
        """Text entering a run's hash: a change of the settings refits the run."""
        return f"|digitization:{self.perturbations}:{self.time_sd!r}:{self.survival_sd!r}"


def applies(spec, study, settings: DigitizationSettings | None) -> bool:
    """Whether a fit of ``spec`` on ``study`` gets the perturbed refits.

    A survival model whose endpoint the study gives as digitized curves, with K > 0.
    """
    return (
        settings is not None
        and settings.perturbations > 0
        and spec.likelihood == "survival"
        and bool(study.km_curves_of(spec.endpoint))
    )


def perturbed_patients(study, endpoint: str, seed: int, k: int, settings: DigitizationSettings):
    """The patients of ``endpoint`` reconstructed from perturbation ``k`` of its digitized curves.

    Curves are perturbed in the study file's order of ``[[km_curve]]`` entries, all from one
    generator ``default_rng([seed, k])``.
    """
    from resurv.io.patient_data import reconstructed_patients
    from resurv.reconstruct.curve import clean_curve
    from resurv.reconstruct.digitization import jitter_points

    rng = np.random.default_rng([seed, k])

    def perturb(index, curve):
        t, s = jitter_points(
            curve.time,
            curve.survival,
            rng,
            settings.time_sd * float(curve.time[-1]),
            settings.survival_sd,
        )
        where = f"{curve.path} (perturbed digitization {k + 1})"
        return clean_curve(t, s, np.arange(1, t.size + 1), where, scale="fraction")

    # each perturbed copy repairs its own points: those repairs are the perturbation's, not news
    curve_log = logging.getLogger("resurv.reconstruct.curve")
    level = curve_log.level
    curve_log.setLevel(logging.ERROR)
    try:
        return reconstructed_patients(study, endpoint, perturb)
    finally:
        curve_log.setLevel(level)


def summaries(posterior, arm_labels, horizons) -> dict[str, np.ndarray]:
    """Posterior summaries whose spread is reported, each as draws of shape (chain, draw).

    ``log_hr`` or ``log_tr`` when the model has it, each arm's ``median_months`` and its
    ``rmst_months`` at each horizon.
    """
    out = {}
    for name in ("log_hr", "log_tr"):
        if name in posterior:
            out[name] = np.asarray(posterior[name].values)
    medians = np.asarray(posterior["median_months"].values)
    rmst = np.asarray(posterior["rmst_months"].values)
    for j, label in enumerate(arm_labels):
        out[f"median_months[{label}]"] = medians[..., j]
        for h, tau in enumerate(horizons):
            out[f"rmst_months[{label}, {float(tau):g}]"] = rmst[..., j, h]
    return out


def _rows(posterior, arm_labels, horizons, fit: str) -> list[dict]:
    from arviz_stats import mcse

    rows = []
    for quantity, chains in summaries(posterior, arm_labels, horizons).items():
        low, mid, high = np.quantile(chains.ravel(), [0.025, 0.5, 0.975])
        rows.append(
            {
                "fit": fit,
                "quantity": quantity,
                "posterior_median": float(mid),
                "low_95": float(low),
                "high_95": float(high),
                "mcse_median": float(mcse(chains, method="median")),
            }
        )
    return rows


def refit_perturbed(
    fitter, spec, priors, study, seed: int, settings: DigitizationSettings, posterior=None
) -> pd.DataFrame:
    """Refit ``spec`` under ``priors`` on K reconstructions of perturbed digitizations.

    One row per fit and quantity (:func:`summaries`): the fit on the digitization as given
    first (``fit`` = ``as digitized``, from ``posterior``, when given), then ``perturbation k``;
    with the posterior median, 95% limits, the MCSE of the median, whether the fit passed its
    convergence gates and why not. A perturbation whose curve cannot be repaired (refused as a
    digitization would be) has one row with the reason and no numbers.
    """
    from resurv.inference.diagnostics import check_convergence
    from resurv.models.survival import build_survival_patients, for_arms

    spec = for_arms(spec, study.n_arms)
    labels = [a.label for a in study.arms]
    horizons = list(spec.rmst_horizons)
    rows = []
    if posterior is not None:
        rows += _rows(posterior, labels, horizons, AS_DIGITIZED)
    for k in range(settings.perturbations):
        name = f"perturbation {k + 1}"
        try:
            data = perturbed_patients(study, spec.endpoint, seed, k, settings)
        except InputError as exc:
            log.warning("%s of %s refused: %s", name, spec.endpoint, exc)
            rows.append({"fit": name, "quantity": "", "refused": str(exc)})
            continue
        built = build_survival_patients(spec, priors, data, labels)
        tree = fitter.sample(built, seed=seed, posterior_only=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            diag = check_convergence(tree)
        for row in _rows(tree.posterior.to_dataset(), labels, horizons, name):
            row["gates_passed"] = bool(diag.passed)
            row["gate_failures"] = "; ".join(diag.failures())
            rows.append(row)
        log.info("%s of %s: gates %s", name, spec.endpoint, "passed" if diag.passed else "failed")
    columns = [
        "fit",
        "quantity",
        "posterior_median",
        "low_95",
        "high_95",
        "mcse_median",
        "gates_passed",
        "gate_failures",
        "refused",
    ]
    return pd.DataFrame(rows).reindex(columns=columns)


def spread(fits: pd.DataFrame) -> pd.DataFrame:
    """Per quantity, over the perturbed fits of :func:`refit_perturbed`: the spread table.

    Columns: ``quantity``; ``fits`` (perturbed fits with numbers); ``posterior_median`` and
    ``width_95`` of the fit on the digitization as given; ``sd_of_medians`` (SD of the
    perturbed fits' posterior medians, ddof = 1); ``mcse_median`` (root mean square of their
    MCSEs of the median); ``sd_beyond_mcse`` = √max(SD² − MCSE², 0); ``lowest_median`` and
    ``highest_median`` over the perturbed fits.
    """
    perturbed = fits[fits["fit"].astype(str).str.startswith("perturbation")]
    perturbed = perturbed[perturbed["quantity"].fillna("").astype(str) != ""]
    own = fits[fits["fit"] == AS_DIGITIZED].set_index("quantity")
    rows = []
    for quantity, g in perturbed.groupby("quantity", sort=False):
        sd = float(g["posterior_median"].std(ddof=1)) if len(g) > 1 else float("nan")
        error = float(np.sqrt(np.mean(np.asarray(g["mcse_median"], dtype=float) ** 2)))
        has_own = quantity in own.index
        rows.append(
            {
                "quantity": quantity,
                "fits": len(g),
                "posterior_median": own.at[quantity, "posterior_median"] if has_own else np.nan,
                "width_95": (
                    own.at[quantity, "high_95"] - own.at[quantity, "low_95"] if has_own else np.nan
                ),
                "sd_of_medians": sd,
                "mcse_median": error,
                "sd_beyond_mcse": float(np.sqrt(max(sd**2 - error**2, 0.0))),
                "lowest_median": float(g["posterior_median"].min()),
                "highest_median": float(g["posterior_median"].max()),
            }
        )
    return pd.DataFrame(rows)


def write(fits: pd.DataFrame, folder) -> pd.DataFrame:
    """Write :data:`FITS_FILE` and :data:`SPREAD_FILE` into a run's folder; return the spread."""
    from pathlib import Path

    folder = Path(folder)
    table = spread(fits)
    # full precision: the SD of close medians is recomputed from the saved fits
    fits.to_csv(folder / FITS_FILE, index=False)
    table.to_csv(folder / SPREAD_FILE, index=False)
    return table
