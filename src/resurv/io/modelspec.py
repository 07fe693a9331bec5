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
    target_accept: float | None = None
    draws: int | None = None
    path: str = ""

    def to_dict(self) -> dict:
        """Plain-data form, without the path (for hashing and provenance)."""
        d = asdict(self)
        d.pop("path")
        return d

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
            "target_accept",
            "draws",
        ]
    )
    likelihood = top.string("likelihood", choices=LIKELIHOODS)
    family = effect = None
    cuts: list[float] = []
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
    else:
        for key in ("family", "effect", "cuts", "smoothing", "rmst_horizons", "landmarks"):
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
