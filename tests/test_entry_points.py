"""nutpie's callbacks compiled lean and linked by symbol compute what nutpie's own compute."""

import ctypes

import numba.core.codegen as numba_codegen
import numpy as np
import nutpie
import pymc as pm
import pytensor.tensor as pt
import pytest
from nutpie import compile_pymc as nutpie_compile

from resurv.inference._entry_points import GRAPH_FUNCTION_NAME, separately_linked_entry_points


def _model():
    """Shared arrays of 0, 1 and 2 dimensions; logp −inf (finite gradient) where mu > 4."""
    with pm.Model() as model:
        scale = pm.Data("scale", 1.5)
        observed = pm.Data("observed", np.array([0.3, 1.1, 2.0]))
        weights = pm.Data("weights", np.array([[1.0, 0.5], [0.25, 2.0]]))
        mu = pm.Normal("mu", 0.0, scale)
        sigma = pm.HalfNormal("sigma", 1.0)
        beta = pm.Normal("beta", 0.0, 1.0, shape=2)
        pm.Potential("quadratic", -pt.sum(pt.dot(weights, beta) ** 2))
        pm.Potential("wall", pt.switch(mu > 4.0, -np.inf, 0.0))
        pm.Normal("y", mu + beta[0], sigma, observed=observed)
        pm.Deterministic("twice", 2.0 * mu)
    return model


def _call_logp(compiled, x):
    """(return code, log density, gradient) of the compiled log-density callback at ``x``."""
    function = compiled.compiled_logp_func.ctypes
    gradient = np.zeros_like(x)
    logp = np.zeros(1)
    pointer = ctypes.POINTER(ctypes.c_double)
    code = function(
        x.size,
        x.ctypes.data_as(pointer),
        gradient.ctypes.data_as(pointer),
        logp.ctypes.data_as(pointer),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    return code, logp[0], gradient


def _call_expand(compiled, x):
    function = compiled.compiled_expand_func.ctypes
    out = np.zeros(compiled.n_expanded)
    pointer = ctypes.POINTER(ctypes.c_double)
    code = function(
        x.size,
        out.size,
        x.ctypes.data_as(pointer),
        out.ctypes.data_as(pointer),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    return code, out


@pytest.fixture(scope="module")
def both():
    model = _model()
    reference = nutpie.compile_pymc_model(model)
    with separately_linked_entry_points():
        lean = nutpie.compile_pymc_model(model)
    return reference, lean


def test_lean_callbacks_equal_nutpies_with_every_data_shape(both):
    reference, lean = both
    points = np.random.default_rng(3).normal(size=(6, reference.n_dim))
    new_data = {"scale": np.array(0.7), "observed": np.array([1.0, -0.2, 0.4, 2.5, 0.1])}
    for data in ({}, new_data):  # new values and a new length of the observed vector
        ref, mine = reference.with_data(**data), lean.with_data(**data)
        for x in points:
            code, logp, gradient = _call_logp(mine, x)
            ref_code, ref_logp, ref_gradient = _call_logp(ref, x)
            assert code == ref_code == 0
            assert logp == ref_logp
            np.testing.assert_array_equal(gradient, ref_gradient)
            expand_code, values = _call_expand(mine, x)
            assert expand_code == 0
            np.testing.assert_array_equal(values, _call_expand(ref, x)[1])
    # the data reached the log density: it changed with them
    assert _call_logp(lean.with_data(**new_data), points[0])[1] != _call_logp(lean, points[0])[1]


def test_lean_callbacks_report_a_non_finite_log_density_as_nutpie_does(both):
    reference, lean = both
    x = np.full(reference.n_dim, 5.0)  # mu = 5, beyond the wall: log density −inf
    code, logp, _ = _call_logp(lean, x)
    assert code == _call_logp(reference, x)[0] == 4
    assert logp == -np.inf
    assert _call_logp(lean, np.zeros(reference.n_dim + 1))[0] == -1  # a wrong dimension


def test_the_same_seed_gives_the_same_draws(both):
    reference, lean = both
    kwargs = {"draws": 100, "tune": 100, "chains": 2, "cores": 1, "seed": 5, "progress_bar": False}
    a = nutpie.sample(reference, **kwargs)
    b = nutpie.sample(lean, **kwargs)
    for name in ("mu", "sigma", "beta", "twice"):
        np.testing.assert_array_equal(a.posterior[name].values, b.posterior[name].values)


def test_the_callbacks_do_not_copy_the_graph_function_in():
    """nutpie's callback links PyTensor's graph function in; the lean one calls it by symbol."""
    linked = []
    original = numba_codegen.CPUCodeLibrary.add_linking_library

    def record(self, library):
        linked.append((self.name, library.name))
        return original(self, library)

    def graph_functions_linked_into(prefix):
        return [
            callee
            for caller, callee in linked
            if caller.startswith(prefix) and callee.startswith(GRAPH_FUNCTION_NAME)
        ]

    numba_codegen.CPUCodeLibrary.add_linking_library = record
    try:
        nutpie.compile_pymc_model(_model())
        assert len(graph_functions_linked_into("_make_c_")) == 2  # logp and expansion
        linked.clear()
        with separately_linked_entry_points():
            nutpie.compile_pymc_model(_model())
        assert any(caller.startswith("resurv_logp_entry") for caller, _ in linked)
        assert graph_functions_linked_into("resurv_") == []
    finally:
        numba_codegen.CPUCodeLibrary.add_linking_library = original


def test_patches_are_undone_on_exit_even_after_an_error():
    originals = (
        nutpie_compile._make_c_logp_func,
        nutpie_compile._make_c_expand_func,
        numba_codegen.CPUCodeLibrary.add_linking_library,
    )
    with pytest.raises(RuntimeError), separately_linked_entry_points():
        assert nutpie_compile._make_c_logp_func is not originals[0]
        raise RuntimeError("compile failed")
    assert (
        nutpie_compile._make_c_logp_func,
        nutpie_compile._make_c_expand_func,
        numba_codegen.CPUCodeLibrary.add_linking_library,
    ) == originals


def _one_parameter_model(likelihood):
    with pm.Model() as model:
        scale = pm.Data("scale", 1.0)
        mu = pm.Normal("mu", 0.0, scale)
        likelihood("y", mu, 1.0, observed=[0.1, 0.5])
    return model


def test_models_of_the_same_signature_each_call_their_own_graph_function():
    """Callbacks resolve the graph function by symbol: two graphs with the same argument types
    compiled in one process must not resolve to the same function."""
    x = np.array([0.3])
    for likelihood in (pm.Normal, pm.Cauchy, pm.Logistic):
        model = _one_parameter_model(likelihood)
        with separately_linked_entry_points():
            compiled = nutpie.compile_pymc_model(model)
        code, logp, _ = _call_logp(compiled, x)
        assert code == 0
        assert logp == pytest.approx(float(model.compile_logp()({"mu": 0.3})), rel=1e-12)


def test_patches_apply_under_the_versions_they_were_written_for(caplog):
    from resurv.inference import _entry_points

    assert _entry_points.unsupported_versions() == {}
    original = nutpie_compile._make_c_logp_func
    with caplog.at_level("WARNING"), separately_linked_entry_points():
        assert nutpie_compile._make_c_logp_func is _entry_points.make_logp_entry
    assert nutpie_compile._make_c_logp_func is original
    assert not caplog.records


def test_other_versions_fall_back_to_nutpies_compile_with_one_warning(monkeypatch, caplog):
    from helpers import MODELS, PRIORS, STUDY
    from resurv.api import build, load_data
    from resurv.inference import _entry_points
    from resurv.inference.fit import Fitter, SamplerSettings, compile_settings
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors

    installed = {"nutpie": "0.17.2", "numba": _entry_points._installed_version("numba")}
    monkeypatch.setattr(_entry_points, "_installed_version", installed.__getitem__)
    monkeypatch.setattr(_entry_points, "_warned", False)
    assert _entry_points.unsupported_versions() == {"nutpie": "0.17.2"}
    originals = [getattr(o, a) for o, a in _entry_points._PATCHED]
    seen_inside = []
    compile_model = nutpie.compile_pymc_model

    def spy(*args, **kwargs):
        seen_inside.append([getattr(o, a) for o, a in _entry_points._PATCHED])
        return compile_model(*args, **kwargs)

    monkeypatch.setattr(nutpie, "compile_pymc_model", spy)
    built = build(
        load_model_spec(MODELS / "response.toml"),
        load_priors(PRIORS / "vague.toml"),
        load_data(STUDY),
    )
    with caplog.at_level("WARNING", logger="resurv.inference._entry_points"):
        tree = Fitter(SamplerSettings(draws=400, tune=300, chains=2)).sample(built, seed=2)
        with compile_settings():  # a second compile context in the process: no second warning
            pass
    assert seen_inside == [originals]  # nutpie compiled with its own callbacks
    warnings = [r for r in caplog.records if r.name == "resurv.inference._entry_points"]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "nutpie 0.17.2" in warnings[0].getMessage()
    # the fit works: 13/15 disease control under Beta(1, 1) gives Beta(14, 3), mean 14/17
    p_reference = tree.posterior["p"].isel(arm=0)
    assert abs(float(p_reference.mean()) - 14 / 17) < 0.03
    assert int(tree.sample_stats["diverging"].sum()) == 0
