"""Survival families, each defined once by its log-hazard and cumulative hazard.

Every function takes ``xp`` (``numpy`` or ``pytensor.tensor``), so that one formula builds
PyMC graphs and runs vectorized NumPy simulation. Families are parametrized by the median in
months plus shape parameters; see ``FAMILIES`` for the table and ``effects`` for PH/AFT arms.
Each family also declares how a model's priors give its parameters (``parametrization``).
"""

from resurv.families._base import (
    DEFAULT_RMST_NODES,
    Family,
    Parameter,
    cum_hazard,
    gauss_legendre_rmst,
    inv_cum_hazard,
    log_density,
    log_hazard,
    log_survival,
    mean,
    median_months,
    quantile,
    rmst,
    survival,
)
from resurv.families.effects import (
    Curve,
    arm_cum_hazard,
    arm_curves,
    arm_inv_cum_hazard,
    arm_log_density,
    arm_log_hazard,
    arm_log_survival,
    arm_median,
    arm_quantile,
    arm_rmst,
    arm_survival,
)
from resurv.families.parametrization import MedianShapes, ParameterSource, Parametrization
from resurv.families.registry import FAMILIES, UnknownFamilyError, get_family

__all__ = [
    "DEFAULT_RMST_NODES",
    "FAMILIES",
    "Curve",
    "Family",
    "MedianShapes",
    "Parameter",
    "ParameterSource",
    "Parametrization",
    "UnknownFamilyError",
    "arm_cum_hazard",
    "arm_curves",
    "arm_inv_cum_hazard",
    "arm_log_density",
    "arm_log_hazard",
    "arm_log_survival",
    "arm_median",
    "arm_quantile",
    "arm_rmst",
    "arm_survival",
    "cum_hazard",
    "gauss_legendre_rmst",
    "get_family",
    "inv_cum_hazard",
    "log_density",
    "log_hazard",
    "log_survival",
    "mean",
    "median_months",
    "quantile",
    "rmst",
    "survival",
]
