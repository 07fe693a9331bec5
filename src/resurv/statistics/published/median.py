"""A reached Kaplan–Meier median (T1): ``statistic = "median"`` in the study file.

Schema: ``arm``, ``value`` (months, > 0), optional ``ci`` = [lower, upper] (a check target only,
never a variance). Likelihood: log median in the joint normal (resolution 0.1%), mean log m_j
plus its small-sample shift, and the support factor P(some patient observed at the median)
(:mod:`resurv.statistics.median`); the reported median also restricts the follow-up design to
A + F beyond it. Estimator: the KM median (smallest time with Ŝ ≤ ½) and its
Brookmeyer–Crowley interval; a simulated arm whose curve does not reach ½ reports "not reached".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytensor.tensor as pt

from resurv.models.built import stacked_draws
from resurv.statistics import median as median_math
from resurv.statistics.published.base import (
    NORMAL,
    CheckRows,
    Estimator,
    Published,
    TimeScale,
    arm_ref,
    common_fields,
    read_ci,
    read_positive_value,
    rounded,
)

__all__ = ["KM_MEDIAN", "MedianReached", "reduce_median"]

#: The KM median of each arm (shared with "median not reached").
KM_MEDIAN = Estimator("median", median_math.km_median)


@dataclass(frozen=True)
class MedianReached(Published):
    """A Kaplan–Meier median that was reached (T1); enters the likelihood as log(median).

    ``value`` is the median in months; ``ci`` its interval, a check target only.
    """

    statistic: ClassVar[str] = "median"
    required: ClassVar[tuple[str, ...]] = ("arm", "value")
    optional: ClassVar[tuple[str, ...]] = ("ci",)
    position: ClassVar[int] = 0
    block: ClassVar[str] = NORMAL
    resolution: ClassVar[float] = 1e-3

    index: int
    value: float
    ci: tuple[float, float] | None = None

    @classmethod
    def parse(cls, reader, arms):
        """Arm, median (> 0) and optional interval containing it."""
        arm = arm_ref(reader, "arm", arms)
        value = read_positive_value(reader)
        ci = read_ci(reader, value)
        return cls(arms[arm].index, value, ci, arm=arm, **common_fields(reader))

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"log_median_arm{self.index}"

    def observed(self) -> float:
        """Value on the likelihood scale: log of the median in months."""
        return math.log(self.value)

    def time_scale(self, followup_months):
        """The printed median itself."""
        return TimeScale(float(self.value), f"median {self.value:g} months")

    def model_statistic(self, trial, horizons):
        """Log m_j plus its small-sample shift, with the T1 influence integrand."""
        return median_math.model_statistic(trial, self)

    def observed_terms(self, name, trial, observed):
        """Log P(some patient of the arm observed at the published median)."""
        factor = median_math.log_support_factor(trial, self.index, pt.exp(observed))
        return [(f"{name}_median_support_arm{self.index}", factor)]

    def observed_event_time(self):
        """The median is the time of an observed event."""
        return self.value

    def reduce(self, trial, study):
        """The simulated arm's KM median, or "not reached"."""
        return reduce_median(self, trial)

    def describe(self, study):
        """The value as the report prints it."""
        return f"median {self.value} months"

    def check_rows(self, study, replicates, endpoint):
        """Replicate KM median (+inf where not reached) and, if published, its CI limits."""
        rows = CheckRows(self, study, replicates, endpoint)
        j = rows.index

        def model_median(post):
            if "median_months" in post.data_vars:
                return stacked_draws(post, "median_months")[:, j]
            return np.ravel(replicates.get("curves", post)[j].median_months())

        note = "replicate KM median; +inf where not reached"
        predictive = rounded(rows.column(KM_MEDIAN, "median"), self.value)
        rows.add("median_months", self.value, predictive, model_median, note)
        for k, side in enumerate(("ci_low", "ci_high") if self.ci is not None else ()):
            note = "log(-log) Brookmeyer-Crowley limit; +inf where not reached"
            predictive = rounded(rows.column(KM_MEDIAN, side), self.ci[k])
            rows.add(f"median_{side}", self.ci[k], predictive, note=note)
        return rows.rows


def reduce_median(record: Published, trial) -> Published:
    """A median as a simulated trial reports it: reached (its value) or not reached."""
    from resurv.statistics.published.not_reached import MedianNotReached

    med = trial.estimate(KM_MEDIAN)
    j = record.index
    if med.reached[0, j]:
        return MedianReached(j, float(med.median[0, j]), arm=record.arm, endpoint=record.endpoint)
    return MedianNotReached(j, arm=record.arm, endpoint=record.endpoint)
