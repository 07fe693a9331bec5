"""General-population (background) hazard for the relative-survival form of a survival model.

A model file may give a general-population hazard as a step function of time since entry
(``background_times``: the start of each interval in months, the first 0; ``background_rates``:
the hazard per month in each interval, the last interval open-ended). The all-cause hazard of a
patient is then

    h(t) = h_pop(t) + h_excess(t),   H(t) = H_pop(t) + H_excess(t),
    log h(t) = logaddexp(log h_pop(t), log h_excess(t)),   S(t) = S_pop(t) · S_excess(t),

with the model's family describing the excess hazard (net survival). H_pop is the piecewise-
exponential cumulative hazard (``resurv.families.pwexp``): H_pop(t) = Σⱼ rⱼ · (time spent in
interval j by t). Since the background hazard never falls to 0, it anchors an extrapolation: the
all-cause hazard stays at least the general population's, however the excess hazard decays.

Reference: Dickman PW, Sloggett A, Hills M, Hakulinen T. Regression models for relative survival.
Stat Med 2004;23:51–64; NICE DSU TSD 21 (Rutherford MJ et al., 2020), section 3.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from resurv.families import pwexp
from resurv.families._math import backend

__all__ = ["BackgroundHazard"]


@dataclass(frozen=True)
class BackgroundHazard:
    """A step-function general-population hazard: interval starts (months) and rates per month."""

    times: tuple[float, ...]
    rates: tuple[float, ...]

    def __post_init__(self):
        times, rates = np.asarray(self.times, float), np.asarray(self.rates, float)
        if times.ndim != 1 or times.size < 1 or times.size != rates.size:
            raise ValueError("background_times and background_rates must be lists of one length")
        if times[0] != 0.0:
            raise ValueError(f"background_times must start at 0; got {times[0]}")
        if np.any(np.diff(times) <= 0) or not np.all(np.isfinite(times)):
            raise ValueError("background_times must be finite and strictly increasing")
        if np.any(rates <= 0) or not np.all(np.isfinite(rates)):
            raise ValueError("background_rates must be finite and positive")

    @property
    def _cuts(self) -> list[float]:
        return list(self.times[1:])

    @property
    def _log_rates(self) -> np.ndarray:
        return np.log(np.asarray(self.rates, dtype=float))

    def cum_hazard(self, t, xp=np):
        """H_pop(t)."""
        if not self._cuts:
            return backend(xp).asarray(t) * self.rates[0]
        return pwexp.cum_hazard(t, self._log_rates, cuts=self._cuts, xp=xp)

    def log_hazard(self, t, xp=np):
        """Log h_pop(t)."""
        m = backend(xp)
        if not self._cuts:
            return 0.0 * m.asarray(t) + math.log(self.rates[0])
        return pwexp.log_hazard(t, self._log_rates, cuts=self._cuts, xp=xp)

    def add_to(self, log_h, cum_h, t, xp=np):
        """(log h, H) of the all-cause hazard from the excess hazard's (log h, H) at times t."""
        m = backend(xp)
        log_pop = self.log_hazard(t, xp=xp)
        top = m.maximum(log_h, log_pop)
        log_total = top + m.log1p(m.exp(-m.abs(log_h - log_pop)))
        return log_total, cum_h + self.cum_hazard(t, xp=xp)
