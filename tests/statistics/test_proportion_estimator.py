import numpy as np
import pytest
from scipy import stats

from resurv.statistics.proportion import clopper_pearson, fisher_exact_two_sided, simulate_counts


@pytest.mark.parametrize("n_pair", [(15, 12), (7, 9), (1, 20), (30, 30)])
def test_fisher_matches_scipy_on_every_table(n_pair):
    n0, n1 = n_pair
    r0, r1 = (a.ravel() for a in np.meshgrid(np.arange(n0 + 1), np.arange(n1 + 1), indexing="ij"))
    p_value = fisher_exact_two_sided(r0, n0, r1, n1)
    reference = [stats.fisher_exact([[a, n0 - a], [b, n1 - b]]).pvalue for a, b in zip(r0, r1)]
    np.testing.assert_allclose(p_value, reference, rtol=1e-10, atol=1e-15)


def test_clopper_pearson_matches_scipy_and_definition():
    n = 15
    r = np.arange(n + 1)
    result = clopper_pearson(r, n)
    for k in r:
        ci = stats.binomtest(int(k), n).proportion_ci(method="exact")
        np.testing.assert_allclose(
            [result.ci_low[k], result.ci_high[k]], [ci.low, ci.high], rtol=1e-10, atol=1e-14
        )
    inner = (r > 0) & (r < n)
    # P(X >= r | low) = alpha/2 and P(X <= r | high) = alpha/2
    np.testing.assert_allclose(
        stats.binom.sf(r[inner] - 1, n, result.ci_low[inner]), 0.025, rtol=1e-8
    )
    np.testing.assert_allclose(
        stats.binom.cdf(r[inner], n, result.ci_high[inner]), 0.025, rtol=1e-8
    )
    assert result.ci_low[0] == 0.0 and result.ci_high[n] == 1.0
    np.testing.assert_allclose(result.proportion, r / n)


def test_clopper_pearson_rejects_bad_counts():
    with pytest.raises(ValueError):
        clopper_pearson(5, 4)


def test_simulate_counts_shapes_and_means(rng):
    counts = simulate_counts(rng, [0.2, 0.6], [15, 12], n_trials=20000)
    assert counts.shape == (20000, 2)
    # mean n p, SE sqrt(n p (1 - p) / R)
    se = np.sqrt(np.array([15 * 0.2 * 0.8, 12 * 0.6 * 0.4]) / 20000)
    assert np.all(np.abs(counts.mean(axis=0) - [3.0, 7.2]) < 4 * se)
    per_draw = simulate_counts(rng, np.array([[0.0, 1.0], [1.0, 0.0]]), [15, 12])
    np.testing.assert_array_equal(per_draw, [[0, 12], [15, 0]])
