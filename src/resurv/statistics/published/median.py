"""A reached Kaplan–Meier median (T1): ``statistic = "median"`` in the study file.

Schema: ``arm``, ``value`` (months, > 0), optional ``ci`` = [lower, upper] (the upper limit may
be printed ``"NR"``) and ``ci_transform`` (the scale of its Brookmeyer–Crowley interval:
``"log"``, R survival's default and the default here, ``"loglog"``, lifelines' default, or
``"plain"``). Likelihood: log median in the joint normal (resolution 0.1%), mean log m_j plus its
small-sample shift, and the support factor P(some patient observed at the median)
(:mod:`resurv.statistics.median`); the reported median also restricts the follow-up design to
A + F beyond it. Beside landmark survivals of the same arm the median leaves the joint normal
and enters by its law given them (:class:`MedianGivenLandmarks`, T1b). The CI as the
statistic log ŝ, ŝ = (log U − log L)/(2z) (one side, (log m − log L)/z, when U is "NR"),
around the model SE with the spread of
:func:`resurv.statistics.median.ci_log_se_law`; its limits are also check targets. Estimator:
the KM median (smallest time with Ŝ ≤ ½) and its Brookmeyer–Crowley interval on the printed
scale; a simulated arm whose curve does not reach ½ reports "not reached".
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from resurv.models.built import stacked_draws
from resurv.statistics import median as median_math
from resurv.statistics.published.base import (
    FACTOR,
    NORMAL,
    NOT_REACHED,
    Z975,
    CheckRows,
    Estimator,
    Published,
    TimeScale,
    arm_ref,
    common_fields,
    read_ci_upper_nr,
    read_positive_value,
    rounded,
)

__all__ = [
    "KM_MEDIAN",
    "MedianGivenLandmarks",
    "MedianReached",
    "median_estimator",
    "reduce_median",
]

#: The KM median of each arm (shared with "median not reached"); log(−log) interval.
KM_MEDIAN = Estimator("median", median_math.km_median)


def median_estimator(transform: str) -> Estimator:
    """The KM median with its Brookmeyer–Crowley interval on the scale ``transform``."""
    if transform == "loglog":
        return KM_MEDIAN
    return Estimator(
        f"median_{transform}", functools.partial(median_math.km_median, transform=transform)
    )


@dataclass(frozen=True)
class MedianReached(Published):
    """A Kaplan–Meier median that was reached (T1); enters the likelihood as log(median).

    ``value`` is the median in months; ``ci`` its interval (upper None when printed "NR") on
    the scale ``ci_transform``.
    """

    statistic: ClassVar[str] = "median"
    required: ClassVar[tuple[str, ...]] = ("arm", "value")
    optional: ClassVar[tuple[str, ...]] = ("ci", "ci_transform")
    position: ClassVar[int] = 0
    block: ClassVar[str] = NORMAL
    resolution: ClassVar[float] = 1e-3

    index: int
    value: float
    ci: tuple[float, float | None] | None = None
    ci_transform: str = "log"

    @classmethod
    def parse(cls, reader, arms):
        """Arm, median (> 0) and optional interval containing it (upper may be "NR")."""
        arm = arm_ref(reader, "arm", arms)
        value = read_positive_value(reader)
        ci = read_ci_upper_nr(reader, value)
        transform = reader.string("ci_transform", "log", choices=median_math.CI_TRANSFORMS)
        if ci is None and reader.has("ci_transform"):
            raise reader.fail("ci_transform", "describes a ci, and none is given")
        fields = common_fields(reader)
        return cls(arms[arm].index, value, ci, transform, arm=arm, **fields)

    def structure(self):
        """Kind and arm; with a CI also its transform and sides (one when U is "NR")."""
        if self.ci is None:
            return (type(self).__name__, self.index)
        return (type(self).__name__, self.index, self.ci_transform, self._sides)

    @property
    def _sides(self) -> int:
        return 1 if self.ci[1] is None else 2

    def printed_log_se(self):
        """Log of the CI half-width on the log-median scale over z (one side when U is NR)."""
        if self.ci is None:
            return None
        lower, upper = self.ci
        if upper is None:
            se = (math.log(self.value) - math.log(lower)) / Z975
        else:
            se = (math.log(upper) - math.log(lower)) / (2.0 * Z975)
        return (math.log(se), math.log(se))

    def log_se_law(self, trial, statistic, variance):
        """Spread of the BC half-width (:func:`resurv.statistics.median.ci_log_se_law`)."""
        return median_math.ci_log_se_law(trial, self.index, statistic, variance, self._sides)

    def joined(self, others):
        """Beside landmarks of its arm: the median given them (:class:`MedianGivenLandmarks`)."""
        from resurv.statistics.published.landmark import Landmark

        landmarks = tuple(
            sorted(
                (
                    s
                    for s in others
                    if isinstance(s, Landmark)
                    and s.endpoint == self.endpoint
                    and s.index == self.index
                ),
                key=lambda s: s.t_months,
            )
        )
        if not landmarks:
            return self
        return MedianGivenLandmarks(
            median=self, landmarks=landmarks, arm=self.arm, endpoint=self.endpoint
        )

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how)."""
        rows = [("value", "likelihood", "log median in the joint normal")]
        if self.ci is not None:
            side = "half-width" if self.ci[1] is not None else "lower half-width (upper NR)"
            rows.append(("ci", "likelihood", f"{side} on the log scale as the statistic log SE"))
            rows.append(("ci", "check", f"limits of the replicate's {self.ci_transform} BC CI"))
        return rows

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
        """The simulated arm's KM median (with its CI as printed), or "not reached"."""
        reduced = reduce_median(self, trial)
        if self.ci is None or not isinstance(reduced, MedianReached):
            return reduced
        est = trial.estimate(median_estimator(self.ci_transform))
        low, high = float(est.ci_low[0, self.index]), float(est.ci_high[0, self.index])
        if not 0.0 < low < reduced.value:
            return reduced  # no lower limit below the median: no half-width to print
        ci = (low, high if np.isfinite(high) else None)
        return dataclasses.replace(reduced, ci=ci, ci_transform=self.ci_transform)

    def describe(self, study):
        """The value as the report prints it."""
        if self.ci is None:
            return f"median {self.value} months"
        upper = NOT_REACHED if self.ci[1] is None else self.ci[1]
        return f"median {self.value} months (95% CI {self.ci[0]}-{upper}, {self.ci_transform} BC)"

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
        estimator = median_estimator(self.ci_transform)
        for k, side in enumerate(("ci_low", "ci_high") if self.ci is not None else ()):
            if self.ci[k] is None:
                continue
            note = f"{self.ci_transform} Brookmeyer-Crowley limit; +inf where not reached"
            predictive = rounded(rows.column(estimator, side), self.ci[k])
            rows.add(f"median_{side}", self.ci[k], predictive, note=note)
        return rows.rows


@dataclass(frozen=True, kw_only=True)
class MedianGivenLandmarks(Published):
    """A reached KM median beside landmark survivals of its arm: its law given them (T1b).

    Near a landmark time t* the KM median and Ŝ(t*) are almost the same functional of the
    curve (Ŝ(t*) ≤ ½ exactly when m̂ ≤ t*), and their joint normal is almost singular: its log
    likelihood falls by tens of units where the model median crosses t*. The landmarks stay in
    the joint normal; the median leaves it and enters as log p(log m̂ | landmarks), the first
    passage of log Ŝ through log ½ between the landmarks around m̂
    (:func:`resurv.statistics.median.log_density_given_landmarks`), with the support factor
    and, when a CI is printed, its log ŝ term around the median's model SE. Not a study-file
    kind: :meth:`MedianReached.joined` makes it for the summary likelihood.
    """

    block: ClassVar[str] = FACTOR

    median: MedianReached
    landmarks: tuple

    @property
    def index(self) -> int:
        """The arm's index."""
        return self.median.index

    @property
    def label(self) -> str:
        """Stable name of the statistic (the median's)."""
        return self.median.label

    def structure(self):
        """The median's structure, marked, with the landmark times it is conditioned on."""
        times = tuple(float(s.t_months) for s in self.landmarks)
        return ("MedianGivenLandmarks", *self.median.structure()[1:], times)

    def conflict(self, other):
        """As the median."""
        return self.median.conflict(other)

    def observed_event_time(self):
        """The median is the time of an observed event."""
        return self.median.observed_event_time()

    def given_values(self) -> np.ndarray:
        """The data vector of :data:`resurv.statistics.median.GIVEN_LANDMARKS_FIELDS`.

        A side without a landmark holds the nearest landmark's time (a positive placeholder:
        the likelihood switches it off, and no quadrature runs to 0) and log Ŝ = 0.
        """
        x = float(self.median.value)
        before = [s for s in self.landmarks if s.t_months < x]
        after = [s for s in self.landmarks if s.t_months >= x]
        values = []
        for side, placeholder in (
            (before[-1:], self.landmarks[0]),
            (after[:1], self.landmarks[-1]),
        ):
            if side:
                (s,) = side
                survival = min(max(float(s.value), 1e-6), 1.0 - 1e-6)
                rounding = s.resolution**2 / 12.0
                values += [float(s.t_months), math.log(survival), 1.0, rounding]
            else:
                values += [float(placeholder.t_months), 0.0, 0.0, 0.0]
        return np.array([math.log(x), *values], dtype=float)

    def factor_terms(self, name, trial, horizons):
        """Log p(log m̂ | landmarks), the support factor, and the CI's log ŝ term if printed."""
        from resurv.statistics.base import covariance_pieces
        from resurv.statistics.likelihood import se_term

        j = self.index
        data = pm.Data(f"{name}_median_given_landmarks_data_arm{j}", self.given_values())
        terms = [
            (
                f"{name}_median_given_landmarks_arm{j}",
                median_math.log_density_given_landmarks(trial, j, data),
            ),
            (
                f"{name}_median_support_arm{j}",
                median_math.log_support_factor(trial, j, pt.exp(data[0])),
            ),
        ]
        bounds = self.median.printed_log_se()
        if bounds is not None:
            statistic = self.median.model_statistic(trial, horizons)
            variance = covariance_pieces(trial, [statistic])[0, 0]
            bias, tau_squared = self.median.log_se_law(trial, statistic, variance)
            observed = pm.Data(f"{name}_{self.label}_log_se_observed", float(bounds[0]))
            value = se_term(
                pt.stack([observed, observed]),
                0.5 * pt.log(variance) + bias,
                pt.sqrt(tau_squared),
                "point",
            )
            terms.append((f"{name}_{self.label}_se_loglik", value))
        return terms

    def usage(self) -> list[tuple[str, str, str]]:
        """The median's numbers, the value given the landmarks."""
        rows = self.median.usage()
        how = "log median given the arm's landmarks (first passage of the KM curve through 1/2)"
        return [(("value", "likelihood", how) if f == "value" else (f, r, h)) for f, r, h in rows]


def reduce_median(record: Published, trial) -> Published:
    """A median as a simulated trial reports it: reached (its value) or not reached."""
    from resurv.statistics.published.not_reached import MedianNotReached

    med = trial.estimate(KM_MEDIAN)
    j = record.index
    if med.reached[0, j]:
        return MedianReached(j, float(med.median[0, j]), arm=record.arm, endpoint=record.endpoint)
    return MedianNotReached(j, arm=record.arm, endpoint=record.endpoint)
