"""Standardized residuals of a calibration's reported statistics at the true parameters.

Draws the same parameters and simulated trials as ``resurv calibrate`` does for the bundled
study's PFS design (``models/pfs_weibull_separate.toml``, literature priors, ``--seed``,
``--replicates``; :func:`resurv.simulation.calibrate.simulated_replicates`), keeps the trials in
which
both arms' KM medians were reached, and evaluates the summary likelihood's joint normal for
(log median 0, log median 1, SPSS mean 0, SPSS mean 1, log-rank Z) at the true parameters and
the trial's own largest observed times. If the model is right, each standardized residual has
mean 0 and variance 1: the marginal ones (x_k − μ_k)/σ_k and the sequential ones (each given the
statistics before it, L⁻¹(x − μ), L the Cholesky factor) that the likelihood is built from.
Printed for the covariance resurv uses (each SPSS mean's covariance with Z the conditional one,
:meth:`resurv.statistics.rmean.ConditionalArea.covariance`, built in so that Σ stays positive
definite) and for the influence integrals rescaled to the conditional variance
(``covariance_with`` off); for each, how often the matrix is not positive definite at parameters
drawn around the bundled design (``--psd-draws``).

Run: ``.venv/bin/python benchmarks/summary_residuals.py [--replicates 200] [--seed 11]``
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt

from resurv.api import load_data
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.models.built import stacked_draws
from resurv.simulation.calibrate import simulated_replicates
from resurv.statistics.base import TrialModel, covariance_pieces
from resurv.statistics.followup import FollowUp
from resurv.statistics.likelihood import model_statistics
from resurv.statistics.logrank import logrank_test
from resurv.statistics.median import km_median
from resurv.statistics.published import LogRank, MedianReached, RestrictedMean
from resurv.statistics.rmean import km_restricted_mean

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("log median 0", "log median 1", "SPSS mean 0", "SPSS mean 1", "log-rank Z")


class Weibull:
    """Weibull arm curve by median and shape (PyTensor scalars)."""

    def __init__(self, median_months, shape):
        self.scale = median_months / np.log(2.0) ** (1.0 / shape)
        self.shape = shape

    def log_hazard(self, t, xp):
        return xp.log(self.shape / self.scale) + (self.shape - 1.0) * xp.log(t / self.scale)

    def cum_hazard(self, t, xp):
        return (t / self.scale) ** self.shape


def calibration_trials(replicates: int, seed: int):
    """Truths and simulated trials exactly as ``resurv calibrate`` draws them."""
    study = load_data(ROOT / "data/studies/nmc2020_sirt_prrt.toml")
    prior, trials, _, _ = simulated_replicates(
        load_model_spec(ROOT / "models/pfs_weibull_separate.toml"),
        load_priors(ROOT / "priors/literature.toml"),
        study,
        replicates,
        seed,
    )
    names = ["median_reference", "shape_reference", "median_comparator", "shape_comparator"]
    names += ["accrual_months", "followup_months"]
    truth = np.column_stack([stacked_draws(prior, v) for v in names])
    return [a.n for a in study.arms], truth, trials


def normal_block(n, conditional_covariance: bool):
    """Function (truth..., τ0, τ1) -> (mean, covariance) of the five statistics."""
    m0, k0, m1, k1, a, f, t0, t1 = (pt.dscalar() for _ in range(8))
    trial = TrialModel((Weibull(m0, k0), Weibull(m1, k1)), n, FollowUp(a, f, 0.0))
    reported = [MedianReached(0, 1.0), MedianReached(1, 1.0), RestrictedMean(0, 1.0)]
    reported += [RestrictedMean(1, 1.0), LogRank(0.5, 1)]
    stats_ = model_statistics(trial, reported, {0: t0, 1: t1})
    if not conditional_covariance:
        stats_ = [dataclasses.replace(s, covariance_with=None) for s in stats_]
    mean = pt.stack([s.mean for s in stats_])
    cov = covariance_pieces(trial, stats_)
    return pytensor.function([m0, k0, m1, k1, a, f, t0, t1], [mean, cov])


def share_not_positive_definite(block, draws: int, rng) -> float:
    """Share of parameter draws around the bundled design where the matrix is not PD."""
    failed = 0
    for _ in range(draws):
        medians = np.exp(rng.normal(np.log(20.0), 0.8, 2))
        shapes = np.exp(rng.normal(0.15, 0.5, 2))
        accrual, follow_up = rng.uniform(24.0, 96.0), rng.uniform(3.0, 48.0)
        taus = rng.uniform(0.3, 1.0, 2) * (accrual + follow_up)
        _, cov = block(medians[0], shapes[0], medians[1], shapes[1], accrual, follow_up, *taus)
        if not np.all(np.isfinite(cov)):
            continue  # a largest time the curve cannot reach (both versions: nan)
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            failed += 1
    return failed / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--psd-draws", type=int, default=2000)
    args = parser.parse_args()
    n, truth, trials = calibration_trials(args.replicates, args.seed)
    km = km_median(trials.time, trials.event, trials.arm)
    means = km_restricted_mean(trials.time, trials.event, trials.arm)
    z = logrank_test(trials.time, trials.event, trials.arm == 1).z
    keep = np.flatnonzero(km.reached.all(axis=1))
    observed = np.column_stack([np.log(km.median), means.rmean, z])[keep]
    print(f"{len(keep)} of {args.replicates} simulated trials with both medians reached")
    for label, conditional in (("rescaled", False), ("resurv (conditional Cov with Z)", True)):
        block = normal_block(n, conditional)
        marginal, sequential = [], []
        for row, r in zip(observed, keep, strict=True):
            mu, cov = block(*truth[r], *means.tau[r])
            marginal.append((row - mu) / np.sqrt(np.diag(cov)))
            sequential.append(np.linalg.solve(np.linalg.cholesky(cov), row - mu))
        marginal, sequential = np.array(marginal), np.array(sequential)
        print(f"\nSPSS mean covariances: {label}")
        print(
            f"{'statistic':>14} {'marginal mean':>14} {'var':>6} {'sequential mean':>16} {'var':>6}"
        )
        for k, name in enumerate(NAMES):
            print(
                f"{name:>14} {marginal[:, k].mean():14.2f} {marginal[:, k].var():6.2f}"
                f" {sequential[:, k].mean():16.2f} {sequential[:, k].var():6.2f}"
            )
        share = share_not_positive_definite(block, args.psd_draws, np.random.default_rng(3))
        print(f"not positive definite at {share:.1%} of {args.psd_draws} parameter draws")


if __name__ == "__main__":
    main()
