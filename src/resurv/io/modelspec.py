"""Model files: which endpoint, which likelihood, which family and arm effect.

A model file is TOML::

    name = "os_weibull_ph"
    endpoint = "os"            # an endpoint of the study
    likelihood = "survival"    # "binomial" or "survival"
    family = "weibull"         # survival only: see resurv.families.FAMILIES
    effect = "ph"              # "ph", "aft" or "separate"
    rmst_horizons = [60.0]     # months, derived RMST(τ)
    landmarks = [24.0, 60.0]   # months, derived S(t)
    cuts = [12.0, 36.0]        # piecewise exponential only: interior cut points (months)
    smoothing = "random_walk"  # piecewise exponential only: or "independent"
    knots = [3.0, 12.0, 36.0]  # rp_spline only: spline knots (months), boundary knots first/last
    background_times = [0.0, 60.0]      # optional: general-population hazard, interval starts
    background_rates = [0.001, 0.002]   # (months) and rates per month; the family is then the
                                        # excess hazard (patient data only)
    target_accept = 0.99       # optional: NUTS target acceptance for this model (0.5-1)
    draws = 1000               # optional: at least this many draws per chain for this model

``target_accept`` raises the sampler's target acceptance probability for every fit of the model
(smaller steps, deeper trees): the usual remedy when a posterior has a funnel that causes
divergent transitions (Stan's ``adapt_delta``). It never lowers a model's built-in value.

``draws`` raises the number of draws per chain of every fit of the model above a plan's or the
command line's (never lowers it): for a posterior whose heavy-tailed quantities (a median under
vague priors) need more draws for R-hat to settle below its gate, while the other models of a
plan keep the plan's number. It applies to fits (``resurv fit``, ``sweep``, ``run``), not to
simulation studies (``resurv calibrate``), which set their own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from resurv.errors import ModelSpecError
from resurv.io.tables import TableReader, load_from_text, read_toml

__all__ = ["ModelSpec", "load_model_spec", "model_spec_from_text"]

LIKELIHOODS = ("binomial", "survival")
EFFECTS = ("ph", "aft", "separate")


@dataclass(frozen=True)
class ModelSpec:
    """A validated model file."""

    name: str
    endpoint: str
    likelihood: str
    description: str = ""
    family: str | None = None
    effect: str | None = None
    rmst_horizons: tuple[float, ...] = (60.0,)
    landmarks: tuple[float, ...] = (24.0, 60.0)
    cuts: tuple[float, ...] = ()
    smoothing: str = "random_walk"
    knots: tuple[float, ...] = ()
    background_times: tuple[float, ...] = ()
    background_rates: tuple[float, ...] = ()
    target_accept: float | None = None
    draws: int | None = None
    path: str = ""

    def to_dict(self) -> dict:
        """Plain-data form, without the path (for hashing and provenance).

        ``knots`` and the background hazard appear only when set, so other models keep their
        keys.
        """
        d = asdict(self)
        d.pop("path")
        for key in ("knots", "background_times", "background_rates"):
            if not d[key]:
                d.pop(key)
        return d

    @property
    def background(self):
        """The general-population hazard (``BackgroundHazard``), or None."""
        if not self.background_times:
            return None
        from resurv.families.background import BackgroundHazard

        return BackgroundHazard(self.background_times, self.background_rates)

    @property
    def key(self) -> str:
        """Hash of everything that shapes the model graph (not the sampler's settings)."""
        d = self.to_dict()
        d.pop("target_accept")
        d.pop("draws")
        text = json.dumps(d, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_model_spec(path: str | Path) -> ModelSpec:
    """Read and validate a model file.

    Raises
    ------
    ModelSpecError
        Naming the file, the field and the rule broken.
    """
    path = Path(path)
    top = TableReader(read_toml(path, ModelSpecError), path, "", ModelSpecError)
    top.only(
        [
            "name",
            "endpoint",
            "likelihood",
            "description",
            "family",
            "effect",
            "rmst_horizons",
            "landmarks",
            "cuts",
            "smoothing",
            "knots",
            "background_times",
            "background_rates",
            "target_accept",
            "draws",
        ]
    )
    likelihood = top.string("likelihood", choices=LIKELIHOODS)
    family = effect = None
    background: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    cuts: list[float] = []
    knots: list[float] = []
    smoothing = "random_walk"
    if likelihood == "survival":
        from resurv.families import FAMILIES

        family = top.string("family", choices=list(FAMILIES))
        effect = top.string("effect", choices=EFFECTS)
        fam = FAMILIES[family]
        if effect != "separate" and effect not in fam.effects:
            raise top.fail(
                "effect",
                f"family '{family}' supports {', '.join(fam.effects)} and separate; got '{effect}'",
            )
        if family == "pwexp":
            cuts = top.numbers("cuts", positive=True)
            if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
                raise top.fail("cuts", "must be strictly increasing")
            smoothing = top.string("smoothing", "random_walk", ["random_walk", "independent"])
        else:
            for key in ("cuts", "smoothing"):
                if top.has(key):
                    raise top.fail(key, "applies only to family 'pwexp'")
        if family == "rp_spline":
            knots = top.numbers("knots", positive=True)
            if len(knots) < 2:
                raise top.fail("knots", "needs at least the two boundary knots")
            if any(b <= a for a, b in zip(knots, knots[1:], strict=False)):
                raise top.fail("knots", "must be strictly increasing")
        elif top.has("knots"):
            raise top.fail("knots", "applies only to family 'rp_spline'")
        background = _background(top)
    else:
        for key in (
            "family",
            "effect",
            "cuts",
            "smoothing",
            "knots",
            "background_times",
            "background_rates",
            "rmst_horizons",
            "landmarks",
        ):
            if top.has(key):
                raise top.fail(key, "applies only to likelihood 'survival'")
    return ModelSpec(
        name=top.string("name", path.stem),
        endpoint=top.string("endpoint"),
        likelihood=likelihood,
        description=top.string("description", ""),
        family=family,
        effect=effect,
        rmst_horizons=tuple(top.numbers("rmst_horizons", [60.0], positive=True)),
        landmarks=tuple(top.numbers("landmarks", [24.0, 60.0], positive=True)),
        cuts=tuple(cuts),
        knots=tuple(knots),
        background_times=background[0],
        background_rates=background[1],
        smoothing=smoothing,
        target_accept=_target_accept(top),
        draws=top.number("draws", None, integer=True, positive=True),
        path=str(path),
    )


def model_spec_from_text(text: str, path: str | Path) -> ModelSpec:
    """A model file from its saved text (e.g. a fit's provenance).

    Read as :func:`load_model_spec` would read the file ``path`` holding that text.
    """
    spec = load_from_text(load_model_spec, text, path, ModelSpecError)
    return replace(spec, path=str(path))


def _target_accept(top: TableReader) -> float | None:
    if not top.has("target_accept"):
        return None
    value = top.number("target_accept")
    if not 0.5 <= value < 1.0:
        raise top.fail("target_accept", f"must be at least 0.5 and below 1; got {value}")
    return float(value)


def _background(top: TableReader) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``background_times`` and ``background_rates``: both or neither, validated."""
    if not (top.has("background_times") or top.has("background_rates")):
        return (), ()
    for key in ("background_times", "background_rates"):
        if not top.has(key):
            other = "background_rates" if key == "background_times" else "background_times"
            raise top.fail(key, f"is needed with {other}")
    times = top.numbers("background_times")
    rates = top.numbers("background_rates", positive=True)
    if len(times) != len(rates):
        raise top.fail("background_rates", f"needs one rate per interval start ({len(times)})")
    if times[0] != 0:
        raise top.fail("background_times", f"must start at 0; got {times[0]}")
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise top.fail("background_times", "must be strictly increasing")
    return tuple(float(t) for t in times), tuple(float(r) for r in rates)
