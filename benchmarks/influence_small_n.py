"""How good is the summary likelihood's normal approximation at the bundled study's size?

Simulates many trials of the bundled OS design (n = 15/12, uniform accrual A, follow-up F),
reduces each with resurv's estimators to the statistics papers report (log KM medians, KM
survival at 24 months, KM area up to a fixed 36 months, log-rank Z, Cox log HR) and compares the
empirical means, SDs and correlations with the model's (mean x(θ), covariance
Σ_j ∫ a_j^X a_j^Y π_j h_j du). Medians are compared among the trials where both were reached
(the share is reported). Also runs n = 200/arm for contrast.

Usage: python benchmarks/influence_small_n.py [--trials 20000] [--out table.csv]
"""

import argparse
import csv
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt

from resurv.simulation.simulate import simulate_trials
from resurv.statistics import hr, landmark, logrank, median, rmean
from resurv.statistics.base import TrialModel, covariance_pieces
from resurv.statistics.cox import cox_two_arm
from resurv.statistics.followup import FollowUp
from resurv.statistics.landmark import km_landmark
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.published import (
    HazardRatio,
    Landmark,
    LogRank,
    MedianReached,
    RestrictedMean,
)
from resurv.statistics.rmean import km_restricted_mean

A, F = 60.0, 24.0
T_STAR, TAU = 24.0, 36.0
LABELS = ["log_median_0", "log_median_1", "landmark_0", "rmean_1", "logrank_z", "log_hr"]


class Weibull:
    def __init__(self, median, shape):
        self.median, self.shape = median, shape
        self.median_months = median
        self.scale = median / np.log(2.0) ** (1.0 / shape)

    def log_hazard(self, t, xp):
        return xp.log(self.shape / self.scale) + (self.shape - 1.0) * xp.log(t / self.scale)

    def cum_hazard(self, t, xp):
        return (t / self.scale) ** self.shape

    def inverse(self, h):
        return self.scale * h ** (1.0 / self.shape)


def simulate(rng, curves, n, n_trials):
    trials = simulate_trials(
        rng, [c.inverse for c in curves], n, FollowUp(A, F, 0.0), n_trials=n_trials
    )
    time, event, arm = trials.time, trials.event, trials.arm
    med = km_median(time, event, arm)
    area = km_restricted_mean(np.minimum(time, TAU), event & (time <= TAU), arm)
    with np.errstate(all="ignore"):
        out = np.column_stack(
            [
                np.log(med.median[:, 0]),
                np.log(med.median[:, 1]),
                km_landmark(time, event, T_STAR, arm).survival[:, 0],
                area.rmean[:, 1],
                logrank_test(time, event, arm).z,
                cox_two_arm(time, event, arm).log_hr,
            ]
        )
    usable = med.reached.all(axis=1) & (area.tau[:, 1] == TAU) & np.isfinite(out).all(axis=1)
    return out, usable


def model(curves, n):
    trial = TrialModel(curves, n, FollowUp(A, F, 0.0))
    stats_ = [
        median.model_statistic(trial, MedianReached(0, 1.0)),
        median.model_statistic(trial, MedianReached(1, 1.0)),
        landmark.model_statistic(trial, Landmark(0, T_STAR, 0.5)),
        rmean.model_statistic(trial, RestrictedMean(1, 1.0), TAU),
        logrank.model_statistic(trial, LogRank(0.5)),
        hr.model_statistic(trial, HazardRatio(1.0)),
    ]
    means = pt.stack([s.mean for s in stats_])
    return pytensor.function([], [means, covariance_pieces(trial, stats_)])()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    curves = (Weibull(34.9, 1.2), Weibull(67.5, 1.2))  # the published OS medians, PH
    rows = []
    for n in [(15, 12), (200, 200)]:
        rng = np.random.default_rng(2020)
        sims, usable = simulate(rng, curves, n, args.trials)
        kept = sims[usable]
        mean, cov = model(curves, n)
        emp_cov = np.cov(kept, rowvar=False)
        emp_sd, mod_sd = np.sqrt(np.diag(emp_cov)), np.sqrt(np.diag(cov))
        emp_cor = emp_cov / np.outer(emp_sd, emp_sd)
        mod_cor = cov / np.outer(mod_sd, mod_sd)
        print(
            f"n = {n}: both medians reached (and arm 1 followed to {TAU:g}) in "
            f"{usable.mean():.1%} of {args.trials} trials"
        )
        print(
            f"{'statistic':14s} {'model mean':>10s} {'emp mean':>9s} {'model SD':>9s} "
            f"{'emp SD':>8s} {'SD ratio':>8s} {'max |Δcorr|':>11s}"
        )
        for i, label in enumerate(LABELS):
            dcor = np.max(np.abs(np.delete(emp_cor[i] - mod_cor[i], i)))
            print(
                f"{label:14s} {mean[i]:10.3f} {kept[:, i].mean():9.3f} {mod_sd[i]:9.3f} "
                f"{emp_sd[i]:8.3f} {emp_sd[i] / mod_sd[i]:8.3f} {dcor:11.3f}"
            )
            rows.append(
                {
                    "n": f"{n[0]}/{n[1]}",
                    "statistic": label,
                    "share_used": round(float(usable.mean()), 4),
                    "model_mean": float(mean[i]),
                    "empirical_mean": float(kept[:, i].mean()),
                    "model_sd": float(mod_sd[i]),
                    "empirical_sd": float(emp_sd[i]),
                    "max_abs_corr_difference": float(dcor),
                }
            )
        print()
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
