"""Numbers at risk: ``statistic = "at_risk"`` in the study file.

Schema: ``arm``, ``times`` (months, strictly increasing, ≥ 0) and ``numbers`` (whole numbers,
non-increasing, at most the arm size n; a number at time 0 must equal n), one list entry per
printed column of the table under a KM plot. Likelihood: its own factor, the exact binomial
chain N(t_1) ~ Bin(n_j, π_j(t_1)), N(t_k) | N(t_{k−1}) ~ Bin(N(t_{k−1}), π_j(t_k)/π_j(t_{k−1}))
with π_j = S_j G (:mod:`resurv.statistics.at_risk`); the numbers are a data container
``{endpoint}_at_risk_numbers_arm{j}``, the times part of the model structure. Estimator: the
number of the arm's patients with observed time ≥ t. A patient at risk at the last time with a
positive number was observed that long, so follow-up (A + F) must extend beyond it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pymc as pm

from resurv.statistics import at_risk as at_risk_math
from resurv.statistics.published.base import FACTOR, CheckRows, Published, arm_ref, common_fields

__all__ = ["NumbersAtRisk"]


@dataclass(frozen=True)
class NumbersAtRisk(Published):
    """Numbers at risk ``numbers`` of the arm at ``times`` (months); an exact binomial chain."""

    statistic: ClassVar[str] = "at_risk"
    required: ClassVar[tuple[str, ...]] = ("arm", "times", "numbers")
    position: ClassVar[int] = 7
    block: ClassVar[str] = FACTOR

    index: int
    n: int
    times: tuple[float, ...]
    numbers: tuple[int, ...]

    @classmethod
    def parse(cls, reader, arms):
        """Arm; times strictly increasing from ≥ 0; whole numbers, non-increasing, ≤ n."""
        arm = arm_ref(reader, "arm", arms)
        n = arms[arm].n
        times = reader.numbers("times")
        numbers = reader.numbers("numbers")
        if len(times) != len(numbers):
            raise reader.fail(
                "numbers",
                f"must have one number per time: {len(numbers)} numbers for {len(times)} times",
            )
        if times[0] < 0:
            raise reader.fail("times[0]", f"must be >= 0 months; got {times[0]:g}")
        for k in range(1, len(times)):
            if not times[k] > times[k - 1]:
                raise reader.fail(
                    f"times[{k}]",
                    f"times must be strictly increasing; {times[k]:g} follows {times[k - 1]:g}",
                )
        for k, value in enumerate(numbers):
            if not value.is_integer() or value < 0:
                raise reader.fail(f"numbers[{k}]", f"must be a whole number >= 0; got {value:g}")
            if value > n:
                raise reader.fail(
                    f"numbers[{k}]", f"{value:g} at risk exceeds the arm size n = {n} of '{arm}'"
                )
            if k > 0 and value > numbers[k - 1]:
                raise reader.fail(
                    f"numbers[{k}]",
                    f"numbers at risk cannot increase over time: {value:g} at "
                    f"{times[k]:g} months follows {numbers[k - 1]:g} at {times[k - 1]:g}",
                )
        if times[0] == 0 and numbers[0] != n:
            raise reader.fail(
                "numbers[0]",
                f"the number at risk at time 0 must equal the arm size n = {n}; got {numbers[0]:g}",
            )
        if times[0] == 0 and len(times) == 1:
            raise reader.fail("times", "needs a time > 0 (the number at time 0 is the arm size)")
        return cls(
            arms[arm].index,
            n,
            tuple(times),
            tuple(int(v) for v in numbers),
            arm=arm,
            **common_fields(reader),
        )

    # --- the chain: the times > 0 ---

    @property
    def chain_times(self) -> tuple[float, ...]:
        """The times t_k > 0 (a column at time 0 holds n and is not a term of the chain)."""
        return tuple(t for t in self.times if t > 0)

    @property
    def chain_numbers(self) -> tuple[int, ...]:
        """The numbers at the times t_k > 0."""
        return tuple(v for t, v in zip(self.times, self.numbers, strict=True) if t > 0)

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        return f"at_risk_arm{self.index}"

    def structure(self):
        """The times fix the graph; the numbers are data."""
        return ("NumbersAtRisk", self.index, self.chain_times)

    def factor_terms(self, name, trial, horizons):
        """Log p of the binomial chain, the numbers held in a data container."""
        numbers = pm.Data(
            f"{name}_at_risk_numbers_arm{self.index}",
            np.asarray(self.chain_numbers, dtype=float),
        )
        loglik = at_risk_math.at_risk_log_likelihood(trial, self.index, self.chain_times, numbers)
        return [(f"{name}_at_risk_arm{self.index}", loglik)]

    def observed_event_time(self):
        """The last time with a patient still at risk: follow-up extends beyond it.

        0 when every printed number is 0 (follow-up trivially extends beyond 0), so that the
        design's restriction, part of the model graph, is the same for every replicate trial
        of a calibration.
        """
        positive = [t for t, v in zip(self.times, self.numbers, strict=True) if v > 0]
        return max(positive, default=0.0)

    # --- simulation and checks ---

    def reduce(self, trial, study):
        """The simulated arm's numbers with observed time ≥ t at the printed times."""
        counts = at_risk_math.numbers_at_risk(trial.time, trial.arm == self.index, self.times)
        return dataclasses.replace(self, numbers=tuple(int(v) for v in counts[0]))

    def describe(self, study):
        """The table row as the report prints it."""
        pairs = ", ".join(f"{v} at {t:g}" for t, v in zip(self.times, self.numbers, strict=True))
        return f"at risk: {pairs} months"

    def check_rows(self, study, replicates, endpoint):
        """One row per printed number: the replicate arm's number with observed time ≥ t."""
        rows = CheckRows(self, study, replicates, endpoint)
        j = rows.index
        for t, value in zip(self.chain_times, self.chain_numbers, strict=True):

            def number(p, r, t=t):
                trials = replicates.get("trials", p, r)
                counts = at_risk_math.numbers_at_risk(trials.time, trials.arm == j, [t])
                return counts[:, 0].astype(float)

            note = "replicate arm's number with observed time >= t"
            rows.add(f"at_risk_{t:g}m", value, number, note=note, check_value=float(value))
        return rows.rows

    def usage(self) -> list[tuple[str, str, str]]:
        """The times and numbers: terms of the binomial chain (a number at time 0 is n)."""
        chain = ", ".join(f"{n} at {t:g}" for t, n in zip(self.times, self.numbers, strict=True))
        how = (
            f"binomial chain N(t_k) | N(t_k-1) ~ Bin(N(t_k-1), pi(t_k)/pi(t_k-1)), "
            f"pi = S·G ({chain} months); each number is also a check row"
        )
        if self.times and self.times[0] == 0:
            how += "; the number at time 0 is the arm size n (checked equal to it)"
        return [
            ("times", "likelihood", "times of the binomial chain"),
            ("numbers", "likelihood", how),
        ]
