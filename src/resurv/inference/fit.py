"""Compile once, sample many: fitting built models with nutpie, with seeds and provenance.

A fit is a pure function of (model file, prior file, data, seed). The compiled model is cached by
the key of its graph structure; a new fit with the same structure swaps ``pm.Data`` values with
``CompiledModel.with_data`` and samples without recompiling.

Models are compiled with :func:`compile_settings`: without numba's fast-math flags
(:func:`exact_arithmetic`), without PyTensor's in-place rewrites
(:func:`without_inplace_rewrites`), with nutpie's callbacks linked by symbol
(:func:`resurv.inference._entry_points.separately_linked_entry_points`) and without the
creation-site traceback PyTensor records on every graph variable. Every other PyTensor function
resurv compiles (log-likelihood and log-prior draws here, prior predictive sampling in
calibration) is compiled inside :func:`exact_arithmetic`. resurv changes no global setting.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import nutpie
import pymc as pm
import pytensor
import xarray as xr
from pymc.stats.log_density import compute_log_likelihood, compute_log_prior
from pytensor.compile import mode as pytensor_mode

from resurv.errors import SamplingError
from resurv.inference._entry_points import separately_linked_entry_points
from resurv.models.built import BuiltModel

__all__ = [
    "Fitter",
    "SamplerSettings",
    "compile_settings",
    "constant_data",
    "exact_arithmetic",
    "model_data_values",
    "package_versions",
    "without_inplace_rewrites",
]

log = logging.getLogger(__name__)

_PACKAGES = ("resurv", "pymc", "pytensor", "nutpie", "arviz", "numpy", "scipy", "xarray", "pandas")


def model_data_values(model: pm.Model) -> dict[str, np.ndarray]:
    """Current values of every ``pm.Data`` container of ``model`` (data and prior settings)."""
    return {d.name: np.asarray(d.get_value()) for d in model.data_vars}


def constant_data(model: pm.Model) -> xr.Dataset:
    """The ``pm.Data`` containers of ``model`` as a dataset, each with dimensions of its own.

    Container ``name`` of rank ``r`` gets dimensions ``name_dim_0 .. name_dim_{r-1}`` (ArviZ's
    convention): containers of different lengths never share a dimension name, so they cannot
    conflict when the dataset is assembled.
    """
    return xr.Dataset(
        {
            name: xr.DataArray(value, dims=[f"{name}_dim_{i}" for i in range(value.ndim)])
            for name, value in model_data_values(model).items()
        }
    )


@contextmanager
def without_inplace_rewrites() -> Iterator[None]:
    """Compile with PyTensor's "NUMBA" mode minus its in-place rewrites (``excluding("inplace")``).

    nutpie compiles a PyMC model in the "NUMBA" mode. Its in-place rewrites let an operation
    overwrite an input's buffer; to do so safely the destroy handler re-validates the whole graph
    after each candidate, which on the summary-data models is half of all graph-rewriting time
    (the PFS model: 24 s of rewriting, 10-12 s without them). They change no value (the same
    seed gives the same draws); without them sampling took 3-5% longer and compiling 17% less
    time on the PFS model (benchmarks/bench_compile.py). The mode is restored on exit, even
    after an error.
    """
    original = pytensor_mode.predefined_modes["NUMBA"]
    pytensor_mode.predefined_modes["NUMBA"] = original.excluding("inplace")
    try:
        yield
    finally:
        pytensor_mode.predefined_modes["NUMBA"] = original


@contextmanager
def exact_arithmetic(fastmath: bool = False) -> Iterator[None]:
    """Within: PyTensor compiles its numba kernels with fast math off (unless ``fastmath``).

    With numba's fast-math flags on (PyTensor's default, ``config.numba__fastmath``), a model's
    compiled log density rounds differently depending on whether its kernels were compiled in
    this process or loaded from PyTensor's on-disk cache, so the same seed gave different draws
    on a fresh machine than on one that had fitted the model before. Without them a fit is a
    function of (model, priors, data, seed) alone; the cost in sampling speed is measured by
    ``benchmarks/bench_fastmath.py`` (which passes ``fastmath=True`` for comparison). The flag
    is read when a function is compiled, and restored on exit, even after an error.
    """
    with pytensor.config.change_flags(numba__fastmath=fastmath):
        yield


@contextmanager
def compile_settings(fastmath: bool = False) -> Iterator[None]:
    """How resurv compiles a model for nutpie.

    * :func:`exact_arithmetic`: numba's fast-math flags off (``fastmath``: on, for benchmarks),
      so that draws do not depend on PyTensor's kernel cache.

    The other settings change no value: the same seed gives the same draws as
    ``nutpie.compile_pymc_model`` alone under the same fast-math setting
    (benchmarks/bench_compile.py, tests/test_entry_points.py):

    * :func:`without_inplace_rewrites`;
    * :func:`resurv.inference._entry_points.separately_linked_entry_points`: nutpie's callbacks call
      PyTensor's compiled graph instead of recompiling a copy of it;
    * ``traceback__limit = 0``: PyTensor records no creation-site stack trace on each of the
      tens of thousands of variables the gradient and the graph rewrites create (a quarter of
      the time of building the PFS model's gradient). The trace only locates a variable in
      error messages, and resurv's graphs are generated.
    """
    with (
        exact_arithmetic(fastmath),
        without_inplace_rewrites(),
        separately_linked_entry_points(),
        pytensor.config.change_flags(traceback__limit=0),
    ):
        yield


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings; the defaults suit the small models resurv fits."""

    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    cores: int = 2


@dataclass
class Fitter:
    """Compiles each model structure once and samples it many times.

    Examples
    --------
    >>> fitter = Fitter()
    >>> tree = fitter.sample(built, seed=1)   # compiles
    >>> tree = fitter.sample(built2, seed=1)  # same structure, new data: no recompilation
    """

    settings: SamplerSettings = field(default_factory=SamplerSettings)
    _compiled: dict = field(default_factory=dict, repr=False)
    #: numba fast math for every function compiled (off: draws independent of the kernel cache)
    fastmath: bool = False
    compile_seconds: dict = field(default_factory=dict)

    def compiled(self, built: BuiltModel, var_names: Sequence[str] | None = None):
        """The compiled model for ``built``'s structure, with ``built``'s data swapped in.

        ``var_names``: the variables the draws carry besides the free parameters sampled
        without a transform (None: all of them; a transformed parameter, e.g. a scale sampled
        on the log scale, only when named). Fewer make a smaller function to compile.
        """
        key = built.key if var_names is None else (built.key, tuple(var_names))
        if key not in self._compiled:
            start = time.perf_counter()
            with compile_settings(self.fastmath):
                self._compiled[key] = nutpie.compile_pymc_model(built.model, var_names=var_names)
            self.compile_seconds[built.key] = time.perf_counter() - start
            log.info("compiled model %s in %.1f s", built.key, self.compile_seconds[built.key])
        return self._compiled[key].with_data(**model_data_values(built.model))

    def target_accept(self, built: BuiltModel) -> float:
        """NUTS target acceptance for ``built``: the larger of the settings' and the model's."""
        return max(self.settings.target_accept, built.target_accept or 0.0)

    def sample(
        self,
        built: BuiltModel,
        seed: int,
        *,
        log_likelihood: bool = True,
        posterior_only: bool = False,
        target_accept: float | None = None,
        var_names: Sequence[str] | None = None,
    ) -> xr.DataTree:
        """Sample the posterior of ``built``; add log-likelihood, log-prior and constant data.

        ``posterior_only`` returns the posterior and the sampler statistics alone (what a
        simulation study reads; evaluating the log prior costs about as much as sampling a small
        model). ``target_accept`` (None: :meth:`target_accept`) sets NUTS' target acceptance.
        ``var_names`` (with ``posterior_only`` alone) keeps only these variables beside the
        untransformed free parameters (:meth:`compiled`).
        """
        if var_names is not None and not posterior_only:
            raise ValueError("var_names selects posterior draws: use it with posterior_only=True")
        s = self.settings
        target_accept = self.target_accept(built) if target_accept is None else target_accept
        compiled = self.compiled(built, var_names)
        try:
            tree = nutpie.sample(
                compiled,
                draws=s.draws,
                tune=s.tune,
                chains=s.chains,
                seed=seed,
                cores=s.cores,
                target_accept=target_accept,
                progress_bar=False,
            )
        except RuntimeError as exc:
            reason = " ".join(str(exc).split("Stack backtrace")[0].split())
            raise SamplingError(
                f"sampling model {built.key} with seed {seed} failed: {reason}"
            ) from exc
        for group in ("warmup_posterior", "warmup_sample_stats"):
            if group in tree.children:
                del tree[group]
        tree.attrs["seed"] = int(seed)
        tree.attrs["sampler"] = json.dumps(
            {
                "sampler": "nutpie",
                **{k: getattr(s, k) for k in ("draws", "tune", "chains")},
                "target_accept": target_accept,
            }
        )
        if posterior_only:
            return tree
        potentials, prior_potentials = {}, {}
        recorded = built.potential_terms + built.prior_potential_terms
        if recorded:
            post = tree.posterior.to_dataset()
            potentials = {t: post[f"loglik__{t}"] for t in built.potential_terms}
            prior_potentials = {t: post[f"loglik__{t}"] for t in built.prior_potential_terms}
            tree["posterior"] = xr.DataTree(post.drop_vars([f"loglik__{t}" for t in recorded]))
        with built.model, exact_arithmetic(self.fastmath):
            if log_likelihood and built.likelihood_terms:
                compute_log_likelihood(
                    tree,
                    var_names=built.likelihood_terms,
                    extend_inferencedata=True,
                    progressbar=False,
                )
            compute_log_prior(tree, extend_inferencedata=True, progressbar=False)
        if prior_potentials:
            tree["log_prior"] = xr.DataTree(tree.log_prior.to_dataset().assign(prior_potentials))
        if potentials:
            if "log_likelihood" in tree.children:
                merged = tree.log_likelihood.to_dataset().assign(potentials)
            else:
                merged = xr.Dataset(potentials)
            tree["log_likelihood"] = xr.DataTree(merged)
        tree["constant_data"] = xr.DataTree(constant_data(built.model))
        return tree


def prior_predictive_names(model: pm.Model) -> list[str]:
    """Names of the free random variables of ``model`` (for reports)."""
    return [v.name for v in model.free_RVs]
