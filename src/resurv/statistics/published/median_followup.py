"""Median follow-up: ``statistic = "median_followup"`` in the study file.

Schema: ``value`` (months, > 0); optional ``arm`` (default: all patients pooled), ``method``
(``reverse_km``, the default: Schemper & Smith's reverse Kaplan–Meier median; ``survivors``: the
median observed time of the patients without the event; ``all``: the median observed time of all
patients) and ``range = [min, max]`` (a check target; it must contain the value).
Likelihood: its own factor, log v ~ Normal(log m, Var(m̂)/m² + rounding), m the model median of
the method's distribution and Var(m̂) its first-order sampling variance
(:mod:`resurv.statistics.median_followup`); an approximation, independent of the joint normal of
the other statistics. The value (and the range's maximum) is an observed time, so follow-up
(A + F) must extend beyond it. Estimator: the method's median on the group's observed times.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pymc as pm

from resurv.statistics import median_followup as math_
from resurv.statistics.published.base import (
    FACTOR,
    CheckRows,
    Published,
    arm_ref,
    common_fields,
    printed_decimals,
    read_positive_value,
    rounded,
)

__all__ = ["MedianFollowUp"]

#: Index of a median follow-up of all patients pooled (no arm).
POOLED = -1

_METHOD_WORDS = {
    "reverse_km": "reverse Kaplan-Meier median follow-up",
    "survivors": "median follow-up of patients without the event",
    "all": "median follow-up of all patients",
}


@dataclass(frozen=True)
class MedianFollowUp(Published):
    """Median follow-up ``value`` (months) of one arm or of all patients (``index`` −1)."""

    statistic: ClassVar[str] = "median_followup"
    required: ClassVar[tuple[str, ...]] = ("value",)
    optional: ClassVar[tuple[str, ...]] = ("arm", "method", "range")
    position: ClassVar[int] = 8
    block: ClassVar[str] = FACTOR

    index: int
    value: float
    method: str = "reverse_km"
    range: tuple[float, float] | None = None

    @classmethod
    def parse(cls, reader, arms):
        """Value (> 0), optional arm, method and a range [min, max] containing the value."""
        arm = arm_ref(reader, "arm", arms)
        value = read_positive_value(reader)
        method = reader.string("method", "reverse_km", choices=math_.METHODS)
        span = None
        if reader.has("range"):
            limits = reader.numbers("range")
            if len(limits) != 2 or not 0 <= limits[0] <= limits[1]:
                raise reader.fail("range", "must be [min, max] with 0 <= min <= max")
            if value is not None and not limits[0] <= value <= limits[1]:
                raise reader.fail(
                    "range", f"[{limits[0]:g}, {limits[1]:g}] does not contain the value {value:g}"
                )
            span = (limits[0], limits[1])
        index = arms[arm].index if arm is not None else POOLED
        return cls(index, value, method, span, arm=arm, **common_fields(reader))

    @property
    def arms_of_group(self) -> list[int]:
        """The arms the median follow-up covers."""
        return [0, 1] if self.index == POOLED else [self.index]

    @property
    def suffix(self) -> str:
        """``arm{j}`` or ``pooled``."""
        return "pooled" if self.index == POOLED else f"arm{self.index}"

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"median_followup_{self.method}_{self.suffix}"

    def structure(self):
        """The group and the method fix the graph; the value is data."""
        return ("MedianFollowUp", self.index, self.method)

    def rounding_variance(self) -> float:
        """Variance of the printed rounding on the log scale, (10^−d / v)² / 12."""
        return (10.0 ** -printed_decimals(self.value) / self.value) ** 2 / 12.0

    def factor_terms(self, name, trial, horizons):
        """Log N(log v | log m, Var(m̂)/m² + rounding), v in a data container."""
        observed = pm.Data(
            f"{name}_median_followup_observed_{self.suffix}",
            np.array([math.log(self.value), self.rounding_variance()]),
        )
        factor = math_.log_followup_factor(trial, self.arms_of_group, self.method, observed)
        return [(f"{name}_median_followup_{self.suffix}", factor)]

    def observed_event_time(self):
        """A patient was observed this long: the range's maximum, else the median itself."""
        return self.range[1] if self.range is not None else self.value

    # --- simulation and checks ---

    def _estimate(self, time, event, arm):
        group = None if self.index == POOLED else self.index
        return math_.followup_median_estimate(time, event, arm, self.method, group)

    def reduce(self, trial, study):
        """The simulated group's median follow-up (its largest observed time if undefined).

        A reverse-KM curve that stays above ½, or a group without censored patients for
        ``survivors``, has no median; the replicate then reports the group's largest observed
        time (a rare case at any realistic design). The range is not reduced.
        """
        value = float(self._estimate(trial.time, trial.event, trial.arm)[0])
        if not math.isfinite(value) or value <= 0:
            mask = np.ones(trial.time.shape[1], dtype=bool)
            if self.index != POOLED:
                mask = trial.arm[0] == self.index
            value = float(np.max(trial.time[0][mask]))
        return dataclasses.replace(self, value=value, range=None)

    def describe(self, study):
        """The value as the report prints it."""
        text = f"{_METHOD_WORDS[self.method]} {self.value} months"
        if self.range is not None:
            text += f" (range {self.range[0]:g}-{self.range[1]:g})"
        return text

    def check_rows(self, study, replicates, endpoint):
        """The replicate's median follow-up, and the range limits if printed."""
        rows = CheckRows(self, study, replicates, endpoint)
        if self.index == POOLED:
            rows.label = "all patients"
        group = None if self.index == POOLED else rows.index

        def median(p, r):
            t = replicates.get("trials", p, r)
            return math_.followup_median_estimate(t.time, t.event, t.arm, self.method, group)

        note = f"replicate's {_METHOD_WORDS[self.method]}; +inf where not reached"
        rows.add(
            f"median_followup_{self.method}", self.value, rounded(median, self.value), None, note
        )
        for k, side in enumerate(("range_min", "range_max") if self.range is not None else ()):

            def limit(p, r, k=k):
                t = replicates.get("trials", p, r)
                return math_.followup_range(t.time, t.event, t.arm, self.method, group)[:, k]

            note = "replicate's follow-up range (the times the median is taken over)"
            rows.add(f"followup_{side}", self.range[k], rounded(limit, self.range[k]), note=note)
        return rows.rows

    def usage(self) -> list[tuple[str, str, str]]:
        """The value in the likelihood; the range limits as check targets."""
        out = [("value", "likelihood", "log median follow-up, normal with its model variance")]
        if self.range is not None:
            how = "compared with the replicate's follow-up range"
            out.append(("range", "check", how))
        return out
