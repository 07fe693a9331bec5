"""What a model builder returns, and the published-vs-posterior rows it declares.

A builder (binomial, survival from patient data, survival from summaries) returns a
:class:`BuiltModel`: the PyMC model, the key of its graph structure (for the compile
cache; its ``pm.Data`` containers are swapped in without recompiling), and one
:class:`PublishedValue` per published number, each knowing how to read its posterior counterpart
from the draws and, where a predictive check is defined, how to simulate the statistic for a
replicate trial of the published size.

The closures are evaluated once, at fit time (:func:`resurv.inference.results.make_result`): their
draws are saved in ``posterior.nc`` as the ``observed_data``, ``posterior_predictive`` and
``posterior_counterpart`` groups, from which every table and report reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import xarray as xr

__all__ = ["BuiltModel", "PublishedValue", "stacked_draws"]


def stacked_draws(posterior: xr.Dataset, name: str) -> np.ndarray:
    """A posterior variable as an array with (chain, draw) flattened into the first axis."""
    da = posterior[name]
    other = [d for d in da.dims if d not in ("chain", "draw")]
    return da.transpose("chain", "draw", *other).values.reshape(-1, *da.shape[2:])


@dataclass
class PublishedValue:
    """One published number and how the model speaks to it.

    Parameters
    ----------
    statistic : str
        Name such as ``disease_control_percent`` or ``os_median_months``.
    arm : str
        Arm label, or ``"between arms"``.
    published : float
        The value printed in the paper.
    posterior : callable
        ``posterior(dataset) -> draws``: the model's counterpart of the published value.
    predictive : callable, optional
        ``predictive(dataset, rng) -> draws``: the statistic computed on one simulated replicate
        trial per posterior draw (same size, same estimator as the paper), for the posterior
        predictive p-value.
    check_value : float, optional
        The exact value behind a rounded or truncated print (e.g. 100·13/15 behind "86.6%"),
        compared with the predictive draws.
    """

    statistic: str
    arm: str
    published: float
    posterior: Callable[[xr.Dataset], np.ndarray] | None = None
    predictive: Callable[[xr.Dataset, np.random.Generator], np.ndarray] | None = None
    note: str = ""
    check_value: float | None = None

    @property
    def observed_for_check(self) -> float:
        """The value the predictive check compares with (the exact one, where printed rounded)."""
        return self.published if self.check_value is None else self.check_value


@dataclass
class BuiltModel:
    """A PyMC model ready to compile, with its data values and published values.

    ``likelihood_terms`` are observed random variables (pointwise log-likelihood computed by
    PyMC); ``potential_terms`` are likelihood potentials whose values the model also records as
    deterministics ``loglik__<term>``, moved into the ``log_likelihood`` group after sampling;
    ``prior_potential_terms`` are recorded the same way and moved into the ``log_prior`` group
    (e.g. the normalising term of a truncated prior, so that the group holds the prior density).
    ``target_accept``, when set, raises the sampler's target acceptance for this model (models
    with sharp curvature, such as the summary-data likelihood near the end of follow-up).
    """

    model: pm.Model
    key: str
    published: list[PublishedValue] = field(default_factory=list)
    likelihood_terms: list[str] = field(default_factory=list)
    potential_terms: list[str] = field(default_factory=list)
    prior_potential_terms: list[str] = field(default_factory=list)
    target_accept: float | None = None
    #: at least this many draws per chain for this model (the model file's ``draws``)
    min_draws: int | None = None
    summary_vars: list[str] = field(default_factory=list)
    probabilities: dict[str, Callable[[xr.Dataset], np.ndarray]] = field(default_factory=dict)
    frequentist: list[dict] = field(default_factory=list)
    #: Every number of the study file and what this fit did with it
    #: (:class:`resurv.models.inventory.NumberUse`), saved with the fit.
    usage: list = field(default_factory=list)
