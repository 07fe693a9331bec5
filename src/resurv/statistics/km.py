"""The Kaplan–Meier survival curve.

The Kaplan–Meier (product-limit) estimate of S(t) and its Greenwood variance, the building block
of every per-arm statistic papers report (median, landmark survival, SPSS-style mean).

References: Kaplan EL, Meier P. JASA 1958;53:457. Greenwood M. Reports on Public Health and
Medical Subjects 1926;33. Miller RG. Survival Analysis, 1981.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "KaplanMeierCurve",
    "RiskTable",
    "as_trials",
    "kaplan_meier",
    "kaplan_meier_table",
    "risk_table",
    "step_values_at",
]


# --- estimator (NumPy) ---
#
# Conventions shared by every estimator in ``resurv.statistics``:
#
# * ``time`` has shape (R, n) (R simulated trials of n patients) or (n,) (one dataset, promoted
#   to R = 1); ``event`` has the same shape, bool or 0/1.
# * ``arm`` is optional for per-arm statistics:
#     - ``None``: all patients form one group; results have shape (R,);
#     - integer codes in {0, 1} of shape (n,) or (R, n): results have shape (R, 2), column j for
#       arm j;
#     - a boolean mask of shape (n,) or (R, n): only the marked patients; results have shape (R,).
#   Two-arm statistics (log-rank, Cox) need ``arm``; a boolean mask there marks arm 1.
# * Results always keep the leading trial axis R (R = 1 for a single dataset).


def as_trials(time, event, arm=None):
    """Validate and broadcast estimator inputs to trial-major arrays.

    Parameters
    ----------
    time : array_like, shape (R, n) or (n,)
        Observed times (event or censoring), finite and non-negative.
    event : array_like of bool or {0, 1}, same shape as ``time``
        True where the time is an event.
    arm : array_like, shape (n,) or (R, n), optional
        Integer arm codes in {0, 1}, or a boolean mask of the patients to use.

    Returns
    -------
    time : ndarray, shape (R, n), float
    event : ndarray, shape (R, n), bool
    weights : ndarray, shape (R, n, G), int
        Group membership (G = 2 for arm codes, G = 1 otherwise).
    """
    time = np.asarray(time, dtype=float)
    if time.ndim == 1:
        time = time[None, :]
    if time.ndim != 2:
        raise ValueError(f"time must have shape (R, n) or (n,), got {time.shape}")
    if not np.all(np.isfinite(time)) or np.any(time < 0):
        raise ValueError("time must be finite and non-negative")
    event = np.asarray(event)
    if event.dtype != bool:
        if not np.all((event == 0) | (event == 1)):
            raise ValueError("event must be boolean or coded 0/1")
        event = event.astype(bool)
    event = np.broadcast_to(event, time.shape)
    if arm is None:
        weights = np.ones(time.shape + (1,), dtype=np.int64)
    else:
        arm = np.asarray(arm)
        if arm.dtype == bool:
            weights = np.broadcast_to(arm, time.shape)[..., None].astype(np.int64)
        else:
            if not np.all((arm == 0) | (arm == 1)):
                raise ValueError("arm codes must be 0 or 1 (or pass a boolean mask)")
            arm = np.broadcast_to(arm, time.shape)
            weights = np.stack([arm == 0, arm == 1], axis=-1).astype(np.int64)
    return time, event, weights


@dataclass(frozen=True)
class RiskTable:
    """Numbers at risk and events on each trial's sorted time grid.

    Attributes
    ----------
    time : ndarray, shape (R, n)
        Each trial's observed times, sorted (all patients, whatever their group).
    n_at_risk : ndarray, shape (R, n, G)
        Patients of each group with observed time ≥ ``time[r, k]``.
    n_events : ndarray, shape (R, n, G)
        Events of each group at ``time[r, k]``, stored at the last position of a run of tied
        times and 0 elsewhere (so that sums and products over k visit each distinct time once).
    n_total : ndarray, shape (R, G)
        Patients per group.
    last_time : ndarray, shape (R, G)
        Largest observed time (event or censored) of each group; nan for an empty group.
    single : bool
        True when G = 1 and results drop the group axis.
    """

    time: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    n_total: np.ndarray
    last_time: np.ndarray
    single: bool

    def finish(self, values):
        """Drop the group axis of ``values`` (last axis) when there is a single group."""
        return values[..., 0] if self.single else values


def risk_table(time, event, arm=None) -> RiskTable:
    """Tabulate numbers at risk n(t) and events d(t) per group, vectorized over trials.

    Ties follow the usual convention: patients censored at an event time are still at risk at
    that time. See :func:`as_trials` for the input conventions.
    """
    time, event, weights = as_trials(time, event, arm)
    n_trials, n_obs = time.shape
    order = np.argsort(time, axis=1, kind="stable")
    sorted_time = np.take_along_axis(time, order, axis=1)
    w = np.take_along_axis(weights, order[..., None], axis=1)
    e = w * np.take_along_axis(event, order, axis=1)[..., None]

    starts = np.ones((n_trials, n_obs), dtype=bool)
    starts[:, 1:] = sorted_time[:, 1:] != sorted_time[:, :-1]
    ends = np.ones((n_trials, n_obs), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    position = np.broadcast_to(np.arange(n_obs), (n_trials, n_obs))
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)[..., None]

    cum_w = np.cumsum(w, axis=1)
    n_total = cum_w[:, -1, :]
    n_at_risk = n_total[:, None, :] - np.take_along_axis(cum_w - w, first, axis=1)
    cum_e = np.cumsum(e, axis=1)
    events_in_run = cum_e - np.take_along_axis(cum_e - e, first, axis=1)
    n_events = np.where(ends[..., None], events_in_run, 0)

    member_time = np.where(w > 0, sorted_time[..., None], -np.inf)
    last_time = member_time.max(axis=1)
    last_time = np.where(n_total > 0, last_time, np.nan)
    return RiskTable(
        time=sorted_time,
        n_at_risk=n_at_risk,
        n_events=n_events,
        n_total=n_total,
        last_time=last_time,
        single=weights.shape[-1] == 1,
    )


def step_values_at(grid, values, times, initial):
    """Evaluate right-continuous step functions at ``times``.

    Parameters
    ----------
    grid : ndarray, shape (R, n)
        Sorted jump positions of each trial.
    values : ndarray, shape (R, n, ...)
        Value of the step function from ``grid[r, k]`` (inclusive) to the next position.
    times : array_like, shape (m,) or (R, m)
        Where to evaluate.
    initial : float
        Value before the first position.

    Returns
    -------
    ndarray, shape (R, m, ...)
    """
    times = np.asarray(times, dtype=float)
    if times.ndim == 0:
        times = times[None]
    if times.ndim == 1:
        times = np.broadcast_to(times, (grid.shape[0], times.shape[0]))
    count = (grid[:, :, None] <= times[:, None, :]).sum(axis=1)
    index = np.maximum(count - 1, 0)
    extra = values.ndim - 2
    index_full = index.reshape(index.shape + (1,) * extra)
    picked = np.take_along_axis(values, index_full, axis=1)
    before = (count == 0).reshape(count.shape + (1,) * extra)
    return np.where(before, initial, picked)


@dataclass(frozen=True)
class KaplanMeierCurve:
    """Kaplan–Meier curves of many trials on their sorted time grids.

    ``survival[r, k]`` is Ŝ just after ``time[r, k]``; ``greenwood_sum[r, k]`` is
    Σ_{t_i ≤ time[r, k]} d_i / (n_i (n_i − d_i)) (terms with n_i = d_i skipped, as lifelines and
    R do; Ŝ is 0 there). The group axis G follows :class:`RiskTable`.
    """

    table: RiskTable
    survival: np.ndarray
    greenwood_sum: np.ndarray

    @property
    def time(self) -> np.ndarray:
        """Sorted time grid, shape (R, n)."""
        return self.table.time

    @property
    def greenwood_variance(self) -> np.ndarray:
        """Greenwood variance Ŝ(t)² Σ_{t_i ≤ t} d_i / (n_i (n_i − d_i)), shape (R, n, G)."""
        return self.survival**2 * self.greenwood_sum

    def at(self, times):
        """Ŝ and its Greenwood variance at ``times`` (shape (m,) or (R, m)).

        Returns
        -------
        survival, variance : ndarray, shape (R, m) or (R, m, 2)
        """
        survival = step_values_at(self.time, self.survival, times, 1.0)
        gw_sum = step_values_at(self.time, self.greenwood_sum, times, 0.0)
        return self.table.finish(survival), self.table.finish(survival**2 * gw_sum)


def kaplan_meier(time, event, arm=None) -> KaplanMeierCurve:
    """Kaplan–Meier estimate, vectorized over trials.

    Ŝ(t) = Π_{t_i ≤ t} (1 − d_i / n_i), computed as exp(Σ [log(n_i − d_i) − log n_i]) in time
    order, the same arithmetic as lifelines' ``KaplanMeierFitter``, with the Greenwood sum
    Σ d_i / (n_i (n_i − d_i)).

    Parameters
    ----------
    time, event, arm
        See :func:`as_trials`.

    Returns
    -------
    KaplanMeierCurve
        Arrays of shape (R, n, G) on each trial's sorted grid (G = 2 with arm codes, else 1).

    References
    ----------
    Kaplan EL, Meier P. JASA 1958;53:457. Greenwood M. 1926.
    """
    table = risk_table(time, event, arm)
    n_risk = table.n_at_risk
    deaths = table.n_events
    has_death = deaths > 0
    safe_risk = np.where(has_death, n_risk, 1)
    with np.errstate(divide="ignore"):
        log_factor = np.where(has_death, np.log(safe_risk - deaths) - np.log(safe_risk), 0.0)
    survival = np.exp(np.cumsum(log_factor, axis=1))
    finite = has_death & (n_risk > deaths)
    denominator = np.where(finite, safe_risk * (safe_risk - deaths), 1)
    greenwood_sum = np.cumsum(np.where(finite, deaths / denominator, 0.0), axis=1)
    return KaplanMeierCurve(table=table, survival=survival, greenwood_sum=greenwood_sum)


def kaplan_meier_table(time, event) -> dict[str, np.ndarray]:
    """Kaplan–Meier table of one dataset at its distinct event times.

    Parameters
    ----------
    time : array_like, shape (n,)
        Observed times.
    event : array_like, shape (n,)
        True (or 1) where the time is an event.

    Returns
    -------
    dict
        ``time`` (distinct event times), ``n_at_risk``, ``n_events``, ``survival`` (Ŝ just after
        each time) and ``greenwood_variance`` (Ŝ² Σ d/(n(n − d))), each of shape (k,).
    """
    time = np.asarray(time, dtype=float)
    if time.ndim != 1:
        raise ValueError("kaplan_meier_table takes one dataset: time of shape (n,)")
    curve = kaplan_meier(time, event)
    keep = curve.table.n_events[0, :, 0] > 0
    return {
        "time": curve.time[0, keep],
        "n_at_risk": curve.table.n_at_risk[0, keep, 0],
        "n_events": curve.table.n_events[0, keep, 0],
        "survival": curve.survival[0, keep, 0],
        "greenwood_variance": curve.greenwood_variance[0, keep, 0],
    }
