"""Follow-up model: uniform accrual, minimum follow-up and exponential dropout.

Patients enter uniformly over an accrual period of ``accrual_months`` (A); the analysis is done
``followup_months`` (F) after the last entry, so the administrative censoring time is
C ~ Uniform(F, A + F). Independent dropout at rate ρ (per month) censors earlier. Then

    G(t) = P(C > t) = min(1, max(0, (A + F − t) / A)) · exp(−ρ t),
    g(t) = −dG/dt = [1{F ≤ t ≤ A+F} / A + ρ · min(1, max(0, (A+F−t)/A))] · exp(−ρ t).

The design is one value, :class:`FollowUp`, whose A, F and ρ are floats, NumPy arrays (one per
posterior draw or simulated trial) or PyTensor tensors (possibly random variables). Its methods
take ``xp`` (``numpy`` or ``pytensor.tensor``) so that the same formula serves model graphs and
simulation. Reference: resurv statistical design, section 3; Lakatos E. Biometrics 1988;44:229.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FollowUp"]


@dataclass(frozen=True, eq=False)
class FollowUp:
    """Follow-up design: accrual A, minimum follow-up F (months) and dropout rate ρ (per month).

    Each value is a float, a NumPy array (e.g. one per posterior draw) or a PyTensor tensor.
    """

    accrual_months: Any
    followup_months: Any
    dropout_rate: Any = 0.0

    @property
    def max_followup_months(self):
        """Largest possible follow-up, A + F (the end of all follow-up)."""
        return self.accrual_months + self.followup_months

    def as_tensors(self) -> FollowUp:
        """The same design with A, F and ρ as float64 PyTensor tensors."""
        import pytensor.tensor as pt

        return FollowUp(
            *(
                pt.as_tensor_variable(v, dtype="float64")
                for v in (self.accrual_months, self.followup_months, self.dropout_rate)
            )
        )

    def _admin_fraction(self, t, xp):
        """min(1, max(0, (A + F − t)/A)): the share still under administrative follow-up."""
        frac = (self.accrual_months + self.followup_months - t) / self.accrual_months
        return xp.minimum(1.0, xp.maximum(0.0, frac))

    def censoring_survival(self, t, xp=np):
        """G(t) = P(C > t), the probability of still being under follow-up at time t.

        G(t) = min(1, max(0, (A + F − t)/A)) · exp(−ρ t).
        """
        return self._admin_fraction(t, xp) * xp.exp(-self.dropout_rate * t)

    def log_censoring_survival(self, t, xp=np):
        """Log G(t) = log min(1, max(0, (A + F − t)/A)) − ρ t; −inf beyond A + F."""
        return xp.log(self._admin_fraction(t, xp)) - self.dropout_rate * t

    def censoring_density(self, t, xp=np):
        """g(t) = −dG/dt: the density of the censoring time C (uniform part plus dropout part).

        g(t) = [1{F ≤ t ≤ A+F} / A + ρ · min(1, max(0, (A+F−t)/A))] · exp(−ρ t).
        """
        accrual, follow = self.accrual_months, self.followup_months
        inside = (t >= follow) & (t <= accrual + follow)
        uniform_part = xp.where(inside, 1.0 / accrual, 0.0)
        dropout_part = self.dropout_rate * self._admin_fraction(t, xp)
        return (uniform_part + dropout_part) * xp.exp(-self.dropout_rate * t)

    def sample_censoring_times(self, rng, size=None):
        """Draw censoring times C = min(A + F − entry, dropout), entry ~ U(0, A), dropout ~ Exp(ρ).

        A, F and ρ broadcast against ``size`` (e.g. per-draw A and F of shape (R, 1) with
        ``size=(R, n)``).
        """
        accrual = np.asarray(self.accrual_months, dtype=float)
        follow = np.asarray(self.followup_months, dtype=float)
        entry = rng.uniform(size=size) * accrual
        admin = accrual + follow - entry
        rho = np.asarray(self.dropout_rate, dtype=float)
        if np.all(rho == 0):
            return admin
        with np.errstate(divide="ignore"):
            dropout = rng.exponential(size=size) / rho
        return np.minimum(admin, dropout)
