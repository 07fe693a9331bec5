"""Follow-up model: uniform accrual, minimum follow-up and exponential dropout.

Patients enter uniformly over an accrual period of ``accrual_months`` (A); the analysis is done
``followup_months`` (F) after the last entry, so the administrative censoring time is
C ~ Uniform(F, A + F). Independent dropout at rate ρ (per month) censors earlier. Then

    G(t) = P(C > t) = min(1, max(0, (A + F − t) / A)) · exp(−ρ t),
    g(t) = −dG/dt = [1{F ≤ t ≤ A+F} / A + ρ · min(1, max(0, (A+F−t)/A))] · exp(−ρ t).

Every function takes ``xp`` (``numpy`` or ``pytensor.tensor``) so that the same formula serves
model graphs and simulation. Reference: resurv statistical design, section 3; Lakatos E.
Biometrics 1988;44:229.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FollowUp",
    "censoring_density",
    "censoring_survival",
    "log_censoring_survival",
    "sample_censoring_times",
]


@dataclass(frozen=True)
class FollowUp:
    """Fixed follow-up design values (months; dropout per month)."""

    accrual_months: float
    followup_months: float
    dropout_rate: float = 0.0

    @property
    def max_followup_months(self) -> float:
        """Largest possible follow-up, A + F."""
        return self.accrual_months + self.followup_months


def _admin_fraction(t, accrual_months, followup_months, xp):
    """min(1, max(0, (A + F − t)/A)): the share of patients still under administrative follow-up."""
    frac = (accrual_months + followup_months - t) / accrual_months
    return xp.minimum(1.0, xp.maximum(0.0, frac))


def censoring_survival(t, accrual_months, followup_months, dropout_rate=0.0, xp=np):
    """G(t) = P(C > t), the probability of still being under follow-up at time t."""
    return _admin_fraction(t, accrual_months, followup_months, xp) * xp.exp(-dropout_rate * t)


def log_censoring_survival(t, accrual_months, followup_months, dropout_rate=0.0, xp=np):
    """Log G(t); −inf beyond A + F."""
    return xp.log(_admin_fraction(t, accrual_months, followup_months, xp)) - dropout_rate * t


def censoring_density(t, accrual_months, followup_months, dropout_rate=0.0, xp=np):
    """g(t) = −dG/dt: the density of the censoring time C (uniform part plus dropout part)."""
    inside = (t >= followup_months) & (t <= accrual_months + followup_months)
    uniform_part = xp.where(inside, 1.0 / accrual_months, 0.0)
    dropout_part = dropout_rate * _admin_fraction(t, accrual_months, followup_months, xp)
    return (uniform_part + dropout_part) * xp.exp(-dropout_rate * t)


def sample_censoring_times(rng, accrual_months, followup_months, dropout_rate=0.0, size=None):
    """Draw censoring times C = min(A + F − entry, dropout), entry ~ U(0, A), dropout ~ Exp(ρ).

    Parameters broadcast against ``size`` (e.g. per-draw A and F of shape (R, 1) with
    ``size=(R, n)``).
    """
    accrual = np.asarray(accrual_months, dtype=float)
    follow = np.asarray(followup_months, dtype=float)
    entry = rng.uniform(size=size) * accrual
    admin = accrual + follow - entry
    rho = np.asarray(dropout_rate, dtype=float)
    if np.all(rho == 0):
        return admin
    with np.errstate(divide="ignore"):
        dropout = rng.exponential(size=size) / rho
    return np.minimum(admin, dropout)
