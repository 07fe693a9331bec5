"""Elicitation: turn a clinician's statement into a prior-file entry, and show what it implies.

"Median OS 36 months, 90% sure it is between 20 and 60" becomes the maximum-entropy
distribution of the chosen kind that puts the stated mass on the stated interval, with the centre
held fixed where one is stated (PreliZ ``maxent``; Mikkola P et al. Bayesian Analysis 2024;19:1347
on prior elicitation; Icazatti A et al. JOSS 2023;8:5499 for PreliZ):

- ``lognormal`` (medians in months, shapes): the centre is the median, e^μ;
- ``ratio`` (a normal prior on log HR or log time ratio, stated as a ratio and its interval):
  the centre is the ratio's median e^μ;
- ``beta`` (probabilities): the centre is the mean.

Without a stated centre, the maximum-entropy normal (for a lognormal: the normal of the log,
i.e. entropy on the log scale; PreliZ's month-scale LogNormal entropy grows with the median and
would push it up) puts equal tails outside the interval, so the interval ends are its
(1 ∓ mass)/2 quantiles. For a Beta the maximum-entropy solution need not have equal tails.
A one-sided statement ("90% sure below 60") is an interval from the lower end of the support
(for a ratio, the centre fixed, the mirror image of the bound below it with mass 2·mass − 1).

Every entry is written as TOML with a ``source`` line that says how it was elicited.
:func:`prior_predictive_curves` draws the survival curves a prior file implies for a model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resurv.errors import InputError
from resurv.io.priors import DISTRIBUTIONS, PriorSpec

__all__ = [
    "ELICITORS",
    "Elicited",
    "elicit",
    "prior_entry_toml",
    "prior_predictive_curves",
    "sample_prior",
]

log = logging.getLogger(__name__)


class ElicitationError(InputError):
    """An elicitation statement cannot be turned into a distribution."""


@dataclass(frozen=True)
class Elicited:
    """An elicited prior and how well it meets the statement."""

    spec: PriorSpec
    statement: str
    achieved_mass: float
    achieved_center: float | None


def _maxent(dist, lower: float, upper: float, mass: float):
    import warnings

    import preliz as pz

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # checked below, against scipy
        pz.maxent(dist, lower, upper, mass, plot=False)
    return dist


def _check_interval(lower, upper, mass, kind):
    if not 0 < mass < 1:
        raise ElicitationError(None, "mass", f"must be strictly between 0 and 1; got {mass}")
    if lower is not None and upper is not None and not lower < upper:
        raise ElicitationError(None, "upper", f"must be greater than lower ({lower}); got {upper}")
    if upper is None:
        raise ElicitationError(None, "upper", f"is required for a {kind} prior")


def _lognormal(center, lower, upper, mass) -> PriorSpec:
    import preliz as pz

    _check_interval(lower, upper, mass, "lognormal")
    if lower is None and center is None:
        raise ElicitationError(None, "center", "a one-sided statement needs the median")
    if min(v for v in (center, lower, upper) if v is not None) <= 0 and lower != 0:
        raise ElicitationError(None, "lower", "lognormal values must be positive")
    if center is not None and not (lower or 0) < center < upper:
        raise ElicitationError(None, "center", "the median must lie inside the interval")
    if center is None:  # entropy on the log scale: equal tails outside the interval
        dist = _maxent(pz.Normal(), math.log(lower), math.log(upper), mass)
    else:
        dist = _maxent(pz.LogNormal(mu=math.log(center)), lower or 0.0, upper, mass)
    return PriorSpec("lognormal", {"mu": float(dist.mu), "sigma": float(dist.sigma)})


def _ratio(center, lower, upper, mass) -> PriorSpec:
    import preliz as pz

    _check_interval(lower, upper, mass, "ratio")
    if min(v for v in (center, lower, upper) if v is not None) <= 0:
        raise ElicitationError(None, "lower", "ratios (HR, time ratio) must be positive")
    if center is not None and not (lower or 0) < center < upper:
        raise ElicitationError(None, "center", "the ratio must lie inside the interval")
    if lower is None:
        if center is None:
            raise ElicitationError(None, "center", "a one-sided statement needs the ratio")
        if mass <= 0.5:
            raise ElicitationError(None, "mass", "a one-sided bound needs mass above 0.5")
        mu = math.log(center)
        lo, hi, m = 2 * mu - math.log(upper), math.log(upper), 2 * mass - 1
    else:
        lo, hi, m = math.log(lower), math.log(upper), mass
    dist = pz.Normal(mu=math.log(center)) if center is not None else pz.Normal()
    dist = _maxent(dist, lo, hi, m)
    return PriorSpec("normal", {"mu": float(dist.mu), "sigma": float(dist.sigma)})


def _beta(center, lower, upper, mass) -> PriorSpec:
    import preliz as pz

    _check_interval(lower, upper, mass, "beta")
    if (lower or 0) < 0 or upper > 1:
        raise ElicitationError(None, "upper", "probabilities must lie in [0, 1]")
    if center is not None and not (lower or 0) < center < upper:
        raise ElicitationError(None, "center", "the mean must lie inside the interval")
    dist = pz.Beta(mu=center) if center is not None else pz.Beta()
    dist = _maxent(dist, lower or 0.0, upper, mass)
    return PriorSpec("beta", {"alpha": float(dist.alpha), "beta": float(dist.beta)})


def _achieved_ratio(spec: PriorSpec, lower, upper) -> tuple[float, float]:
    """Mass of a normal prior on the log ratio on [lower, upper] (ratio scale), and e^median."""
    frozen = spec.scipy_frozen()
    low = -np.inf if lower is None else math.log(lower)
    mass = frozen.cdf(math.log(upper)) - frozen.cdf(low)
    return float(mass), float(math.exp(frozen.median()))


def _achieved_median(spec: PriorSpec, lower, upper) -> tuple[float, float]:
    """Mass on [lower, upper] and the median."""
    frozen = spec.scipy_frozen()
    return float(frozen.cdf(upper) - frozen.cdf(lower or 0.0)), float(frozen.median())


def _achieved_mean(spec: PriorSpec, lower, upper) -> tuple[float, float]:
    """Mass on [lower, upper] and the mean."""
    frozen = spec.scipy_frozen()
    return float(frozen.cdf(upper) - frozen.cdf(lower or 0.0)), float(frozen.mean())


#: kind -> (function, name of the centre, what it is for, what it achieves: (mass, centre))
ELICITORS = {
    "lognormal": (_lognormal, "median", "medians (months) and shapes", _achieved_median),
    "ratio": (
        _ratio,
        "ratio",
        "normal prior on log HR or log time ratio, stated as a ratio",
        _achieved_ratio,
    ),
    "beta": (_beta, "mean", "probabilities", _achieved_mean),
}


def elicit(
    kind: str,
    *,
    upper: float,
    lower: float | None = None,
    center: float | None = None,
    mass: float = 0.9,
    unit: str = "",
) -> Elicited:
    """The maximum-entropy prior of ``kind`` with ``mass`` on [lower, upper] and the centre.

    Parameters
    ----------
    kind : {"lognormal", "ratio", "beta"}
        See :data:`ELICITORS`.
    upper, lower : float
        The interval; ``lower=None`` for a one-sided statement ("90% sure below ``upper``").
    center : float, optional
        The median (lognormal), the ratio (ratio) or the mean (beta), held fixed.
    mass : float
        Probability of the interval (default 0.9).
    unit : str
        Unit for the statement text (e.g. ``"months"``).

    Returns
    -------
    Elicited
        The prior (with a ``source`` stating how it was elicited), the mass it puts on the
        interval and its centre, both computed with ``scipy.stats``.
    """
    if kind not in ELICITORS:
        raise ElicitationError(None, "kind", f"must be one of {', '.join(ELICITORS)}; got {kind}")
    fn, center_name, _, achieved = ELICITORS[kind]
    spec = fn(center, lower, upper, mass)
    u = f" {unit}" if unit else ""
    said = f"{center_name} {center:g}{u}, " if center is not None else ""
    where = f"between {lower:g} and {upper:g}" if lower is not None else f"below {upper:g}"
    statement = f"{said}{100 * mass:g}% sure it is {where}{u}"
    achieved_mass, achieved_center = achieved(spec, lower, upper)
    if abs(achieved_mass - mass) > 0.005:
        raise ElicitationError(
            None,
            "mass",
            f"no {kind} distribution meets '{statement}' (best: {achieved_mass:.3f} on the "
            "interval); widen the interval or move the centre",
        )
    import preliz

    source = (
        f"elicited: {statement}; PreliZ {preliz.__version__} maxent {kind} "
        f"(achieved {100 * achieved_mass:.1f}% on the interval, {center_name} "
        f"{achieved_center:.4g})"
    )
    spec = PriorSpec(spec.dist, spec.args, source)
    log.info("elicited %s", spec.describe())
    return Elicited(spec, statement, achieved_mass, achieved_center)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    text = f"{float(value):.10g}"
    return text if any(c in text for c in ".en") else text + ".0"


def prior_entry_toml(endpoint: str, parameter: str, spec: PriorSpec) -> str:
    """One prior-file entry as TOML text (``[endpoint.parameter]`` with ``dist``, args, source)."""
    lines = [f"[{endpoint}.{parameter}]", f'dist = "{spec.dist}"']
    if spec.dist == "robust":
        lines.append(f"weight = {_toml_value(spec.weight)}")
        for part in ("informative", "vague"):
            sub = getattr(spec, part)
            inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in sub.args.items())
            lines.append(f'{part} = {{ dist = "{sub.dist}", {inner} }}')
    else:
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.args.items()]
    lines.append(f"source = {_toml_value(spec.source)}")
    return "\n".join(lines) + "\n"


def sample_prior(spec: PriorSpec, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws from a prior (robust mixtures: each draw's component chosen with its weight)."""
    if spec.dist == "robust":
        pick = rng.random(size) < spec.weight
        inf = sample_prior(spec.informative, size, rng)
        vag = sample_prior(spec.vague, size, rng)
        return np.where(pick, inf, vag)
    if spec.dist not in DISTRIBUTIONS:
        raise ValueError(f"cannot sample a '{spec.dist}' prior")
    return np.asarray(spec.scipy_frozen().rvs(size=size, random_state=rng), dtype=float)


def prior_predictive_curves(
    prior_file: str | Path,
    model_file: str | Path,
    out_png: str | Path,
    *,
    n_draws: int = 2000,
    seed: int = 1,
    horizon_months: float = 120.0,
    arm_labels: tuple[str, str] = ("reference", "comparator"),
) -> dict:
    """Plot the survival curves a prior file implies for a survival model, to a PNG.

    Parameters are drawn from the priors (robust mixtures included), each draw gives both arms'
    curves S_j(t) = exp(−H_j(t)) (:class:`resurv.families.Curve`); the plot shows the pointwise
    median and the 50% and 90% bands per arm.

    Returns
    -------
    dict
        ``times`` and, per arm label, the (5%, 25%, 50%, 75%, 95%) pointwise quantiles.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.models.survival import ArmCurves, chosen_priors

    model_spec = load_model_spec(model_file)
    if model_spec.likelihood != "survival":
        raise InputError(str(model_file), "likelihood", "prior curves need a survival model")
    priors = load_priors(prior_file)
    rng = np.random.default_rng(seed)
    chosen = chosen_priors(model_spec, priors)
    curves = ArmCurves(model_spec).from_prior(chosen, n_draws, rng)
    times = np.linspace(0.0, horizon_months, 121)
    probs = (0.05, 0.25, 0.5, 0.75, 0.95)
    out = {"times": times}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for curve, label, colour in zip(curves, arm_labels, ("#1f4e79", "#b5562b"), strict=True):
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            surv = curve.survival(times[None, :])
        q = np.nanquantile(surv, probs, axis=0)
        out[label] = q
        ax.fill_between(times, q[0], q[4], color=colour, alpha=0.15, lw=0)
        ax.fill_between(times, q[1], q[3], color=colour, alpha=0.3, lw=0)
        ax.plot(times, q[2], color=colour, label=f"{label}: median, 50% and 90% bands")
    ax.set_xlabel("months")
    ax.set_ylabel("survival")
    ax.set_ylim(0, 1)
    ax.set_title(f"Prior predictive survival: {model_spec.name} × {priors.name}")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return out
