"""SPSS-style Kaplan–Meier mean (T3): ``statistic = "rmean"`` in the study file.

Schema: ``arm``, ``value`` (months, > 0), optional ``spread`` (> 0) and ``spread_kind``
(``se``, the default, or ``sd``): the reported "±", a check target only (an SD is read as
SE·√n_j, the SD of the patients' restricted times the SE would imply). The "±" does not enter
the likelihood: the SPSS SE weights each death by the estimated area beyond it, and the log of
that SE has a spread of 0.7–1.4 times the sum-over-deaths law of
:func:`resurv.statistics.base.log_se_variance` across designs (30 and 150 per arm: 0.72 and
0.74; 15 and 12 with a heavy tail: 1.37), so without a law that matches simulation it is kept
a check target. Likelihood: the area
under the KM curve up to the arm's latent largest observed time τ_j, in the joint normal
(resolution 0.01 month) with its conditional mean and variance given τ_j
(:mod:`resurv.statistics.rmean`). Estimator: the area up to the arm's largest observed time with
its Greenwood-type SE (R ``survival`` ``rmean="individual"``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from resurv.statistics import rmean as rmean_math
from resurv.statistics.published.base import (
    NORMAL,
    SCALE_FROM_MEAN,
    CheckRows,
    Estimator,
    Published,
    TimeScale,
    arm_ref,
    common_fields,
    read_positive_value,
    rounded,
)

__all__ = ["RestrictedMean", "SPSS_MEAN"]

#: The SPSS-style KM mean of each arm and its SE.
SPSS_MEAN = Estimator("rmean", rmean_math.km_restricted_mean)


@dataclass(frozen=True)
class RestrictedMean(Published):
    """SPSS-style KM mean: the area under the KM curve up to the arm's largest observed time (T3).

    ``spread`` (an SE, or an SD where ``spread_kind`` says so) is a check target only: the
    likelihood uses the model-implied variance, never the reported one.
    """

    statistic: ClassVar[str] = "rmean"
    required: ClassVar[tuple[str, ...]] = ("arm", "value")
    optional: ClassVar[tuple[str, ...]] = ("spread", "spread_kind")
    position: ClassVar[int] = 2
    block: ClassVar[str] = NORMAL
    needs_horizon: ClassVar[bool] = True
    resolution: ClassVar[float] = 1e-2

    index: int
    value: float
    spread: float | None = None
    spread_kind: str | None = None

    @classmethod
    def parse(cls, reader, arms):
        """Arm, mean (> 0) and the optional "±" with its kind."""
        arm = arm_ref(reader, "arm", arms)
        value = read_positive_value(reader)
        spread = reader.number("spread", None)
        if spread is not None and spread <= 0:
            raise reader.fail("spread", f"an SE or SD must be > 0; got {spread}")
        spread_kind = reader.string(
            "spread_kind", "se" if spread is not None else None, ["se", "sd"]
        )
        return cls(arms[arm].index, value, spread, spread_kind, arm=arm, **common_fields(reader))

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"restricted_mean_arm{self.index}"

    def observed(self) -> float:
        """Value on the likelihood scale: the mean in months."""
        return float(self.value)

    def model_statistic(self, trial, horizons):
        """The area's conditional mean and variance given the arm's largest observed time."""
        return rmean_math.model_statistic(trial, self, horizons[self.index])

    def reduce(self, trial, study):
        """The simulated arm's SPSS mean and SE (no "±" where the SE is 0)."""
        est = trial.estimate(SPSS_MEAN)
        se = float(est.se[0, self.index])
        value = float(est.rmean[0, self.index])
        return dataclasses.replace(self, value=value, spread=se if se > 0 else None)

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how)."""
        rows = [("value", "likelihood", "KM area up to the latent largest time, joint normal")]
        if self.spread is not None:
            read = "an SD, compared as SE·√n" if self.spread_kind == "sd" else "the SPSS SE"
            how = (
                f"'±' read as {read} of the replicate's SPSS mean; not in the likelihood: the "
                "law of the printed SE (deaths weighted by estimated areas) is not modelled"
            )
            rows.append(("spread", "check", how))
        return rows

    def describe(self, study):
        """The value as the report prints it."""
        return f"mean {self.value} ± {self.spread} ({self.spread_kind}) months"

    def time_scale(self, followup_months):
        """The exponential curve's median with this mean: mean·log 2.

        The SPSS mean is restricted to the largest observed time, so this errs low; a median
        not reached in the same arm may raise it (its lower bound).
        """
        months = self.value * math.log(2.0)
        how = f"mean {self.value:g} months · log 2 = {months:.4g} months"
        return TimeScale(months, how, SCALE_FROM_MEAN)

    def check_rows(self, study, replicates, endpoint):
        """Replicate SPSS mean and, if published, its "±" (an SD compared as SE·√n)."""
        rows = CheckRows(self, study, replicates, endpoint)
        note = "SPSS-style KM mean up to the arm's largest observed time"
        rows.add(
            "rmean_months",
            self.value,
            rounded(rows.column(SPSS_MEAN, "rmean"), self.value),
            note=note,
        )
        if self.spread is not None:
            sd = self.spread_kind == "sd"
            scale = float(np.sqrt(rows.arm.n)) if sd else 1.0
            note = f"reported ± ({'SD read as SE·√n' if sd else 'Greenwood-type SE'})"
            predictive = rounded(rows.column(SPSS_MEAN, "se", scale), self.spread)
            rows.add("rmean_se", self.spread, predictive, note=note)
        return rows.rows
