"""Digitizations of Kaplan–Meier curves made from patient data: the points a digitizer clicks.

Used to test the reconstruction against the patient data it should give back, and to measure how
much a fit moves under digitization error. A curve is clicked at the corners of its steps: at
each event time the top of the drop (the survival before it) and the bottom (after it), plus the
end of the curve at the last observed time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["at_risk_numbers", "jitter_points", "km_points"]


def km_points(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Corner points (t, S) of the Kaplan–Meier curve of ``time``/``event``, from (0, 1).

    The curve is the product-limit estimate S(t) = Π_{t_j ≤ t} (1 − d_j / n_j).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    grid = np.unique(time[event])
    at_risk = (time[None, :] >= grid[:, None]).sum(axis=1)
    deaths = (event[None, :] & (time[None, :] == grid[:, None])).sum(axis=1)
    after = np.cumprod(1.0 - deaths / at_risk)
    before = np.append(1.0, after[:-1])[: after.size]
    times = np.concatenate([[0.0], np.repeat(grid, 2)])
    surv = np.concatenate([[1.0], np.column_stack([before, after]).ravel()])
    end = time.max()
    if not grid.size or end > grid[-1]:
        times = np.append(times, end)
        surv = np.append(surv, after[-1] if grid.size else 1.0)
    return times, surv


def at_risk_numbers(time, at_times) -> np.ndarray:
    """Patients still at risk (time ≥ τ) at each time τ of ``at_times``."""
    time = np.asarray(time, dtype=float)
    return (time[None, :] >= np.asarray(at_times, dtype=float)[:, None]).sum(axis=1)


def jitter_points(
    times, survival, rng: np.random.Generator, time_sd: float, survival_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """The points as a digitizer would return them: each coordinate off by a normal error.

    The points of one time (the top and bottom of a vertical drop, clicked along one line)
    share their time error, and the steps keep their order (a reader clicks along the curve:
    steps closer than the error are read in order); survival errors are independent.

    ``time_sd`` and ``survival_sd`` are in the curve's units (e.g. 0.3 months and 0.005 on the
    survival axis, about a pixel of a printed figure); the first point (0, 1) is kept, as a
    digitizer's axis calibration pins it. The result can rise between points or leave [0, 1]
    slightly: what :func:`resurv.reconstruct.curve.clean_curve` repairs.
    """
    t = np.asarray(times, dtype=float).copy()
    s = np.asarray(survival, dtype=float).copy()
    unique, which = np.unique(t, return_inverse=True)
    read = np.sort(np.abs(unique + rng.normal(0.0, time_sd, unique.size)))
    t[1:] = read[which[1:]]
    s[1:] = s[1:] + rng.normal(0.0, survival_sd, s.size - 1)
    return t, s
