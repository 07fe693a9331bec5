"""Every number of a study file and what one fit did with it: the inventory saved with the fit.

A study file holds numbers of several kinds: arm sizes, binary counts (and the percentages
printed with them), published survival statistics, follow-up design values or priors, and
pointers to patient data. A fit uses some of them: in its likelihood, as predictive-check
targets, as priors; the rest belong to other endpoints or cannot be used by this model, and then
the inventory says why. Each model builder attaches the inventory of its fit
(:attr:`resurv.models.built.BuiltModel.usage`), it is saved in ``posterior.nc`` (group
:data:`USAGE_GROUP`), and the report lists, over all its fits, the numbers no fit used
("published but not used", with the reasons): no number of a study file is dropped silently.

Roles (column ``role``): :data:`LIKELIHOOD`, :data:`CHECK` and :data:`NOT_USED` as a published
statistic's :meth:`~resurv.statistics.published.base.Published.usage` gives them, :data:`PRIOR`
(a follow-up design prior of the study file), and :data:`OTHER_ENDPOINT` (the number belongs to
an endpoint or a kind of fit other than this one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from resurv.io.study import Study
from resurv.statistics.published.base import CHECK, LIKELIHOOD, NOT_USED

__all__ = [
    "CHECK",
    "LIKELIHOOD",
    "NOT_USED",
    "OTHER_ENDPOINT",
    "PRIOR",
    "USAGE_GROUP",
    "NumberUse",
    "binomial_usage",
    "not_used",
    "patient_data_usage",
    "summary_usage",
    "usage_dataset",
    "usage_frame",
]

#: Role: a follow-up design prior given in the study file.
PRIOR = "prior"
#: Role: the number belongs to another endpoint, or to another kind of fit.
OTHER_ENDPOINT = "other endpoint"
#: Roles by which a fit uses a number.
USED = (LIKELIHOOD, CHECK, PRIOR)
#: Group of ``posterior.nc`` holding a fit's inventory (one entry per number, dimension
#: ``number``).
USAGE_GROUP = "published_numbers"
COLUMNS = ("record", "field", "endpoint", "arm", "published", "role", "how")

#: Study-file keys of a ``[[survival]]`` entry that are not numbers of the record.
_TEXT_KEYS = {"endpoint", "statistic", "quote"}


@dataclass(frozen=True)
class NumberUse:
    """One number of a study file and what a fit did with it.

    ``record`` is its entry in the file (``survival[3]``, ``binary[0]``, ``arms[sirt]``,
    ``followup``, ``ipd[0]``), ``field`` its key (``value``, ``ci``, ``events``, …),
    ``published`` the number as written, ``role`` one of the module's roles and ``how`` how the
    fit uses it, or why not.
    """

    record: str
    field: str
    endpoint: str
    arm: str
    published: str
    role: str
    how: str


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {_text(v)}" for k, v in value.items() if k != "source")
    return str(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)


def _arm_label(study: Study, arm_id: str | None) -> str:
    return study.arm(arm_id).label if arm_id is not None else "between arms"


def _arm_rows(study: Study, role_of) -> list[NumberUse]:
    return [NumberUse(f"arms[{a.id}]", "n", "", a.label, str(a.n), *role_of(a)) for a in study.arms]


def _binary_rows(study: Study, endpoint: str | None) -> list[NumberUse]:
    """The counts of ``[[binary]]``: used when ``endpoint`` is theirs (a binomial fit)."""
    rows = []
    raw = study.raw.get("binary", [])
    for i, b in enumerate(study.binary):
        given = raw[i] if i < len(raw) else {}
        label = study.arm(b.arm).label
        fields = [("events", b.events)]
        fields += [("n", b.n)] if "n" in given else []
        fields += (
            [("published_percent", b.published_percent)] if "published_percent" in given else []
        )
        for name, value in fields:
            if b.endpoint != endpoint:
                role, how = OTHER_ENDPOINT, f"binary endpoint '{b.endpoint}'"
            elif name == "published_percent":
                role = CHECK
                how = (
                    f"equals 100·{b.events}/{b.n} to its printed decimals (checked when the "
                    "study file is read); the predictive check compares replicate percentages "
                    "with the exact fraction"
                )
            elif name == "events":
                role, how = LIKELIHOOD, f"r_j ~ Binomial({b.n}, p_j)"
            else:
                role, how = LIKELIHOOD, "the binomial denominator n_j"
            rows.append(NumberUse(f"binary[{i}]", name, b.endpoint, label, _text(value), role, how))
    return rows


def _survival_rows(study: Study, endpoint: str | None) -> list[NumberUse]:
    """The published survival statistics, by their kinds' ``usage()`` for ``endpoint``."""
    rows = []
    raw = study.raw.get("survival", [])
    for i, s in enumerate(study.survival):
        record, label = f"survival[{i}]", _arm_label(study, s.arm)
        given = raw[i] if i < len(raw) else {}
        if s.endpoint != endpoint:
            fields = [k for k, v in given.items() if _is_number(v)] or ["statistic"]
            for name in fields:
                value = given.get(name, s.describe(study))
                rows.append(
                    NumberUse(
                        record,
                        name,
                        s.endpoint,
                        label,
                        _text(value),
                        OTHER_ENDPOINT,
                        f"survival endpoint '{s.endpoint}' ({s.statistic})",
                    )
                )
            continue
        try:
            declared = list(s.joined(study.survival).usage())
        except NotImplementedError as exc:
            declared = [(k, NOT_USED, str(exc)) for k, v in given.items() if _is_number(v)]
            declared = declared or [("statistic", NOT_USED, str(exc))]
        seen = set()
        for name, role, how in declared:
            seen.add(name)
            value = given.get(name, s.describe(study) if name == "statistic" else "")
            rows.append(NumberUse(record, name, s.endpoint, label, _text(value), role, how))
        for name, value in given.items():
            if name not in seen and name not in _TEXT_KEYS and _is_number(value):
                how = f"kind '{s.statistic}' does not say how its '{name}' is used"
                rows.append(NumberUse(record, name, s.endpoint, label, _text(value), NOT_USED, how))
    return rows


def _followup_rows(study: Study, role_of) -> list[NumberUse]:
    rows = []
    for name, prior in study.followup_priors.items():
        published = _text(prior.args["value"]) if prior.dist == "fixed" else prior.describe()
        rows.append(NumberUse("followup", name, "", "", published, *role_of(name, prior)))
    return rows


def _ipd_rows(study: Study, endpoint: str | None) -> list[NumberUse]:
    rows = []
    for i, src in enumerate(study.ipd):
        if src.endpoint in (endpoint, "*"):
            role, how = LIKELIHOOD, "every patient's time and event: Σ δ log h(t) − H(t) + H(entry)"
        else:
            role, how = OTHER_ENDPOINT, f"patient data of endpoint '{src.endpoint}'"
        ep = endpoint if src.endpoint == "*" else src.endpoint
        rows.append(NumberUse(f"ipd[{i}]", "file", ep or "", "", src.path, role, how))
    return rows


def _km_curve_rows(study: Study, endpoint: str | None, arms=None) -> list[NumberUse]:
    """The numbers of ``[[km_curve]]``: in the likelihood of a fit of their endpoint.

    Through the patients reconstructed from them (``arms``: each arm's reconstruction with its
    checks).
    """
    rows = []
    raw = study.raw.get("km_curve", [])
    built = {c.arm: a for c, a in zip(study.km_curves_of(endpoint or ""), arms or [], strict=False)}
    for i, c in enumerate(study.km_curves):
        given = raw[i] if i < len(raw) else {}
        label = study.arm(c.arm).label
        fields = [("file", c.path), ("at_risk_times", given.get("at_risk_times"))]
        fields += [("at_risk_numbers", given.get("at_risk_numbers"))]
        fields += [("total_events", c.total_events)] if c.total_events is not None else []
        for name, value in fields:
            if c.endpoint != endpoint:
                role, how = OTHER_ENDPOINT, f"digitized curve of endpoint '{c.endpoint}'"
            else:
                role, how = LIKELIHOOD, _km_how(name, built.get(c.arm))
            rows.append(
                NumberUse(f"km_curve[{i}]", name, c.endpoint, label, _text(value), role, how)
            )
    return rows


def _km_how(name: str, arm) -> str:
    checks = arm.checks if arm is not None else {}
    if name == "file":
        text = "the curve's drops give the reconstructed events (Guyot et al. 2012)"
        if checks:
            gap = checks["largest_gap"]
            text += (
                f": {checks['n']} patients, {checks['events']} events, largest gap to the "
                f"curve {gap['value']:.3f} at {gap['time']:g}; {len(checks['repairs'])} repairs"
            )
        return text
    if name == "at_risk_times":
        return "bound the reconstruction's intervals (censoring spread within each)"
    if name == "at_risk_numbers":
        text = "censored counts of the reconstruction are fitted to reproduce them"
        if checks:
            text += f" (reproduced: {'yes' if checks['at_risk_reproduced'] else 'no'})"
        return text
    text = "the last interval's censoring is adjusted to give this many events"
    if checks:
        text += f" (reconstruction: {checks['events']})"
    return text


def reconstruction_check_rows(study: Study, endpoint: str, data) -> list[NumberUse]:
    """Published summaries of an endpoint whose patients are reconstructed: check rows.

    Each summary is compared with the same statistic of the reconstructed patients (``data``,
    in months), as the paper's estimator computes it (the kind's ``reduce``).
    """
    from resurv.statistics.published.base import TrialData

    trial = TrialData(data.time[None, :], data.event[None, :], data.arm[None, :])
    rows = []
    raw = study.raw.get("survival", [])
    for i, s in enumerate(study.survival):
        if s.endpoint != endpoint:
            continue
        given = raw[i] if i < len(raw) else {}
        try:
            rebuilt = s.reduce(trial, study).describe(study)
        except (NotImplementedError, ValueError, IndexError) as exc:
            rebuilt = f"not computable from the reconstruction ({exc})"
        how = (
            f"check against the patients reconstructed from the digitized curves: published "
            f"{s.describe(study)}; reconstructed {rebuilt}"
        )
        fields = [k for k, v in given.items() if _is_number(v)] or ["statistic"]
        for name in fields:
            value = given.get(name, s.describe(study) if name == "statistic" else "")
            rows.append(
                NumberUse(
                    f"survival[{i}]",
                    name,
                    s.endpoint,
                    _arm_label(study, s.arm),
                    _text(value),
                    CHECK,
                    how,
                )
            )
    return rows


def summary_usage(study: Study, endpoint: str) -> list[NumberUse]:
    """The inventory of a survival fit of ``endpoint`` to the study's published summaries."""

    def arm_role(arm):
        return LIKELIHOOD, "arm size n_j: numbers at risk, variances and replicate trials"

    def followup_role(name, prior):
        if prior.dist == "fixed":
            return LIKELIHOOD, "fixed follow-up design value (censoring distribution G)"
        return PRIOR, "prior of the follow-up design (censoring distribution G)"

    return [
        *_arm_rows(study, arm_role),
        *_binary_rows(study, None),
        *_survival_rows(study, endpoint),
        *_followup_rows(study, followup_role),
        *_ipd_rows(study, None),
        *_km_curve_rows(study, None),
    ]


def patient_data_usage(
    study: Study, endpoint: str, data=None, reconstructions=None
) -> list[NumberUse]:
    """The inventory of a survival fit of ``endpoint`` to the study's patient data.

    When the patients were reconstructed from digitized curves (``reconstructions``, each
    arm's with its checks; ``data`` the patients), the endpoint's published summaries are
    checks against them (:func:`reconstruction_check_rows`).
    """

    def arm_role(arm):
        return CHECK, "equals the number of patients of the arm in the patient data"

    def followup_role(name, prior):
        return NOT_USED, "patient data carry their own follow-up (each patient's censoring time)"

    survival = _survival_rows(study, None)
    if reconstructions:
        checked = reconstruction_check_rows(study, endpoint, data)
        records = {r.record for r in checked}
        survival = [r for r in survival if r.record not in records] + checked
    return [
        *_arm_rows(study, arm_role),
        *_binary_rows(study, None),
        *survival,
        *_followup_rows(study, followup_role),
        *_ipd_rows(study, endpoint),
        *_km_curve_rows(study, endpoint, reconstructions),
    ]


def binomial_usage(study: Study, endpoint: str) -> list[NumberUse]:
    """The inventory of a binomial fit of the binary ``endpoint``."""
    defaults = {b.arm for b in study.binary_outcomes(endpoint) if b.n == study.arm(b.arm).n}

    def arm_role(arm):
        if arm.id in defaults:
            return LIKELIHOOD, f"the binomial denominator of '{endpoint}'"
        return OTHER_ENDPOINT, "arm size (the binary counts give their own n)"

    def followup_role(name, prior):
        return OTHER_ENDPOINT, "follow-up design of the survival endpoints"

    return [
        *_arm_rows(study, arm_role),
        *_binary_rows(study, endpoint),
        *_survival_rows(study, None),
        *_followup_rows(study, followup_role),
        *_ipd_rows(study, None),
        *_km_curve_rows(study, None),
    ]


def usage_dataset(rows: list[NumberUse]) -> xr.Dataset:
    """The inventory as the ``posterior.nc`` group :data:`USAGE_GROUP` (dimension ``number``)."""
    return xr.Dataset(
        {c: (("number",), np.array([getattr(r, c) for r in rows], dtype=str)) for c in COLUMNS},
        coords={"number": np.arange(len(rows))},
    )


def usage_frame(dataset: xr.Dataset | None) -> pd.DataFrame:
    """The saved inventory as a table (columns :data:`COLUMNS`; empty when none was saved)."""
    if dataset is None or "role" not in dataset:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.DataFrame({c: [str(v) for v in dataset[c].values] for c in COLUMNS})


def not_used(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The numbers that no fit used, with why, from the inventories of several fits.

    A number (``record``, ``field``) is used when any fit gave it a role of :data:`USED`.
    Otherwise its reasons are those of the fits that said :data:`NOT_USED`, or, when every fit
    saw it as another endpoint's, that no fit of its endpoint is among them.
    """
    if not frames:
        return pd.DataFrame(columns=["record", "field", "endpoint", "arm", "published", "why"])
    table = pd.concat(frames, ignore_index=True)
    rows = []
    for (record, field), g in table.groupby(["record", "field"], sort=False):
        if g["role"].isin(USED).any():
            continue
        reasons = list(dict.fromkeys(g.loc[g["role"] == NOT_USED, "how"]))
        if not reasons:
            endpoint = g["endpoint"].iloc[0]
            reasons = [
                f"no fit of endpoint '{endpoint}' here" if endpoint else "no fit here uses it"
            ]
        first = g.iloc[0]
        rows.append(
            {
                "record": record,
                "field": field,
                "endpoint": first["endpoint"],
                "arm": first["arm"],
                "published": first["published"],
                "why": "; ".join(reasons),
            }
        )
    return pd.DataFrame(rows, columns=["record", "field", "endpoint", "arm", "published", "why"])


def as_records(rows: list[NumberUse]) -> list[dict]:
    """Plain dicts (for logs and tests)."""
    return [asdict(r) for r in rows]
