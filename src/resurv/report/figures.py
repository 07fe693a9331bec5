"""Report figures (matplotlib, Agg backend), returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from resurv.report import canvas as plt

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
