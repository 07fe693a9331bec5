"""Simulate trials of a published design.

For posterior predictive checks and calibration, resurv simulates many trials at once (one per
posterior draw): patients enter uniformly over the accrual period, their event times come from
each arm's survival curve by inversion of the cumulative hazard, and they are censored
administratively at the analysis (A + F − entry) and by dropout (resurv statistical design,
sections 3 and 5).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resurv.statistics.followup import FollowUp

__all__ = ["SimulatedTrials", "simulate_trials", "write_ipd_csv"]


@dataclass(frozen=True)
class SimulatedTrials:
    """R simulated trials of n patients.

    Attributes
    ----------
    time : ndarray, shape (R, n)
        Observed time min(T, C) in months.
    event : ndarray of bool, shape (R, n)
        True when the event was observed (T ≤ C).
    arm : ndarray of int, shape (n,)
        Arm code per patient column: n₀ zeros then n₁ ones.
    """

    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray

    @property
    def n_trials(self) -> int:
        """Number of simulated trials R."""
        return self.time.shape[0]

    def row(self, index: int) -> SimulatedTrials:
        """Return trial ``index`` as a :class:`SimulatedTrials` with R = 1."""
        return SimulatedTrials(
            time=self.time[index : index + 1], event=self.event[index : index + 1], arm=self.arm
        )


def _per_trial(value, name, n_trials):
    """Broadcast a design value (scalar or shape (R,)) to shape (R, 1)."""
    value = np.asarray(value, dtype=float)
    if value.ndim > 1 or (value.ndim == 1 and value.shape[0] != n_trials):
        raise ValueError(f"{name} must be a scalar or have shape ({n_trials},), got {value.shape}")
    return np.broadcast_to(value, (n_trials,))[:, None]


def simulate_trials(
    rng: np.random.Generator,
    inv_cum_hazard: Sequence[Callable[[np.ndarray], np.ndarray]],
    n_per_arm: Sequence[int],
    design: FollowUp,
    n_trials: int | None = None,
) -> SimulatedTrials:
    """Simulate R trials (two arms, or one) with uniform accrual, minimum follow-up and dropout.

    Event times by inversion: T = H_j⁻¹(E), E ~ Exp(1), since P(T > t) = P(E > H_j(t)) =
    exp(−H_j(t)) = S_j(t). Censoring C = min(A + F − entry, D), entry ~ U(0, A), D ~ Exp(ρ)
    (:meth:`resurv.statistics.followup.FollowUp.sample_censoring_times`). Observed time
    min(T, C), event 1{T ≤ C}.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    inv_cum_hazard : sequence of two callables (one for a single-arm trial)
        ``inv_cum_hazard[j](h)`` maps cumulative-hazard values ``h`` of shape (R, n_j) to event
        times of the same shape (np.inf where h exceeds the curve's plateau, i.e. cure). Any
        per-draw parameters are captured by the callable with shape (R, 1).
    n_per_arm : sequence of two ints (one for a single-arm trial)
        n₀, n₁.
    design : FollowUp
        Design values A, F and ρ (per month), each a float (shared) or an array of shape (R,)
        (one per trial).
    n_trials : int, optional
        R; needed when every design value is a scalar, otherwise inferred (and checked).

    Returns
    -------
    SimulatedTrials
    """
    if len(inv_cum_hazard) not in (1, 2) or len(n_per_arm) != len(inv_cum_hazard):
        raise ValueError(
            "need one or two arms: as many inverse cumulative hazards as arm sizes; got "
            f"{len(inv_cum_hazard)} and {len(n_per_arm)}"
        )
    sizes = [int(n) for n in n_per_arm]
    if min(sizes) < 1:
        raise ValueError("each arm needs at least one patient")
    lengths = {
        np.asarray(v).shape[0]
        for v in (design.accrual_months, design.followup_months, design.dropout_rate)
        if np.ndim(v) == 1
    }
    if n_trials is not None:
        lengths.add(int(n_trials))
    if len(lengths) > 1:
        raise ValueError(f"inconsistent numbers of trials: {sorted(lengths)}")
    if not lengths:
        raise ValueError("n_trials is required when every design value is a scalar")
    n_trials = lengths.pop()
    accrual = _per_trial(design.accrual_months, "accrual_months", n_trials)
    follow = _per_trial(design.followup_months, "followup_months", n_trials)
    dropout = _per_trial(design.dropout_rate, "dropout_rate", n_trials)
    if np.any(accrual <= 0) or np.any(follow < 0) or np.any(dropout < 0):
        raise ValueError("need accrual_months > 0, followup_months >= 0, dropout_rate >= 0")

    event_times = []
    for inverse, n_arm in zip(inv_cum_hazard, sizes, strict=True):
        exposure = rng.standard_exponential(size=(n_trials, n_arm))
        times = np.asarray(inverse(exposure), dtype=float)
        if times.shape != (n_trials, n_arm):
            raise ValueError(
                f"inverse cumulative hazard returned shape {times.shape}, "
                f"expected {(n_trials, n_arm)}"
            )
        event_times.append(times)
    event_time = np.concatenate(event_times, axis=1)
    per_trial = FollowUp(accrual, follow, dropout)
    censoring = per_trial.sample_censoring_times(rng, size=(n_trials, sum(sizes)))
    event = event_time <= censoring
    time = np.where(event, event_time, censoring)
    arm = np.repeat(np.arange(len(sizes)), sizes)
    return SimulatedTrials(time=time, event=event, arm=arm)


def write_ipd_csv(path, trials_row: SimulatedTrials) -> Path:
    """Write one simulated trial as an individual-patient-data CSV (columns time,event,arm).

    Parameters
    ----------
    path : str or Path
        Where to write.
    trials_row : SimulatedTrials
        A single trial (R = 1), e.g. ``trials.row(i)``.

    Returns
    -------
    Path
        The path written.
    """
    if trials_row.time.shape[0] != 1:
        raise ValueError("write_ipd_csv writes one trial: pass trials.row(i)")
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "event", "arm"])
        for t, e, a in zip(trials_row.time[0], trials_row.event[0], trials_row.arm, strict=True):
            writer.writerow([repr(float(t)), int(e), int(a)])
    return path
