"""How models are compiled: without PyTensor's in-place rewrites, and with a chosen set of draws."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile import mode as pytensor_mode

from resurv.inference.fit import Fitter, SamplerSettings, without_inplace_rewrites
from resurv.models.built import BuiltModel


def _destroying_ops(fn) -> list:
    return [n for n in fn.maker.fgraph.apply_nodes if getattr(n.op, "destroy_map", None)]


def _compile_in_numba_mode():
    x = pt.dvector("x")
    # the elementwise step may overwrite the buffer of the cumulative sum (an intermediate)
    return pytensor.function([x], pt.exp(pt.cumsum(x)) * 2.0, mode="NUMBA")


def test_without_inplace_rewrites_compiles_no_op_that_overwrites_an_input():
    assert _destroying_ops(_compile_in_numba_mode())  # the default mode does overwrite
    with without_inplace_rewrites():
        fn = _compile_in_numba_mode()
    assert not _destroying_ops(fn)
    np.testing.assert_allclose(fn([0.5, 2.0]), np.exp(np.cumsum([0.5, 2.0])) * 2.0)
    assert _destroying_ops(_compile_in_numba_mode())  # restored


def test_without_inplace_rewrites_restores_the_mode_after_an_error():
    original = pytensor_mode.predefined_modes["NUMBA"]
    with pytest.raises(RuntimeError), without_inplace_rewrites():
        raise RuntimeError("compile failed")
    assert pytensor_mode.predefined_modes["NUMBA"] is original


def _model() -> BuiltModel:
    with pm.Model() as model:
        x = pm.Normal("x", 1.0, 0.5)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Deterministic("twice", 2.0 * x)
        pm.Deterministic("squared", x**2)
        pm.Normal("y", x, sigma, observed=[0.3, 1.1, 2.0])
    return BuiltModel(model=model, key="tiny")


def test_var_names_keeps_only_the_named_variables_and_the_same_draws():
    fitter = Fitter(SamplerSettings(draws=50, tune=50, chains=2, cores=1))
    built = _model()
    everything = fitter.sample(built, seed=4, posterior_only=True)
    named = fitter.sample(built, seed=4, posterior_only=True, var_names=["twice"])
    assert set(everything.posterior.data_vars) == {"x", "sigma", "twice", "squared"}
    # a parameter with a transform (sigma, sampled as log sigma) is drawn only when named
    assert set(named.posterior.data_vars) == {"x", "twice"}
    np.testing.assert_array_equal(named.posterior["x"], everything.posterior["x"])
    with_sigma = fitter.sample(built, seed=4, posterior_only=True, var_names=["sigma"])
    assert set(with_sigma.posterior.data_vars) == {"x", "sigma"}
    np.testing.assert_array_equal(with_sigma.posterior["sigma"], everything.posterior["sigma"])
    np.testing.assert_array_equal(named.posterior["twice"], 2.0 * named.posterior["x"])
    with pytest.raises(ValueError, match="posterior_only"):
        fitter.sample(built, seed=4, var_names=["twice"])
