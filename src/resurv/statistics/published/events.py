"""Event counts: ``statistic = "events"`` in the study file.

Schema: ``arm``, ``value`` (a whole number between 0 and the arm size). Likelihood: Poisson with
the expected events d_j = n_j ∫ f_j G dt (:mod:`resurv.statistics.events`). Estimator: the
number of events in the arm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from resurv.statistics import events as events_math
from resurv.statistics.published.base import (
    COUNT,
    LIKELIHOOD,
    CheckRows,
    Published,
    arm_ref,
    common_fields,
)

__all__ = ["EventCount"]


@dataclass(frozen=True)
class EventCount(Published):
    """Number of events ``value`` observed in the arm; modelled as Poisson(expected events)."""

    statistic: ClassVar[str] = "events"
    required: ClassVar[tuple[str, ...]] = ("arm", "value")
    position: ClassVar[int] = 6
    block: ClassVar[str] = COUNT

    index: int
    value: int

    @classmethod
    def parse(cls, reader, arms):
        """Arm and a whole number of events between 0 and the arm size."""
        arm = arm_ref(reader, "arm", arms)
        value = reader.number("value", None)
        if value is not None:
            value = reader.number("value", integer=True)
            if not 0 <= value <= arms[arm].n:
                raise reader.fail("value", f"events must be between 0 and {arms[arm].n}")
        return cls(arms[arm].index, value, arm=arm, **common_fields(reader))

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"events_arm{self.index}"

    def observed(self) -> int:
        """The count."""
        return int(self.value)

    def expected_count(self, trial):
        """d_j = n_j ∫₀^{A+F} f_j G dt."""
        return events_math.expected_events(trial, self.index)

    def reduce(self, trial, study):
        """The simulated arm's number of events."""
        n_events = int(np.sum(trial.event[0][trial.arm[0] == self.index]))
        return dataclasses.replace(self, value=n_events)

    def describe(self, study):
        """The count as the report prints it."""
        return f"{self.value} {self.statistic}"

    def usage(self):
        """The count: in the likelihood (Poisson), and a predictive-check target."""
        how = (
            "Poisson(d_j), d_j = n_j ∫ f_j G dt the expected events of the arm; also compared "
            "with the events of replicate trials"
        )
        return [("value", LIKELIHOOD, how)]

    def check_rows(self, study, replicates, endpoint):
        """Events in the replicate, compared with the exact published count."""
        rows = CheckRows(self, study, replicates, endpoint)
        j = rows.index

        def events(p, r):
            t = replicates.get("trials", p, r)
            return t.event[:, t.arm == j].sum(axis=1).astype(float)

        note = "events in the replicate"
        rows.add("events", self.value, events, note=note, check_value=float(self.value))
        return rows.rows
