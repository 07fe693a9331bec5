"""Landmark survival: ``statistic = "landmark"`` in the study file.

Schema: ``arm``, ``value`` (a survival probability in (0, 1)), ``t_months``, optional ``ci``
and ``ci_transform`` (its scale: ``"loglog"``, the default, ``"log"`` or ``"plain"``).
Likelihood: S_j(t*) in the joint normal (resolution 0.001) with Greenwood's influence integrand
(:mod:`resurv.statistics.landmark`); the CI gives Greenwood's SE of Ŝ(t*) back-transformed from
its scale (loglog: ŝ = Ŝ |log Ŝ| (log(−log L) − log(−log U))/(2z); log: Ŝ (log U − log L)/(2z);
plain: (U − L)/(2z); a limit clipped at 0 or 1 is left out and the other side used), which
enters as the statistic log ŝ with the law of
:func:`resurv.statistics.landmark.printed_se_log_variance` (the estimate Ŝ² and the Greenwood
sum are anticorrelated, so the sum-over-deaths law does not apply) plus the rounding of the
printed limits. The limits are also check targets on that scale. Estimator: KM survival at t*
and its Greenwood SE.
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
    printed_decimals,
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

    @property
    def _ci_resolution(self) -> float:
        """Rounding step of the printed CI limits (the coarser of the two)."""
        return 10.0 ** -min(printed_decimals(self.ci[0]), printed_decimals(self.ci[1]))

    def structure(self):
        """The landmark time is part of the graph; with a CI its scale, sides and rounding."""
        if self.ci is None:
            return ("Landmark", self.index, float(self.t_months))
        return (
            "Landmark",
            self.index,
            float(self.t_months),
            self.ci_transform,
            self._ci_sides(),
            self._ci_resolution,
        )

    def _ci_sides(self) -> tuple[bool, bool]:
        """Which limits carry a width: not clipped at 0 (lower) or 1 (upper)."""
        lower, upper = self.ci
        return (lower > 0.0, upper < 1.0)

    def printed_log_se(self):
        """Log of Greenwood's SE of Ŝ(t*) that the CI implies on its scale (None without a CI)."""
        if self.ci is None:
            return None
        value, (lower, upper) = float(self.value), self.ci
        use_lower, use_upper = self._ci_sides()
        if self.ci_transform == "loglog":

            def g(s):
                return math.log(-math.log(s))

            scale = value * abs(math.log(value))  # dS/dθ for θ = log(−log S)
            parts = [g(lower) - g(value)] if use_lower else []
            parts += [g(value) - g(upper)] if use_upper else []
        elif self.ci_transform == "log":
            scale = value
            parts = [math.log(value) - math.log(lower)] if use_lower else []
            parts += [math.log(upper) - math.log(value)] if use_upper else []
        else:
            scale = 1.0
            parts = [value - lower] if use_lower else []
            parts += [upper - value] if use_upper else []
        if not parts or min(parts) <= 0:
            return None
        se = scale * sum(parts) / (len(parts) * Z975)
        return (math.log(se), math.log(se))

    def log_se_law(self, trial, statistic, variance):
        """(b, τ²) of log ŝ: :func:`landmark_math.printed_se_log_variance` and rounding.

        Small-sample terms measured by simulation (tests/statistics/test_landmark_ci.py), with
        τ_P² the sum-over-deaths Poisson term: b = −0.7 τ_P², τ² += 2 τ_P⁴. The printed limits'
        rounding (step δ, each uniform within ±δ/2) adds δ²/(12 k z² s²), s² = C_kk, with k the
        number of sides used: the variance of the half-width (U − L)/(2z) (k = 2) or of
        (Ŝ − L)/z (k = 1) over s².
        """
        from resurv.statistics.base import log_se_variance

        tau2 = landmark_math.printed_se_log_variance(trial, self.index, self.t_months)
        _, poisson = log_se_variance(trial, statistic)
        sides = sum(self._ci_sides())
        rounding = self._ci_resolution**2 / (12.0 * sides * Z975**2) / variance
        return -0.7 * poisson, tau2 + 2.0 * poisson**2 + rounding

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how)."""
        rows = [
            ("value", "likelihood", "S(t*) in the joint normal (Greenwood influence)"),
            ("t_months", "likelihood", "the landmark time of S(t*)"),
        ]
        if self.ci is not None:
            how = f"Greenwood SE back-transformed from the {self.ci_transform} CI as log SE"
            rows.append(("ci", "likelihood", how))
            rows.append(("ci", "check", f"the replicate's {self.ci_transform} Greenwood limits"))
        return rows

    def key(self):
        """One value per arm and landmark time."""
        return (self.endpoint, self.statistic, self.arm, self.t_months)

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"landmark_arm{self.index}_t{self.t_months:g}"

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
        if self.ci is None:
            return dataclasses.replace(self, value=value, ci=None)
        se = float(lm.se[0, self.index])
        if not se > 0:
            return dataclasses.replace(self, value=value, ci=None, ci_transform="loglog")
        lower, upper = landmark_math.interval(value, se, Z975, self.ci_transform)
        decimals = min(printed_decimals(self.ci[0]), printed_decimals(self.ci[1]))
        ci = (float(np.round(lower, decimals)), float(np.round(upper, decimals)))
        if not ci[0] < value < ci[1]:
            return dataclasses.replace(self, value=value, ci=None, ci_transform="loglog")
        return dataclasses.replace(self, value=value, ci=ci)

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
