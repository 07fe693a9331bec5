"""Figures of posterior predictive checks of survival statistics, as PNG bytes.

One figure per published value (the predictive distribution of the statistic in replicate
trials, the published value marked, the two-sided ppp in the title) and one figure of the
observed Kaplan–Meier curves against pointwise bands of replicate curves
(:func:`resurv.checks.ppc_survival.km_vs_predictive`).
"""

from __future__ import annotations

import re

import numpy as np  # noqa: E402

from resurv.checks.ppc import two_sided_ppp  # noqa: E402
from resurv.report import canvas as plt
from resurv.report.figures import to_png  # noqa: E402

__all__ = ["km_bands_figure", "predictive_figure", "published_value_figures"]

_COLOURS = ("#1f4e79", "#b5452b")


def predictive_figure(
    statistic: str,
    arm: str,
    draws,
    published: float,
    ppp: float | None = None,
    note: str = "",
) -> bytes:
    """Histogram of the predictive draws of one statistic with the published value marked.

    Discrete statistics (at most 40 distinct values, e.g. event counts, the not-reached
    indicator, rounded survival proportions) are drawn as bars of their frequencies. Infinite
    draws (a median or confidence limit not reached) cannot be placed on the axis: their share
    is written on the figure; nan draws (statistic undefined) are left out.

    Parameters
    ----------
    statistic, arm : str
        Names for the title.
    draws : array_like
        Predictive draws, one per replicate trial.
    published : float
        The value compared with the draws (``PublishedValue.observed_for_check``).
    ppp : float, optional
        Two-sided posterior predictive p-value; computed from the draws when not given.
    note : str
        Text under the axis (e.g. how the statistic is defined).

    Returns
    -------
    bytes
        PNG image.
    """
    draws = np.asarray(draws, dtype=float).ravel()
    draws = draws[~np.isnan(draws)]
    if ppp is None:
        ppp = two_sided_ppp(draws, published)
    finite = draws[np.isfinite(draws)]
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    values, counts = np.unique(finite, return_counts=True)
    if finite.size and values.size <= 40:
        width = 0.8 * (np.min(np.diff(values)) if values.size > 1 else 1.0)
        ax.bar(values, counts / draws.size, width=width, color=_COLOURS[0], alpha=0.7)
        ax.set_ylabel("share of replicates")
    elif finite.size:
        ax.hist(finite, bins=50, density=True, color=_COLOURS[0], alpha=0.7)
        ax.set_ylabel("density")
    ax.axvline(published, color=_COLOURS[1], linewidth=2, label=f"published {published:.4g}")
    beyond = np.mean(np.isinf(draws)) if draws.size else 0.0
    if beyond > 0:
        ax.text(
            0.98,
            0.95,
            f"not reached / infinite: {100 * beyond:.1f}%",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
        )
    ax.legend(loc="best", fontsize=9, framealpha=0.8)
    ax.set_title(f"{statistic} · {arm}: ppp = {ppp:.3f} ({draws.size} replicates)", fontsize=10)
    ax.set_xlabel(statistic)
    if note:
        fig.text(0.01, -0.02, note, fontsize=7, color="#555", ha="left", va="top", wrap=True)
    ax.grid(alpha=0.3)
    return to_png(fig)


def published_value_figures(published_values, posterior, rng) -> dict[str, bytes]:
    """A PNG per published value that has a predictive check.

    Parameters
    ----------
    published_values : list of resurv.models.built.PublishedValue
        Rows from a builder (e.g. :func:`resurv.checks.ppc_survival.published_survival_values`).
    posterior : xarray.Dataset
        Posterior draws.
    rng : numpy.random.Generator
        Source of randomness for the replicate trials.

    Returns
    -------
    dict
        File stem (``ppc_<statistic>_<arm>``, lower case, safe characters) → PNG bytes.
    """
    figures = {}
    for pv in published_values:
        if pv.predictive is None:
            continue
        draws = pv.predictive(posterior, rng)
        stem = re.sub(r"[^a-z0-9]+", "_", f"ppc_{pv.statistic}_{pv.arm}".lower()).strip("_")
        figures[stem] = predictive_figure(
            pv.statistic, pv.arm, draws, pv.observed_for_check, note=pv.note
        )
    return figures


def km_bands_figure(bands, title: str = "Kaplan–Meier curves against replicate trials") -> bytes:
    """Observed KM curves with pointwise 50% and 95% bands of replicate KM curves, per arm.

    Parameters
    ----------
    bands : resurv.checks.ppc_survival.KMPredictiveBands
        Output of :func:`resurv.checks.ppc_survival.km_vs_predictive`.
    title : str
        Figure title.

    Returns
    -------
    bytes
        PNG image.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for j, label in enumerate(bands.arm_labels):
        colour = _COLOURS[j % 2]
        kw = {"step": "post", "color": colour, "linewidth": 0}
        ax.fill_between(bands.grid, bands.lower_95[:, j], bands.upper_95[:, j], alpha=0.15, **kw)
        ax.fill_between(bands.grid, bands.lower_50[:, j], bands.upper_50[:, j], alpha=0.3, **kw)
        ax.step(bands.grid, bands.observed[:, j], where="post", color=colour, label=label)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("months")
    ax.set_ylabel("survival")
    ax.set_title(f"{title} ({bands.n_replicates} replicates; bands 50%, 95%)", fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return to_png(fig)
