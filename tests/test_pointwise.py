"""Pointwise log-likelihood and log-prior compiled once per model structure (Fitter.sample)."""

import numpy as np
import pymc as pm
import pytest
from pymc.stats.log_density import compute_log_likelihood, compute_log_prior
from scipy import stats

from resurv.inference.fit import Fitter, SamplerSettings, exact_arithmetic
from resurv.inference.pointwise import PointwiseLogDensity
from resurv.models.built import BuiltModel


def _built(y, prior_sd) -> BuiltModel:
    with pm.Model(coords={"obs": np.arange(len(y))}) as model:
        y_data = pm.Data("y_data", np.asarray(y, dtype=float), dims="obs")
        sd = pm.Data("prior_sd", float(prior_sd))
        x = pm.Normal("x", 1.0, sd)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", x, sigma, observed=y_data, dims="obs")
    return BuiltModel(model=model, key="pointwise-test", likelihood_terms=["y"])


SETTINGS = [([0.3, 1.1, 2.0, -0.4], 0.5), ([2.5, 0.1, 1.7, 0.9], 3.0)]


@pytest.fixture(scope="module")
def fits():
    fitter = Fitter(SamplerSettings(draws=40, tune=40, chains=2, cores=1))
    out = []
    for seed, (y, sd) in enumerate(SETTINGS):
        built = _built(y, sd)
        out.append((built, fitter.sample(built, seed=seed)))
    return fitter, out


def test_compiled_once_for_all_settings(fits):
    fitter, out = fits
    assert len(fitter._pointwise) == 1
    # the compiled copies of the data hold the last setting; the first model's own are untouched
    first = out[0][0].model
    np.testing.assert_array_equal(first["y_data"].get_value(), SETTINGS[0][0])
    assert float(first["prior_sd"].get_value()) == SETTINGS[0][1]


@pytest.mark.parametrize("which", range(len(SETTINGS)))
def test_same_values_as_pymc_compiled_afresh(fits, which):
    _, out = fits
    built, tree = out[which]
    reference = tree.copy()
    for group in ("log_likelihood", "log_prior"):
        del reference[group]
    with built.model, exact_arithmetic():  # as Fitter.sample computed them before
        compute_log_likelihood(reference, var_names=["y"], progressbar=False)
        compute_log_prior(reference, progressbar=False)
    for group, names in (("log_likelihood", ["y"]), ("log_prior", ["x", "sigma"])):
        ours, theirs = tree[group].to_dataset(), reference[group].to_dataset()
        assert sorted(ours.data_vars) == sorted(names)
        for name in names:
            assert ours[name].dims == theirs[name].dims
            np.testing.assert_array_equal(ours[name].values, theirs[name].values)


@pytest.mark.parametrize("which", range(len(SETTINGS)))
def test_values_match_scipy(fits, which):
    _, out = fits
    y, sd = SETTINGS[which]
    _, tree = out[which]
    post = tree.posterior
    x = post["x"].values[..., None]
    sigma = post["sigma"].values[..., None]
    np.testing.assert_allclose(
        tree.log_likelihood["y"].values, stats.norm.logpdf(y, x, sigma), rtol=1e-12
    )
    np.testing.assert_allclose(
        tree.log_prior["x"].values, stats.norm.logpdf(post["x"].values, 1.0, sd), rtol=1e-12
    )
    np.testing.assert_allclose(
        tree.log_prior["sigma"].values, stats.halfnorm.logpdf(post["sigma"].values), rtol=1e-12
    )


def test_without_log_likelihood_only_the_prior(fits):
    fitter, _ = fits
    built = _built(*SETTINGS[0])
    tree = fitter.sample(built, seed=0, log_likelihood=False)
    assert "log_likelihood" not in tree.children
    assert sorted(tree.log_prior.data_vars) == ["sigma", "x"]


def test_a_model_of_another_structure_is_refused(fits):
    fitter, _ = fits
    pointwise = next(iter(fitter._pointwise.values()))
    with pm.Model() as other:
        pm.Data("z", np.zeros(3))
        pm.Normal("x", 0.0, 1.0)
        pm.HalfNormal("sigma", 1.0)
    post = fits[1][0][1].posterior.to_dataset()
    with pytest.raises(ValueError, match="data containers"):
        pointwise.evaluate(other, post)
    assert isinstance(pointwise, PointwiseLogDensity)


def _potential_model(centre: float) -> BuiltModel:
    """x ~ N(0, 2²), a summary-data style likelihood N(centre; x, 0.5²) as a potential."""
    with pm.Model() as model:
        centre_data = pm.Data("centre", centre)
        # the prior SD as data: a Python float constant 2.0 is typed float32 by PyTensor and its
        # log rounded to float32 (1.9e-9 off log 2), in PyMC's functions as in these
        x = pm.Normal("x", 0.0, pm.Data("prior_sd", 2.0))
        term = pm.Potential("summary", pm.logp(pm.Normal.dist(x, 0.5), centre_data))
        pm.Deterministic("loglik__summary", term)
    return BuiltModel(model=model, key="pointwise-potential", potential_terms=["summary"])


def test_potential_models_keep_their_log_prior_and_potential_terms():
    fitter = Fitter(SamplerSettings(draws=40, tune=40, chains=2, cores=1), mode_search=False)
    for seed, centre in enumerate((0.5, -1.5)):
        built = _potential_model(centre)
        tree = fitter.sample(built, seed=seed)
        x = tree.posterior["x"].values
        assert "loglik__summary" not in tree.posterior
        assert tree.log_likelihood["summary"].shape == x.shape
        reference = tree.copy()
        del reference["log_prior"]
        with built.model, exact_arithmetic():
            compute_log_prior(reference, progressbar=False)
        np.testing.assert_array_equal(tree.log_prior["x"].values, reference.log_prior["x"].values)
        np.testing.assert_allclose(
            tree.log_prior["x"].values, stats.norm.logpdf(x, 0.0, 2.0), rtol=1e-12
        )
    assert len(fitter._pointwise) == 1
