"""LOO model comparison: the right family wins, and the table's numbers hold together."""

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import special, stats

from resurv.api import build, load_data
from resurv.checks.compare import compare_fits, loo_by_model
from resurv.inference.fit import SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.simulation.simulate import simulate_trials, write_ipd_csv
from resurv.statistics.followup import FollowUp

ROOT = Path(__file__).resolve().parents[1]
LN2 = math.log(2.0)


def _weibull_inverse(median, shape, hr):
    """T = H⁻¹(h) for H(t) = HR (t/σ)^k, σ = m/(ln 2)^{1/k} (scipy ``weibull_min`` isf)."""
    scale = median / LN2 ** (1 / shape) * hr ** (-1 / shape)
    dist = stats.weibull_min(c=shape, scale=scale)
    return lambda h: dist.isf(np.exp(-h))


@pytest.fixture(scope="module")
def weibull_fits(fitter, tmp_path_factory):
    """Weibull (shape 2) data, 150 patients per arm, fitted by the Weibull and the exponential."""
    rng = np.random.default_rng(7)
    trials = simulate_trials(
        rng,
        [_weibull_inverse(12.0, 2.0, 1.0), _weibull_inverse(12.0, 2.0, 0.7)],
        [150, 150],
        FollowUp(24.0, 24.0),
        n_trials=1,
    )
    path = write_ipd_csv(tmp_path_factory.mktemp("cmp") / "weibull2.csv", trials.row(0))
    study = load_data(path)
    priors = load_priors(ROOT / "priors" / "vague.toml")
    fast = dataclasses.replace(fitter, settings=SamplerSettings(draws=1000, tune=600, chains=2))
    fits = {}
    for name in ("os_weibull", "os_exponential"):
        built = build(load_model_spec(ROOT / "models" / f"{name}.toml"), priors, study)
        fits[name] = fast.sample(built, seed=3)
    return fits


def test_weibull_beats_exponential_on_weibull_data(weibull_fits):
    table = compare_fits(weibull_fits)
    assert list(table["model"]) == ["os_weibull", "os_exponential"]
    best, worse = table.iloc[0], table.iloc[1]
    assert best["elpd_diff"] == 0.0
    # shape 2 against 1 on ~300 patients: a difference of many standard errors
    assert worse["elpd_diff"] < -4 * worse["dse"]
    assert best["weight"] > 0.9
    np.testing.assert_allclose(table["weight"].sum(), 1.0, atol=1e-6)
    assert (table["n_observations"] == 300).all()
    assert (table["n_pareto_k_high"] == 0).all()


def test_elpd_and_p_loo_consistent_with_the_pointwise_log_likelihood(weibull_fits):
    """p_loo = lppd − elpd_loo, with lppd = Σᵢ log mean_s exp ℓᵢₛ computed here with scipy."""
    table = compare_fits(weibull_fits).set_index("model")
    for name, tree in weibull_fits.items():
        ll = tree.log_likelihood["survival_ipd"].values  # chain, draw, patient
        ll = ll.reshape(-1, ll.shape[-1])
        lppd = np.sum(special.logsumexp(ll, axis=0) - math.log(ll.shape[0]))
        row = table.loc[name]
        np.testing.assert_allclose(lppd - row["elpd_loo"], row["p_loo"], rtol=1e-6)
        assert row["elpd_loo"] < lppd
        # effective number of parameters: ≈ 3 for the well-specified Weibull; for the
        # misspecified exponential ≈ tr(J I⁻¹) < 2, since on shape-2 data the score
        # δ − λt varies less than under the exponential (J < I)
        low, high = {"os_weibull": (1.0, 6.0), "os_exponential": (0.0, 3.0)}[name]
        assert low < row["p_loo"] < high


def test_exponential_p_loo_matches_its_sandwich_value(weibull_fits):
    """For a misspecified model p_loo ≈ tr(J I⁻¹); for the exponential with one rate per arm
    (λ̂ⱼ = Dⱼ/Σt) that is Σⱼ Σ_{i∈j} (δᵢ − λ̂ⱼ tᵢ)² / Dⱼ, computed from the data alone."""
    tree = weibull_fits["os_exponential"]
    data = tree["constant_data"].to_dataset()
    t, e, arm = (np.asarray(data[k].values) for k in ("time", "event", "arm_index"))
    expected = 0.0
    for j in (0, 1):
        tj, ej = t[arm == j], e[arm == j]
        rate = ej.sum() / tj.sum()
        expected += np.sum((ej - rate * tj) ** 2) / ej.sum()
    p_loo = compare_fits({"exp": tree}).loc[0, "p_loo"]
    assert expected < 1.5  # well below the 2 parameters: the point of the check
    np.testing.assert_allclose(p_loo, expected, rtol=0.3)


def _tree(log_lik, rng):
    posterior = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=log_lik.shape[:2]))})
    ll = xr.Dataset({"survival_ipd": (("chain", "draw", "patient"), log_lik)})
    return xr.DataTree.from_dict({"posterior": posterior, "log_likelihood": ll})


def test_pareto_k_above_threshold_is_counted_and_logged(caplog, rng):
    well = rng.normal(-1.0, 0.05, size=(2, 500, 40))
    wild = well.copy()
    # three patients with importance ratios 1/p(yᵢ|θ) = e^{E/α}, E ~ Exp(1): Pareto(α)
    # tails with α = 2/3, i.e. k = 1/α = 1.5
    wild[..., :3] = -1.5 * rng.standard_exponential(size=(2, 500, 3))
    with caplog.at_level(logging.WARNING, logger="resurv.checks.compare"):
        table = compare_fits({"well": _tree(well, rng), "wild": _tree(wild, rng)}).set_index(
            "model"
        )
    k_wild = np.asarray(loo_by_model({"w": _tree(wild, rng)})["w"].pareto_k)
    assert table.loc["well", "n_pareto_k_high"] == 0
    assert table.loc["wild", "n_pareto_k_high"] == 3
    assert k_wild[3:].max() < 0.7
    assert table.loc["wild", "max_pareto_k"] > 0.7
    assert any("wild" in r.message and "Pareto k > 0.70" in r.message for r in caplog.records)


def test_fits_of_different_patients_are_refused(rng):
    a = _tree(rng.normal(-1, 0.1, size=(2, 100, 20)), rng)
    b = _tree(rng.normal(-1, 0.1, size=(2, 100, 25)), rng)
    with pytest.raises(ValueError, match="different numbers of observations"):
        compare_fits({"a": a, "b": b})
    with pytest.raises(ValueError, match="no fits"):
        compare_fits({})
