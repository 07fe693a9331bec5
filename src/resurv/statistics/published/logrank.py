"""Two-sided log-rank test (T4): ``statistic = "logrank"`` in the study file.

Schema: ``p_value`` (a number strictly between 0 and 1, or a string: "0.20" keeping its
trailing zeros, "<0.001", ">0.05", "NS" with ``alpha``), optional ``better_arm`` (the arm that
did better). Likelihood: Z = U/√V, U = O₁ − E₁, last in the joint normal; signed when the better
arm is known, folded (both signs) otherwise (:mod:`resurv.statistics.logrank`). The printed p
gives an interval of |Z| (a number printed with d decimals lies within ½·10⁻ᵈ), so the last
sequential piece of the joint normal is interval-censored,
log[Φ((hi − m)/s) − Φ((lo − m)/s)], m and s the conditional mean and SD of Z given the other
statistics (:func:`resurv.statistics.likelihood.normal_pieces`). Estimator: the log-rank test
and the sign of O₁ − E₁.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from resurv.statistics import logrank as logrank_math
from resurv.statistics.base import z_from_p
from resurv.statistics.published.base import (
    NORMAL,
    CheckRows,
    Estimator,
    PrintedP,
    Published,
    arm_ref,
    common_fields,
    printed_decimals,
    read_printed_p,
    reprint_p,
    rounded,
    signed_z,
)

__all__ = ["LOGRANK", "LogRank"]

#: The two-arm log-rank test.
LOGRANK = Estimator("logrank", logrank_math.logrank_test)


@dataclass(frozen=True)
class LogRank(Published):
    """Two-sided log-rank test (T4); enters the likelihood as Z = U/√V, U = O₁ − E₁.

    ``direction`` is the sign of U: +1 when the comparator arm (arm 1) had more deaths than
    expected (did worse), −1 when it did better, ``None`` when the paper does not say (the
    likelihood then mixes both signs: folded normal). ``better_arm`` is the id of the arm that
    did better, as in the study file.
    """

    statistic: ClassVar[str] = "logrank"
    required: ClassVar[tuple[str, ...]] = ("p_value",)
    optional: ClassVar[tuple[str, ...]] = ("better_arm", "alpha")
    position: ClassVar[int] = 3
    block: ClassVar[str] = NORMAL
    last_in_block: ClassVar[bool] = True
    resolution: ClassVar[float] = 1e-3
    index: ClassVar[None] = None

    p_value: float
    direction: int | None = None
    better_arm: str | None = None
    p_printed: PrintedP | None = None

    def __post_init__(self):
        if self.direction not in (None, 1, -1):
            raise ValueError("direction must be +1, -1 or None")

    @classmethod
    def parse(cls, reader, arms):
        """P-value and the optional better arm."""
        better = arm_ref(reader, "better_arm", arms)
        printed = read_printed_p(reader)
        if reader.has("alpha") and printed.text.upper() != "NS":
            raise reader.fail("alpha", 'is the level of a p-value printed "NS" only')
        # U = O₁ − E₁ < 0 when the comparator (arm 1) did better
        direction = None if better is None else (-1 if arms[better].index == 1 else 1)
        # a representative p inside the printed interval (the data vector's value)
        p_value = printed.value if printed.value is not None else _inside(printed)
        return cls(p_value, direction, better, printed, **common_fields(reader))

    def key(self):
        """One log-rank test per endpoint."""
        return (self.endpoint, self.statistic, None)

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return "logrank_z"

    def structure(self):
        """Signed and folded tests differ in graph, and so does a printed (interval) p."""
        if self.p_printed is None:
            return ("LogRank", self.folded)
        low, high = self.observed_bounds()
        form = "above" if not np.isfinite(high) else "below" if not np.isfinite(low) else "interval"
        return ("LogRank", self.folded, form)

    def observed_bounds(self) -> tuple[float, float] | None:
        """Bounds of Z (|Z| when folded) from the printed p's interval; None without one."""
        if self.p_printed is None:
            return None
        low, high = self.p_printed.z_bounds("two")
        if self.direction == -1:
            return (-high, -low)
        return (low, high)

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how)."""
        how = "Z from the printed p, interval-censored by its printing, last in the joint normal"
        rows = [("p_value", "likelihood", how)]
        if self.p_printed is None or self.p_printed.value is not None:
            rows.append(("p_value", "check", "replicate log-rank p (signed Z with a better arm)"))
        return rows

    @property
    def folded(self) -> bool:
        """True when the sign of Z is unknown."""
        return self.direction is None

    def observed(self) -> float:
        """Z on the likelihood scale: signed when the direction is known, |Z| otherwise."""
        z = z_from_p(self.p_value)
        return z if self.direction is None else self.direction * z

    def model_statistic(self, trial, horizons):
        """E[U]/√V with the log-rank influence integrands."""
        return logrank_math.model_statistic(trial, self)

    def reduce(self, trial, study):
        """The simulated trial's p-value and, if the paper gave one, its better arm."""
        lr = logrank_math.logrank_test(trial.time, trial.event, trial.arm == 1)
        p = float(np.clip(lr.p_value[0], 1e-300, 1.0 - 1e-12))
        printed = None
        if self.p_printed is not None:
            printed = reprint_p(self.p_printed, p)
            p = printed.value if printed.value is not None else _inside(printed)
        if self.better_arm is None:
            return dataclasses.replace(self, p_value=p, better_arm=None, p_printed=printed)
        better = study.arms[1 if lr.u[0] < 0 else 0]
        direction = -1 if better.index == 1 else 1
        return dataclasses.replace(
            self, p_value=p, direction=direction, better_arm=better.id, p_printed=printed
        )

    def describe(self, study):
        """The test as the report prints it."""
        side = f", {study.arm(self.better_arm).label} better" if self.better_arm else ""
        text = self.p_printed.text if self.p_printed is not None else str(self.p_value)
        shown = f"P {text}" if text[:1] in "<>" or text.upper() == "NS" else f"P = {text}"
        return f"log-rank {shown}" + (side or ", direction not stated")

    def check_rows(self, study, replicates, endpoint):
        """Signed Z with a known better arm, the p-value itself without."""
        rows = CheckRows(self, study, replicates, endpoint)
        if self.p_printed is not None and self.p_printed.value is None:
            return rows.rows  # an inequality: no number to compare a replicate with
        if self.better_arm is None:
            note = "unsigned: the paper does not say which arm did better"

            def p_rep(p, r):
                return replicates.estimate(LOGRANK, p, r).p_value

            rows.add("logrank_p", self.p_value, rounded(p_rep, self.p_value), note=note)
            return rows.rows
        better = study.arm(self.better_arm)
        decimals = printed_decimals(self.p_value)
        if self.p_printed is not None and "." in self.p_printed.text:
            decimals = len(self.p_printed.text.split(".")[1])

        def z_rep(p, r):
            lr = replicates.estimate(LOGRANK, p, r)
            return signed_z(np.round(lr.p_value, decimals), lr.direction)

        note = (
            f"signed Z = sign(O1 - E1)·Φ⁻¹(1 - P/2) from the printed P = {self.p_value} and "
            f"'{better.label}' better; the same P in the other direction is unlike the paper"
        )
        rows.add("logrank_z", float(signed_z(self.p_value, 1 - 2 * better.index)), z_rep, note=note)
        return rows.rows


def _inside(printed: PrintedP) -> float:
    """A p inside an inequality's interval (its geometric middle, or the bound's side)."""
    lower = printed.lower if printed.lower > 0 else printed.upper * 1e-3
    return float(np.sqrt(lower * printed.upper))
