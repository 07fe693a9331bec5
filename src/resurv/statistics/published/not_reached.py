"""Median not reached (T2): ``statistic = "median_not_reached"`` in the study file.

Schema: ``arm``. Likelihood: its own factor Φ((S_j(τ_j) − ½)/sd_j) at the arm's latent largest
observed time τ_j (:mod:`resurv.statistics.notreached`). Estimator: the KM median of the arm
(a simulated arm whose curve reaches ½ reports a median). Contradicts a reached median of the
same arm and endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from resurv.statistics import notreached
from resurv.statistics.published.base import (
    FACTOR,
    LIKELIHOOD,
    CheckRows,
    Published,
    TimeScale,
    arm_ref,
    common_fields,
)
from resurv.statistics.published.median import KM_MEDIAN, MedianReached, reduce_median

__all__ = ["MedianNotReached"]


@dataclass(frozen=True)
class MedianNotReached(Published):
    """The KM curve of the arm stayed above ½ up to the arm's largest observed time (T2)."""

    statistic: ClassVar[str] = "median_not_reached"
    required: ClassVar[tuple[str, ...]] = ("arm",)
    position: ClassVar[int] = 1
    block: ClassVar[str] = FACTOR
    needs_horizon: ClassVar[bool] = True

    index: int

    @classmethod
    def parse(cls, reader, arms):
        """The arm."""
        arm = arm_ref(reader, "arm", arms)
        return cls(arms[arm].index, arm=arm, **common_fields(reader))

    def conflict(self, other):
        """A reached median of the same arm says the opposite."""
        if (
            isinstance(other, MedianReached)
            and other.endpoint == self.endpoint
            and other.index == self.index
        ):
            return (
                f"says the median of arm '{self.arm}' ({self.endpoint}) was not reached, "
                "but {other} gives a median value"
            )
        return None

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"median_not_reached_arm{self.index}"

    def factor_terms(self, name, trial, horizons):
        """Log Φ((S_j(τ_j) − ½)/sd_j)."""
        term = f"{name}_not_reached_arm{self.index}"
        factor = notreached.log_not_reached_factor(trial, self.index, horizons[self.index])
        return [(term, factor)]

    def reduce(self, trial, study):
        """The simulated arm's KM median, or "not reached"."""
        return reduce_median(self, trial)

    def describe(self, study):
        """The statistic as the report prints it."""
        return "median not reached"

    def time_scale(self, followup_months):
        """A lower bound: the median lies beyond the follow-up (None when it is unknown)."""
        if followup_months is None:
            return None
        how = f"not reached: median > follow-up {followup_months:.4g} months"
        return TimeScale(float(followup_months), how, lower_bound=True)

    def usage(self):
        """The statement "not reached": its own likelihood factor, and a predictive-check target."""
        how = (
            "factor Φ((S_j(τ_j) − ½)/sd_j) at the arm's latent largest observed time τ_j; also "
            "compared with the share of replicate trials whose median is not reached"
        )
        return [("statistic", LIKELIHOOD, how)]

    def check_rows(self, study, replicates, endpoint):
        """Published 1; predictive the indicator that the replicate's median is not reached."""
        rows = CheckRows(self, study, replicates, endpoint)
        j = rows.index

        def not_reached(p, r):
            return (~replicates.estimate(KM_MEDIAN, p, r).reached[:, j]).astype(float)

        note = "1 = KM median not reached in the replicate"
        rows.add("median_not_reached", 1.0, not_reached, note=note, check_value=1.0)
        return rows.rows
