"""Per-arm proportions (response, toxicity): exact intervals, Fisher's exact test, simulation.

Papers report r_j responders out of n_j per arm, often with a Clopper–Pearson interval and
Fisher's exact test between arms.

References: Clopper CJ, Pearson ES. Biometrika 1934;26:404. Fisher RA. JRSS 1922;85:87.
Agresti A. Categorical Data Analysis, 2013, section 3.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "ProportionEstimate",
    "clopper_pearson",
    "fisher_exact_two_sided",
    "simulate_counts",
]


# --- estimator (NumPy) ---

#: Relative tolerance for "as or less probable than the observed table" in Fisher's test (R's
#: ``fisher.test`` uses the same 1 + 1e-7), so that tables whose probabilities are equal in exact
#: arithmetic count as such.
FISHER_RELATIVE_TOLERANCE = 1e-7


@dataclass(frozen=True)
class ProportionEstimate:
    """Proportions r/n with exact (Clopper–Pearson) limits; arrays of the broadcast shape."""

    proportion: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def clopper_pearson(successes, n, alpha=0.05) -> ProportionEstimate:
    """Proportion r/n with the Clopper–Pearson exact (1 − α) confidence interval.

    low = B⁻¹(α/2; r, n − r + 1) (0 when r = 0), high = B⁻¹(1 − α/2; r + 1, n − r) (1 when r = n),
    B⁻¹ the beta quantile function; equivalently P(X ≥ r | low) = α/2 = P(X ≤ r | high) for
    X ~ Binomial(n, p).

    Parameters
    ----------
    successes, n : array_like of int
        Broadcastable counts, 0 ≤ successes ≤ n, n ≥ 1.
    alpha : float
        1 − confidence level.

    Returns
    -------
    ProportionEstimate
    """
    r, n = np.broadcast_arrays(np.asarray(successes), np.asarray(n))
    if np.any(n < 1) or np.any(r < 0) or np.any(r > n):
        raise ValueError("need 0 <= successes <= n and n >= 1")
    r = r.astype(float)
    n = n.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(r > 0, stats.beta.ppf(alpha / 2.0, r, n - r + 1.0), 0.0)
        high = np.where(r < n, stats.beta.ppf(1.0 - alpha / 2.0, r + 1.0, n - r), 1.0)
    return ProportionEstimate(proportion=r / n, ci_low=low, ci_high=high)


def fisher_exact_two_sided(successes_0, n_0, successes_1, n_1):
    """Two-sided Fisher exact test of equal proportions, vectorized over tables.

    Conditioning on the margins, X = successes in arm 0 is hypergeometric (N = n₀ + n₁ patients,
    n₀ in arm 0, K = r₀ + r₁ successes). The p-value sums P(X = x) over all x with
    P(X = x) ≤ P(X = r₀)(1 + 1e-7), as ``scipy.stats.fisher_exact`` and R's ``fisher.test`` do;
    it is 1 when a margin is 0.

    Parameters
    ----------
    successes_0, n_0, successes_1, n_1 : array_like of int
        Broadcastable counts.

    Returns
    -------
    ndarray
        Two-sided p-values, the broadcast shape.
    """
    r0, n0, r1, n1 = (np.asarray(a, dtype=np.int64) for a in (successes_0, n_0, successes_1, n_1))
    r0, n0, r1, n1 = np.broadcast_arrays(r0, n0, r1, n1)
    if np.any((r0 < 0) | (r1 < 0) | (r0 > n0) | (r1 > n1)):
        raise ValueError("need 0 <= successes <= n in each arm")
    total = n0 + n1
    successes = r0 + r1
    support = np.arange(int(n0.max(initial=0)) + 1)
    shape = r0.shape + (1,)
    pmf_all = stats.hypergeom.pmf(
        support, total.reshape(shape), n0.reshape(shape), successes.reshape(shape)
    )
    pmf_observed = stats.hypergeom.pmf(r0, total, n0, successes)[..., None]
    as_extreme = pmf_all <= pmf_observed * (1.0 + FISHER_RELATIVE_TOLERANCE)
    p_value = np.minimum(np.where(as_extreme, pmf_all, 0.0).sum(axis=-1), 1.0)
    degenerate = (total == 0) | (successes == 0) | (successes == total) | (n0 == 0) | (n1 == 0)
    return np.where(degenerate, 1.0, p_value)


def simulate_counts(rng, probability, n_per_arm, n_trials=None):
    """Simulate per-arm success counts r_j ~ Binomial(n_j, p_j) for many trials.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    probability : array_like, shape (2,) or (R, 2)
        Success probability per arm (one row per posterior draw).
    n_per_arm : array_like of int, shape (2,)
        n₀, n₁.
    n_trials : int, optional
        R when ``probability`` has shape (2,).

    Returns
    -------
    ndarray of int, shape (R, 2)
    """
    probability = np.asarray(probability, dtype=float)
    if probability.ndim == 1:
        probability = np.broadcast_to(probability, (1 if n_trials is None else n_trials, 2))
    elif n_trials is not None and probability.shape[0] != n_trials:
        raise ValueError("n_trials disagrees with the number of rows of probability")
    return rng.binomial(np.asarray(n_per_arm, dtype=np.int64), probability)
