"""What every kind of published statistic declares, and the helpers its module uses.

A published statistic is a record (a frozen dataclass, subclass of :class:`Published`) holding
the values as the paper printed them, the arm they belong to (``arm``: its id in the study
file, ``index``: 0 reference, 1 comparator) and the sentence they came from. Its class says
everything else about the kind:

* **study-file schema**: ``statistic`` (the value of the ``statistic`` key), ``required`` and
  ``optional`` keys, :meth:`Published.parse` (every validation rule), the position of the kind
  in lists of kinds (``position``), and :meth:`Published.conflict` for contradictions between
  records (a median reached and not reached in the same arm);
* **model side**: its block of the summary likelihood (``block``: the joint normal
  :data:`NORMAL`, an own factor :data:`FACTOR`, or a Poisson count :data:`COUNT`), whether it
  needs the arm's latent largest observed time (``needs_horizon``), the compile-key part
  :meth:`Published.structure`, its value on the likelihood scale :meth:`Published.observed`
  and the reporting resolution (``resolution``), its model value and influence function
  :meth:`Published.model_statistic`, and the extra terms it adds
  (:meth:`Published.observed_terms`, :meth:`Published.factor_terms`,
  :meth:`Published.expected_count`);
* **the paper's estimator** on patient data (:class:`Estimator`): how a simulated trial reports
  it (:meth:`Published.reduce`; a kind may return a record of another kind) and its posterior
  predictive check rows (:meth:`Published.check_rows`);
* **its words**: :meth:`Published.describe`, the value as a report prints it;
* **what it does with each number** (:meth:`Published.usage`): every number the record holds,
  used by the likelihood, used as a predictive-check target, or not used (with the reason), so
  that no published number is silently dropped. Every kind declares it.

The summary likelihood (:mod:`resurv.statistics.likelihood`), the summary-data model builder,
the predictive checks (:mod:`resurv.checks.ppc_survival`) and the calibration loop
(:mod:`resurv.simulation.calibrate`) call these methods and never branch on the kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from scipy import stats

from resurv.models.built import PublishedValue

if TYPE_CHECKING:  # pragma: no cover
    from resurv.io.study import Arm, Study
    from resurv.io.tables import TableReader
    from resurv.statistics.base import ModelStatistic, TrialModel

__all__ = [
    "CHECK",
    "COUNT",
    "LIKELIHOOD",
    "NOT_USED",
    "ROLES",
    "FACTOR",
    "NORMAL",
    "NOT_REACHED",
    "CheckRows",
    "PrintedP",
    "Estimator",
    "Published",
    "Replicates",
    "TimeScale",
    "TrialData",
    "arm_ref",
    "common_fields",
    "printed_decimals",
    "read_ci",
    "read_ci_upper_nr",
    "read_p_value",
    "read_printed_p",
    "reprint_p",
    "read_positive_value",
    "rounded",
    "signed_z",
]

#: Block of the summary likelihood: one joint normal over the trial's statistics.
NORMAL = "normal"
#: Block of the summary likelihood: the statistic is its own factor (a potential).
FACTOR = "factor"
#: Block of the summary likelihood: a count, Poisson(expected count).
COUNT = "count"

#: Role of a published number (:meth:`Published.usage`): it enters the likelihood.
LIKELIHOOD = "likelihood"
#: Role of a published number: a posterior predictive check target only.
CHECK = "check"
#: Role of a published number: read and validated, but the model cannot use it (say why).
NOT_USED = "not used"
#: The roles a kind's :meth:`Published.usage` may give.
ROLES = (LIKELIHOOD, CHECK, NOT_USED)


# --------------------------------------------------------------------------------------------
# The paper's estimators
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimator:
    """A paper's estimator on patient data, ``function(time, event, arm)``, vectorized over trials.

    ``name`` identifies it: the predictive checks and the reduction of a simulated trial compute
    each estimator once per trial set and share the result between the kinds that read it
    (a reached and a not-reached median read the same KM median).
    """

    name: str
    function: Callable[[Any, Any, Any], Any]

    def __call__(self, time, event, arm):
        """The estimate on trials of shape (R, n) (or one trial of shape (n,))."""
        return self.function(time, event, arm)


@dataclass
class TrialData:
    """One trial's patient data as arrays of shape (1, n), with each estimator computed once."""

    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def estimate(self, estimator: Estimator):
        """The estimator's result on this trial (computed on first use)."""
        if estimator.name not in self._cache:
            self._cache[estimator.name] = estimator(self.time, self.event, self.arm)
        return self._cache[estimator.name]


class Replicates(Protocol):
    """Replicate trials of a posterior, one per draw, shared by every check row of a study.

    ``get("curves", posterior)`` and ``get("trials", posterior, rng)`` give the draws' curves
    and the simulated trials; ``estimate(estimator, posterior, rng)`` an estimator's result on
    them (arrays of shape (R, …), one row per draw). ``spec`` is the model.
    """

    spec: Any

    def get(self, name: str, posterior, rng=None): ...  # noqa: D102

    def estimate(self, estimator: Estimator, posterior, rng=None): ...  # noqa: D102


# --------------------------------------------------------------------------------------------
# Study-file helpers
# --------------------------------------------------------------------------------------------


def arm_ref(reader: TableReader, key: str, arms: Mapping[str, Arm]) -> str | None:
    """The arm id under ``key`` (None when absent); an unknown id is refused."""
    value = reader.string(key, None)
    if value is None:
        return value
    if value not in arms:
        raise reader.fail(key, f"unknown arm '{value}'; arms are {', '.join(arms)}")
    return value


def read_positive_value(reader: TableReader) -> float | None:
    """``value``, which must be > 0 (None when absent)."""
    value = reader.number("value", None)
    if value is not None and value <= 0:
        raise reader.fail("value", f"must be > 0; got {value}")
    return value


def read_p_value(reader: TableReader) -> float | None:
    """``p_value``, strictly between 0 and 1 (None when absent)."""
    p_value = reader.number("p_value", None)
    if p_value is not None and not 0 < p_value < 1:
        raise reader.fail("p_value", f"must be strictly between 0 and 1; got {p_value}")
    return p_value


@dataclass(frozen=True)
class PrintedP:
    """A p-value as printed: the text and the interval (lower, upper] it says the p lies in.

    A number printed with d decimals lies in [p − ½·10⁻ᵈ, p + ½·10⁻ᵈ] (kept inside (0, 1]);
    "<x" in (0, x], ">x" in [x, 1], "NS" (not significant at ``alpha``) in [alpha, 1].
    ``value`` is the number when one was printed (None for an inequality).
    """

    text: str
    lower: float
    upper: float
    value: float | None = None

    def z_bounds(self, sided: str = "two") -> tuple[float, float]:
        """Bounds of |Z| implied by the p: Φ⁻¹(1 − p/2) (two-sided) or Φ⁻¹(1 − p) (one-sided)."""
        scale = 2.0 if sided == "two" else 1.0
        with np.errstate(divide="ignore"):
            upper = float(stats.norm.isf(self.lower / scale)) if self.lower > 0 else np.inf
        lower = float(stats.norm.isf(self.upper / scale)) if self.upper < 1 else 0.0
        return (max(lower, 0.0), upper)


def _p_number(reader: TableReader, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise reader.fail(key, f"must be a number, '<x', '>x' or 'NS'; got {text!r}") from None
    if not 0 < value < 1:
        raise reader.fail(key, f"must be strictly between 0 and 1; got {text!r}")
    return value


def read_printed_p(reader: TableReader, key: str = "p_value") -> PrintedP | None:
    """``key`` as printed (None when absent).

    A number (or a string keeping its trailing zeros, "0.20"), "<x", ">x" or "NS" (then
    ``alpha``, default 0.05, is the level); a leading "P" ("P < 0.001", "P = 0.20") is read past.
    """
    raw = reader.raw(key, None)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise reader.fail(key, f"must be a number, '<x', '>x' or 'NS'; got {raw!r}")
    if isinstance(raw, int | float):
        value = reader.number(key, open_unit=True)
        text = np.format_float_positional(value, trim="-")
    else:
        text = raw.strip().replace(" ", "")
        if text[:1] in "Pp" and text[1:2] in ("<", ">", "="):  # "P < 0.001", "p=0.20"
            text = text[1:].removeprefix("=")
    alpha = reader.number("alpha", 0.05, open_unit=True) if reader.has("alpha") else 0.05
    if text.upper() == "NS":
        return PrintedP(text, alpha, 1.0)
    if text[:1] in "<>":
        bound = _p_number(reader, key, text[1:].lstrip("="))
        return PrintedP(text, 0.0, bound) if text[0] == "<" else PrintedP(text, bound, 1.0)
    value = _p_number(reader, key, text)
    decimals = len(text.split(".")[1]) if "." in text else 0
    half = 0.5 * 10.0**-decimals
    return PrintedP(text, max(value - half, 0.0), min(value + half, 1.0), value)


#: How a printed upper confidence limit says "not reached" (not estimable).
NOT_REACHED = "NR"


def reprint_p(printed: PrintedP, p: float) -> PrintedP:
    """A simulated p printed as the paper printed ``printed``: same inequality or decimals.

    The form of the SE term (point, one-sided, interval) is part of the compiled graph, so the
    simulated record keeps it: "<x" stays "<x" (the bound moved to the simulated p), ">x" and
    "NS" keep their bound below the simulated p, a number keeps its decimals.
    """
    if printed.value is None:
        if printed.lower == 0.0:
            return PrintedP(f"<{p:.3g}", 0.0, p)
        return PrintedP(f">{p:.3g}", p, 1.0)
    decimals = len(printed.text.split(".")[1]) if "." in printed.text else 0
    half = 0.5 * 10.0**-decimals
    value = min(max(round(p, decimals), 10.0**-decimals), 1.0 - 10.0**-decimals)
    return PrintedP(f"{value:.{decimals}f}", max(value - half, 0.0), min(value + half, 1.0), value)


def read_ci_upper_nr(reader: TableReader, value) -> tuple[float, float | None] | None:
    """``ci`` = [lower, upper] around ``value``, upper possibly "NR" (None); None when absent."""
    raw = reader.raw("ci", None)
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 2:
        raise reader.fail("ci", 'must be [lower, upper] (upper may be "NR")')
    lower, upper = raw
    if isinstance(lower, bool) or not isinstance(lower, int | float) or not lower > 0:
        raise reader.fail("ci[0]", f"must be a number > 0; got {lower!r}")
    if isinstance(upper, str) and upper.strip().upper() == NOT_REACHED:
        upper = None
    elif isinstance(upper, bool) or not isinstance(upper, int | float) or not upper > 0:
        raise reader.fail("ci[1]", f'must be a number > 0 or "NR"; got {upper!r}')
    if upper is not None and not lower < upper:
        raise reader.fail("ci", "must be [lower, upper] with lower < upper")
    if not lower <= value <= (upper if upper is not None else math.inf):
        raise reader.fail("ci", f"{raw} does not contain the estimate {value}")
    if upper is None and lower == value:
        raise reader.fail("ci", "a lower limit equal to the estimate and an upper 'NR' give no SE")
    return (float(lower), None if upper is None else float(upper))


def read_ci(reader: TableReader, value, positive: bool = True) -> tuple[float, float] | None:
    """``ci`` = [lower, upper] containing ``value`` (None when absent)."""
    if not reader.has("ci"):
        return None
    ci_list = reader.numbers("ci", positive=positive)
    if len(ci_list) != 2 or not ci_list[0] < ci_list[1]:
        raise reader.fail("ci", "must be [lower, upper] with lower < upper")
    if value is not None and not ci_list[0] <= value <= ci_list[1]:
        raise reader.fail(
            "ci", f"[{ci_list[0]}, {ci_list[1]}] does not contain the estimate {value}"
        )
    return (ci_list[0], ci_list[1])


def common_fields(reader: TableReader) -> dict:
    """The fields every record has: ``endpoint`` and ``quote``."""
    return {"endpoint": reader.string("endpoint"), "quote": reader.string("quote", "")}


# --------------------------------------------------------------------------------------------
# Predictive-check helpers
# --------------------------------------------------------------------------------------------

#: Φ⁻¹(0.975).
Z975 = float(stats.norm.isf(0.025))


def printed_decimals(value: float) -> int:
    """Decimals of a number as written (34.9 → 1, 0.217 → 3, 5 → 0).

    Trailing zeros are lost when the study file stores a float ("0.20" reads as 0.2), so the
    printed precision may be read coarser than it was: the comparison is then conservative.
    """
    text = np.format_float_positional(float(value), trim="-")
    return len(text.split(".")[1]) if "." in text else 0


def signed_z(p_value, direction):
    """Signed log-rank Z = sign(O₁ − E₁) · Φ⁻¹(1 − p/2); 0 when U = 0, nan when p is nan."""
    with np.errstate(divide="ignore"):
        magnitude = stats.norm.isf(np.asarray(p_value, dtype=float) / 2.0)
    sign = np.asarray(direction, dtype=float)
    return np.where(sign == 0, np.where(np.isnan(magnitude), np.nan, 0.0), sign * magnitude)


def rounded(fn, value):
    """``fn``'s draws rounded to the decimals ``value`` was printed with."""
    decimals = printed_decimals(value)
    return lambda post, rng: np.round(fn(post, rng), decimals)


class CheckRows:
    """The :class:`~resurv.models.built.PublishedValue` rows of one published statistic.

    ``index`` and ``label`` are those of the record's arm (None and ``"between arms"`` for a
    statistic between arms); row names are ``{endpoint}_{name}``.
    """

    def __init__(self, record: Published, study: Study, replicates: Replicates, endpoint: str):
        self.arm = study.arm(record.arm) if record.arm is not None else None
        self.index = self.arm.index if self.arm is not None else None
        self.label = self.arm.label if self.arm is not None else "between arms"
        self.replicates = replicates
        self.endpoint = endpoint
        self.rows: list[PublishedValue] = []

    def add(self, name, published, predictive, model=None, note="", **kw) -> None:
        """Add a row; without a ``model`` counterpart, the predictive draws serve as one."""
        if model is None:

            def model(post):
                return predictive(post, None)

            note = (note + "; " if note else "") + (
                "design-dependent: the posterior counterpart is the predictive distribution"
            )
        self.rows.append(
            PublishedValue(
                f"{self.endpoint}_{name}",
                self.label,
                float(published),
                model,
                predictive,
                note,
                **kw,
            )
        )

    def column(self, estimator: Estimator, attr: str, scale: float = 1.0):
        """Predictive draws: the arm's column of an estimator's result on the replicates, scaled."""
        j, reps = self.index, self.replicates
        return lambda p, r: scale * getattr(reps.estimate(estimator, p, r), attr)[:, j]


# --------------------------------------------------------------------------------------------
# The time scale a statistic gives an arm (for priors scaled to the study)
# --------------------------------------------------------------------------------------------

#: Precedence of a time scale: a printed median, then landmarks, then means.
SCALE_FROM_MEDIAN, SCALE_FROM_LANDMARK, SCALE_FROM_MEAN = 0, 1, 2


@dataclass(frozen=True)
class TimeScale:
    """What one published statistic says about its arm's median survival, in months.

    ``months`` is an estimate of the median (``lower_bound`` False; ``precedence``: lower is
    more direct, :data:`SCALE_FROM_MEDIAN` first) or a lower bound of it (``lower_bound`` True,
    a median not reached). ``how`` states the formula with its numbers.
    """

    months: float
    how: str
    precedence: int = SCALE_FROM_MEDIAN
    lower_bound: bool = False


# --------------------------------------------------------------------------------------------
# The kind interface
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Published:
    """A published survival statistic; subclasses are the kinds (one module each).

    Fields common to every kind: ``arm`` (the arm id in the study file; None for a statistic
    between arms), ``endpoint`` and ``quote``. A kind about one arm also has ``index``, the
    arm's index (0 reference, 1 comparator), as its first field.
    """

    #: Value of the ``statistic`` key in the study file.
    statistic: ClassVar[str]
    #: Keys the study file must give (besides endpoint, statistic and quote).
    required: ClassVar[tuple[str, ...]] = ()
    #: Keys the study file may give.
    optional: ClassVar[tuple[str, ...]] = ()
    #: Place of the kind in lists of kinds (the study-file schema's choices).
    position: ClassVar[int] = 1000
    #: Block of the summary likelihood: :data:`NORMAL`, :data:`FACTOR` or :data:`COUNT`.
    block: ClassVar[str] = NORMAL
    #: Normal block: placed after every other statistic (the log-rank Z, possibly folded).
    last_in_block: ClassVar[bool] = False
    #: Needs the arm's latent largest observed time τ_j (the horizon of T2 and T3).
    needs_horizon: ClassVar[bool] = False
    #: Normal block: resolution of printed values on the likelihood scale (δ, rounding
    #: variance δ²/12 on the diagonal).
    resolution: ClassVar[float] = 0.0
    #: Normal block, printed SE: small-sample terms (β, γ) of log ŝ, measured by simulation:
    #: bias b = β τ_P², variance τ² = τ₁² + γ τ_P⁴
    #: (τ₁², τ_P²: :func:`~resurv.statistics.base.log_se_variance`).
    se_small_sample: ClassVar[tuple[float, float]] = (0.0, 0.0)

    arm: str | None = None
    endpoint: str = ""
    quote: str = ""

    # --- study file ---

    @classmethod
    def parse(cls, reader: TableReader, arms: Mapping[str, Arm]) -> Published:
        """The record of one ``[[survival]]`` table (keys already restricted and present)."""
        raise NotImplementedError

    def key(self) -> tuple:
        """What no two records of a study may share (a repeat is refused)."""
        return (self.endpoint, self.statistic, self.arm)

    def conflict(self, other: Published) -> str | None:
        """Why this record and ``other`` cannot both be published, or None.

        The sentence may hold ``{other}``, the place of the other record.
        """
        return None

    # --- summary likelihood ---

    @property
    def label(self) -> str:
        """Stable name of the statistic."""
        raise NotImplementedError

    def structure(self) -> tuple:
        """What the record fixes of the model graph (part of the compile key)."""
        return (type(self).__name__, self.index)

    @property
    def folded(self) -> bool:
        """Normal block: True when only |x| is known (the likelihood mixes both signs)."""
        return False

    def observed(self) -> float:
        """The value on the likelihood scale (normal block) or the count (count block)."""
        raise NotImplementedError

    def model_statistic(self, trial: TrialModel, horizons: Mapping) -> ModelStatistic:
        """Normal block: model value x(θ) and influence integrands.

        ``horizons`` maps an arm index to its latent largest observed time τ_j.
        """
        raise NotImplementedError

    def companions(self) -> tuple[Published, ...]:
        """Records of other kinds that numbers of this record are (an HR's log-rank p).

        The summary likelihood adds them beside the record (:mod:`resurv.statistics.likelihood`);
        the record itself keeps their check rows and reduction.
        """
        return ()

    def joined(self, others) -> Published:
        """The record as the summary likelihood uses it among ``others``, the trial's records.

        Default: itself. A kind whose law depends on other records of the same arm (a KM
        median beside landmarks of its arm) returns a record of that joint law.
        """
        return self

    def observed_bounds(self) -> tuple[float, float] | None:
        """Normal block, last statistic: (lower, upper) when only an interval was printed.

        The value on the likelihood scale lies in [lower, upper] (one side may be infinite);
        None when it was printed exactly.
        """
        return None

    def printed_rounding(self) -> float | None:
        """Normal block: width δ of the interval the printed value stands for, likelihood scale.

        None (the default): the kind's ``resolution`` stands for the printing. A kind whose
        printed digits matter beyond it (an HR printed to two decimals beside the log-rank Z it
        is nearly collinear with) gives the width here; the summary likelihood then takes the
        rounding variance max(δ, resolution)²/12 as data
        (:func:`resurv.statistics.likelihood.rounding_variances`). Whether a record gives one
        is part of its :meth:`structure`.
        """
        return None

    def printed_log_se(self) -> tuple[float, float] | None:
        """Normal block: bounds (lower, upper) of log ŝ, or None when no uncertainty is printed.

        ŝ is the SE on the likelihood scale that the printed uncertainty implies (a CI
        half-width over z, a printed SE); lower == upper when it is known exactly, −inf or +inf
        for a one-sided bound (an HR p-value printed as "<0.001"). The summary likelihood
        models log ŝ as a statistic (:func:`resurv.statistics.likelihood.add_summary_likelihood`).
        """
        return None

    def log_se_law(self, trial: TrialModel, statistic: ModelStatistic, variance) -> tuple:
        """Normal block, printed SE: (b, τ²), log ŝ ~ N(log √variance + b, τ²).

        ``variance`` is the model variance C_kk(θ) of the statistic. Default: an SE estimator
        that is a sum over the deaths (:func:`resurv.statistics.base.log_se_variance`) with the
        kind's small-sample terms ``se_small_sample``.
        """
        from resurv.statistics.base import log_se_variance

        first_order, poisson = log_se_variance(trial, statistic)
        bias, extra = self.se_small_sample
        return bias * poisson, first_order + extra * poisson**2

    def observed_terms(self, name: str, trial: TrialModel, observed) -> list[tuple[str, Any]]:
        """Normal block: extra log-likelihood terms ``(name, expression)`` given the value."""
        return []

    def factor_terms(self, name: str, trial: TrialModel, horizons: Mapping) -> list:
        """Factor block: the log-likelihood terms ``(name, expression)``."""
        raise NotImplementedError

    def expected_count(self, trial: TrialModel):
        """Count block: the expected count (Poisson mean)."""
        raise NotImplementedError

    def observed_event_time(self) -> float | None:
        """A time (months) at which the statistic says an event was observed, or None.

        The follow-up must extend beyond it (a reached KM median is the time of an event).
        """
        return None

    def time_scale(self, followup_months: float | None) -> TimeScale | None:
        """The arm's median survival this statistic implies, or a bound of it (None: nothing).

        ``followup_months`` is the study's median potential follow-up (None when unknown).
        Used to centre weakly informative priors on the study's own time scale
        (:mod:`resurv.io.auto_priors`); statistics between arms give none.
        """
        return None

    # --- simulation and checks ---

    def reduce(self, trial: TrialData, study: Study) -> Published:
        """The record a paper would print for this statistic of a simulated trial."""
        raise NotImplementedError

    def describe(self, study: Study) -> str:
        """The published value in words, as the report's table of published numbers prints it."""
        return self.statistic

    def check_rows(
        self, study: Study, replicates: Replicates, endpoint: str
    ) -> list[PublishedValue]:
        """The posterior predictive check rows of the statistic."""
        raise NotImplementedError

    # --- what is done with each number ---

    def usage(self) -> list[tuple[str, str, str]]:
        """Each number the record holds: (field, role, how); role likelihood, check or not used.

        The role is one of :data:`ROLES` ("likelihood" | "check" | "not used").
        ``field`` is the study-file key (``value``, ``ci``, ``p_value``, …; ``statistic`` for a
        record whose only content is the statement itself, such as "median not reached"); every
        key the record was given a number for appears once. ``how`` says how the likelihood or the
        check uses it, or why the model cannot use it. The summary-data model builder saves the
        rows with the fit and the report lists the numbers not used.

        Every kind overrides this; the base raises.
        """
        raise NotImplementedError(
            f"kind '{self.statistic}' does not declare how its published numbers are used"
        )
