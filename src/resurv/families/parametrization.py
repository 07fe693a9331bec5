"""How a survival model's priors become one arm's family parameters, declared by each family.

A survival model puts priors on each arm's parameters: the median (prior ``median_reference``,
or ``median_comparator`` for the second arm under ``separate``), which every family has, and
whatever else the family declares here, as its ``Family.parametrization``:

* ``MedianShapes`` (the default, for every family parametrized by its median): each shape
  parameter has a prior of its own name (``shape``, ``sdlog``, …), one copy per arm;
* the piecewise-exponential family's ``PiecewiseLogRates`` (``resurv.families.pwexp``):
  log-rates over the intervals set by the model's ``cuts``, a level from the median, and a
  random-walk or independent deviation scaled by the hyper-parameter ``rw_sd``.

A declaration builds one arm's parameters from a *parameter source* (``ParameterSource``), which
decides what a parameter is: a random variable of the active PyMC model, a column of posterior
draws, or draws from the prior specs (the sources are in ``resurv.models.survival``). The same
declaration gives the prior-file parameters an arm needs (``arm_priors``) and the free
parameters a summary lists (``summarized``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["MedianShapes", "ParameterSource", "Parametrization"]


class ParameterSource(Protocol):
    """Where a survival model's parameters come from: PyMC, posterior draws or prior draws.

    Attributes
    ----------
    xp : module
        ``numpy`` or ``pytensor.tensor``: the back end that computes with the values returned.
    """

    xp: Any

    def prior(self, name: str, prior: str) -> Any:
        """The scalar parameter ``name`` (e.g. ``shape_reference``) with the prior ``prior``.

        ``prior`` is the prior-file parameter (e.g. ``shape``); ``name`` is the variable's name
        in the model and in its posterior.
        """

    def standard_normal(self, name: str, size: int, *, pinned: int = 0) -> Any:
        """``size`` independent standard normals called ``name``, on the last axis.

        ``pinned``: components before these that are fixed at 0 and are not parameters (the
        first step of a random walk that starts at 0). Only a source that draws its values
        draws them too, so that a seed gives the same stream as drawing the whole walk.
        """

    def deterministic(self, name: str, compute: Callable[[], Any]) -> Any:
        """The derived quantity ``name``, computed by ``compute()`` from earlier parameters.

        A source that holds values may return the stored ``name`` instead.
        """


class Parametrization:
    """A family's prior structure for one arm (subclasses declare it).

    Attributes
    ----------
    arm_priors : tuple of str
        Prior-file parameters of one arm besides the median, in the order they are created.
    summarized : tuple of str
        Those of ``arm_priors`` that a fit's summary lists (suffixed by arm under ``separate``).
    """

    arm_priors: tuple[str, ...] = ()
    summarized: tuple[str, ...] = ()

    def arm_params(
        self, source: ParameterSource, spec: Any, median: Any, suffix: str
    ) -> Mapping[str, Any]:
        """One arm's family parameters (and constants) from ``source``.

        Parameters
        ----------
        source : ParameterSource
            Where parameters come from.
        spec : ModelSpec
            The model (``resurv.io.modelspec.ModelSpec``): what the family reads of it is its own
            business (the piecewise-exponential family reads ``cuts`` and ``smoothing``).
        median : value from ``source``
            The arm's median, already created (its prior is set by the arm, not the family).
        suffix : str
            Appended to every name the arm creates: ``""``, or ``"_reference"`` and
            ``"_comparator"`` under ``separate``.
        """
        raise NotImplementedError


@dataclass(frozen=True)
class MedianShapes(Parametrization):
    """The median and each shape parameter with a prior of the shape's own name.

    ``MedianShapes(("shape",))`` is the Weibull's: parameters ``median`` and ``shape``, the
    shape's prior the prior-file entry ``shape``, its variable ``shape`` (``shape_reference``
    and ``shape_comparator`` under ``separate``).
    """

    shapes: tuple[str, ...] = ()

    @property
    def arm_priors(self) -> tuple[str, ...]:
        """The shapes."""
        return self.shapes

    @property
    def summarized(self) -> tuple[str, ...]:
        """The shapes."""
        return self.shapes

    def arm_params(self, source, spec, median, suffix):
        """``{"median": median, shape: prior, …}``, the shapes created in order."""
        params = {"median": median}
        for name in self.shapes:
            params[name] = source.prior(f"{name}{suffix}", name)
        return params
