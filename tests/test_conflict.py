"""The joint predictive check behind the diagnosis of conflicting published statistics."""

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy import stats

from resurv.checks.conflict import conditional_ppp, diagnose, joint_ppp
from resurv.checks.ppc import two_sided_ppp


def _se(p, n):
    return np.sqrt(p * (1 - p) / n)


def test_joint_ppp_of_correlated_normals_is_the_chi2_tail_area():
    """Bivariate normal draws, correlation 0.9: the joint p-value of a point is its χ²₂ tail."""
    rng = np.random.default_rng(3)
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    draws = rng.multivariate_normal([0.0, 0.0], cov, size=40_000)
    for point in ([1.2, -1.2], [0.5, 0.7], [1.5, 1.4]):
        point = np.array(point)
        expected = stats.chi2.sf(point @ np.linalg.inv(cov) @ point, df=2)
        got = joint_ppp(draws, point)
        assert got == pytest.approx(expected, abs=4 * _se(expected, draws.shape[0]) + 2e-3)


def test_joint_ppp_of_one_statistic_is_the_two_sided_tail_area():
    """One statistic, any monotone scale: the joint p-value is the two-sided ppp."""
    rng = np.random.default_rng(4)
    draws = np.exp(rng.standard_normal(20_000))  # skewed: the scores undo the scale
    for observed in (0.2, 1.0, 4.0):
        expected = two_sided_ppp(draws, observed)
        assert joint_ppp(np.log(draws)[:, None], np.log([observed])) == pytest.approx(
            expected, abs=0.01
        )
        assert joint_ppp(draws[:, None], [observed]) == pytest.approx(expected, abs=0.01)


def _tree(draws: np.ndarray, observed: np.ndarray, names: list[str], posterior=None):
    """Saved predictive groups as a fit writes them: (chain, draw, statistic) and observed."""
    coords = {"statistic": names, "published": ("statistic", observed)}
    groups = {} if posterior is None else {"posterior": posterior}
    return xr.DataTree.from_dict(
        {
            **groups,
            "posterior_predictive": xr.Dataset(
                {"published_statistic": (("chain", "draw", "statistic"), draws)}, coords=coords
            ),
            "observed_data": xr.Dataset(
                {"published_statistic": (("statistic",), observed)}, coords=coords
            ),
        }
    )


def test_diagnosis_names_the_pair_that_cannot_both_hold():
    """Two strongly correlated statistics, each typical, jointly far out: named as a conflict."""
    rng = np.random.default_rng(5)
    cov = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
    draws = rng.multivariate_normal(np.zeros(3), cov, size=(4, 2000))
    observed = np.array([1.3, -1.3, 0.2])
    names = ["a (x)", "b (y)", "c (z)"]
    diagnosis = diagnose(_tree(draws, observed, names), family="weibull", effect="ph")
    assert [c.statistics for c in diagnosis.conflicts] == [("a (x)", "b (y)")]
    p = stats.chi2.sf(observed[:2] @ np.linalg.inv(cov[:2, :2]) @ observed[:2], df=2)
    assert diagnosis.conflicts[0].joint_ppp == pytest.approx(p, abs=2e-3)
    assert "a (x) = 1.3 and b (y) = -1.3 cannot all hold" in diagnosis.message
    assert "proportional hazards (weibull" in diagnosis.message
    assert 'effect = "separate"' in diagnosis.message


def test_no_diagnosis_when_the_published_values_are_typical():
    rng = np.random.default_rng(6)
    draws = rng.standard_normal((4, 2000, 3))
    diagnosis = diagnose(_tree(draws, np.array([0.3, -0.5, 0.1]), ["a", "b", "c"]))
    assert not diagnosis.found and diagnosis.message == ""


def test_chains_in_different_places_are_named():
    """Failed gates: a statistic in one chain's tail that another chain reproduces is named."""
    rng = np.random.default_rng(7)
    draws = rng.standard_normal((2, 3000, 2))
    draws[1, :, 0] += 4.0  # chain 1 sits elsewhere for statistic "a"
    diagnosis = diagnose(_tree(draws, np.array([0.0, 0.0]), ["a", "b"]), gates_passed=False)
    assert diagnosis.chains == ((1, ("a",)),)
    assert "chain 1 gives up a" in diagnosis.message


def test_chains_apart_with_every_statistic_reproduced_are_named_by_quantity():
    """Failed gates, no statistic lost by any chain: the split quantity and its chain means."""
    rng = np.random.default_rng(8)
    draws = rng.standard_normal((2, 3000, 2))
    theta = rng.normal(0.0, 0.05, size=(2, 3000)) + np.array([[-0.1], [0.1]])
    posterior = xr.Dataset(
        {
            "log_hr": (("chain", "draw"), theta),
            "shape": (("chain", "draw"), rng.normal(1.0, 0.1, size=(2, 3000))),
        }
    )
    tree = _tree(draws, np.array([0.0, 0.0]), ["a", "b"], posterior)
    diagnosis = diagnose(tree, gates_passed=False, family="weibull", effect="ph")
    assert not diagnosis.conflicts and not diagnosis.chains
    [(quantity, rhat, means)] = diagnosis.split
    assert quantity == "log_hr"
    assert rhat == pytest.approx(float(az.rhat(posterior)["log_hr"]))
    np.testing.assert_allclose(means, theta.mean(axis=1))
    assert "do not conflict under this model" in diagnosis.message
    assert 'effect = "separate"' in diagnosis.message
    assert f"log_hr (R-hat {rhat:.2f}; chain means {means[0]:.3g}, {means[1]:.3g})" in (
        diagnosis.message
    )


def test_independent_indicator_and_statistic_are_not_multiplied_into_a_conflict():
    """An indicator at its rare value (p 0.11) beside an independent statistic (p 0.10).

    The joint ppp of the pair is near the product of the single ones (the tied indicator draws
    share one normal score), but the statistics are independent: given either, the other's
    predictive p is its own, so the pair is no conflict.
    """
    rng = np.random.default_rng(11)
    n = 8000
    indicator = (rng.random(n) < 0.11).astype(float)
    statistic = rng.standard_normal(n)
    observed = np.array([1.0, 1.645])
    draws = np.c_[indicator, statistic]
    assert joint_ppp(draws, observed) < 0.02  # what used to be called a conflict
    given = conditional_ppp(draws, observed)
    # the larger of P(indicator = 1) ≈ 0.11 and P(|Z| ≥ 1.645) = 0.10, each from 800 draws
    assert given == pytest.approx(max(indicator.mean(), 0.10), abs=4 * _se(0.11, 800))
    diagnosis = diagnose(_tree(draws.reshape(4, n // 4, 2), observed, ["a", "b"]))
    assert not diagnosis.conflicts
    # two independent indicators, each at its rare value
    other = (rng.random(n) < 0.11).astype(float)
    pair = np.c_[indicator, other].reshape(4, n // 4, 2)
    assert not diagnose(_tree(pair, np.array([1.0, 1.0]), ["a", "b"])).conflicts


def test_conditional_ppp_of_correlated_normals_is_the_conditional_tail_area():
    """ρ = 0.6: statistic j given the other near its published value is N(ρ·y, 1 − ρ²)."""
    rng = np.random.default_rng(14)
    rho = 0.6
    draws = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=40_000)
    point = np.array([1.0, -0.5])
    # the nearest 10% of draws in the other statistic condition on a band, not a point: the
    # band's spread (its SD, about 0.08 in score units) is negligible beside 1 − ρ² = 0.64
    expected = max(
        2 * stats.norm.sf(abs(point[0] - rho * point[1]) / np.sqrt(1 - rho**2)),
        2 * stats.norm.sf(abs(point[1] - rho * point[0]) / np.sqrt(1 - rho**2)),
    )
    got = conditional_ppp(draws, point)
    assert got == pytest.approx(expected, abs=4 * _se(expected, 4000) + 0.01)


def test_an_indicator_tied_to_a_statistic_still_conflicts():
    """The indicator and the statistic it depends on: each plausible, together not."""
    rng = np.random.default_rng(12)
    n = 8000
    latent = rng.standard_normal(n)
    indicator = (latent > 1.2).astype(float)  # P ≈ 0.115
    statistic = latent + rng.normal(0.0, 0.3, n)
    observed = np.array([1.0, -1.0])  # the indicator says "high", the statistic says "low"
    draws = np.c_[indicator, statistic]
    assert joint_ppp(indicator[:, None], observed[:1]) > 0.05
    assert joint_ppp(statistic[:, None], observed[1:]) > 0.05
    assert joint_ppp(draws, observed) < 0.01
    assert conditional_ppp(draws, observed) < 0.01
    diagnosis = diagnose(_tree(draws.reshape(4, n // 4, 2), observed, ["nr", "mean"]))
    assert [c.statistics for c in diagnosis.conflicts] == [("nr", "mean")]
    assert "each given the others at most" in diagnosis.message
