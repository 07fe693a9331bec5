"""Figures on canvases of their own: the two ``pyplot`` calls the report modules use.

``subplots`` makes a :class:`matplotlib.figure.Figure` attached to a
:class:`matplotlib.backends.backend_agg.FigureCanvasAgg`, so that a figure renders to PNG without
selecting a global backend (``matplotlib.use``) and without pyplot's registry of open figures;
``close`` has nothing to release. The report modules import this module as ``plt``.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["close", "subplots"]

_LAYOUT = (
    "sharex",
    "sharey",
    "squeeze",
    "width_ratios",
    "height_ratios",
    "subplot_kw",
    "gridspec_kw",
)


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """As ``matplotlib.pyplot.subplots``: (figure, axes); other keywords go to the figure."""
    layout = {k: kwargs.pop(k) for k in _LAYOUT if k in kwargs}
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **layout)


def close(fig) -> None:
    """As ``matplotlib.pyplot.close`` for a figure made by :func:`subplots`: nothing to release."""
    del fig
