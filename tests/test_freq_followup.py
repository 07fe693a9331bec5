"""``resurv freq`` prints the numbers at risk and the median follow-up a paper would."""

from __future__ import annotations

import numpy as np
from lifelines import KaplanMeierFitter

from resurv.simulation.simulate import simulate_trials
from resurv.statistics.followup import FollowUp
from resurv.statistics.frequentist import at_risk_times, format_table, frequentist_summary


def _trial(rng):
    rates = [np.log(2) / 14.0, np.log(2) / 20.0]
    inverses = [lambda h, r=r: h / r for r in rates]
    trials = simulate_trials(rng, inverses, [80, 70], FollowUp(24.0, 12.0, 0.01), n_trials=1)
    return trials.time[0], trials.event[0], trials.arm


def test_at_risk_times_are_regular_up_to_the_largest_time():
    assert at_risk_times(35.2) == [0.0, 6.0, 12.0, 18.0, 24.0, 30.0]
    assert at_risk_times(7.9) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert at_risk_times(100.0) == [0.0, 24.0, 48.0, 72.0, 96.0]


def test_freq_numbers_at_risk_and_median_followup(rng):
    time, event, arm = _trial(rng)
    summary = frequentist_summary(time, event, arm, ("control", "treated"))
    grid = summary["at_risk_times"]
    for j, label in enumerate(("control", "treated")):
        in_arm = [x for x, a in zip(time, arm, strict=True) if a == j]
        assert summary["arms"][label]["at_risk"] == [sum(x >= t for x in in_arm) for t in grid]
        kmf = KaplanMeierFitter().fit(time[arm == j], ~event[arm == j])
        assert summary["arms"][label]["median_followup"] == kmf.median_survival_time_
    followup = summary["median_followup"]
    assert followup["reverse_km"] == KaplanMeierFitter().fit(time, ~event).median_survival_time_
    assert followup["survivors"] == np.median(time[~event])
    assert followup["all"] == np.median(time)
    assert followup["range"] == (time.min(), time.max())
    text = format_table(summary)
    assert "numbers at risk:" in text and "median follow-up (reverse KM)" in text
    assert " ".join(str(v) for v in summary["arms"]["treated"]["at_risk"][:3]) in " ".join(
        text.split()
    )
