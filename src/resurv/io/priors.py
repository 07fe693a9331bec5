"""Prior files: distributions on interpretable scales, each with its source.

A prior file is TOML. Each endpoint is a table, each parameter a sub-table naming a distribution
from a fixed registry, its arguments and a ``source`` string::

    name = "literature"
    description = "..."

    [os.log_hr]
    dist = "normal"
    mu = -0.17
    sigma = 0.34
    source = "NETTER-1 final OS HR 0.84 (0.60-1.17), power prior a = 0.25"

    [disease_control.p_reference]
    dist = "robust"          # Schmidli et al. 2014: w * informative + (1 - w) * vague
    weight = 0.8
    informative = { dist = "beta", alpha = 34.4, beta = 5.6 }
    vague = { dist = "beta", alpha = 1, beta = 1 }
    source = "..."

Every numeric argument enters the PyMC model as ``pm.Data`` named ``prior__<param>__<arg>``, so a
sensitivity sweep swaps prior values without recompiling the model; the *structure* (which
distribution for which parameter) is part of the compiled model's key.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

from resurv.errors import PriorSpecError
from resurv.io.tables import TableReader, load_from_text, read_toml

__all__ = [
    "DISTRIBUTIONS",
    "PARAMETER_SUPPORT",
    "PriorFile",
    "PriorSpec",
    "load_priors",
    "make_prior",
    "make_truncated_prior",
    "prior_dist",
    "prior_data_values",
    "priors_from_text",
    "robustify",
    "with_argument",
]


@dataclass(frozen=True)
class _Dist:
    """One registry row: PyMC class, its arguments and their rules, the support."""

    pymc: Any
    args: tuple[str, ...]
    positive: tuple[str, ...]
    support: str  # "real", "positive" or "unit"
    scipy: Any

    def frozen(self, a: Mapping[str, float]):
        """The scipy.stats frozen distribution with these arguments (for quantiles, checks)."""
        return self.scipy(a)


DISTRIBUTIONS: dict[str, _Dist] = {
    "normal": _Dist(
        pm.Normal, ("mu", "sigma"), ("sigma",), "real", lambda a: stats.norm(a["mu"], a["sigma"])
    ),
    "student_t": _Dist(
        pm.StudentT,
        ("nu", "mu", "sigma"),
        ("nu", "sigma"),
        "real",
        lambda a: stats.t(a["nu"], a["mu"], a["sigma"]),
    ),
    "lognormal": _Dist(
        pm.LogNormal,
        ("mu", "sigma"),
        ("sigma",),
        "positive",
        lambda a: stats.lognorm(a["sigma"], scale=np.exp(a["mu"])),
    ),
    "halfnormal": _Dist(
        pm.HalfNormal, ("sigma",), ("sigma",), "positive", lambda a: stats.halfnorm(0, a["sigma"])
    ),
    "gamma": _Dist(
        pm.Gamma,
        ("alpha", "beta"),
        ("alpha", "beta"),
        "positive",
        lambda a: stats.gamma(a["alpha"], scale=1 / a["beta"]),
    ),
    "beta": _Dist(
        pm.Beta,
        ("alpha", "beta"),
        ("alpha", "beta"),
        "unit",
        lambda a: stats.beta(a["alpha"], a["beta"]),
    ),
    "uniform": _Dist(
        pm.Uniform,
        ("lower", "upper"),
        (),
        "bounded",
        lambda a: stats.uniform(a["lower"], a["upper"] - a["lower"]),
    ),
}

SUPPORTS = {"real": {"real"}, "positive": {"positive", "bounded"}, "unit": {"unit", "bounded"}}

#: Domain of each named model parameter; a prior must put all its mass inside it.
PARAMETER_SUPPORT = {
    "p_reference": "unit",
    "p_comparator": "unit",
    "median_reference": "positive",
    "median_comparator": "positive",
    "shape": "positive",
    "sdlog": "positive",
    "sigma": "positive",
    "rw_sd": "positive",
    "log_hr": "real",
    "log_tr": "real",
    "rate_shape": "real",
    "spline_slope": "positive",
    "spline_coef": "real",
    "cure_logit": "real",
    "q": "real",
}


def _support_violation(spec: PriorSpec, domain: str) -> str | None:
    """Why ``spec`` puts mass outside ``domain`` (``None`` when it does not)."""
    if spec.dist == "robust":
        for part in (spec.informative, spec.vague):
            why = _support_violation(part, domain)
            if why:
                return why
        return None
    if spec.dist not in DISTRIBUTIONS or domain == "real":
        return None
    support = DISTRIBUTIONS[spec.dist].support
    if support == "bounded":
        low, high = spec.args["lower"], spec.args["upper"]
        if low < 0 or (domain == "unit" and high > 1):
            bounds = "[0, 1]" if domain == "unit" else "(0, inf)"
            return f"uniform({low:g}, {high:g}) reaches outside {bounds}"
        return None
    if support == domain or (domain == "positive" and support == "unit"):
        return None
    return f"'{spec.dist}' has {support} support"


@dataclass(frozen=True)
class PriorSpec:
    """One parameter's prior: a registry distribution, or a robust two-part mixture.

    For ``dist == "robust"``: ``weight`` w on ``informative`` and 1 − w on ``vague``
    (Schmidli H et al. Biometrics 2014;70:1023; RBesT ``robustify``).
    """

    dist: str
    args: Mapping[str, float] = field(default_factory=dict)
    source: str = ""
    weight: float | None = None
    informative: PriorSpec | None = None
    vague: PriorSpec | None = None

    @property
    def structure(self) -> str:
        """What the compiled model depends on (distribution names, not values)."""
        if self.dist == "robust":
            return f"robust({self.informative.structure},{self.vague.structure})"
        return self.dist

    def values(self) -> dict[str, float]:
        """Numeric arguments, flattened with prefixes for mixtures."""
        if self.dist == "robust":
            out = {"weight": self.weight}
            out.update({f"inf_{k}": v for k, v in self.informative.values().items()})
            out.update({f"vague_{k}": v for k, v in self.vague.values().items()})
            return out
        return dict(self.args)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for provenance and files)."""
        if self.dist == "robust":
            return {
                "dist": "robust",
                "weight": self.weight,
                "informative": self.informative.to_dict(),
                "vague": self.vague.to_dict(),
                "source": self.source,
            }
        return {"dist": self.dist, **self.args, "source": self.source}

    def scipy_frozen(self):
        """scipy.stats frozen distribution (registry distributions only)."""
        return DISTRIBUTIONS[self.dist].frozen(self.args)

    def describe(self) -> str:
        """Short text such as ``normal(mu=0, sigma=1)``."""
        if self.dist == "robust":
            return (
                f"{self.weight:g}·{self.informative.describe()} + "
                f"{1 - self.weight:g}·{self.vague.describe()}"
            )
        inner = ", ".join(f"{k}={v:g}" for k, v in self.args.items())
        return f"{self.dist}({inner})"


@dataclass(frozen=True)
class PriorFile:
    """A parsed prior file: ``priors[endpoint][parameter] -> PriorSpec``."""

    name: str
    description: str
    priors: Mapping[str, Mapping[str, PriorSpec]]
    path: str
    sha256: str

    def for_endpoint(self, endpoint: str) -> Mapping[str, PriorSpec]:
        """The priors of one endpoint (empty mapping when the file has none)."""
        return self.priors.get(endpoint, {})

    def require(self, endpoint: str, parameters: list[str], model_name: str) -> dict:
        """The priors a model needs; refuse missing and unknown parameters by name."""
        table = self.for_endpoint(endpoint)
        missing = [p for p in parameters if p not in table]
        if missing:
            raise PriorSpecError(
                self.path,
                f"{endpoint}.{missing[0]}",
                f"model '{model_name}' needs a prior for this parameter but the file has none "
                f"(needed: {', '.join(f'{endpoint}.{p}' for p in parameters)})",
            )
        for p in parameters:
            domain = PARAMETER_SUPPORT.get(p)
            why = _support_violation(table[p], domain) if domain else None
            if why:
                raise PriorSpecError(
                    self.path,
                    f"{endpoint}.{p}.dist",
                    f"{why}; parameter '{p}' of model '{model_name}' is {domain}, so its prior "
                    f"must be too",
                )
        return {p: table[p] for p in parameters}

    def replace(self, endpoint: str, parameter: str, spec: PriorSpec) -> PriorFile:
        """A copy with one parameter's prior replaced (the file hash gets a suffix)."""
        priors = {ep: dict(t) for ep, t in self.priors.items()}
        priors.setdefault(endpoint, {})[parameter] = spec
        text = json.dumps(spec.to_dict(), sort_keys=True)
        digest = hashlib.sha256(f"{self.sha256}|{endpoint}.{parameter}|{text}".encode())
        return dataclasses.replace(self, priors=priors, sha256=digest.hexdigest())

    def check_known(self, endpoint: str, vocabulary: list[str], model_name: str) -> None:
        """Refuse parameters that no model of this kind has (a misspelling, a wrong endpoint).

        One prior file serves every family, so an endpoint's table may hold shapes of other
        families; a name outside the whole vocabulary of the model's likelihood is refused.
        """
        for p in self.for_endpoint(endpoint):
            if p not in vocabulary:
                close = difflib.get_close_matches(p, vocabulary, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise PriorSpecError(
                    self.path,
                    f"{endpoint}.{p}",
                    f"model '{model_name}' has no parameter '{p}'{hint}; "
                    f"parameters of this kind of model: {', '.join(vocabulary)}",
                )


def _parse_spec(reader: TableReader, *, top: bool) -> PriorSpec:
    dist = reader.string("dist")
    source = reader.string("source") if top else reader.string("source", "")
    if dist == "robust":
        if not top:
            raise reader.fail("dist", "a robust mixture cannot be nested in another")
        reader.only(["dist", "weight", "informative", "vague", "source"])
        weight = reader.number("weight")
        if not 0 <= weight <= 1:
            raise reader.fail("weight", f"must be between 0 and 1; got {weight}")
        informative = _parse_spec(reader.sub("informative"), top=False)
        vague = _parse_spec(reader.sub("vague"), top=False)
        s_inf = DISTRIBUTIONS[informative.dist].support
        s_vag = DISTRIBUTIONS[vague.dist].support
        if s_inf != s_vag and not (s_inf in SUPPORTS.get(s_vag, ()) or s_vag in SUPPORTS[s_inf]):
            raise reader.fail(
                "vague", f"support '{s_vag}' differs from the informative part's '{s_inf}'"
            )
        return PriorSpec("robust", {}, source, weight, informative, vague)
    if dist not in DISTRIBUTIONS:
        raise reader.fail(
            "dist",
            f"unknown distribution '{dist}'; known: {', '.join([*DISTRIBUTIONS, 'robust'])}",
        )
    row = DISTRIBUTIONS[dist]
    reader.only(["dist", "source", *row.args])
    args = {a: reader.number(a, positive=a in row.positive) for a in row.args}
    if dist == "uniform" and not args["lower"] < args["upper"]:
        raise reader.fail("upper", f"must be greater than lower ({args['lower']})")
    return PriorSpec(dist, args, source)


def parse_prior_table(value: Any, file: str | Path, field_name: str, error=PriorSpecError):
    """Parse one inline prior table (also used for follow-up priors in study files)."""
    return _parse_spec(TableReader(value, file, field_name, error), top=True)


def load_priors(path: str | Path) -> PriorFile:
    """Read and validate a prior file.

    Raises
    ------
    PriorSpecError
        Naming the file, the field (``endpoint.parameter.argument``) and the rule broken.
    """
    path = Path(path)
    raw = read_toml(path, PriorSpecError)
    top = TableReader(raw, path, "", PriorSpecError)
    name = top.string("name", path.stem)
    description = top.string("description", "")
    priors: dict[str, dict[str, PriorSpec]] = {}
    for endpoint, table in raw.items():
        if endpoint in ("name", "description"):
            continue
        ep = top.sub(endpoint)
        priors[endpoint] = {}
        for param in table:
            priors[endpoint][param] = _parse_spec(ep.sub(param), top=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return PriorFile(name, description, priors, str(path), digest)


def priors_from_text(text: str, path: str | Path, sha256: str = "") -> PriorFile:
    """A prior file from its saved text (e.g. a fit's provenance).

    Read as :func:`load_priors` would read the file ``path`` holding that text; ``sha256`` (the
    recorded hash of the file's bytes) replaces the hash of the text when given.
    """
    pf = load_from_text(load_priors, text, path, PriorSpecError)
    return dataclasses.replace(pf, path=str(path), sha256=sha256 or pf.sha256)


def _data_name(param: str, arg: str) -> str:
    return f"prior__{param}__{arg}"


def prior_data_values(name: str, spec: PriorSpec) -> dict[str, float]:
    """The ``pm.Data`` names and values a prior puts into a model (for ``with_data`` swaps)."""
    return {_data_name(name, k): float(v) for k, v in spec.values().items()}


def _component(dist: PriorSpec, name: str, prefix: str):
    row = DISTRIBUTIONS[dist.dist]
    args = {a: pm.Data(_data_name(name, f"{prefix}{a}"), float(dist.args[a])) for a in row.args}
    return row.pymc.dist(**args)


def make_prior(name: str, spec: PriorSpec):
    """Create the PyMC random variable ``name`` with prior ``spec`` inside the active model.

    Numeric arguments are ``pm.Data`` named ``prior__<name>__<argument>`` so that prior values
    can be swapped without recompiling.
    """
    if spec.dist == "robust":
        w = pm.Data(_data_name(name, "weight"), float(spec.weight))
        comps = [
            _component(spec.informative, name, "inf_"),
            _component(spec.vague, name, "vague_"),
        ]
        return pm.Mixture(name, w=pm.math.stack([w, 1.0 - w]), comp_dists=comps)
    row = DISTRIBUTIONS[spec.dist]
    args = {a: pm.Data(_data_name(name, a), float(spec.args[a])) for a in row.args}
    return row.pymc(name, **args)


def prior_dist(name: str, spec: PriorSpec):
    """(distribution, arguments): the prior ``spec`` of ``name`` as an unregistered distribution.

    Its arguments are the ``pm.Data`` containers :func:`make_prior` would create (same names),
    for the prior density of a value derived from other variables (``pm.logp(dist, value)``).
    """
    if spec.dist == "robust":
        raise ValueError(f"{name}: a robust mixture has no single distribution")
    row = DISTRIBUTIONS[spec.dist]
    args = {a: pm.Data(_data_name(name, a), float(spec.args[a])) for a in row.args}
    return row.pymc.dist(**args), args


def make_truncated_prior(name: str, spec: PriorSpec, lower):
    """The random variable ``name`` with prior ``spec`` truncated below at ``lower`` (a tensor).

    Returns the variable and log P(X > lower) under the untruncated prior: the truncated density
    is p(x) / P(X > lower) on (lower, ∞), so adding the second as a potential gives p(x) ·
    1{x > lower}, the prior restricted to the region, without a wall in the sampler's space.
    A uniform prior on (a, b) becomes Uniform(max(lower, a), b), with P = (b − max(lower, a)) /
    (b − a). Other priors use ``pm.Truncated``, the bound kept inside their support (at least
    1e-9 for a positive one: the log CDF at the edge of the support, −inf, has no gradient).
    """
    if spec.dist == "robust":
        raise ValueError(f"{name}: a robust mixture cannot be truncated")
    row = DISTRIBUTIONS[spec.dist]
    args = {a: pm.Data(_data_name(name, a), float(spec.args[a])) for a in row.args}
    if spec.dist == "uniform":
        bound = pt.maximum(lower, args["lower"])
        variable = pm.Uniform(name, lower=bound, upper=args["upper"])
        log_region = pt.log(args["upper"] - bound) - pt.log(args["upper"] - args["lower"])
        return variable, log_region
    if row.support != "real":
        lower = pt.maximum(lower, _SUPPORT_FLOOR)
    untruncated = row.pymc.dist(**args)
    variable = pm.Truncated(name, untruncated, lower=lower)
    return variable, pm.logccdf(untruncated, lower)


#: Smallest truncation bound of a prior on the positive half-line or the unit interval.
_SUPPORT_FLOOR = 1e-9


def robustify(
    spec: PriorSpec, vague: PriorSpec, weight: float = 0.8, source: str | None = None
) -> PriorSpec:
    """Robust mixture w·``spec`` + (1 − w)·``vague`` (Schmidli et al. 2014; RBesT ``robustify``).

    The vague component keeps the posterior from following an informative prior that conflicts
    with the data: with conflict, the posterior weight moves to the vague part.
    """
    if spec.dist == "robust":
        raise ValueError("the prior is already a robust mixture")
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be between 0 and 1; got {weight}")
    inner = dataclasses.replace(spec, source="")
    text = source or f"{spec.source}; robustified: weight {weight:g} with {vague.describe()}"
    return PriorSpec(
        "robust", {}, text, float(weight), inner, dataclasses.replace(vague, source="")
    )


def with_argument(spec: PriorSpec, argument: str, value: float) -> PriorSpec:
    """``spec`` with one numeric argument changed (for sweeps over a prior's scale or weight).

    For a robust mixture, ``argument`` is ``weight``, ``inf_<arg>`` or ``vague_<arg>``; a bare
    ``<arg>`` means the informative component's.
    """
    value = float(value)
    if spec.dist == "robust":
        if argument == "weight":
            if not 0 <= value <= 1:
                raise ValueError(f"weight must be between 0 and 1; got {value}")
            return dataclasses.replace(spec, weight=value)
        part, arg = "informative", argument
        if argument.startswith("inf_"):
            arg = argument[4:]
        elif argument.startswith("vague_"):
            part, arg = "vague", argument[6:]
        return dataclasses.replace(spec, **{part: with_argument(getattr(spec, part), arg, value)})
    row = DISTRIBUTIONS.get(spec.dist)
    if row is None or argument not in row.args:
        known = ", ".join(row.args) if row else "none"
        raise ValueError(f"'{spec.dist}' has no argument '{argument}' (arguments: {known})")
    if argument in row.positive and value <= 0:
        raise ValueError(f"'{argument}' must be > 0; got {value}")
    return dataclasses.replace(spec, args={**spec.args, argument: value})


def structure_key(priors: Mapping[str, PriorSpec]) -> str:
    """Hash of the prior structure (names of distributions per parameter), not of values."""
    text = json.dumps({k: v.structure for k, v in sorted(priors.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:16]
