"""The registry of published statistics: one module per kind, found here by itself.

Each module of this package (besides :mod:`~resurv.statistics.published.base`) defines one or
more kinds: subclasses of :class:`~resurv.statistics.published.base.Published` with a
``statistic`` name. Importing the package imports every module and registers every kind in
:data:`KINDS` (ordered by the kinds' ``position``), so that a new kind of published statistic is
one new module here (plus its tests): the study-file parser, the summary likelihood, the
predictive checks and the calibration loop find it in the registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

from resurv.errors import StudyValidationError
from resurv.io.tables import TableReader
from resurv.statistics.published.base import COUNT, FACTOR, NORMAL, Published

__all__ = [
    "COUNT",
    "FACTOR",
    "KINDS",
    "NORMAL",
    "EventCount",
    "HazardRatio",
    "Landmark",
    "LogRank",
    "MedianNotReached",
    "MedianReached",
    "Published",
    "RestrictedMean",
    "discover",
    "from_table",
    "kind",
    "read_statistic",
]


def discover(package: str) -> dict[str, type[Published]]:
    """Import every module of ``package`` and collect the kinds it defines, by name.

    A kind is a subclass of :class:`Published` with its own ``statistic`` name, defined in the
    module (``base`` is skipped). Ordered by ``position``, then name.
    """
    root = importlib.import_module(package)
    found: dict[str, type[Published]] = {}
    for info in pkgutil.iter_modules(root.__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Published)
                and obj.__module__ == module.__name__
                and "statistic" in vars(obj)
            ):
                if obj.statistic in found and found[obj.statistic] is not obj:
                    raise RuntimeError(f"two kinds named {obj.statistic!r}")
                found[obj.statistic] = obj
    return dict(sorted(found.items(), key=lambda item: (item[1].position, item[0])))


#: Every kind of published statistic by its study-file name, in schema order.
KINDS: dict[str, type[Published]] = discover(__name__)

from resurv.statistics.published.events import EventCount  # noqa: E402
from resurv.statistics.published.hr import HazardRatio  # noqa: E402
from resurv.statistics.published.landmark import Landmark  # noqa: E402
from resurv.statistics.published.logrank import LogRank  # noqa: E402
from resurv.statistics.published.median import MedianReached  # noqa: E402
from resurv.statistics.published.not_reached import MedianNotReached  # noqa: E402
from resurv.statistics.published.rmean import RestrictedMean  # noqa: E402


def kind(name: str) -> type[Published]:
    """The kind with this study-file name."""
    return KINDS[name]


def read_statistic(reader: TableReader, arms: Mapping[str, Any]) -> Published:
    """The record of one ``[[survival]]`` table of a study file.

    ``arms`` maps arm ids to :class:`resurv.io.study.Arm`. The ``statistic`` key names the kind;
    only the keys the kind declares are allowed and its required ones must be present; the
    kind's :meth:`~resurv.statistics.published.base.Published.parse` applies its rules.
    """
    cls = KINDS[reader.string("statistic", choices=KINDS)]
    reader.only(["endpoint", "statistic", "quote", *cls.required, *cls.optional])
    for key in cls.required:
        reader.raw(key)
    return cls.parse(reader, arms)


def from_table(
    table: Mapping[str, Any], arms, file: str = "<table>", prefix: str = "survival"
) -> Published:
    """A record from a study-file-like table (e.g. ``{"endpoint": "os", "statistic": ...}``).

    ``arms``: a mapping of arm ids to arms, or a sequence of arms. Keys whose value is None are
    left out (TOML has no null) and tuples are read as lists. Broken rules raise
    :class:`~resurv.errors.StudyValidationError`.
    """
    if not isinstance(arms, Mapping):
        arms = {a.id: a for a in arms}
    table = {k: list(v) if isinstance(v, tuple) else v for k, v in table.items() if v is not None}
    return read_statistic(TableReader(table, file, prefix, StudyValidationError), arms)
