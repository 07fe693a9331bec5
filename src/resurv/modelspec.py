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
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ._schema import TableReader, read_toml
from .errors import ModelSpecError

__all__ = ["ModelSpec", "load_model_spec"]

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
    path: str = ""

    def to_dict(self) -> dict:
        """Plain-data form, without the path (for hashing and provenance)."""
        d = asdict(self)
        d.pop("path")
        return d

    @property
    def key(self) -> str:
        """Hash of everything that shapes the model graph."""
        text = json.dumps(self.to_dict(), sort_keys=True)
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
        ]
    )
    likelihood = top.string("likelihood", choices=LIKELIHOODS)
    family = effect = None
    cuts: list[float] = []
    smoothing = "random_walk"
    if likelihood == "survival":
        from .families import FAMILIES

        family = top.string("family", choices=list(FAMILIES))
        effect = top.string("effect", choices=EFFECTS)
        fam = FAMILIES[family]
        if effect != "separate" and effect not in fam.effects:
            raise top.fail(
                "effect",
                f"family '{family}' supports {', '.join(fam.effects)} and separate; "
                f"got '{effect}'",
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
        path=str(path),
    )
