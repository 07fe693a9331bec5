"""Guyot's algorithm: approximate patient data from a digitized Kaplan–Meier curve.

Inputs are the digitized curve, points (t_k, S_k), k = 0..K−1, sorted by time with
(t_0, S_0) = (0, 1) and S non-increasing, the numbers at risk n_i printed at times τ_i
(τ_0 = 0, n_0 the arm size), i = 0..m−1, and optionally the total number of events D.

The points of at-risk interval i are those with τ_i ≤ t_k < τ_{i+1} (the last interval runs to
the end of the curve), indices ``lower[i]..upper[i]``. Interval by interval:

1. censored count, first guess c_i = round(n_i S(τ_{i+1}) / S(τ_i) − n_{i+1});
2. the c_i censoring times are spread evenly over the interval,
   t_lower + j (t_lower(i+1) − t_lower) / (c_i + 1), j = 1..c_i, and counted at the point they
   follow;
3. events at each point from the drop of the curve,
   d_k = round(n̂_k (1 − S_k / Ŝ_last)), Ŝ_k = Ŝ_last (1 − d_k / n̂_k),
   n̂_{k+1} = n̂_k − d_k − cens_k, where ``last`` is the latest point with an event;
4. c_i += n̂(τ_{i+1}) − n_{i+1}, and steps 2–4 repeat until the number at risk at τ_{i+1} is
   reproduced (or no censoring is left to remove, when the curve's drops alone take more
   patients than the table has lost: the reconstruction then carries its own number on).

The last interval has no number at risk at its end. Its censored count is the censoring rate of
the earlier intervals per unit of time times its length,
c_last = min(round(Σ_{i<last} c_i (t_upper − t_lower) / (t_upper(last−1) − t_0)), n_last);
when the total number of events D is given, c_last is adjusted (c_last += Σ d − D, steps 2–3
repeated) until the reconstruction has D events, or, when the earlier intervals already hold D
or more events, the last interval gets no events and no censoring.

Patients: d_k events at t_k, cens_k censorings at (t_k + t_{k+1}) / 2, and everyone left at the
end censored at the last point's time.

Reference: Guyot P, Ades AE, Ouwens MJ, Welton NJ. Enhanced secondary analysis of survival data:
reconstructing the data from published Kaplan-Meier survival curves. BMC Med Res Methodol
2012;12:9 (the algorithm of its appendix; also in R's IPDfromKM, reconstructKM,
survHE::digitise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Reconstruction",
    "curve_gap",
    "interval_bounds",
    "reconstruct_patients",
    "step_values",
    "with_risk_times",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconstruction:
    """Patient data rebuilt from one arm's curve, with the counts behind it.

    ``time`` and ``event`` are one row per patient (events first, then censorings, in the
    order of the points). ``events_at`` and ``censored_at`` are per digitized point;
    ``at_risk_used`` the numbers at risk the reconstruction reached at the at-risk times
    (equal to the printed ones unless the curve's drops alone took more patients);
    ``lower`` and ``upper`` the first and last point of each at-risk interval;
    ``point_time`` and ``point_survival`` the points used (the curve with a point at each
    at-risk time, :func:`with_risk_times`).
    """

    time: np.ndarray
    event: np.ndarray
    events_at: np.ndarray
    censored_at: np.ndarray
    at_risk_used: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    point_time: np.ndarray
    point_survival: np.ndarray

    @property
    def n(self) -> int:
        """Patients."""
        return int(self.time.size)

    @property
    def events(self) -> int:
        """Events."""
        return int(self.event.sum())


def step_values(times, survival, at) -> np.ndarray:
    """The curve read as a right-continuous step function at times ``at``.

    The value at τ is that of the last point at or before τ (of several points at one time,
    the last, the bottom of a vertical drop); 1 before the first point.
    """
    t = np.asarray(times, dtype=float)
    s = np.asarray(survival, dtype=float)
    index = np.searchsorted(t, np.asarray(at, dtype=float), side="right") - 1
    return np.where(index >= 0, s[np.clip(index, 0, None)], 1.0)


def curve_gap(times, survival, time, event, until: float | None = None) -> tuple[float, float]:
    """Largest vertical gap between a digitized curve and the Kaplan–Meier curve of patients.

    Both are right-continuous step functions jumping only at the curve's points and the
    patients' times, so the supremum of |S_digitized − S_KM| is attained at one of those times;
    ``until`` limits it to times before a bound. Returns (gap, time where it is largest).
    """
    t = np.asarray(times, dtype=float)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    grid = np.union1d(t, time)
    if until is not None:
        grid = grid[grid < until]
    if not grid.size:
        return 0.0, 0.0
    events = np.unique(time[event])
    at_risk = (time[None, :] >= events[:, None]).sum(axis=1)
    deaths = (event[None, :] & (time[None, :] == events[:, None])).sum(axis=1)
    km = step_values(events, np.cumprod(1.0 - deaths / at_risk), grid) if events.size else 1.0
    gap = np.abs(step_values(t, survival, grid) - km)
    where = int(np.argmax(gap))
    return float(gap[where]), float(grid[where])


def with_risk_times(times, survival, risk_times) -> tuple[np.ndarray, np.ndarray]:
    """The curve with a point at each at-risk time that has none: S(τ) of the step before it.

    A Kaplan–Meier curve is a right-continuous step function, so the value at τ is that of the
    last point at or before τ. With a point at τ_{i+1}, the censorings of interval i (placed
    between consecutive points) all fall before τ_{i+1}, so the numbers at risk the algorithm
    matches are those of the reconstructed patients.
    """
    t = np.asarray(times, dtype=float)
    s = np.asarray(survival, dtype=float)
    tau = np.asarray(risk_times, dtype=float)
    missing = tau[~np.isin(tau, t) & (tau <= t[-1])]
    if not missing.size:
        return t, s
    before = np.searchsorted(t, missing, side="right") - 1
    where = before + 1
    return np.insert(t, where, missing), np.insert(s, where, s[before])


def interval_bounds(times: np.ndarray, risk_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last point index of each at-risk interval [τ_i, τ_{i+1}).

    Raises ``ValueError`` when an interval holds no point (add a point at each at-risk time).
    """
    lower = np.searchsorted(times, risk_times, side="left")
    upper = np.append(lower[1:] - 1, times.size - 1)
    empty = np.flatnonzero((lower >= times.size) | (upper < lower))
    if empty.size:
        i = int(empty[0])
        raise ValueError(f"no digitized point in the at-risk interval starting at {risk_times[i]}")
    return lower, upper


def _spread(times, lo: int, hi: int, end: float, count: int) -> np.ndarray:
    """``count`` censorings spread evenly over (t_lo, end), counted at the point before each."""
    cens = np.zeros(hi - lo + 1, dtype=np.int64)
    if count <= 0:
        return cens
    at = times[lo] + np.arange(1, count + 1) * (end - times[lo]) / (count + 1)
    index = np.searchsorted(times[lo : hi + 1], at, side="right") - 1
    np.add.at(cens, np.clip(index, 0, hi - lo), 1)
    return cens


class _State:
    """Per-point events, censorings, numbers at risk and KM of the reconstruction so far."""

    def __init__(self, survival: np.ndarray, n0: int):
        size = survival.size
        self.survival = survival
        self.events = np.zeros(size, dtype=np.int64)
        self.censored = np.zeros(size, dtype=np.int64)
        self.at_risk = np.full(size + 1, n0, dtype=np.int64)
        self.km = np.ones(size)

    def fill(self, lo: int, hi: int, start_at_risk: int, last: int, cens: np.ndarray) -> int:
        """Events of points lo..hi from the curve's drops, given their censorings (step 3)."""
        s = self.survival
        self.censored[lo : hi + 1] = cens
        self.at_risk[lo] = start_at_risk
        for k in range(lo, hi + 1):
            n_k = self.at_risk[k]
            if k == 0 or self.km[last] <= 0 or n_k <= 0:
                d = 0
                self.km[k] = 1.0 if k == 0 else self.km[last]
            else:
                d = int(np.round(n_k * (1.0 - s[k] / self.km[last])))
                d = min(max(d, 0), int(n_k))
                self.km[k] = self.km[last] * (1.0 - d / n_k)
            self.events[k] = d
            after = n_k - d - self.censored[k]
            if after < 0:  # no more censorings than patients left
                self.censored[k] = n_k - d
                after = 0
            self.at_risk[k + 1] = after
            if d:
                last = k
        return last


def reconstruct_patients(
    times,
    survival,
    risk_times,
    risk_numbers,
    total_events: int | None = None,
) -> Reconstruction:
    """Guyot's reconstruction of one arm's patient data (module docstring).

    Parameters
    ----------
    times, survival : array_like, shape (K,)
        The digitized curve, sorted by time, starting at (0, 1), survival non-increasing in
        [0, 1] (``resurv.reconstruct.digitized`` repairs real digitizations into this form).
    risk_times, risk_numbers : array_like, shape (m,)
        At-risk times, strictly increasing from 0 and not beyond the curve's last point, and the
        whole numbers at risk, non-increasing.
    total_events : int, optional
        The total number of events, when published.
    """
    tau = np.asarray(risk_times, dtype=float)
    t, s = with_risk_times(times, survival, tau)
    n_risk = np.asarray(risk_numbers, dtype=np.int64).copy()
    if t[0] != 0.0 or s[0] != 1.0:
        raise ValueError("the curve must start at (0, 1)")
    if np.any(np.diff(t) < 0) or np.any(np.diff(s) > 0):
        raise ValueError("the curve must be sorted by time with survival non-increasing")
    if tau[0] != 0.0 or np.any(np.diff(tau) <= 0) or np.any(np.diff(n_risk) > 0):
        raise ValueError("at-risk times must increase from 0 and numbers must not increase")
    lower, upper = interval_bounds(t, tau)
    m = tau.size
    state = _State(s, int(n_risk[0]))
    cens_total = np.zeros(m, dtype=np.int64)
    last = 0
    for i in range(m - 1):
        lo, hi, nxt = int(lower[i]), int(upper[i]), int(lower[i + 1])
        if s[lo] > 0:
            c = int(np.round(n_risk[i] * s[nxt] / s[lo] - n_risk[i + 1]))
        else:
            c = 0
        c = min(max(c, 0), int(n_risk[i] - n_risk[i + 1]))
        tried: set[int] = set()
        start_last = last
        while True:
            tried.add(c)
            cens = _spread(t, lo, hi, t[nxt], c)
            last = state.fill(lo, hi, int(n_risk[i]), start_last, cens)
            reached = int(state.at_risk[nxt])
            if reached == n_risk[i + 1] or (reached < n_risk[i + 1] and c <= 0):
                break
            proposal = min(max(c + reached - int(n_risk[i + 1]), 0), int(n_risk[i]))
            if proposal in tried:  # the count cycles (rounding): keep the last one tried
                break
            c = proposal
        cens_total[i] = int(state.censored[lo : hi + 1].sum())
        if state.at_risk[nxt] < n_risk[i + 1]:
            log.info(
                "at-risk interval from %g: the curve's drops leave %d at risk at %g, not %d",
                tau[i],
                state.at_risk[nxt],
                tau[i + 1],
                n_risk[i + 1],
            )
            n_risk[i + 1] = state.at_risk[nxt]
        elif state.at_risk[nxt] > n_risk[i + 1]:
            n_risk[i + 1] = state.at_risk[nxt]
    # the last interval: no number at risk at its end
    lo, hi = int(lower[-1]), int(upper[-1])
    if m > 1 and t[upper[-2]] > t[0]:
        rate = cens_total[: m - 1].sum() * (t[hi] - t[lo]) / (t[upper[-2]] - t[0])
        c = min(int(np.round(rate)), int(n_risk[-1]))
    else:
        c = 0
    start_last = last
    state.fill(lo, hi, int(n_risk[-1]), start_last, _spread(t, lo, hi, t[hi], c))
    if total_events is not None:
        before = int(state.events[:lo].sum())
        if before >= total_events and m > 1:
            state.events[lo : hi + 1] = 0
            state.censored[lo : hi + 1] = 0
            state.at_risk[lo : hi + 2] = n_risk[-1]
        else:
            tried = {c}
            while True:
                total = int(state.events[: hi + 1].sum())
                if total == total_events or (total < total_events and c <= 0):
                    break
                proposal = min(max(c + total - total_events, 0), int(n_risk[-1]))
                if proposal in tried:
                    break
                tried.add(proposal)
                c = proposal
                cens = _spread(t, lo, hi, t[hi], c)
                state.fill(lo, hi, int(n_risk[-1]), start_last, cens)
    d, cens = state.events, state.censored
    left = int(n_risk[0] - d.sum() - cens.sum())
    if left < 0:
        raise ValueError("the reconstruction holds more patients than the arm")
    midpoints = np.append((t[:-1] + t[1:]) / 2, t[-1])
    time = np.concatenate([np.repeat(t, d), np.repeat(midpoints, cens), np.full(left, t[-1])])
    event = np.concatenate([np.ones(d.sum(), bool), np.zeros(cens.sum() + left, bool)])
    at_risk_used = state.at_risk[lower]
    return Reconstruction(time, event, d.copy(), cens.copy(), at_risk_used, lower, upper, t, s)
