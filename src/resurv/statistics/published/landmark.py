"""Landmark survival: ``statistic = "landmark"`` in the study file.

Schema: ``arm``, ``value`` (a survival probability in (0, 1)), ``t_months``, optional ``ci``
(a check target only, compared with the replicate's log(−log) limits). Likelihood: S_j(t*) in
the joint normal (resolution 0.001) with Greenwood's influence integrand
(:mod:`resurv.statistics.landmark`). Estimator: KM survival at t* and its Greenwood SE.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from resurv.statistics import landmark as landmark_math
from resurv.statistics.published.base import (
    NORMAL,
    SCALE_FROM_LANDMARK,
    Z975,
    CheckRows,
    Published,
    TimeScale,
    arm_ref,
    common_fields,
    read_ci,
    rounded,
)

__all__ = ["Landmark"]


@dataclass(frozen=True)
class Landmark(Published):
    """KM survival ``value`` of the arm at ``t_months`` (CI limits are check targets only)."""

    statistic: ClassVar[str] = "landmark"
    required: ClassVar[tuple[str, ...]] = ("arm", "value", "t_months")
    optional: ClassVar[tuple[str, ...]] = ("ci",)
    position: ClassVar[int] = 4
    block: ClassVar[str] = NORMAL
    resolution: ClassVar[float] = 1e-3

    index: int
    t_months: float
    value: float
    ci: tuple[float, float] | None = None

    @classmethod
    def parse(cls, reader, arms):
        """Arm, survival probability in (0, 1), optional interval, landmark time (> 0)."""
        arm = arm_ref(reader, "arm", arms)
        value = reader.number("value", None)
        if value is not None and not 0 < value < 1:
            raise reader.fail("value", f"a survival probability must be in (0, 1); got {value}")
        ci = read_ci(reader, value, positive=False)
        t_months = reader.number("t_months", None, positive=True)
        return cls(arms[arm].index, t_months, value, ci, arm=arm, **common_fields(reader))

    def key(self):
        """One value per arm and landmark time."""
        return (self.endpoint, self.statistic, self.arm, self.t_months)

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"landmark_arm{self.index}_t{self.t_months:g}"

    def structure(self):
        """The landmark time is part of the graph."""
        return ("Landmark", self.index, float(self.t_months))

    def observed(self) -> float:
        """Value on the likelihood scale: the survival probability."""
        return float(self.value)

    def model_statistic(self, trial, horizons):
        """S_j(t*) with Greenwood's influence integrand."""
        return landmark_math.model_statistic(trial, self)

    def reduce(self, trial, study):
        """The simulated arm's KM survival at t*, kept inside (0, 1)."""
        lm = landmark_math.km_landmark(trial.time, trial.event, self.t_months, trial.arm)
        value = float(np.clip(lm.survival[0, self.index], 1e-6, 1 - 1e-6))
        return dataclasses.replace(self, value=value, ci=None)

    def describe(self, study):
        """The value as the report prints it."""
        return f"S({self.t_months}) = {self.value}"

    def time_scale(self, followup_months):
        """The exponential curve's median through S(t*): t*·log 2 / (−log S(t*))."""
        months = self.t_months * math.log(2.0) / -math.log(self.value)
        how = (
            f"S({self.t_months:g}) = {self.value:g}: {self.t_months:g}·log 2 / "
            f"(−log {self.value:g}) = {months:.4g} months"
        )
        return TimeScale(months, how, SCALE_FROM_LANDMARK)

    def check_rows(self, study, replicates, endpoint):
        """Replicate KM survival at t* (nan where the arm's follow-up ends before t*)."""
        rows = CheckRows(self, study, replicates, endpoint)
        j = rows.index
        t_star = float(self.t_months)

        def km_at(p, r):
            t = replicates.get("trials", p, r)
            value = landmark_math.km_landmark(t.time, t.event, t_star, t.arm).survival[:, j]
            last = np.where(t.arm == j, t.time, -np.inf).max(axis=1)
            return np.where((last < t_star) & (value > 0), np.nan, value)

        def model_survival(post):
            return np.ravel(replicates.get("curves", post)[j].survival(t_star))

        note = "KM survival at t*; nan where the replicate follow-up ends before t*"
        rows.add(
            f"survival_{t_star:g}m", self.value, rounded(km_at, self.value), model_survival, note
        )
        for k, side in enumerate(("ci_low", "ci_high") if self.ci is not None else ()):

            def limit(p, r, k=k):
                t = replicates.get("trials", p, r)
                estimate = landmark_math.km_landmark(t.time, t.event, t_star, t.arm)
                limits = landmark_math.loglog_interval(
                    estimate.survival[:, j], estimate.se[:, j], Z975
                )
                last = np.where(t.arm == j, t.time, -np.inf).max(axis=1)
                value = estimate.survival[:, j]
                return np.where((last < t_star) & (value > 0), np.nan, limits[k])

            note = "log(-log) Greenwood 95% limit of the replicate's KM survival at t*"
            name = f"survival_{t_star:g}m_{side}"
            rows.add(name, self.ci[k], rounded(limit, self.ci[k]), note=note)
        return rows.rows
