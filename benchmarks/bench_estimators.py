"""Time resurv's vectorized estimators against lifelines called trial by trial.

Simulates 10,000 trials of the bundled study's size (15 vs 12 patients, Weibull event times,
uniform accrual) and times each estimator on all of them at once. lifelines is timed on a subset
of trials (default 200) and scaled to 10,000; the output says so.

Run:  python benchmarks/bench_estimators.py [--trials 10000] [--lifelines-trials 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.utils import median_survival_times, restricted_mean_survival_time

from resurv.simulation.simulate import simulate_trials
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.km import kaplan_meier
from resurv.statistics.landmark import km_landmark
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.rmean import km_restricted_mean


def weibull_inverse(median, shape):
    scale = median / np.log(2.0) ** (1.0 / shape)
    return lambda h: scale * h ** (1.0 / shape)


def timed(function, repeat=3):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def lifelines_per_arm(time_, event, arm):
    out = []
    for j in (0, 1):
        kmf = KaplanMeierFitter().fit(time_[arm == j], event[arm == j])
        out.append(kmf)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--lifelines-trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    trials = simulate_trials(
        rng,
        [weibull_inverse(18.0, 1.3), weibull_inverse(30.0, 1.3)],
        (15, 12),
        FollowUp(36.0, 12.0),
        n_trials=args.trials,
    )
    t, e, a = trials.time, trials.event, trials.arm
    ours = {
        "KM curve (at 12 times)": lambda: kaplan_meier(t, e, a).at(np.arange(3.0, 39.0, 3.0)),
        "KM median + 95% CI": lambda: km_median(t, e, a),
        "SPSS-style mean + SE": lambda: km_restricted_mean(t, e, a),
        "landmark S(12) + SE": lambda: km_landmark(t, e, 12.0, a),
        "log-rank test": lambda: logrank_test(t, e, a),
        "Cox log HR + SE (Efron)": lambda: cox_two_arm(t, e, a),
    }

    m = args.lifelines_trials
    scale = args.trials / m

    def ll_km():
        for r in range(m):
            for kmf in lifelines_per_arm(t[r], e[r], a):
                kmf.survival_function_at_times(np.arange(3.0, 39.0, 3.0))

    def ll_median():
        for r in range(m):
            for kmf in lifelines_per_arm(t[r], e[r], a):
                _ = kmf.median_survival_time_
                median_survival_times(kmf.confidence_interval_)

    def ll_rmean():
        for r in range(m):
            for j, kmf in enumerate(lifelines_per_arm(t[r], e[r], a)):
                restricted_mean_survival_time(kmf, t=t[r, a == j].max())

    def ll_landmark():
        for r in range(m):
            for kmf in lifelines_per_arm(t[r], e[r], a):
                kmf.survival_function_at_times(12.0)

    def ll_logrank():
        for r in range(m):
            lifelines_logrank(t[r, a == 0], t[r, a == 1], e[r, a == 0], e[r, a == 1])

    def ll_cox():
        for r in range(m):
            frame = pd.DataFrame({"T": t[r], "E": e[r].astype(int), "arm": a})
            CoxPHFitter().fit(frame, "T", "E")

    theirs = [ll_km, ll_median, ll_rmean, ll_landmark, ll_logrank, ll_cox]

    print(f"{args.trials} simulated trials of {t.shape[1]} patients (15 vs 12).")
    print(
        f"lifelines timed trial by trial on the first {m} trials and scaled x{scale:g} "
        f"to {args.trials} trials (its SPSS-style SE is not available; the mean alone is timed)."
    )
    print()
    header = f"{'statistic':28s} {'resurv (s)':>11s} {'lifelines (s)':>14s} {'speed-up':>9s}"
    print(header)
    print("-" * len(header))
    total_ours = total_theirs = 0.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for (name, ours_fn), theirs_fn in zip(ours.items(), theirs, strict=True):
            seconds_ours = timed(ours_fn)
            seconds_theirs = timed(theirs_fn, repeat=1) * scale
            total_ours += seconds_ours
            total_theirs += seconds_theirs
            print(
                f"{name:28s} {seconds_ours:11.3f} {seconds_theirs:14.1f} "
                f"{seconds_theirs / seconds_ours:8.0f}x"
            )
    print("-" * len(header))
    print(
        f"{'all of the above':28s} {total_ours:11.3f} {total_theirs:14.1f} "
        f"{total_theirs / total_ours:8.0f}x"
    )


if __name__ == "__main__":
    main()
