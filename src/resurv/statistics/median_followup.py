"""Median follow-up: the paper's three estimators, their model values and sampling variances.

Papers print a median follow-up computed one of three ways (X = min(T, C) the observed time,
δ = 1{T ≤ C} the event indicator; the group is one arm or all patients):

* ``reverse_km`` (Schemper M, Smith TL. Control Clin Trials 1996;17:343): the Kaplan–Meier median
  of the follow-up with events and censorings swapped. Under independent censoring the reverse
  KM estimates the potential-follow-up distribution P(C > t) = G(t), so its model value m solves
  G(m) = ½ (a function of the design alone: with ρ = 0, m = F + A/2).
* ``survivors``: the sample median of X among the patients without the event (δ = 0). Its model
  value solves c(m) = c(A + F)/2 with c(t) = ∫₀ᵗ w(u) g(u) du, w = Σ_j n_j S_j.
* ``all``: the sample median of X over all patients: w(m) G(m) = N/2, N = Σ_j n_j.

Sampling distributions (first order, from the estimators' influence functions):

* sample median of n_c i.i.d. draws with density f: Var(m̂) = 1/(4 n_c f(m)²) (the sample
  quantile, p(1 − p)/(n f²) at p = ½). For ``all``, n_c f = Σ_j n_j f_j(m) G(m) + w(m) g(m)
  with N draws: Var = N / (4 (Σ_j n_j f_j G + w g)²(m)). For ``survivors`` the expected
  number censored is c(A + F) and n_c f_c(m) = w(m) g(m): Var = c(A + F) / (4 (w g)²(m)).
* reverse-KM median (Brookmeyer R, Crowley J. Biometrics 1982;38:29, roles of S and G
  swapped): Greenwood's variance of Ĝ with the censoring hazard g/G and the at-risk number
  w G, Var Ĝ(m) = G(m)² ∫₀^m g/(w G²) du, divided by the density g(m)²:
  Var(m̂) = ¼ ∫₀^m g(u) / (w(u) G(u)²) du / g(m)².

The likelihood term is log m̂ ~ Normal(log m, Var(m̂)/m² + δ²/(12 v²)) (δ the printed
resolution of the value v), its own factor, independent of the joint normal of the other
statistics. Both are approximations: the median follow-up is correlated with the numbers at
risk, the event counts and the medians (they share the observed times), and the normal limit is
first order (reverse-KM medians are discrete, jumping between censoring times).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytensor.tensor as pt

from resurv.statistics.base import TrialModel
from resurv.statistics.median import km_median
from resurv.statistics.notreached import solve_decreasing

__all__ = [
    "METHODS",
    "followup_median_estimate",
    "followup_range",
    "log_followup_factor",
    "model_median_followup",
]

#: The estimators papers use, by study-file name.
METHODS = ("reverse_km", "survivors", "all")


# --- estimators (NumPy, vectorized over trials) ---


def _group(arm, shape, index):
    """Boolean mask (R, n) of the group: arm ``index``, or every patient when ``index`` is None."""
    if index is None:
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(np.asarray(arm) == index, shape)


def followup_median_estimate(time, event, arm, method: str, index: int | None) -> np.ndarray:
    """The paper's median follow-up of the group on each trial, shape (R,).

    ``reverse_km``: the KM median of (X, 1 − δ) (lifelines' convention: the smallest time with
    Ĝ ≤ ½; inf when Ĝ stays above ½); ``survivors``: the median of X where δ = 0 (nan when no
    patient is censored); ``all``: the median of X.
    """
    time = np.atleast_2d(np.asarray(time, dtype=float))
    event = np.atleast_2d(np.asarray(event, dtype=bool))
    mask = _group(arm, time.shape, index)
    if method == "reverse_km":
        return np.asarray(km_median(time, ~event, mask).median).reshape(time.shape[0])
    if method == "survivors":
        mask = mask & ~event
    elif method != "all":
        raise ValueError(f"unknown median follow-up method {method!r}")
    values = np.where(mask, time, np.nan)
    out = np.full(time.shape[0], np.nan)
    some = mask.any(axis=1)
    out[some] = np.nanmedian(values[some], axis=1)
    return out


def followup_range(time, event, arm, method: str, index: int | None) -> np.ndarray:
    """(min, max) of the observed times the range of a median follow-up covers, shape (R, 2).

    The censored patients' times for ``survivors``, every patient's otherwise.
    """
    time = np.atleast_2d(np.asarray(time, dtype=float))
    event = np.atleast_2d(np.asarray(event, dtype=bool))
    mask = _group(arm, time.shape, index)
    if method == "survivors":
        mask = mask & ~event
    low = np.where(mask, time, np.inf).min(axis=1)
    high = np.where(mask, time, -np.inf).max(axis=1)
    return np.where(mask.any(axis=1)[:, None], np.stack([low, high], axis=1), np.nan)


# --- model side (PyTensor) ---


def _log_weight(trial: TrialModel, arms: Sequence[int], t):
    """Log w(t) = log Σ_j n_j S_j(t) over the group's arms."""
    terms = [np.log(float(trial.n_per_arm[j])) + trial.log_survival(j, t) for j in arms]
    return terms[0] if len(terms) == 1 else pt.logaddexp(*terms)


def _event_density(trial: TrialModel, arms: Sequence[int], t):
    """Σ_j n_j f_j(t) = Σ_j n_j h_j(t) S_j(t) over the group's arms."""
    return sum(
        float(trial.n_per_arm[j]) * pt.exp(trial.log_hazard(j, t) + trial.log_survival(j, t))
        for j in arms
    )


def model_median_followup(trial: TrialModel, arms: Sequence[int], method: str):
    """Model value m and sampling variance Var(m̂) of a median follow-up (PyTensor scalars).

    ``arms``: the arms of the group ([j], or [0, 1] for all patients pooled).
    """
    arms = list(arms)
    upper = trial.max_followup
    total = float(sum(trial.n_per_arm[j] for j in arms))

    def density_g(t):
        return trial.censoring_density(t)

    if method == "reverse_km":
        m = solve_decreasing(
            lambda t: trial.log_censoring(t) + np.log(2.0),
            lambda t: -density_g(t) * pt.exp(-trial.log_censoring(t)),
            upper,
            point_name="median_followup_point",
        )

        def integrand(u):
            return density_g(u) * pt.exp(
                -_log_weight(trial, arms, u) - 2.0 * trial.log_censoring(u)
            )

        variance = 0.25 * trial.integral(integrand, m) / density_g(m) ** 2
    elif method == "all":
        m = solve_decreasing(
            lambda t: _log_weight(trial, arms, t) + trial.log_censoring(t) - np.log(total / 2.0),
            lambda t: (
                -_event_density(trial, arms, t) * pt.exp(-_log_weight(trial, arms, t))
                - density_g(t) * pt.exp(-trial.log_censoring(t))
            ),
            upper,
            point_name="median_followup_point",
        )
        density = _event_density(trial, arms, m) * pt.exp(trial.log_censoring(m)) + pt.exp(
            _log_weight(trial, arms, m)
        ) * density_g(m)
        variance = total / (4.0 * density**2)
    elif method == "survivors":

        def censored_mass(t):
            return trial.integral(lambda u: pt.exp(_log_weight(trial, arms, u)) * density_g(u), t)

        def censored_density(t):
            return pt.exp(_log_weight(trial, arms, t)) * density_g(t)

        everyone = censored_mass(upper)
        m = solve_decreasing(
            lambda t: pt.log(0.5 * everyone) - pt.log(censored_mass(t)),
            lambda t: -censored_density(t) / censored_mass(t),
            upper,
            point_name="median_followup_point",
        )
        variance = everyone / (4.0 * censored_density(m) ** 2)
    else:
        raise ValueError(f"unknown median follow-up method {method!r}")
    return m, variance


def log_followup_factor(trial: TrialModel, arms: Sequence[int], method: str, observed):
    """Log N(log v | log m, Var(m̂)/m² + rounding variance), ``observed`` = [log v, rounding var]."""
    m, variance = model_median_followup(trial, arms, method)
    total = variance / m**2 + observed[1]
    z = observed[0] - pt.log(m)
    return -0.5 * z**2 / total - 0.5 * pt.log(2.0 * np.pi * total)
