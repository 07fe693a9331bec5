"""Hazard ratio: ``statistic = "hr"`` in the study file.

Schema: ``value`` (comparator vs reference, > 0), optional ``ci`` and ``p_value``. Likelihood:
log HR in the joint normal (resolution 0.1%), the Cox estimate's limit and influence
(:mod:`resurv.statistics.hr`); the CI width and the p-value are check targets only. Estimator:
the Cox HR (Efron ties), its SE and the two-sided Wald p-value 2 Φ(−|log HR| / SE).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from resurv.models.built import stacked_draws
from resurv.statistics import cox
from resurv.statistics import hr as hr_math
from resurv.statistics.published.base import (
    NORMAL,
    Z975,
    CheckRows,
    Estimator,
    Published,
    common_fields,
    read_ci,
    read_p_value,
    read_positive_value,
    rounded,
)

__all__ = ["COX", "HazardRatio"]

#: The Cox log hazard ratio of arm 1 versus arm 0 and its SE.
COX = Estimator("cox", cox.cox_two_arm)


@dataclass(frozen=True)
class HazardRatio(Published):
    """Hazard ratio of arm 1 versus arm 0; enters as log HR (CI width is a check target only)."""

    statistic: ClassVar[str] = "hr"
    required: ClassVar[tuple[str, ...]] = ("value",)
    optional: ClassVar[tuple[str, ...]] = ("ci", "p_value")
    position: ClassVar[int] = 5
    block: ClassVar[str] = NORMAL
    resolution: ClassVar[float] = 1e-3
    index: ClassVar[None] = None

    value: float
    ci: tuple[float, float] | None = None
    p_value: float | None = None

    @classmethod
    def parse(cls, reader, arms):
        """HR (> 0), optional p-value and interval containing the HR."""
        value = read_positive_value(reader)
        p_value = read_p_value(reader)
        ci = read_ci(reader, value)
        return cls(value, ci, p_value, **common_fields(reader))

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return "log_hr"

    def structure(self):
        """No arm, no option."""
        return ("HazardRatio",)

    def observed(self) -> float:
        """Value on the likelihood scale: log HR."""
        return math.log(self.value)

    def model_statistic(self, trial, horizons):
        """The Cox estimate's limit and influence integrands."""
        return hr_math.model_statistic(trial, self)

    def reduce(self, trial, study):
        """The simulated trial's Cox HR."""
        fit = cox.cox_two_arm(trial.time, trial.event, trial.arm == 1)
        return dataclasses.replace(self, value=float(np.exp(fit.log_hr[0])), ci=None)

    def describe(self, study):
        """The value as the report prints it."""
        return f"HR {self.value}"

    def check_rows(self, study, replicates, endpoint):
        """Replicate Cox HR; with a CI its upper/lower ratio exp(2·1.96·SE); with a p its Wald p."""
        rows = CheckRows(self, study, replicates, endpoint)

        def model_hr(post):
            if "hr" in post.data_vars:
                return stacked_draws(post, "hr")
            return np.exp(stacked_draws(post, "log_hr"))

        def cox_hr(p, r):
            return np.exp(replicates.estimate(COX, p, r).log_hr)

        def ci_ratio(p, r):
            return np.exp(2.0 * Z975 * replicates.estimate(COX, p, r).se)

        model = model_hr if replicates.spec.effect == "ph" else None
        note = "Cox HR (Efron ties) of the replicate"
        rows.add("hr", self.value, rounded(cox_hr, self.value), model, note)
        if self.ci is not None:
            note = "upper/lower 95% limit = exp(2·1.96·SE): reflects the number of events"
            rows.add("hr_ci_ratio", self.ci[1] / self.ci[0], ci_ratio, note=note)
        if self.p_value is not None:

            def wald_p(p, r):
                fit = replicates.estimate(COX, p, r)
                return 2.0 * stats.norm.sf(np.abs(fit.log_hr) / fit.se)

            note = "two-sided Wald p of the replicate's Cox HR, 2·Φ(−|log HR|/SE)"
            rows.add("hr_p", self.p_value, rounded(wald_p, self.p_value), note=note)
        return rows.rows
