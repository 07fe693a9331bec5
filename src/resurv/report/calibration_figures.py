"""Calibration figures drawn with ArviZ (arviz-plots): PIT ECDF of the SBC ranks.

Simulation-based calibration (Talts S et al. arXiv:1804.06788) ranks each simulated truth among
the posterior draws of its replicate; when the summary-data posterior is calibrated the ranks are
uniform. The ranks (0..L, L posterior draws per replicate, ``calibration.csv``) become PIT
values (rank + ½)/(L + 1) and are drawn with :func:`arviz_plots.plot_ecdf_pit`: the ECDF minus
the uniform CDF (Δ-ECDF) per target, with the uniformity test ArviZ computes for it (its p-value
written on each panel; Säilynoja T et al. Stat Comput 2022;32:32).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["sbc_ecdf_figure", "sbc_pit"]


def sbc_pit(calibration: pd.DataFrame, n_draws: int) -> xr.Dataset:
    """PIT values (rank + ½)/(n_draws + 1) per target, dims (chain = 1, draw = replicate).

    Only the replicates that ranked every target are kept (one draw dimension for all).
    """
    groups = dict(tuple(calibration.groupby("target", sort=False)))
    common = set.intersection(*(set(g["replicate"]) for g in groups.values())) if groups else set()
    data = {}
    for target, rows in groups.items():
        rows = rows[rows["replicate"].isin(common)].drop_duplicates("replicate")
        ranks = rows.sort_values("replicate")["rank"].to_numpy(dtype=float)
        data[str(target)] = (("chain", "draw"), ((ranks + 0.5) / (n_draws + 1))[None, :])
    return xr.Dataset(data)


def sbc_ecdf_figure(calibration: pd.DataFrame, n_draws: int) -> bytes | None:
    """PNG of the PIT Δ-ECDF of every target's SBC ranks (None without ranks)."""
    if "rank" not in calibration or not len(calibration):
        return None
    from arviz_plots import plot_ecdf_pit

    pit = sbc_pit(calibration.dropna(subset=["rank"]), n_draws)
    if not pit.data_vars:
        return None
    n = len(pit.data_vars)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    collection = plot_ecdf_pit(
        xr.DataTree.from_dict({"prior_sbc": pit}),
        backend="matplotlib",
        col_wrap=cols,
        figure_kwargs={"figsize": (3.4 * cols, 2.5 * rows + 0.3), "layout": "constrained"},
    )
    figure = collection.get_viz("figure")
    figure = figure.item() if hasattr(figure, "item") else figure
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    import matplotlib.pyplot as pyplot

    pyplot.close(figure)
    return buf.getvalue()
