"""Chains of summary-data fits start near the dominant mode when others would strand them."""

import json

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from resurv.inference.fit import Fitter, SamplerSettings, find_modes
from resurv.models.built import BuiltModel

SD = 0.5
PRIOR_SD = 10.0


def _mixture_model(weight_left: float) -> BuiltModel:
    """x ~ N(0, 10²) times a two-component mixture at ±3 (SD 0.5), weight on −3 as data."""
    with pm.Model() as model:
        weight = pm.Data("weight_left", weight_left)
        x = pm.Normal("x", 0.0, PRIOR_SD)
        left = pt.log(weight) + pm.logp(pm.Normal.dist(-3.0, SD), x)
        right = pt.log1p(-weight) + pm.logp(pm.Normal.dist(3.0, SD), x)
        mixture = pm.Potential("mixture", pt.logaddexp(left, right))
        pm.Deterministic("loglik__mixture", mixture)
    return BuiltModel(model=model, key="mixture", potential_terms=["mixture"])


@pytest.fixture(scope="module")
def fitter():
    return Fitter(SamplerSettings(draws=300, tune=300, chains=4, cores=1))


def _expected_mode(centre: float) -> float:
    """Mode of N(x; 0, 10²) N(x; centre, 0.5²): the precision-weighted mean."""
    return centre / SD**2 / (1 / SD**2 + 1 / PRIOR_SD**2)


def test_the_search_finds_both_modes_and_their_laplace_masses(fitter):
    built = _mixture_model(0.9999)
    search = find_modes(fitter.compiled(built), n_starts=8, seed=1)
    assert search.modes.shape == (2, 1)
    order = np.argsort(search.modes[:, 0])
    np.testing.assert_allclose(
        search.modes[order, 0], [_expected_mode(-3.0), _expected_mode(3.0)], atol=1e-4
    )
    # two well-separated normal components: Laplace is exact up to the far tails; with a prior
    # symmetric about 0 the masses are in the ratio of the weights
    ratio = search.log_mass[order[0]] - search.log_mass[order[1]]
    assert ratio == pytest.approx(np.log(0.9999 / 0.0001), abs=1e-3)
    assert search.stranding and search.best == order[0]


def test_modes_of_comparable_mass_are_not_a_stranding_point(fitter):
    search = find_modes(fitter.compiled(_mixture_model(0.5)), n_starts=8, seed=1)
    assert search.multimodal and not search.stranding


def test_stranded_chains_start_at_the_dominant_mode(fitter):
    """Default starts put chains in both modes; after the search every chain is at −3."""
    built = _mixture_model(0.9999)
    plain = Fitter(fitter.settings, mode_search=False)
    plain._compiled = fitter._compiled
    before = plain.sample(built, seed=2, log_likelihood=False).posterior["x"].values
    after_tree = fitter.sample(built, seed=2, log_likelihood=False)
    after = after_tree.posterior["x"].values
    assert (before.mean(axis=1) > 0).any(), "a default start should strand a chain at +3"
    np.testing.assert_allclose(after.mean(axis=1), _expected_mode(-3.0), atol=0.15)
    assert json.loads(after_tree.attrs["mode_search"])["stranding"] is True


def test_draws_are_unchanged_when_nothing_strands(fitter):
    """Comparable modes: the search changes nothing, the draws are those of a plain fit."""
    built = _mixture_model(0.5)
    plain = Fitter(fitter.settings, mode_search=False)
    plain._compiled = fitter._compiled
    before = plain.sample(built, seed=3, log_likelihood=False).posterior["x"].values
    after = fitter.sample(built, seed=3, log_likelihood=False).posterior["x"].values
    np.testing.assert_array_equal(before, after)


def test_without_nutpie_callback_the_search_is_skipped(fitter, caplog, monkeypatch):
    """A nutpie whose compiled model lacks the C callback: chains start where nutpie starts them."""
    from resurv.inference import fit as fit_module

    built = _mixture_model(0.9999)
    assert fit_module._has_log_density_callback(fitter.compiled(built))
    assert not fit_module._has_log_density_callback(object())
    plain = Fitter(fitter.settings, mode_search=False)
    plain._compiled = fitter._compiled
    reference = plain.sample(built, seed=2, log_likelihood=False).posterior["x"].values
    monkeypatch.setattr(fit_module, "_has_log_density_callback", lambda compiled: False)
    with caplog.at_level("WARNING"):
        skipped = fitter.sample(built, seed=2, log_likelihood=False)
    assert "mode search is skipped" in caplog.text
    assert "mode_search" not in skipped.attrs
    np.testing.assert_array_equal(skipped.posterior["x"].values, reference)
