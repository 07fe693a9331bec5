"""Figures drawn from saved posterior draws: prior against posterior, survival curves, effects.

Every function takes plain arrays (or prior specifications) and returns PNG bytes
(:func:`resurv.report.figures.to_png`: fixed DPI, no software metadata, so reruns give identical
files).
"""

from __future__ import annotations

import numpy as np  # noqa: E402

from resurv.checks.ppc import two_sided_ppp  # noqa: E402
from resurv.report import canvas as plt
from resurv.report.figures import to_png  # noqa: E402

__all__ = [
    "effect_density_figure",
    "is_indicator",
    "predictive_panel",
    "prior_density",
    "prior_posterior_figure",
    "survival_bands",
    "survival_curves_figure",
]

_COLOURS = ("#1f4e79", "#b5452b", "#3a7d44", "#7a4fa0", "#c48a00", "#555555")


def prior_density(spec, x) -> np.ndarray:
    """Density of a prior specification at ``x``.

    A registry distribution uses its scipy.stats counterpart
    (:meth:`resurv.io.priors.PriorSpec.scipy_frozen`); a robust mixture is
    w·p_inf(x) + (1 − w)·p_vague(x) (Schmidli H et al. Biometrics 2014;70:1023).

    Parameters
    ----------
    spec : resurv.io.priors.PriorSpec
        The prior.
    x : array_like
        Points on the parameter's scale.

    Returns
    -------
    numpy.ndarray
        The density at ``x``.
    """
    x = np.asarray(x, dtype=float)
    if spec.dist == "robust":
        return spec.weight * prior_density(spec.informative, x) + (1 - spec.weight) * (
            prior_density(spec.vague, x)
        )
    return spec.scipy_frozen().pdf(x)


def _axis_range(draws: np.ndarray, spec) -> tuple[float, float]:
    """Plot range: the posterior's 0.5–99.5% range widened to the prior's 5–95% range."""
    lo, hi = np.quantile(draws, [0.005, 0.995])
    parts = [spec.informative, spec.vague] if spec.dist == "robust" else [spec]
    for part in parts:
        plo, phi = part.scipy_frozen().ppf([0.05, 0.95])
        lo, hi = min(lo, plo), max(hi, phi)
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def prior_posterior_figure(panels: list[list[tuple]], row_labels, col_labels, title: str) -> bytes:
    """Grid of prior densities (lines) against posterior draws (histograms).

    Parameters
    ----------
    panels : list of lists of (PriorSpec, numpy.ndarray) or None
        ``panels[i][j]``: the prior and the posterior draws of parameter j under prior set i.
    row_labels, col_labels : sequence of str
        Prior-set names (rows) and parameter names (columns).
    title : str
        Figure title.

    Returns
    -------
    bytes
        PNG image.
    """
    n_rows, n_cols = len(row_labels), len(col_labels)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.1 * n_cols + 0.6, 2.0 * n_rows + 0.8), squeeze=False
    )
    for i, row in enumerate(panels):
        for j, cell in enumerate(row):
            ax = axes[i][j]
            if cell is None:
                ax.set_axis_off()
                continue
            spec, draws = cell
            draws = np.asarray(draws, dtype=float)
            lo, hi = _axis_range(draws, spec)
            inside = draws[(draws >= lo) & (draws <= hi)]
            ax.hist(
                inside,
                bins=np.linspace(lo, hi, 50),
                density=True,
                color=_COLOURS[0],
                alpha=0.55,
                label="posterior",
            )
            x = np.linspace(lo, hi, 400)
            ax.plot(x, prior_density(spec, x), color=_COLOURS[1], linewidth=1.6, label="prior")
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_title(col_labels[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=9)
    axes[0][0].legend(fontsize=7, frameon=False, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def survival_bands(curve, grid, prob: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise posterior median and equal-tailed ``prob`` band of S(t) on ``grid``.

    Parameters
    ----------
    curve : resurv.families.Curve
        An arm's curve with parameters of shape (R, 1) (one row per posterior draw, as
        :func:`resurv.models.survival.curves_from_posterior` returns them).
    grid : array_like
        Times (months).
    prob : float
        Band probability.

    Returns
    -------
    (median, lower, upper) : numpy.ndarray
        Each of the grid's shape.
    """
    grid = np.asarray(grid, dtype=float)
    surv = np.asarray(curve.survival(grid[None, :]), dtype=float)
    q = np.quantile(surv, [0.5, (1 - prob) / 2, (1 + prob) / 2], axis=0)
    return q[0], q[1], q[2]


def survival_curves_figure(
    panels: dict, grid, arm_labels, title: str, data_end: dict | None = None
) -> bytes:
    """Posterior survival curves per arm with 95% bands, one panel per prior set.

    Parameters
    ----------
    panels : dict
        Prior-set name → pair of (median, lower, upper) tuples, one per arm
        (:func:`survival_bands`).
    grid : array_like
        Times (months).
    arm_labels : sequence of str
        Arm names.
    title : str
        Figure title.
    data_end : dict, optional
        Prior-set name → the time where the data end (months; a dashed vertical line, the
        curves beyond it are extrapolation).

    Returns
    -------
    bytes
        PNG image.
    """
    data_end = data_end or {}
    n = len(panels)
    n_cols = min(n, 4)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols + 0.5, 2.8 * n_rows + 0.6), squeeze=False
    )
    for k, (name, arms) in enumerate(panels.items()):
        ax = axes[k // n_cols][k % n_cols]
        for j, (med, lo, hi) in enumerate(arms):
            ax.fill_between(grid, lo, hi, color=_COLOURS[j], alpha=0.2, linewidth=0)
            ax.plot(grid, med, color=_COLOURS[j], linewidth=1.5, label=arm_labels[j])
        ax.axhline(0.5, color="#999", linewidth=0.8, linestyle=":")
        end = data_end.get(name)
        if end is not None and np.isfinite(end) and grid[0] < end < grid[-1]:
            ax.axvline(end, color="#333", linewidth=1, linestyle="--")
            ax.text(end, 0.98, " data end", fontsize=6, va="top", ha="left", color="#333")
        ax.set_ylim(0, 1.01)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("months", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if k % n_cols == 0:
            ax.set_ylabel("survival", fontsize=8)
    for k in range(n, n_rows * n_cols):
        axes[k // n_cols][k % n_cols].set_axis_off()
    axes[0][0].legend(fontsize=7, frameon=False, loc="lower left")
    fig.suptitle(title + " (posterior median, 95% band)", fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def effect_density_figure(
    draws: dict, xlabel: str, title: str, marks=(0.7, 1.0), priors: dict | None = None
) -> bytes:
    """Posterior densities of a ratio (HR or time ratio) on a log axis, one line per label.

    Densities are of the log ratio (so the prior of the log ratio is drawn on the same scale).

    Parameters
    ----------
    draws : dict
        Label (model · prior set) → posterior draws of the ratio.
    xlabel, title : str
        Axis label and title.
    marks : sequence of float
        Reference values drawn as vertical lines (e.g. HR 0.7 and 1).
    priors : dict, optional
        Label → prior specification of the log ratio, drawn as a thin dashed line of the same
        colour as that label's posterior.

    Returns
    -------
    bytes
        PNG image.
    """
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    logs = {k: np.log(np.asarray(v, dtype=float)) for k, v in draws.items()}
    every = np.concatenate(list(logs.values()))
    lo, hi = np.quantile(every, [0.002, 0.998])
    lo, hi = min(lo, np.log(min(marks)) - 0.2), max(hi, np.log(max(marks)) + 0.2)
    edges = np.linspace(lo, hi, 80)
    centres = 0.5 * (edges[1:] + edges[:-1])
    for k, (label, values) in enumerate(logs.items()):
        density, _ = np.histogram(values, bins=edges, density=True)
        colour = _COLOURS[k % len(_COLOURS)]
        style = "-" if k < len(_COLOURS) else "--"
        ax.plot(np.exp(centres), density, color=colour, linestyle=style, label=label)
        spec = (priors or {}).get(label)
        if spec is not None:
            fine = np.linspace(lo, hi, 300)
            ax.plot(
                np.exp(fine),
                prior_density(spec, fine),
                color=colour,
                linestyle=(0, (2, 2)),
                linewidth=0.9,
                alpha=0.8,
            )
    if priors:
        ax.plot([], [], color="#555", linestyle=(0, (2, 2)), linewidth=0.9, label="prior")
    for m in marks:
        ax.axvline(m, color="#999", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density of the log ratio")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.grid(alpha=0.3)
    return to_png(fig)


def is_indicator(draws: np.ndarray, published: float) -> bool:
    """Whether a statistic is a 0/1 indicator such as "median not reached".

    True when every draw and the published value are 0 or 1.
    """
    draws = np.asarray(draws, dtype=float)
    return bool(draws.size) and np.isin(draws, (0.0, 1.0)).all() and published in (0.0, 1.0)


def _probability_panel(ax, label: str, probability: float, published: float, ppp: float) -> None:
    """An indicator's predicted probability as one bar on [0, 1], the published value marked."""
    ax.barh([0], [probability], height=0.5, color=_COLOURS[0], alpha=0.8)
    ax.axvline(published, color=_COLOURS[1], linewidth=2)
    ax.text(min(probability, 0.75) + 0.02, 0, f"{probability:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, 0.6)
    ax.set_yticks([])
    ax.set_xlabel("predicted probability in replicate trials", fontsize=7)
    ax.set_title(
        f"{label}\npredicted P = {probability:.2f}; published {published:g}, ppp {ppp:.2f}",
        fontsize=8,
    )
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="x")


def predictive_panel(items: list[tuple], title: str) -> bytes:
    """Predictive distributions of several published statistics, the published value marked.

    Parameters
    ----------
    items : list of (label, draws, published)
        One panel per published value: its predictive draws in replicate trials and the value
        the paper printed (the exact value behind a rounded print where known). Infinite draws (a
        median not reached) are counted and written on the panel, nan draws left out. A 0/1
        indicator (:func:`is_indicator`, e.g. "median not reached") is shown as its predicted
        probability, one bar on [0, 1], not as a histogram of zeros and ones.
    title : str
        Figure title.

    Returns
    -------
    bytes
        PNG image.
    """
    n = len(items)
    n_cols = min(n, 3)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.6 * n_cols + 0.4, 2.6 * n_rows + 0.6), squeeze=False
    )
    for k, (label, draws, published) in enumerate(items):
        ax = axes[k // n_cols][k % n_cols]
        draws = np.asarray(draws, dtype=float).ravel()
        draws = draws[~np.isnan(draws)]
        ppp = two_sided_ppp(draws, published)
        finite = draws[np.isfinite(draws)]
        values, counts = np.unique(finite, return_counts=True)
        if is_indicator(draws, published):
            _probability_panel(ax, label, float(np.mean(draws == 1)), published, ppp)
            continue
        if finite.size and values.size <= 40:
            width = 0.8 * (np.min(np.diff(values)) if values.size > 1 else 1.0)
            ax.bar(values, counts / draws.size, width=width, color=_COLOURS[0], alpha=0.7)
        elif finite.size:
            ax.hist(finite, bins=50, density=True, color=_COLOURS[0], alpha=0.7)
        ax.axvline(published, color=_COLOURS[1], linewidth=2)
        beyond = float(np.mean(np.isinf(draws))) if draws.size else 0.0
        if beyond > 0:
            ax.text(
                0.97,
                0.95,
                f"not reached: {100 * beyond:.1f}%",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
            )
        ax.set_title(f"{label}\npublished {published:.4g}, ppp {ppp:.2f}", fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for k in range(n, n_rows * n_cols):
        axes[k // n_cols][k % n_cols].set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)
