"""Report figures (matplotlib, Agg backend), returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from resurv.report import canvas as plt

__all__ = ["effects_forest", "forest_plot", "to_png"]


def to_png(fig) -> bytes:
    """Render a figure to PNG bytes (fixed DPI and metadata, so reruns give identical files)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def forest_plot(
    rows: pd.DataFrame, title: str, xlabel: str, reference: float | None = None
) -> bytes:
    """Posterior median and 95% equal-tailed interval of one quantity, per (model, prior set).

    The posterior mean stands in where the table has no median (older sweep folders).
    """
    centre = rows["median"] if "median" in rows and rows["median"].notna().all() else rows["mean"]
    labels = [f"{m} · {p}" for m, p in zip(rows["model"], rows["priors"], strict=True)]
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ax.errorbar(
        centre,
        y,
        xerr=[centre - rows["ci_low"], rows["ci_high"] - centre],
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


def sbc_histogram(ranks: np.ndarray, n_draws: int, title: str, bins: int = 20) -> bytes:
    """Histogram of simulation-based-calibration ranks with the uniform band (99% pointwise).

    Ranks of the truth among ``n_draws`` posterior draws are uniform on 0..n_draws when the
    posterior is calibrated (Talts S et al. arXiv:1804.06788).
    """
    from scipy import stats

    fig, ax = plt.subplots(figsize=(6, 3.2))
    edges = np.linspace(-0.5, n_draws + 0.5, bins + 1)
    ax.hist(ranks, bins=edges, color="#1f4e79", alpha=0.8)
    expected = len(ranks) / bins
    lo, hi = stats.binom.ppf([0.005, 0.995], len(ranks), 1 / bins)
    ax.axhspan(lo, hi, color="#999", alpha=0.25, label="99% band under uniformity")
    ax.axhline(expected, color="#555", linewidth=1)
    ax.set_xlabel(f"rank of the true value among {n_draws} posterior draws")
    ax.set_ylabel("replicates")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return to_png(fig)


def effects_forest(panels: list[tuple[str, pd.DataFrame, bool]], title: str) -> bytes:
    """One forest panel per endpoint: the key effect of each fit across prior sets.

    Parameters
    ----------
    panels : list of (heading, rows, log_axis)
        ``rows`` with columns ``label`` (model · prior set, with marks), ``value`` (posterior
        median), ``eti95_lb`` and ``eti95_ub``; ``log_axis`` for a ratio (reference line at 1,
        else at 0).
    title : str
        Figure title.
    """
    heights = [0.32 * len(rows) + 0.9 for _, rows, _ in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7.2, sum(heights) + 0.6),
        squeeze=False,
        height_ratios=heights,
    )
    for ax, (heading, rows, log_axis) in zip(axes[:, 0], panels, strict=True):
        y = np.arange(len(rows))[::-1]
        value = rows["value"].to_numpy(dtype=float)
        ax.errorbar(
            value,
            y,
            xerr=[
                value - rows["eti95_lb"].to_numpy(float),
                rows["eti95_ub"].to_numpy(float) - value,
            ],
            fmt="o",
            color="#1f4e79",
            capsize=3,
        )
        ax.axvline(1.0 if log_axis else 0.0, color="#999", linestyle="--", linewidth=1)
        if log_axis:
            ax.set_xscale("log")
        ax.set_yticks(y, list(rows["label"]), fontsize=8)
        ax.set_title(heading, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)
