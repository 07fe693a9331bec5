"""Event counts: ``statistic = "events"`` in the study file.

Schema: ``value`` (a whole number between 0 and the group's size) and ``arm`` (optional: without
it, the total over all arms). Likelihood: a statistic of the joint normal, with mean
E D = Σ_j d_j, d_j = n_j ∫ f_j G dt, the binomial variance Σ_j (d_j − d_j²/n_j), influence
integrands a^D_j = C_j/π_j (C_j the patients at risk who will end censored) and so the model
covariances with the HR, the log-rank Z and every other statistic that counts the same deaths
(:mod:`resurv.statistics.events`); the printed integer stands for [D − ½, D + ½] (rounding
variance 1/12). Estimator: the number of events in the group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from resurv.statistics import events as events_math
from resurv.statistics.published.base import (
    LIKELIHOOD,
    NORMAL,
    CheckRows,
    Published,
    arm_ref,
    common_fields,
)

__all__ = ["EventCount"]

#: Index of a total over all arms (no ``arm``).
POOLED = -1


@dataclass(frozen=True)
class EventCount(Published):
    """Number of events ``value`` in the arm (``index`` −1: all arms); joint-normal statistic."""

    statistic: ClassVar[str] = "events"
    required: ClassVar[tuple[str, ...]] = ("value",)
    optional: ClassVar[tuple[str, ...]] = ("arm",)
    position: ClassVar[int] = 6
    block: ClassVar[str] = NORMAL
    #: A count is printed exactly: the integer D stands for [D − ½, D + ½].
    resolution: ClassVar[float] = 1.0

    index: int
    value: int

    @classmethod
    def parse(cls, reader, arms):
        """Optional arm and a whole number of events between 0 and the group's size."""
        arm = arm_ref(reader, "arm", arms)
        size = arms[arm].n if arm is not None else sum(a.n for a in arms.values())
        value = reader.number("value", integer=True)
        if not 0 <= value <= size:
            group = "the arm size" if arm is not None else "the number of patients"
            raise reader.fail("value", f"events must be between 0 and {size} ({group})")
        index = arms[arm].index if arm is not None else POOLED
        return cls(index, value, arm=arm, **common_fields(reader))

    def conflict(self, other):
        """A total below one arm's count of the same endpoint is refused."""
        if (
            self.index == POOLED
            and isinstance(other, EventCount)
            and other.endpoint == self.endpoint
            and other.index != POOLED
            and other.value > self.value
        ):
            return (
                f"the total of {self.value} events is below the {other.value} events of {{other}}"
            )
        return None

    @property
    def suffix(self) -> str:
        """``arm{j}`` or ``total``."""
        return "total" if self.index == POOLED else f"arm{self.index}"

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"events_{self.suffix}"

    def observed(self) -> float:
        """The count (the likelihood scale is the count itself)."""
        return float(self.value)

    def model_statistic(self, trial, horizons):
        """E D, the binomial variance and the integrands C_j/π_j of the group's arms."""
        arms = range(len(trial.curves)) if self.index == POOLED else [self.index]
        return events_math.model_statistic(trial, self.label, arms)

    def reduce(self, trial, study):
        """The simulated group's number of events."""
        mask = np.ones(trial.arm[0].shape, dtype=bool)
        if self.index != POOLED:
            mask = trial.arm[0] == self.index
        n_events = int(np.sum(trial.event[0][mask]))
        return dataclasses.replace(self, value=n_events)

    def describe(self, study):
        """The count as the report prints it."""
        group = "" if self.index != POOLED else " (all arms)"
        return f"{self.value} {self.statistic}{group}"

    def usage(self):
        """The count: in the joint normal, and a predictive-check target."""
        how = (
            "joint normal: mean Σ d_j, d_j = n_j ∫ f_j G dt, binomial variance Σ d_j(1 − d_j/n_j) "
            "+ 1/12 for the printed integer, covariances with the other statistics from the "
            "integrands C_j/π_j; also compared with the events of replicate trials"
        )
        return [("value", LIKELIHOOD, how)]

    def check_rows(self, study, replicates, endpoint):
        """Events in the replicate, compared with the exact published count."""
        rows = CheckRows(self, study, replicates, endpoint)
        j = rows.index
        if self.index == POOLED:
            rows.label = "all patients"

        def events(p, r):
            t = replicates.get("trials", p, r)
            mask = np.ones(t.arm.shape, dtype=bool) if j is None else t.arm == j
            return t.event[:, mask].sum(axis=1).astype(float)

        note = "events in the replicate"
        rows.add("events", self.value, events, note=note, check_value=float(self.value))
        return rows.rows
