"""A weakly informative prior set scaled to the study itself (``--priors auto``).

``priors/vague.toml`` centres every median at a fixed time (36 months for OS); a study whose
medians are a few months is then pulled towards that centre. As rstanarm's default priors are
centred on and scaled by the data (Gabry J, Goodrich B. *Prior Distributions for rstanarm
Models*, rstanarm vignette: "Default priors and scale adjustments"), the derived set centres
each survival endpoint's medians on the study's own time scale and keeps them wide:

    median_reference, median_comparator ~ LogNormal(μ = log m̄, σ = 1.5),
    m̄ = (∏_j m_j)^(1/k), the geometric mean over the k arms that give a scale m_j,

so the 95% prior range is m̄·e^(±1.96·1.5) = m̄ / 19 to m̄ · 19. An arm's m_j is, by precedence:

1. its printed median (or, for patient data, its Kaplan–Meier median);
2. landmarks S(t): the exponential curve's median t·log 2 / (−log S(t)) (geometric mean over
   several landmarks);
3. an SPSS (restricted) mean: mean·log 2, the exponential median with that mean;
4. for patient data whose KM median is not reached: log 2 · (total time) / (events), the
   exponential maximum-likelihood median (the largest time when there is no event);

and a median not reached raises it to at least the follow-up L (the median lies beyond it; L =
F + A/2, the median potential follow-up under uniform accrual over A months and a minimum
follow-up F, each the study's fixed value or its prior's median). Shapes, log HR, log time ratio
and response probabilities are those of ``priors/vague.toml``. An endpoint with none of these
statistics keeps ``vague.toml``'s medians, with a logged warning and a ``source`` saying so.

The set is written as a prior file (:func:`derive_auto_priors` returns its text): the same study
gives the same file, byte for byte, and the file reruns the fit (``--priors priors_auto.toml``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resurv.errors import PriorSpecError
from resurv.io.priors import PriorFile, PriorSpec, load_priors, priors_from_text
from resurv.io.study import Study

__all__ = [
    "AUTO",
    "AUTO_FILE_NAME",
    "MEDIAN_LOG_SD",
    "ArmScale",
    "AutoPriors",
    "EndpointScale",
    "derive_auto_priors",
    "endpoint_scale",
    "followup_months",
    "is_auto",
    "vague_template_path",
]

log = logging.getLogger(__name__)

#: The ``--priors`` value (and plan entry) that asks for the derived set.
AUTO = "auto"
#: File name of the derived set, written next to a fit.
AUTO_FILE_NAME = "priors_auto.toml"
#: SD of the log median: 95% of the prior within a factor e^(1.96·1.5) ≈ 19 either side.
MEDIAN_LOG_SD = 1.5
#: What an arm's scale rests on, in words, by the precedence of its statistics.
BASIS = {0: "medians", 1: "landmark survival", 2: "means"}
#: ... and when a median not reached raised it to the follow-up.
BOUND_BASIS = "follow-up (medians not reached)"
#: The prior-file parameters that carry an endpoint's time scale.
MEDIAN_PARAMETERS = ("median_reference", "median_comparator")


def is_auto(priors: str | Path | None) -> bool:
    """Whether a ``--priors`` value asks for the derived set (``auto``, or omitted)."""
    return priors is None or str(priors) == AUTO


def vague_template_path() -> Path:
    """``priors/vague.toml`` of the repository (shapes, effects and probabilities come from it)."""
    return Path(__file__).resolve().parents[3] / "priors" / "vague.toml"


@dataclass(frozen=True)
class ArmScale:
    """One arm's time scale in ``months``.

    ``basis`` says in words what it rests on, ``how`` gives the formula with its numbers.
    """

    arm: str
    months: float
    how: str
    basis: str = "medians"


@dataclass(frozen=True)
class EndpointScale:
    """An endpoint's centre: the geometric mean of its arms' scales (None: no scale)."""

    endpoint: str
    arms: tuple[ArmScale, ...]
    source: str  # "published" or "patient data"

    @property
    def centre_months(self) -> float | None:
        """(∏ m_j)^(1/k) over the arms with a scale."""
        if not self.arms:
            return None
        if len(self.arms) == 1:
            return self.arms[0].months
        return math.exp(sum(math.log(a.months) for a in self.arms) / len(self.arms))


@dataclass(frozen=True)
class AutoPriors:
    """The derived prior set: its file text, the parsed file, and the numbers behind it."""

    text: str
    prior_file: PriorFile
    scales: tuple[EndpointScale, ...]
    fallbacks: tuple[str, ...]
    derivation: dict[str, Any] = field(default_factory=dict)

    def provenance(self) -> dict[str, str]:
        """A fit's provenance attributes for the derived set (its text, hash and numbers).

        ``resurv_priors_file`` is :data:`AUTO`; ``resurv_priors_derivation`` holds, as JSON, each
        endpoint's arms with their scales and formulas, the centre, μ and σ.
        """
        return {
            "resurv_priors_file": AUTO,
            "resurv_priors_content": self.text,
            "resurv_priors_sha256": hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            "resurv_priors_derivation": json.dumps(self.derivation, sort_keys=True),
        }

    def write(self, folder: str | Path) -> Path:
        """Write the set as :data:`AUTO_FILE_NAME` in ``folder``; returns its path."""
        path = Path(folder) / AUTO_FILE_NAME
        path.write_bytes(self.text.encode("utf-8"))
        return path


def _prior_median(spec: PriorSpec) -> float | None:
    """The value of a fixed follow-up entry, or its prior's median (None for mixtures)."""
    if spec.dist == "fixed":
        return float(spec.args["value"])
    if spec.dist == "robust":
        return None
    return float(spec.scipy_frozen().median())


def followup_months(study: Study) -> float | None:
    """F + A/2 from the study's follow-up block (None when accrual or follow-up is missing)."""
    accrual = study.followup_priors.get("accrual_months")
    minimum = study.followup_priors.get("followup_months")
    if accrual is None or minimum is None:
        return None
    a, f = _prior_median(accrual), _prior_median(minimum)
    if a is None or f is None:
        return None
    return f + a / 2.0


def _combine(arm: str, scales: list) -> ArmScale | None:
    """One arm's scale from its statistics' :class:`TimeScale` values (see the module)."""
    estimates = [s for s in scales if not s.lower_bound]
    bounds = [s for s in scales if s.lower_bound]
    value, parts, basis = None, [], ""
    if estimates:
        first = min(s.precedence for s in estimates)
        chosen = [s for s in estimates if s.precedence == first]
        value = chosen[0].months
        parts = [s.how for s in chosen]
        basis = BASIS.get(first, "medians")
        if len(chosen) > 1:
            value = math.exp(sum(math.log(s.months) for s in chosen) / len(chosen))
            parts.append(f"geometric mean {value:.4g} months")
    if bounds:
        bound = max(bounds, key=lambda s: s.months)
        if value is None or bound.months > value:
            value, basis = bound.months, BOUND_BASIS
            parts.append(f"{bound.how} (used as the arm's scale)")
        else:
            parts.append(f"{bound.how} (below the estimate, not binding)")
    if value is None:
        return None
    return ArmScale(arm, value, "; ".join(parts), basis)


def _patient_data_scales(study: Study, endpoint: str) -> tuple[ArmScale, ...] | None:
    """Each arm's KM median, or log 2 · (total time)/(events) when it is not reached."""
    from resurv.io.patient_data import load_ipd_for
    from resurv.statistics.median import km_median

    data = load_ipd_for(study, endpoint)
    if data is None:
        return None
    km = km_median(data.time, data.event, data.arm)
    out = []
    for j, label in enumerate(data.arm_labels):
        in_arm = data.arm == j
        total, events = float(data.time[in_arm].sum()), int(data.event[in_arm].sum())
        if bool(km.reached[0, j]):
            months = float(km.median[0, j])
            how, basis = f"Kaplan–Meier median {months:.4g} months", "medians"
        elif events > 0:
            months = math.log(2.0) * total / events
            how = (
                f"median not reached: log 2 · total time {total:.4g} / {events} events "
                f"= {months:.4g} months"
            )
            basis = "events per time at risk (medians not reached)"
        else:
            months = float(data.time[in_arm].max())
            how = f"no events: largest time {months:.4g} months (a lower bound)"
            basis = "follow-up (no events)"
        out.append(ArmScale(str(label), months, how, basis))
    return tuple(out)


def endpoint_scale(study: Study, endpoint: str) -> EndpointScale:
    """The time scale of one survival endpoint of ``study`` (patient data first)."""
    from_data = _patient_data_scales(study, endpoint)
    if from_data is not None:
        return EndpointScale(endpoint, from_data, "patient data")
    follow = followup_months(study)
    per_arm: dict[str, list] = {}
    for record in study.survival_statistics(endpoint):
        scale = record.time_scale(follow)
        if scale is not None:
            per_arm.setdefault(record.arm, []).append(scale)
    arms = []
    for arm in study.arms:
        combined = _combine(arm.label, per_arm.get(arm.id, []))
        if combined is not None:
            arms.append(combined)
    return EndpointScale(endpoint, tuple(arms), "published")


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(float(value))


def _entry_lines(endpoint: str, parameter: str, spec: PriorSpec, source: str) -> list[str]:
    lines = [f"[{endpoint}.{parameter}]", f"dist = {_toml_value(spec.dist)}"]
    if spec.dist == "robust":
        lines.append(f"weight = {_toml_value(spec.weight)}")
        for part in ("informative", "vague"):
            inner = getattr(spec, part)
            args = ", ".join(f"{k} = {_toml_value(v)}" for k, v in inner.args.items())
            lines.append(f"{part} = {{ dist = {_toml_value(inner.dist)}, {args} }}")
    else:
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.args.items()]
    lines.append(f"source = {_toml_value(source)}")
    return [*lines, ""]


def _template(vague: PriorFile, endpoint: str, needs: str) -> tuple[str, dict[str, PriorSpec]]:
    """The vague table for ``endpoint``, or the first vague table with parameter ``needs``."""
    table = vague.for_endpoint(endpoint)
    if needs in table:
        return endpoint, dict(table)
    for name, other in vague.priors.items():
        if needs in other:
            return name, dict(other)
    raise PriorSpecError(vague.path, None, f"has no endpoint with a prior '{needs}'")


def _survival_endpoints(study: Study, requested: Iterable[str]) -> list[str]:
    names = [s.endpoint for s in study.survival]
    names += [src.endpoint for src in study.ipd if src.endpoint != "*"]
    names += [c.endpoint for c in study.km_curves]
    names += list(requested)
    binary = {b.endpoint for b in study.binary}
    return [e for e in dict.fromkeys(names) if e not in binary]


def derive_auto_priors(
    study: Study,
    endpoints: Iterable[str] = (),
    *,
    vague_path: str | Path | None = None,
    log_sd: float = MEDIAN_LOG_SD,
) -> AutoPriors:
    """The prior set scaled to ``study`` (module docstring), as file text and parsed.

    Parameters
    ----------
    study
        The study file or patient data.
    endpoints
        Survival endpoints to cover besides the study's own (e.g. the endpoint of the model
        being fitted; a patient-data CSV serves whichever endpoint the model names).
    vague_path
        The template for everything but the medians (default :func:`vague_template_path`).
    log_sd
        SD of the log median.
    """
    vague_path = Path(vague_path) if vague_path is not None else vague_template_path()
    if not vague_path.is_file():
        raise PriorSpecError(vague_path, None, "the template of the derived priors is missing")
    vague = load_priors(vague_path)
    template_name = vague_path.name
    survival = _survival_endpoints(study, endpoints)
    binary = list(dict.fromkeys(b.endpoint for b in study.binary))
    blocks: list[str] = []
    scales, fallbacks, described = [], [], []
    derivation: dict[str, Any] = {
        "study": study.id,
        "study_sha256": study.sha256,
        "template": template_name,
        "template_sha256": vague.sha256,
        "median_log_sd": log_sd,
        "endpoints": {},
    }
    for endpoint in survival:
        scale = endpoint_scale(study, endpoint)
        scales.append(scale)
        from_name, table = _template(vague, endpoint, "median_reference")
        centre = scale.centre_months
        record: dict[str, Any] = {"source": scale.source}
        if centre is None:
            fallbacks.append(endpoint)
            log.warning(
                "auto priors: study '%s' gives no median, landmark, mean or patient data for "
                "endpoint '%s'; its medians keep %s's prior (%s)",
                study.id,
                endpoint,
                template_name,
                table["median_reference"].describe(),
            )
            record.update(fallback=True, template_endpoint=from_name)
            described.append(f"{endpoint} medians as in {template_name} (nothing to scale them)")
        else:
            mu = round(math.log(centre), 6)
            arms_text = "; ".join(f"{a.arm}: {a.how}" for a in scale.arms)
            whose = "published" if scale.source == "published" else "patient data's"
            record.update(
                fallback=False,
                centre_months=centre,
                mu=mu,
                sigma=log_sd,
                arms=[{"arm": a.arm, "months": a.months, "how": a.how} for a in scale.arms],
            )
            low, high = centre * math.exp(-1.96 * log_sd), centre * math.exp(1.96 * log_sd)
            described.append(
                f"{endpoint} centred on the {whose} "
                f"{' and '.join(dict.fromkeys(a.basis for a in scale.arms))}, "
                f"{centre:.4g} months (95% range {low:.3g}-{high:.3g})"
            )
        derivation["endpoints"][endpoint] = record
        for parameter, spec in table.items():
            if parameter in MEDIAN_PARAMETERS and centre is not None:
                derived = PriorSpec("lognormal", {"mu": mu, "sigma": float(log_sd)})
                source = (
                    f"derived from study '{study.id}': median {centre:.4g} months = geometric "
                    f"mean over arms ({arms_text}); log-scale SD {log_sd:g} (95% range "
                    f"{low:.3g}-{high:.3g} months)"
                )
                blocks += _entry_lines(endpoint, parameter, derived, source)
            elif parameter in MEDIAN_PARAMETERS:
                source = (
                    f"{template_name} [{from_name}.{parameter}] (study '{study.id}' gives no "
                    f"survival statistic that scales endpoint '{endpoint}'): {spec.source}"
                )
                blocks += _entry_lines(endpoint, parameter, spec, source)
            else:
                source = f"{template_name} [{from_name}.{parameter}]: {spec.source}"
                blocks += _entry_lines(endpoint, parameter, spec, source)
    for endpoint in binary:
        from_name, table = _template(vague, endpoint, "p_reference")
        for parameter, spec in table.items():
            source = f"{template_name} [{from_name}.{parameter}]: {spec.source}"
            blocks += _entry_lines(endpoint, parameter, spec, source)
    description = (
        f"Weakly informative, scaled to study '{study.id}' (derived, not elicited): "
        f"{'; '.join(described) or 'no survival endpoint'}; log-scale SD {log_sd:g} of each "
        f"median. Shapes, log HR, log time ratio and probabilities as in {template_name}."
    )
    header = [
        f"name = {_toml_value(AUTO)}",
        f"description = {_toml_value(description)}",
        f"# derived by resurv from study '{study.id}' (sha256 {study.sha256}) and "
        f"{template_name} (sha256 {vague.sha256}); rerun a fit with --priors {AUTO_FILE_NAME}",
        "",
    ]
    text = "\n".join(header + blocks).rstrip("\n") + "\n"
    prior_file = priors_from_text(text, AUTO_FILE_NAME)
    return AutoPriors(text, prior_file, tuple(scales), tuple(fallbacks), derivation)
