"""Compile once, sample many: fitting built models with nutpie, with seeds and provenance.

A fit is a pure function of (model file, prior file, data, seed). The compiled model is cached by
the key of its graph structure; a new fit with the same structure swaps ``pm.Data`` values with
``CompiledModel.with_data`` and samples without recompiling.

Models are compiled with :func:`compile_settings`: without numba's fast-math flags
(:func:`exact_arithmetic`), without PyTensor's in-place rewrites
(:func:`without_inplace_rewrites`), with nutpie's callbacks linked by symbol
(:func:`resurv.inference._entry_points.separately_linked_entry_points`) and without the
creation-site traceback PyTensor records on every graph variable. Every other PyTensor function
resurv compiles (log-likelihood and log-prior draws here, compiled once per structure as well:
:class:`resurv.inference.pointwise.PointwiseLogDensity`; prior predictive sampling in
calibration) is compiled inside :func:`exact_arithmetic`. resurv changes no global setting.
"""

from __future__ import annotations

import ctypes
import dataclasses
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
from pytensor.compile import mode as pytensor_mode
from scipy import optimize

from resurv.errors import SamplingError
from resurv.inference._entry_points import separately_linked_entry_points
from resurv.inference.pointwise import PointwiseLogDensity
from resurv.models.built import BuiltModel

__all__ = [
    "Fitter",
    "ModeSearch",
    "find_modes",
    "started_at_mode",
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


#: Local optima closer than this (max absolute difference on the unconstrained scale) are one.
MODE_TOLERANCE = 0.05
#: Starts of the mode search per chain.
MODE_STARTS_PER_CHAIN = 2
#: Iterations of one L-BFGS-B run of the mode search (evaluations: twice as many).
MODE_MAX_ITERATIONS = 300
#: A mode whose Laplace mass is below this fraction of the largest one strands a chain.
STRANDING_MASS_FRACTION = 1e-3


@dataclass(frozen=True)
class ModeSearch:
    """Local maxima of the log posterior (unconstrained scale, Jacobian included).

    ``modes`` (k, n_dim) in decreasing order of ``log_density``; ``log_mass`` is the Laplace
    approximation of each mode's posterior mass, log p(θ̂) + ½ log det Σ̂ (Σ̂ the inverse of the
    negative Hessian; nan where the Hessian is not negative definite); ``covariances`` the Σ̂
    (nan where undefined); ``starts`` how many optimisations ended at each mode; ``names``
    the unconstrained parameters in nutpie's order.
    """

    names: tuple[str, ...]
    modes: np.ndarray
    log_density: np.ndarray
    log_mass: np.ndarray
    covariances: np.ndarray
    starts: np.ndarray

    @property
    def multimodal(self) -> bool:
        """Whether the optimisations from different starts ended at more than one mode."""
        return self.modes.shape[0] > 1

    @property
    def best(self) -> int:
        """Index of the mode of largest Laplace mass (of highest density where none is defined)."""
        finite = np.isfinite(self.log_mass)
        return int(np.nanargmax(self.log_mass)) if finite.any() else 0

    @property
    def stranding(self) -> bool:
        """Whether a chain could strand: several modes, all but one of negligible mass.

        True when the search found more than one mode, every mode's Laplace mass is defined
        and each mode but the best holds less than :data:`STRANDING_MASS_FRACTION` of the best
        one's mass. Modes of comparable mass are a multimodal posterior, not a stranding
        point: chains started at one of them would hide the others.
        """
        if not self.multimodal or not np.all(np.isfinite(self.log_mass)):
            return False
        others = np.delete(self.log_mass, self.best)
        return bool(np.all(others - self.log_mass[self.best] < np.log(STRANDING_MASS_FRACTION)))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "names": list(self.names),
            "modes": self.modes.tolist(),
            "log_density": self.log_density.tolist(),
            "log_mass": [None if not np.isfinite(v) else float(v) for v in self.log_mass],
            "starts": self.starts.tolist(),
            "stranding": self.stranding,
        }


def _has_log_density_callback(compiled) -> bool:
    """Whether ``compiled`` exposes the C callback and data record the mode search calls."""
    callback = getattr(compiled, "compiled_logp_func", None)
    return hasattr(callback, "ctypes") and hasattr(compiled, "user_data")


def _log_density_function(compiled):
    """(log p, gradient) of a compiled nutpie model at an unconstrained point, with its data.

    Calls nutpie's own C callback (``compiled_logp_func``) through ctypes with the compiled
    model's user-data record, as the sampler does: nothing is compiled again. A point where the
    callback reports a non-finite value or an error gives (−inf, zeros).
    """
    callback = compiled.compiled_logp_func.ctypes
    user_data = compiled.user_data
    n_dim = compiled.n_dim
    pointer = ctypes.POINTER(ctypes.c_double)

    def log_density(x):
        x = np.ascontiguousarray(x, dtype=float)
        gradient = np.zeros(n_dim)
        value = np.zeros(1)
        code = callback(
            n_dim,
            x.ctypes.data_as(pointer),
            gradient.ctypes.data_as(pointer),
            value.ctypes.data_as(pointer),
            user_data.ctypes.data,
        )
        if code != 0:
            return -np.inf, np.zeros(n_dim)
        return float(value[0]), gradient

    return log_density


def _negative_hessian(log_density, x, step: float = 1e-5) -> np.ndarray:
    """−∇² log p at ``x`` by central differences of the exact gradient, symmetrised."""
    n = x.size
    out = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = step
        out[i] = -(log_density(x + e)[1] - log_density(x - e)[1]) / (2 * step)
    return 0.5 * (out + out.T)


def find_modes(compiled, n_starts: int, seed: int) -> ModeSearch:
    """Maximise the log posterior from ``n_starts`` of the sampler's own initial points.

    Each start is a draw of the compiled model's initial-point function (PyMC's support point
    with nutpie's U(−1, 1) jitter on the unconstrained scale: where a chain would start),
    seeded by ``[seed, k]``; L-BFGS-B (scipy) runs from each. End points within
    :data:`MODE_TOLERANCE` of each other are one mode. A start whose log density is not finite,
    or whose optimisation fails, is left out.
    """
    log_density = _log_density_function(compiled)

    def objective(x):
        value, gradient = log_density(x)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return np.inf, np.zeros_like(x)
        return -value, -gradient

    ends, values = [], []
    for k in range(n_starts):
        start = np.asarray(compiled.initial_point_func([seed, k]))
        if not np.isfinite(log_density(start)[0]):
            continue
        result = optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": MODE_MAX_ITERATIONS, "maxfun": 2 * MODE_MAX_ITERATIONS},
        )
        if np.isfinite(result.fun) and np.max(np.abs(result.jac)) < 1e-2:
            ends.append(result.x)
            values.append(-result.fun)
    order = np.argsort(values)[::-1]
    modes, log_p, starts = [], [], []
    for k in order:
        for m, mode in enumerate(modes):
            if np.max(np.abs(ends[k] - mode)) < MODE_TOLERANCE:
                starts[m] += 1
                break
        else:
            modes.append(ends[k])
            log_p.append(values[k])
            starts.append(1)
    n_dim = compiled.n_dim
    names, size = [], 0
    for name, where in zip(compiled.shape_info[0], compiled.shape_info[1], strict=False):
        if size >= n_dim:
            break
        names.append(name)
        size = max(size, where.stop)
    covariances = np.full((len(modes), n_dim, n_dim), np.nan)
    log_mass = np.full(len(modes), np.nan)
    for m, mode in enumerate(modes):
        precision = _negative_hessian(log_density, mode)
        eigenvalues = np.linalg.eigvalsh(precision)
        if np.all(eigenvalues > 0):
            covariances[m] = np.linalg.inv(precision)
            log_mass[m] = log_p[m] - 0.5 * np.sum(np.log(eigenvalues))
    return ModeSearch(
        names=tuple(names),
        modes=np.asarray(modes, dtype=float).reshape(len(modes), n_dim),
        log_density=np.asarray(log_p, dtype=float),
        log_mass=log_mass,
        covariances=covariances,
        starts=np.asarray(starts, dtype=int),
    )


def started_at_mode(compiled, search: ModeSearch):
    """``compiled`` whose chains start at a draw of N(θ̂, Σ̂) around the highest mode.

    θ̂ is the mode of highest Laplace mass (:attr:`ModeSearch.best`); the initial-point
    function is seeded by nutpie, so a fit stays a function of its seed.
    """
    best = search.best
    centre = search.modes[best]
    covariance = search.covariances[best]
    if not np.all(np.isfinite(covariance)):
        covariance = np.eye(centre.size) * 0.01
    factor = np.linalg.cholesky(covariance)

    def initial_point(seed=None):
        rng = np.random.default_rng(seed)
        return np.ascontiguousarray(centre + factor @ rng.standard_normal(centre.size))

    return dataclasses.replace(compiled, initial_point_func=initial_point)


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
    _pointwise: dict = field(default_factory=dict, repr=False)
    #: numba fast math for every function compiled (off: draws independent of the kernel cache)
    fastmath: bool = False
    compile_seconds: dict = field(default_factory=dict)
    #: search the modes of summary-data fits before sampling (:meth:`sample`)
    mode_search: bool = True

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

    def pointwise(self, built: BuiltModel, observed: Sequence[str]) -> PointwiseLogDensity:
        """The pointwise log density of ``built``'s structure, compiled once and kept.

        ``observed``: the observed variables whose log-likelihood it computes (besides the log
        prior of every free variable). Compiled inside :func:`exact_arithmetic`.
        """
        key = (built.key, tuple(observed))
        if key not in self._pointwise:
            start = time.perf_counter()
            with built.model, exact_arithmetic(self.fastmath):
                self._pointwise[key] = PointwiseLogDensity.compile(built.model, observed)
            log.info(
                "compiled the pointwise log density of model %s in %.1f s",
                built.key,
                time.perf_counter() - start,
            )
        return self._pointwise[key]

    def draws(self, built: BuiltModel, posterior_only: bool = False) -> int:
        """Draws per chain for ``built``: the larger of the settings' and the model's.

        A simulation study's fit (``posterior_only``) keeps the settings' number.
        """
        return (
            self.settings.draws
            if posterior_only
            else max(self.settings.draws, built.min_draws or 0)
        )

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

        Summary-data fits (their likelihood enters as potentials; not with ``posterior_only``)
        first search the log posterior's modes from two of the sampler's own initial points per
        chain (:func:`find_modes`, recorded in the tree's attribute ``mode_search``). When the
        search finds local modes of negligible mass beside one dominant mode
        (:attr:`ModeSearch.stranding`), a chain started near them can stay there for the whole
        run (R-hat far above 1, a handful of effective draws): every chain then starts near the
        dominant mode (:func:`started_at_mode`). Otherwise the chains start where nutpie starts
        them, and the draws are those of a fit without the search.
        """
        if var_names is not None and not posterior_only:
            raise ValueError("var_names selects posterior draws: use it with posterior_only=True")
        s = self.settings
        target_accept = self.target_accept(built) if target_accept is None else target_accept
        compiled = self.compiled(built, var_names)
        search = None
        if self.mode_search and built.potential_terms and not posterior_only:
            if not _has_log_density_callback(compiled):
                log.warning(
                    "model %s: this nutpie (%s) has no compiled log-density callback "
                    "(compiled_logp_func, user_data): the mode search is skipped and chains "
                    "start where nutpie starts them",
                    built.key,
                    getattr(nutpie, "__version__", "?"),
                )
            else:
                search = find_modes(compiled, MODE_STARTS_PER_CHAIN * s.chains, seed)
            if search is not None and search.stranding:
                log.warning(
                    "model %s: the log posterior has %d local modes; all but one hold less than "
                    "%g of the largest one's Laplace mass and would strand a chain started "
                    "near them: every chain starts near the largest (log densities %s)",
                    built.key,
                    search.modes.shape[0],
                    STRANDING_MASS_FRACTION,
                    ", ".join(f"{v:.1f}" for v in search.log_density),
                )
                compiled = started_at_mode(compiled, search)
        try:
            tree = nutpie.sample(
                compiled,
                draws=self.draws(built, posterior_only),
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
        if search is not None:
            tree.attrs["mode_search"] = json.dumps(search.to_dict())
        tree.attrs["sampler"] = json.dumps(
            {
                "sampler": "nutpie",
                **{k: getattr(s, k) for k in ("draws", "tune", "chains")},
                "draws": self.draws(built, posterior_only),
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
        observed = built.likelihood_terms if log_likelihood else []
        pointwise = self.pointwise(built, observed)
        log_lik, log_prior = pointwise.evaluate(built.model, tree.posterior.to_dataset())
        if log_lik is not None:
            tree["log_likelihood"] = xr.DataTree(log_lik)
        tree["log_prior"] = xr.DataTree(log_prior)
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
