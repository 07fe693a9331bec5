"""Datasets shared by the estimator tests: lifelines' shipped data and seeded small trials."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung, load_rossi, load_waltons


def shipped_datasets():
    """(name, time, event, arm) for rossi (fin), waltons (miR-137) and lung (sex), NaNs dropped."""
    rossi = load_rossi()
    waltons = load_waltons()
    lung = load_lung().dropna()
    return [
        (
            "rossi",
            rossi["week"].to_numpy(float),
            rossi["arrest"].to_numpy(bool),
            rossi["fin"].to_numpy(int),
        ),
        (
            "waltons",
            waltons["T"].to_numpy(float),
            waltons["E"].to_numpy(bool),
            (waltons["group"] == "miR-137").to_numpy(int),
        ),
        (
            "lung",
            lung["time"].to_numpy(float),
            lung["status"].to_numpy(bool),
            (lung["sex"] - 1).to_numpy(int),
        ),
    ]


def small_trials(seed=7, n_sets=40, n_per_arm=(15, 12)):
    """Seeded small two-arm datasets with ties (integer months) and heavy censoring.

    Returns time (R, n), event (R, n) bool and arm (R, n) with a different arm order per row.
    """
    rng = np.random.default_rng(seed)
    n = sum(n_per_arm)
    arm = np.tile(np.repeat([0, 1], n_per_arm), (n_sets, 1))
    arm = rng.permuted(arm, axis=1)
    scale = np.where(arm == 1, 14.0, 9.0)
    event_time = scale * rng.weibull(1.3, size=(n_sets, n))
    censor = rng.uniform(2.0, 30.0, size=(n_sets, n)) * rng.choice([0.4, 1.0], size=(n_sets, 1))
    time = np.maximum(np.round(np.minimum(event_time, censor)), 1.0)
    event = event_time <= censor
    return time, event, arm


def all_cases():
    """Every dataset as (name, time (n,), event (n,), arm (n,))."""
    cases = list(shipped_datasets())
    time, event, arm = small_trials()
    cases += [(f"small{r}", time[r], event[r], arm[r]) for r in range(time.shape[0])]
    return cases


@pytest.fixture(autouse=True)
def numpy_warns():
    """Run each test with NumPy's default floating-point warnings (which pytest turns into errors).

    lifelines' KaplanMeierFitter.fit calls np.seterr(divide="ignore", invalid="ignore") globally,
    which would otherwise hide warnings in every later test.
    """
    with np.errstate(all="warn", under="ignore"):
        yield


def lifelines_km(time, event):
    """lifelines Kaplan–Meier fit, leaving NumPy's error state as it was."""
    with np.errstate():
        return KaplanMeierFitter().fit(time, event)


def lifelines_cox(time, event, arm):
    """lifelines CoxPHFitter (Efron ties, unpenalized), converged to |score| ~ 1e-10.

    lifelines stops by default when the Newton step is < 1e-7 *or* the relative log-likelihood
    change is < 1e-9 *or* the Newton decrement g²/(2I) is < 1e-7, which leaves errors of order
    1e-7 in β. Setting precision=1e-20 and r_precision=0 makes it stop only once the decrement
    is ~1e-20 (|score| ~ 1e-10), i.e. |β − β̂| ~ 1e-10.
    """
    import pandas as pd

    frame = pd.DataFrame({"T": time, "E": event.astype(int), "arm": arm})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return CoxPHFitter().fit(
            frame,
            "T",
            "E",
            fit_options={"precision": 1e-20, "r_precision": 0.0, "max_steps": 500},
        )


def exact_km(time, event):
    """Exact Kaplan–Meier values as Fractions: list of (event time, Ŝ just after it)."""
    out = []
    survival = Fraction(1)
    for t in np.unique(time[event]):
        at_risk = int(np.sum(time >= t))
        deaths = int(np.sum((time == t) & event))
        survival *= Fraction(at_risk - deaths, at_risk)
        out.append((float(t), survival))
    return out
