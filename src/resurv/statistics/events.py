"""Reported event counts, model side (PyTensor).

Expected events in arm j (resurv statistical design, section 3):
d_j = n_j ∫₀^{A+F} f_j(t) G(t) dt, with f_j = h_j S_j; a reported count is modelled as
Poisson(d_j) (section 4, T5).
"""

from __future__ import annotations

import pytensor.tensor as pt

from resurv.statistics.base import TrialModel

__all__ = ["expected_events", "log_expected_events"]


def log_expected_events(trial: TrialModel, arm: int):
    """Log d_j = log ∫₀^{A+F} π_j(t) h_j(t) dt, in log space."""
    return trial.log_integral(
        lambda u: trial.log_at_risk(arm, u) + trial.log_hazard(arm, u), trial.max_followup
    )


def expected_events(trial: TrialModel, arm: int):
    """d_j = n_j ∫₀^{A+F} f_j G dt."""
    return pt.exp(log_expected_events(trial, arm))
