"""Report figures (matplotlib, Agg backend), returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["forest_plot", "to_png"]


def to_png(fig) -> bytes:
    """Render a figure to PNG bytes (fixed DPI and metadata, so reruns give identical files)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def forest_plot(
    rows: pd.DataFrame, title: str, xlabel: str, reference: float | None = None
) -> bytes:
    """Posterior mean and 95% interval of one quantity, one line per (model, prior set)."""
    labels = [f"{m} · {p}" for m, p in zip(rows["model"], rows["priors"], strict=True)]
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ax.errorbar(
        rows["mean"],
        y,
        xerr=[rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]],
        fmt="o",
        color="#1f4e79",
        capsize=3,
    )
    if reference is not None:
        ax.axvline(reference, color="#999", linestyle="--", linewidth=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return to_png(fig)
