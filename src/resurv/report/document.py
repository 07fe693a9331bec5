"""A tiny document model rendered both to Markdown (with PNG files) and to self-contained HTML.

A report is a list of :class:`Section` objects holding paragraphs, tables (pandas DataFrames) and
figures (PNG bytes). ``render_markdown`` writes figures beside ``report.md``; ``render_html``
embeds them as base64 data URIs so that ``index.html`` opens from disk with no server or network.
"""

from __future__ import annotations

import base64
import html
import numbers
import re
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Figure", "Section", "render_html", "render_markdown"]


@dataclass
class Figure:
    """A PNG figure with a file name and a caption."""

    name: str
    png: bytes
    caption: str


@dataclass
class Section:
    """A report section: a title, then blocks in order (text, tables, figures)."""

    title: str
    blocks: list = field(default_factory=list)
    alert: bool = False

    def text(self, paragraph: str) -> Section:
        """Append a paragraph (Markdown-light: plain text)."""
        self.blocks.append(("text", paragraph))
        return self

    def table(self, frame: pd.DataFrame, caption: str = "") -> Section:
        """Append a table."""
        self.blocks.append(("table", (frame, caption)))
        return self

    def figure(self, fig: Figure) -> Section:
        """Append a figure."""
        self.blocks.append(("figure", fig))
        return self


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [_fmt(v).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(title: str, sections: list[Section]) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the figure files it links to (name → PNG bytes)."""
    out = [f"# {title}", ""]
    files: dict[str, bytes] = {}
    for sec in sections:
        out += [f"## {'⚠ ' if sec.alert else ''}{sec.title}", ""]
        for kind, value in sec.blocks:
            if kind == "text":
                out += [value, ""]
            elif kind == "table":
                frame, caption = value
                if caption:
                    out += [f"*{caption}*", ""]
                out += [_md_table(frame), ""]
            else:
                files[f"figures/{value.name}.png"] = value.png
                out += [
                    f"![{value.caption}](figures/{value.name}.png)",
                    "",
                    f"*{value.caption}*",
                    "",
                ]
    return "\n".join(out), files


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1d1d1f;line-height:1.45}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.88em}
th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left}
td.num{text-align:right}
th{background:#eef}
td:first-child,th:first-child{text-align:left}
h2{border-bottom:2px solid #99a;padding-bottom:.2em;margin-top:2em}
.alert{background:#fee;border:2px solid #c00;padding:.5em 1em}
figure{margin:1em 0} figure img{max-width:100%} figcaption{font-size:.9em;color:#444}
"""


def _td(value) -> str:
    """A table cell; numbers right-aligned."""
    numeric = isinstance(value, numbers.Number) and not isinstance(value, bool)
    cls = ' class="num"' if numeric else ""
    return f"<td{cls}>{html.escape(_fmt(value))}</td>"


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_html(title: str, sections: list[Section]) -> str:
    """Self-contained HTML: CSS inline, figures as data URIs."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<nav><p><strong>Contents</strong></p><ol>"
        + "".join(
            f'<li><a href="#{_anchor(sec.title)}">{html.escape(sec.title)}</a></li>'
            for sec in sections
        )
        + "</ol></nav>",
    ]
    for sec in sections:
        cls = ' class="alert"' if sec.alert else ""
        parts.append(f'<section id="{_anchor(sec.title)}"{cls}><h2>{html.escape(sec.title)}</h2>')
        for kind, value in sec.blocks:
            if kind == "text":
                parts.append(f"<p>{html.escape(value)}</p>")
            elif kind == "table":
                frame, caption = value
                if caption:
                    parts.append(f"<p><em>{html.escape(caption)}</em></p>")
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
                body = "".join(
                    "<tr>" + "".join(_td(v) for v in row) + "</tr>"
                    for row in frame.itertuples(index=False)
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            else:
                data = base64.b64encode(value.png).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(value.caption)}" '
                    f'src="data:image/png;base64,{data}"><figcaption>'
                    f"{html.escape(value.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
