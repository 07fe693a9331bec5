"""Pointwise log-likelihood and log-prior of posterior draws, compiled once per model structure.

For each posterior draw θ (chain c, draw d) the ``log_likelihood`` group holds, per observed
random variable y and per element i, log p(y_i | θ), and the ``log_prior`` group, per free
random variable, log p(θ_k) on the untransformed scale (no Jacobian), as
:func:`pymc.stats.compute_log_likelihood` and :func:`pymc.stats.compute_log_prior` define them.

Those two PyMC functions compile a new PyTensor function on every call. A sweep or a
simulation study samples one model structure many times with new ``pm.Data`` values
(:class:`resurv.inference.fit.Fitter`), so here the function is compiled once for the
structure: the model's ``pm.Data`` containers stay shared variables of the compiled function
(copies owned by it, :func:`pymc.model.transform.conditioning.remove_value_transforms`), and
each evaluation first sets them to the values of the model being evaluated. The graph, its
rewrites and its arithmetic are those of PyMC's functions; the values are the same
(tests/test_pointwise.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr
from pymc.backends.arviz import apply_function_over_dataset, coords_and_dims_for_inferencedata
from pymc.model.transform.conditioning import remove_value_transforms

__all__ = ["PointwiseLogDensity"]


@dataclass
class PointwiseLogDensity:
    """One compiled function: each listed observed variable's and each free variable's log density.

    Build with :meth:`compile` from one model; :meth:`evaluate` accepts any model of the same
    structure (same variables, shapes and ``pm.Data`` containers, i.e. the same compile key).
    """

    likelihood_names: tuple[str, ...]
    prior_names: tuple[str, ...]
    function: object
    data: dict

    @classmethod
    def compile(cls, model: pm.Model, likelihood_names: Sequence[str]) -> PointwiseLogDensity:
        """Compile the elementwise log densities of ``likelihood_names`` and of the free RVs.

        The outputs are PyMC's ``umodel.logp(vars=..., sum=False)`` of the model without value
        transforms, as in :func:`pymc.stats.log_density.compute_log_density`, compiled in the
        current PyTensor settings (callers compile inside
        :func:`resurv.inference.fit.exact_arithmetic`).
        """
        umodel = remove_value_transforms(model)
        observed = [umodel.named_vars[name] for name in likelihood_names]
        free = list(umodel.free_RVs)
        outputs = []
        if observed:
            outputs += umodel.logp(vars=observed, sum=False)
        outputs += umodel.logp(vars=free, sum=False)
        function = umodel.compile_fn(
            inputs=umodel.value_vars, outs=outputs, on_unused_input="ignore"
        )
        return cls(
            likelihood_names=tuple(likelihood_names),
            prior_names=tuple(rv.name for rv in free),
            function=function,
            data={d.name: d for d in umodel.data_vars},
        )

    def evaluate(
        self, model: pm.Model, posterior: xr.Dataset
    ) -> tuple[xr.Dataset | None, xr.Dataset]:
        """(log-likelihood, log-prior) datasets of ``posterior``'s draws under ``model``'s data.

        The compiled function's ``pm.Data`` copies are set to ``model``'s values first; the
        coordinates and dimensions are ``model``'s. The log-likelihood is None when no
        observed variable was listed.
        """
        values = {d.name: np.asarray(d.get_value()) for d in model.data_vars}
        if set(values) != set(self.data):
            raise ValueError(
                f"the model's data containers {sorted(values)} are not those of the compiled "
                f"pointwise log density {sorted(self.data)}"
            )
        for name, shared in self.data.items():
            shared.set_value(values[name])
        dtypes = {
            rv.name: model.rvs_to_values[rv].type.dtype
            for rv in model.free_RVs
            if rv.name in self.prior_names
        }
        points = posterior[list(self.prior_names)].astype(
            {name: dtypes[name] for name in self.prior_names}, copy=False
        )
        coords, dims = coords_and_dims_for_inferencedata(model)
        names = self.likelihood_names + self.prior_names
        both = apply_function_over_dataset(
            self.function,
            points,
            output_var_names=names,
            dims=dims,
            coords=coords,
            progressbar=False,
        )
        prior = both[list(self.prior_names)]
        if not self.likelihood_names:
            return None, prior
        return both[list(self.likelihood_names)], prior
