"""Report figures on canvases of their own: the same PNG as pyplot, no global backend."""

import io

import numpy as np
import pytest

from resurv.report import canvas


def _draw(fig, axes):
    for k, ax in enumerate(np.ravel(axes)):
        ax.plot([0, 1, 2], [k, 1 + k, 0.5 * k], marker="o")
        ax.set_title(f"panel {k}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {"figsize": (6.0, 3.4)}), ((2, 3), {"figsize": (7.0, 5.0), "squeeze": False})],
)
def test_canvas_figures_render_as_pyplot_figures(args, kwargs):
    import matplotlib.pyplot as plt

    fig, axes = canvas.subplots(*args, **kwargs)
    reference_fig, reference_axes = plt.subplots(*args, **kwargs)
    try:
        assert np.shape(axes) == np.shape(reference_axes)
        assert tuple(fig.get_size_inches()) == kwargs["figsize"]
        assert _draw(fig, axes) == _draw(reference_fig, reference_axes)
    finally:
        plt.close(reference_fig)
    canvas.close(fig)
    assert fig not in [plt.figure(n) for n in plt.get_fignums()]
