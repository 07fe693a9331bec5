"""The registry of published statistics: every kind found, its schema, its hooks, a new kind."""

import dataclasses
import sys
import textwrap

import numpy as np
import pymc as pm
import pytest
from summary_curves import Weibull

from resurv.errors import StudyValidationError
from resurv.io.study import Arm, Study
from resurv.simulation.calibrate import reduce_trial
from resurv.simulation.simulate import simulate_trials
from resurv.statistics import published
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.landmark import km_landmark, loglog_interval
from resurv.statistics.likelihood import add_summary_likelihood, structure_key
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.published import (
    COUNT,
    FACTOR,
    KINDS,
    NORMAL,
    MedianNotReached,
    discover,
    from_table,
)
from resurv.statistics.published.base import Z975
from resurv.statistics.rmean import km_restricted_mean

ARMS = (Arm("ref", "Reference", 15, 0), Arm("cmp", "Comparator", 12, 1))

TABLES = {
    "median": {"arm": "cmp", "value": 30.0, "ci": [20.0, 40.0]},
    "median_not_reached": {"arm": "ref"},
    "rmean": {"arm": "ref", "value": 40.0, "spread": 5.0, "spread_kind": "sd"},
    "logrank": {"p_value": 0.04, "better_arm": "cmp"},
    "landmark": {"arm": "cmp", "value": 0.6, "t_months": 24.0, "ci": [0.4, 0.8]},
    "hr": {"value": 0.7, "ci": [0.5, 0.98], "p_value": 0.03},
    "events": {"arm": "ref", "value": 9},
    "at_risk": {"arm": "ref", "times": [6.0, 12.0], "numbers": [12, 8]},
    "median_followup": {"value": 20.0, "range": [1.0, 40.0]},
}


def record(name, **changes):
    return from_table({"endpoint": "os", "statistic": name, **TABLES[name], **changes}, ARMS)


def test_registry_holds_every_kind_in_schema_order():
    assert list(KINDS) == list(TABLES)
    assert all(published.kind(name).statistic == name for name in KINDS)


@pytest.mark.parametrize("name", list(TABLES))
def test_each_kind_parses_its_table_and_declares_its_block(name):
    r = record(name)
    assert type(r) is KINDS[name] and r.statistic == name and r.endpoint == "os"
    assert set(TABLES[name]) <= {*r.required, *r.optional}
    assert r.block in (NORMAL, FACTOR, COUNT)
    assert r.structure()[0] == type(r).__name__
    if r.arm is not None:
        assert r.index == {"ref": 0, "cmp": 1}[r.arm]
    if r.block == NORMAL:
        assert np.isfinite(r.observed()) and r.resolution > 0
    # a record is its own value: parsing it again gives an equal record
    assert record(name) == r


def test_kind_specific_values():
    assert record("median").observed() == np.log(30.0)
    assert record("logrank").direction == -1 and record("logrank").observed() < 0
    assert record("logrank", better_arm="ref").direction == 1
    assert record("logrank", better_arm=None).folded
    assert record("rmean", spread=None, spread_kind=None).spread_kind is None
    assert record("rmean", spread_kind=None).spread_kind == "se"
    assert record("events").observed() == 9
    assert record("landmark", ci=None).structure() == ("Landmark", 1, 24.0)
    # with a CI: its scale, the sides it uses and the rounding of its limits
    assert record("landmark").structure() == ("Landmark", 1, 24.0, "loglog", (True, True), 0.1)


@pytest.mark.parametrize(
    ("name", "changes", "rule"),
    [
        ("median", {"value": -1.0}, "must be > 0"),
        ("median", {"ci": [31.0, 40.0]}, "does not contain the estimate 30.0"),
        ("median", {"arm": "x"}, "unknown arm 'x'; arms are ref, cmp"),
        ("median_not_reached", {"value": 3.0}, "unknown key"),
        ("rmean", {"spread": 0.0}, "an SE or SD must be > 0"),
        ("rmean", {"spread_kind": "var"}, "must be one of se, sd"),
        ("logrank", {"p_value": 1.0}, "strictly between 0 and 1"),
        ("landmark", {"value": 1.2}, "a survival probability must be in (0, 1)"),
        ("landmark", {"t_months": 0.0}, "must be > 0"),
        ("hr", {"ci": [0.8, 0.5]}, "lower < upper"),
        ("events", {"value": 16}, "events must be between 0 and 15"),
        ("events", {"value": 2.5}, "must be a whole number"),
        ("events", {"arm": None, "value": 28}, "events must be between 0 and 27"),
    ],
)
def test_each_kind_keeps_its_rules(name, changes, rule):
    with pytest.raises(StudyValidationError) as err:
        record(name, **changes)
    assert rule in str(err.value)


def test_a_total_event_count_covers_every_arm_and_is_at_least_each_arms_count():
    total = record("events", arm=None, value=20)
    assert total.index == -1 and total.label == "events_total" and total.observed() == 20
    assert total.conflict(record("events", value=9)) is None
    rule = record("events", arm=None, value=8).conflict(record("events", value=9))
    assert rule is not None and "below the 9" in rule
    assert record("events").conflict(total) is None


def test_unknown_statistic_lists_the_kinds():
    with pytest.raises(StudyValidationError, match=", ".join(TABLES)):
        from_table({"endpoint": "os", "statistic": "mean"}, ARMS)


def test_a_not_reached_median_contradicts_a_reached_one_of_the_same_arm_only():
    not_reached = record("median_not_reached")
    assert not_reached.conflict(record("median", arm="ref", ci=None)) is not None
    assert not_reached.conflict(record("median")) is None
    assert record("median").conflict(not_reached) is None


def test_reduce_reports_each_statistic_with_the_papers_estimator(rng):
    inverses = [lambda h, m=m: m / np.log(2.0) ** (1 / 1.2) * h ** (1 / 1.2) for m in (20, 30)]
    trials = simulate_trials(rng, inverses, [15, 12], FollowUp(24.0, 36.0, 0.0), 1)
    row = trials.row(0)
    t, e, a = row.time[0], row.event[0], row.arm
    survival = tuple(record(name) for name in TABLES if name != "median_not_reached")
    study = Study(id="s", title="t", citation="c", arms=ARMS, survival=survival)
    reduced = {type(s).__name__: s for s in reduce_trial(study, "os", t, e, a).survival}
    med = km_median(t, e, a)
    if med.reached[0, 1]:
        assert reduced["MedianReached"].value == med.median[0, 1]
    else:
        assert isinstance(reduced["MedianNotReached"], MedianNotReached)
    mean = km_restricted_mean(t, e, a)
    assert reduced["RestrictedMean"].value == mean.rmean[0, 0]
    assert reduced["RestrictedMean"].spread == mean.se[0, 0]
    assert reduced["RestrictedMean"].spread_kind == "sd"  # the paper's "±" kind is kept
    lr = logrank_test(t, e, a)
    # printed as the paper printed it (two decimals): the interval holds the test's p
    printed = reduced["LogRank"].p_printed
    assert reduced["LogRank"].p_value == round(lr.p_value[0], 2) == printed.value
    assert printed.lower <= lr.p_value[0] <= printed.upper
    assert reduced["LogRank"].direction == (-1 if lr.u[0] < 0 else 1)
    land = km_landmark(t, e, 24.0, a)
    assert reduced["Landmark"].value == pytest.approx(land.survival[0, 1])
    # the printed uncertainty of the simulated trial, printed as the paper printed it
    if reduced["Landmark"].ci is not None:
        limits = loglog_interval(land.survival[0, 1], land.se[0, 1], Z975)
        assert reduced["Landmark"].ci == tuple(np.round(limits, 1))
    cox = cox_two_arm(t, e, a)
    assert reduced["HazardRatio"].value == pytest.approx(np.exp(cox.log_hr[0]))
    ci = reduced["HazardRatio"].ci
    assert np.log(ci[1] / ci[0]) / (2 * Z975) == pytest.approx(cox.se[0], rel=1e-9)
    if "MedianReached" in reduced and reduced["MedianReached"].ci is not None:
        log_med = km_median(t, e, a, transform="log")
        assert reduced["MedianReached"].ci[0] == log_med.ci_low[0, 1]
        high = log_med.ci_high[0, 1]
        assert reduced["MedianReached"].ci[1] == (high if np.isfinite(high) else None)
    assert reduced["EventCount"].value == int(e[a == 0].sum())


NEW_KIND = '''
    """A toy kind: the log of the KM median's upper limit, in the normal block."""

    from dataclasses import dataclass
    from typing import ClassVar

    import math

    from resurv.statistics import median
    from resurv.statistics.base import ModelStatistic
    from resurv.statistics.published.base import (
        NORMAL, Published, arm_ref, common_fields, read_positive_value
    )


    @dataclass(frozen=True)
    class MedianUpper(Published):
        """Upper limit of the median's interval (a toy: the model value is the median's)."""

        statistic: ClassVar[str] = "median_upper"
        required: ClassVar[tuple[str, ...]] = ("arm", "value")
        block: ClassVar[str] = NORMAL
        resolution: ClassVar[float] = 1e-3

        index: int
        value: float

        @classmethod
        def parse(cls, reader, arms):
            arm = arm_ref(reader, "arm", arms)
            value = read_positive_value(reader)
            return cls(arms[arm].index, value, arm=arm, **common_fields(reader))

        @property
        def label(self):
            return f"log_median_upper_arm{self.index}"

        def observed(self):
            return math.log(self.value)

        def model_statistic(self, trial, horizons):
            own = median.model_statistic(trial, self)
            return ModelStatistic(self.label, own.mean + 0.3, own.influence)
'''


def test_a_new_kind_is_one_module(tmp_path, monkeypatch):
    """A module defining a kind is found, parsed from a study table and enters the likelihood."""
    package = tmp_path / "more_kinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "upper.py").write_text(textwrap.dedent(NEW_KIND))
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover("more_kinds")
    assert list(found) == ["median_upper"]
    monkeypatch.setitem(KINDS, "median_upper", found["median_upper"])
    upper = from_table(
        {"endpoint": "os", "statistic": "median_upper", "arm": "ref", "value": 40.0}, ARMS
    )
    stats_ = [record("median", ci=None), upper, record("logrank")]
    assert structure_key(stats_) == (
        ("MedianReached", 1),
        ("MedianUpper", 0),
        ("LogRank", False, "interval"),  # the printed p = 0.04: an interval of Z
    )
    with pm.Model() as model:
        added = add_summary_likelihood(
            "os",
            [Weibull(20.0, 1.2), Weibull(30.0, 1.2)],
            [15, 12],
            FollowUp(24.0, 36.0, 0.0),
            stats_,
        )
    assert added.gaussian_labels == ["log_median_arm1", "log_median_upper_arm0", "logrank_z"]
    observed = model["os_summary_observed"].get_value()
    np.testing.assert_allclose(observed[1], np.log(40.0))
    assert np.isfinite(model.compile_fn(model["os_summary_loglik_pieces"])({})).all()
    sys.modules.pop("more_kinds.upper", None)
    sys.modules.pop("more_kinds", None)
    assert dataclasses.replace(upper, value=41.0).observed() == pytest.approx(np.log(41.0))


def test_describe_prints_what_the_report_prints():
    from resurv.report.sections import study_section

    survival = tuple(record(name) for name in TABLES)
    survival += (record("logrank", better_arm=None),)
    study = Study(id="s", title="t", citation="c", arms=ARMS, survival=survival)
    tables = [
        frame
        for kind, (frame, caption) in [b for b in study_section(study).blocks if b[0] == "table"]
        if "published number" in caption
    ]
    (frame,) = tables
    assert list(frame["published"]) == [s.describe(study) for s in survival]
