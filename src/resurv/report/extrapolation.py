"""The extrapolation of a fit written out: tables, a figure marking where the data end, Markdown.

Reads what ``resurv.inference.extrapolation`` computed; draws each arm's posterior median
survival and hazard with 95% bands, solid up to the end of the data and dashed beyond it, with a
vertical line where the data end.
"""

from __future__ import annotations

from pathlib import Path

from resurv.inference.extrapolation import Extrapolation
from resurv.report import canvas as plt
from resurv.report.figures import to_png

__all__ = ["extrapolation_figure", "extrapolation_markdown", "write_extrapolation"]


def extrapolation_figure(ext: Extrapolation, title: str = "") -> bytes:
    """Survival (left) and hazard (right) by arm; dashed beyond the end of the data."""
    fig, (ax_s, ax_h) = plt.subplots(1, 2, figsize=(10, 4))
    end = ext.data_end
    for arm, rows in ext.curves.groupby("arm", sort=False):
        for ax, col in ((ax_s, "survival"), (ax_h, "hazard")):
            inside = rows if end is None else rows[rows["time"] <= end]
            line = ax.plot(inside["time"], inside[col], label=str(arm))[0]
            if end is not None:
                beyond = rows[rows["time"] >= inside["time"].max()]
                ax.plot(beyond["time"], beyond[col], linestyle="--", color=line.get_color())
            ax.fill_between(
                rows["time"],
                rows[f"{col}_low"],
                rows[f"{col}_high"],
                alpha=0.15,
                color=line.get_color(),
            )
    for ax, label in ((ax_s, "survival"), (ax_h, "hazard per month")):
        if end is not None:
            ax.axvline(end, color="grey", linewidth=0.8)
            ax.text(end, ax.get_ylim()[1], " data end", va="top", fontsize=8, color="grey")
        ax.set_xlabel("months")
        ax.set_ylabel(label)
    ax_s.set_ylim(0, 1)
    ax_s.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return to_png(fig)


def extrapolation_markdown(ext: Extrapolation, title: str) -> str:
    """RMST by arm and horizon (posterior median and 95% interval), extrapolated ones marked."""
    end = "not known" if ext.data_end is None else f"{ext.data_end:.1f} months"
    lines = [
        f"# Extrapolation: {title}",
        "",
        f"Data end at {end}; beyond it the curves are the fitted family's extrapolation "
        "(dashed in the figure).",
        "",
        "| arm | horizon (months) | RMST (months) | 95% interval | |",
        "|---|---|---|---|---|",
    ]
    for row in ext.rmst.itertuples():
        mark = "extrapolated" if row.extrapolated else "within the data"
        lines.append(
            f"| {row.arm} | {row.horizon:g} | {row.rmst:.1f} | "
            f"{row.rmst_low:.1f}-{row.rmst_high:.1f} | {mark} |"
        )
    lines += ["", "![survival and hazard](extrapolation.png)", ""]
    return "\n".join(lines)


def write_extrapolation(ext: Extrapolation, out_dir, title: str) -> Path:
    """Write extrapolation_curves.csv, extrapolation_rmst.csv, extrapolation.png and .md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext.curves.to_csv(out / "extrapolation_curves.csv", index=False)
    ext.rmst.to_csv(out / "extrapolation_rmst.csv", index=False)
    (out / "extrapolation.png").write_bytes(extrapolation_figure(ext, title))
    path = out / "extrapolation.md"
    path.write_text(extrapolation_markdown(ext, title))
    return path
