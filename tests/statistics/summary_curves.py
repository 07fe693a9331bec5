"""Small test-local survival curves (closed forms) with the interface the likelihood needs."""

import numpy as np


class Weibull:
    """Weibull curve by median and shape: H(t) = (t/σ)^k, σ = m / (ln 2)^{1/k}."""

    def __init__(self, median, shape, give_median=True):
        self.median = median
        self.shape = shape
        if give_median:
            self.median_months = median

    def log_hazard(self, t, xp):
        scale = self.median / np.log(2.0) ** (1.0 / self.shape)
        return xp.log(self.shape / scale) + (self.shape - 1.0) * (xp.log(t) - xp.log(scale))

    def cum_hazard(self, t, xp):
        scale = self.median / np.log(2.0) ** (1.0 / self.shape)
        return (t / scale) ** self.shape

    # NumPy helpers for references
    def hazard_np(self, t):
        return np.exp(self.log_hazard(np.asarray(t, dtype=float), np))

    def survival_np(self, t):
        return np.exp(-self.cum_hazard(np.asarray(t, dtype=float), np))

    def sample(self, rng, size):
        scale = self.median / np.log(2.0) ** (1.0 / self.shape)
        return scale * rng.weibull(self.shape, size=size)


class LogLogistic:
    """Log-logistic curve (no median attribute: exercises the generic median solver)."""

    def __init__(self, alpha, beta):
        self.alpha = alpha
        self.beta = beta

    def log_hazard(self, t, xp):
        z = (t / self.alpha) ** self.beta
        return (
            xp.log(self.beta / self.alpha) + (self.beta - 1) * xp.log(t / self.alpha) - xp.log1p(z)
        )

    def cum_hazard(self, t, xp):
        return xp.log1p((t / self.alpha) ** self.beta)


class Exponential:
    """Exponential curve by its median: h = ln 2 / m."""

    def __init__(self, median):
        self.median = median
        self.median_months = median

    def log_hazard(self, t, xp):
        return xp.log(np.log(2.0) / self.median) + 0.0 * t

    def cum_hazard(self, t, xp):
        return np.log(2.0) / self.median * t
