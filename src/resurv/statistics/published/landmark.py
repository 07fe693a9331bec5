"""Landmark survival: ``statistic = "landmark"`` in the study file.

Schema: ``arm``, ``value`` (a survival probability in (0, 1)), ``t_months``, optional ``ci``
and ``ci_transform`` (its scale: ``"loglog"``, the default, ``"log"`` or ``"plain"``): the CI
is a check target, compared with the replicate's limits on that scale. Likelihood: S_j(t*) in
the joint normal (resolution 0.001) with Greenwood's influence integrand
(:mod:`resurv.statistics.landmark`). The CI does not enter the likelihood: the printed SE
Ŝ σ̂ multiplies a Greenwood sum by the estimate Ŝ² itself, the two anticorrelated (r ≈ −0.95 in
simulation), so its log has a spread of 0.4–0.5 of the sum-over-deaths law of
:func:`resurv.statistics.base.log_se_variance` (tests/statistics/test_landmark_ci.py); without a
law that matches simulation it is not used as data. Estimator: KM survival at t* and its
Greenwood SE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from resurv.statistics import landmark as landmark_math
from resurv.statistics.published.base import (
    NORMAL,
    Z975,
    CheckRows,
    Published,
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
    optional: ClassVar[tuple[str, ...]] = ("ci", "ci_transform")
    position: ClassVar[int] = 4
    block: ClassVar[str] = NORMAL
    resolution: ClassVar[float] = 1e-3

    index: int
    t_months: float
    value: float
    ci: tuple[float, float] | None = None
    ci_transform: str = "loglog"

    @classmethod
    def parse(cls, reader, arms):
        """Arm, survival probability in (0, 1), optional interval, landmark time (> 0)."""
        arm = arm_ref(reader, "arm", arms)
        value = reader.number("value", None)
        if value is not None and not 0 < value < 1:
            raise reader.fail("value", f"a survival probability must be in (0, 1); got {value}")
        ci = read_ci(reader, value, positive=False)
        t_months = reader.number("t_months", None, positive=True)
        transform = reader.string("ci_transform", "loglog", choices=("log", "loglog", "plain"))
        if ci is None and reader.has("ci_transform"):
            raise reader.fail("ci_transform", "describes a ci, and none is given")
        if ci is not None and not 0.0 <= ci[0] < ci[1] <= 1.0:
            raise reader.fail("ci", f"limits of a survival probability must be in [0, 1]; got {ci}")
        fields = common_fields(reader)
        return cls(arms[arm].index, t_months, value, ci, transform, arm=arm, **fields)

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how)."""
        rows = [
            ("value", "likelihood", "S(t*) in the joint normal (Greenwood influence)"),
            ("t_months", "likelihood", "the landmark time of S(t*)"),
        ]
        if self.ci is not None:
            how = (
                f"the replicate's {self.ci_transform} Greenwood limits; not in the likelihood: "
                "the law of the printed SE (a Greenwood sum times the estimate) is not modelled"
            )
            rows.append(("ci", "check", how))
        return rows

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
                limits = landmark_math.interval(
                    estimate.survival[:, j], estimate.se[:, j], Z975, self.ci_transform
                )
                last = np.where(t.arm == j, t.time, -np.inf).max(axis=1)
                value = estimate.survival[:, j]
                return np.where((last < t_star) & (value > 0), np.nan, limits[k])

            note = f"{self.ci_transform} Greenwood 95% limit of the replicate's KM survival at t*"
            name = f"survival_{t_star:g}m_{side}"
            rows.add(name, self.ci[k], rounded(limit, self.ci[k]), note=note)
        return rows.rows
