"""The table of survival families: one entry per family, looked up by name."""

from __future__ import annotations

from types import MappingProxyType

from resurv.families._base import Family
from resurv.families.cure import CURE_FAMILIES
from resurv.families.exponential import EXPONENTIAL
from resurv.families.gengamma import GENGAMMA
from resurv.families.gompertz import GOMPERTZ
from resurv.families.loglogistic import LOGLOGISTIC
from resurv.families.lognormal import LOGNORMAL
from resurv.families.pwexp import PWEXP
from resurv.families.rp_spline import RP_SPLINE
from resurv.families.weibull import WEIBULL

__all__ = ["FAMILIES", "UnknownFamilyError", "get_family"]

FAMILIES: MappingProxyType[str, Family] = MappingProxyType(
    {
        family.name: family
        for family in (
            EXPONENTIAL,
            WEIBULL,
            GOMPERTZ,
            LOGNORMAL,
            LOGLOGISTIC,
            GENGAMMA,
            PWEXP,
            RP_SPLINE,
            *CURE_FAMILIES.values(),
        )
    }
)


class UnknownFamilyError(KeyError):
    """A family name that is not in ``FAMILIES``."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def get_family(name: str | Family) -> Family:
    """Return the family called ``name`` (a ``Family`` is returned unchanged).

    Raises
    ------
    UnknownFamilyError
        A ``KeyError`` whose message lists the known family names.
    """
    if isinstance(name, Family):
        return name
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(sorted(FAMILIES))
        raise UnknownFamilyError(f"unknown survival family {name!r}; known: {known}") from None
