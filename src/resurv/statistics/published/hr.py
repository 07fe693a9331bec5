"""Hazard ratio: ``statistic = "hr"`` in the study file.

Schema: ``value`` (comparator vs reference, > 0), optional ``ci`` = [lower, upper] (the upper
limit may be printed ``"NR"``), ``p_value`` (a number, or a string: "0.20", "<0.001", ">0.05",
"NS" with ``alpha``), ``p_test`` (``"wald"``, the Cox Wald test, the default, or
``"logrank"``/``"score"``) and ``p_sided`` (``"two"``, the default, or ``"one"``). A log-rank
(score) p is the log-rank statistic: the likelihood adds a log-rank record (Z signed by the HR's
direction, last in the joint normal, :mod:`resurv.statistics.published.logrank`); a separate
log-rank record of the same endpoint is then refused. Likelihood: log HR in the joint normal
(resolution 0.1%), the Cox estimate's limit and influence (:mod:`resurv.statistics.hr`); the printed
uncertainty as the statistic log ŝ (:func:`resurv.statistics.likelihood.se_term`): from the CI,
ŝ = (log U − log L)/(2 z₀.₉₇₅) (one side, (log HR − log L)/z₀.₉₇₅, when U is "NR"); from a
Wald p without a CI, ŝ = |log HR| / Φ⁻¹(1 − p/2) (one-sided: 1 − p), interval-censored by the
printed p's interval. With a CI, the p is implied by HR and CI: a check target only. Estimator:
the Cox HR (Efron ties), its SE and the Wald p-value 2 Φ(−|log HR| / SE).
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
from resurv.statistics import logrank as logrank_math
from resurv.statistics.published.base import (
    NORMAL,
    NOT_REACHED,
    Z975,
    CheckRows,
    Estimator,
    PrintedP,
    Published,
    common_fields,
    printed_decimals,
    read_ci_upper_nr,
    read_positive_value,
    read_printed_p,
    reprint_p,
    rounded,
)
from resurv.statistics.published.logrank import LOGRANK, LogRank

__all__ = ["COX", "HazardRatio"]

#: The Cox log hazard ratio of arm 1 versus arm 0 and its SE.
COX = Estimator("cox", cox.cox_two_arm)


@dataclass(frozen=True)
class HazardRatio(Published):
    """Hazard ratio of arm 1 versus arm 0; enters as log HR and its printed SE as log ŝ."""

    statistic: ClassVar[str] = "hr"
    required: ClassVar[tuple[str, ...]] = ("value",)
    optional: ClassVar[tuple[str, ...]] = ("ci", "p_value", "p_test", "p_sided", "alpha")
    position: ClassVar[int] = 5
    block: ClassVar[str] = NORMAL
    resolution: ClassVar[float] = 1e-3
    #: log ŝ of the Cox SE: bias 2.5 τ_P² ≈ 0.6/D and extra variance 16 τ_P⁴ ≈ 1/D², measured
    #: by simulation (tests/statistics/test_printed_se.py).
    se_small_sample: ClassVar[tuple[float, float]] = (2.5, 16.0)
    index: ClassVar[None] = None

    value: float
    ci: tuple[float, float | None] | None = None
    p_value: float | None = None
    p_printed: PrintedP | None = None
    p_sided: str = "two"
    p_test: str = "wald"
    #: decimals of the HR as printed (None: not known, the kind's resolution stands for them)
    decimals: int | None = None

    @classmethod
    def parse(cls, reader, arms):
        """HR (> 0), optional CI containing the HR (upper may be "NR") and printed p-value."""
        value = read_positive_value(reader)
        ci = read_ci_upper_nr(reader, value)
        printed = read_printed_p(reader)
        if reader.has("alpha") and (printed is None or printed.text.upper() != "NS"):
            raise reader.fail("alpha", 'is the level of a p-value printed "NS" only')
        test = reader.string("p_test", "wald", choices=("wald", "logrank", "score"))
        sided = reader.string("p_sided", "two", choices=("two", "one"))
        if printed is None and (reader.has("p_test") or reader.has("p_sided")):
            key = "p_test" if reader.has("p_test") else "p_sided"
            raise reader.fail(key, "describes a p_value, and none is given")
        if printed is not None and test != "wald" and sided != "two":
            raise reader.fail("p_sided", "a log-rank p is read as two-sided only")
        if printed is not None and test != "wald" and value == 1.0:
            raise reader.fail("p_test", "an HR of exactly 1 gives no direction to the log-rank Z")
        if printed is not None:
            if ci is not None and ci[1] is not None:
                # the CI excludes 1 exactly when the Wald test is significant at 5% two-sided
                excludes_one = ci[0] > 1.0 or ci[1] < 1.0
                alpha_two = 0.05 if sided == "two" else 0.025
                if excludes_one and printed.lower >= alpha_two:
                    raise reader.fail(
                        "p_value",
                        f"'{printed.text}' says p >= {printed.lower:g}, but the 95% CI "
                        f"[{ci[0]}, {ci[1]}] excludes 1",
                    )
            if ci is None and value == 1.0:
                raise reader.fail("p_value", "an HR of exactly 1 with a p-value gives no SE")
        p_value = printed.value if printed is not None else None
        test = "logrank" if test == "score" else test
        decimals = printed_decimals(value)
        return cls(value, ci, p_value, printed, sided, test, decimals, **common_fields(reader))

    def conflict(self, other):
        """A log-rank p given with the HR and a log-rank record of the same endpoint."""
        if (
            self.p_printed is not None
            and self.p_test == "logrank"
            and other.statistic == "logrank"
            and other.endpoint == self.endpoint
            and other not in self.companions()
        ):
            return (
                "its p_value is a log-rank p (p_test = logrank), and {other} is a log-rank "
                "test of the same endpoint: give the log-rank p once"
            )
        return None

    def companions(self):
        """With a log-rank p: the log-rank test, Z signed by the HR (HR < 1: comparator better)."""
        if self.p_printed is None or self.p_test != "logrank":
            return ()
        direction = -1 if self.value < 1.0 else 1
        p_value = self.p_value if self.p_value is not None else _inside(self.p_printed)
        return (LogRank(p_value, direction, None, self.p_printed, endpoint=self.endpoint),)

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return "log_hr"

    def structure(self):
        """No arm; printed decimals when known; the SE's form is added by the likelihood."""
        return ("HazardRatio",) if self.decimals is None else ("HazardRatio", "printed")

    def printed_rounding(self) -> float | None:
        """log(v + δ/2) − log(v − δ/2), δ = 10^−d: the log-HR interval of v printed to d decimals.

        "1.02" stands for any HR in [1.015, 1.025): a log-HR interval of width 0.0098, ten times
        the kind's resolution. It matters where the log HR is nearly collinear with another
        statistic of the joint normal: under PH near HR = 1 the log-rank Z and the Cox log HR
        have the same influence integrands up to a factor √V, and without the printing's width
        the pair would fix V within the width of the printed p's interval.
        """
        if self.decimals is None:
            return None
        half = 0.5 * 10.0 ** (-self.decimals)
        return math.log(self.value + half) - math.log(max(self.value - half, 0.5 * self.value))

    def observed(self) -> float:
        """Value on the likelihood scale: log HR."""
        return math.log(self.value)

    def printed_log_se(self):
        """Log ŝ from the CI (both limits, or the lower one), else from a Wald p's interval."""
        if self.ci is not None:
            lower, upper = self.ci
            if upper is None:
                se = (math.log(self.value) - math.log(lower)) / Z975
            else:
                se = (math.log(upper) - math.log(lower)) / (2.0 * Z975)
            return (math.log(se), math.log(se))
        if self.p_printed is None or self.p_test != "wald":
            return None
        z_low, z_high = self.p_printed.z_bounds(self.p_sided)
        log_abs = math.log(abs(math.log(self.value)))
        lower = log_abs - math.log(z_high) if np.isfinite(z_high) else -np.inf
        upper = log_abs - math.log(z_low) if z_low > 0 else np.inf
        return (lower, upper)

    def model_statistic(self, trial, horizons):
        """The Cox estimate's limit and influence integrands."""
        return hr_math.model_statistic(trial, self)

    def reduce(self, trial, study):
        """The simulated trial's Cox HR, with a CI / Wald p printed as the paper printed them."""
        fit = cox.cox_two_arm(trial.time, trial.event, trial.arm == 1)
        log_hr, se = float(fit.log_hr[0]), float(fit.se[0])
        ci = None
        if self.ci is not None:
            upper = math.exp(log_hr + Z975 * se) if self.ci[1] is not None else None
            ci = (math.exp(log_hr - Z975 * se), upper)
        printed = None
        if self.p_printed is not None and self.p_test == "logrank":
            lr = logrank_math.logrank_test(trial.time, trial.event, trial.arm == 1)
            p = float(np.clip(lr.p_value[0], 1e-300, 1.0 - 1e-12))
            printed = reprint_p(self.p_printed, p)
        elif self.p_printed is not None:
            scale = 2.0 if self.p_sided == "two" else 1.0
            p = float(np.clip(scale * stats.norm.sf(abs(log_hr) / se), 1e-300, 1.0 - 1e-12))
            printed = reprint_p(self.p_printed, p)
        return dataclasses.replace(
            self,
            value=math.exp(log_hr),
            ci=ci,
            p_value=printed.value if printed is not None else None,
            p_printed=printed,
        )

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how)."""
        rows = [("value", "likelihood", "log HR in the joint normal (Cox limit and influence)")]
        if self.ci is not None:
            how = (
                "CI half-width as the statistic log SE, around the model SE"
                if self.ci[1] is not None
                else "lower half-width (upper printed NR) as the statistic log SE"
            )
            rows.append(("ci", "likelihood", how))
            rows.append(("ci", "check", "upper/lower ratio of the replicate's Cox CI"))
        if self.p_printed is not None and self.p_test == "logrank":
            how = "two-sided log-rank p: the log-rank Z, signed by the HR, in the joint normal"
            rows.append(("p_value", "likelihood", how))
            if self.p_value is not None:
                rows.append(("p_value", "check", "the replicate's log-rank p"))
        elif self.p_printed is not None:
            if self.ci is not None and self.p_value is not None:
                how = "implied by HR and CI (Wald): checked against the replicate's Wald p"
                rows.append(("p_value", "check", how))
            elif self.ci is not None:
                how = "implied by HR and CI (Wald); an inequality leaves no number to check"
                rows.append(("p_value", "not used", how))
            else:
                how = f"{self.p_sided}-sided Wald p as the SE |log HR|/|Z|, interval-censored"
                rows.append(("p_value", "likelihood", how))
        return rows

    def describe(self, study):
        """The value as the report prints it."""
        text = f"HR {self.value}"
        if self.ci is not None:
            upper = NOT_REACHED if self.ci[1] is None else self.ci[1]
            text += f" (95% CI {self.ci[0]}-{upper})"
        if self.p_printed is not None:
            text += (
                f", P {self.p_printed.text}"
                if self.p_printed.text[:1] in "<>"
                else (f", P = {self.p_printed.text}")
            )
        return text

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

        def ci_lower(p, r):
            fit = replicates.estimate(COX, p, r)
            return np.exp(fit.log_hr - Z975 * fit.se)

        model = model_hr if replicates.spec.effect == "ph" else None
        note = "Cox HR (Efron ties) of the replicate"
        rows.add("hr", self.value, rounded(cox_hr, self.value), model, note)
        if self.ci is not None and self.ci[1] is not None:
            note = "upper/lower 95% limit = exp(2·1.96·SE): reflects the number of events"
            rows.add("hr_ci_ratio", self.ci[1] / self.ci[0], ci_ratio, note=note)
        elif self.ci is not None:
            note = "lower 95% limit exp(log HR − 1.96·SE) (upper printed NR)"
            rows.add("hr_ci_lower", self.ci[0], rounded(ci_lower, self.ci[0]), note=note)
        if self.p_value is not None and self.p_test == "logrank":

            def logrank_p(p, r):
                return replicates.estimate(LOGRANK, p, r).p_value

            note = "two-sided log-rank p of the replicate"
            rows.add("hr_p", self.p_value, rounded(logrank_p, self.p_value), note=note)
        elif self.p_value is not None:
            scale = 2.0 if self.p_sided == "two" else 1.0

            def wald_p(p, r):
                fit = replicates.estimate(COX, p, r)
                return scale * stats.norm.sf(np.abs(fit.log_hr) / fit.se)

            note = f"{self.p_sided}-sided Wald p of the replicate's Cox HR, Φ(−|log HR|/SE)"
            rows.add("hr_p", self.p_value, rounded(wald_p, self.p_value), note=note)
        return rows.rows


def _inside(printed: PrintedP) -> float:
    """A p inside an inequality's interval (the data vector's value; the bounds are the data)."""
    lower = printed.lower if printed.lower > 0 else printed.upper * 1e-3
    return float(np.sqrt(lower * printed.upper))
