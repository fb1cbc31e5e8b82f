"""What the charts draw with: styled axes, compound bars, labels, legends, the header and the
"No data" panel. Public matplotlib API only; where charts.fast has a cheaper way to the same
pixels (labels, legends, ticks) the function here takes it when `fast.enabled()`.

Many-bar series (candles, volume, MACD histogram) are one compound Path per colour, not one
artist or path per bar.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Polygon
from matplotlib.path import Path

from binance_svc.charts import fast
from binance_svc.charts.style import (INK, GRID, MUTED, SEP, SPINE, TAG, Measure, Style,
                                      as_of_text, provenance_tag)


def style_axes(ax, st: Style, *, grid_axis: str | None = "y") -> None:
    ax.tick_params(labelsize=st.tick, length=st.tick_len, width=st.thin, colors=INK,
                   pad=st.tick_pad)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(st.thin)
        ax.spines[side].set_color(SPINE)
    if grid_axis:
        ax.grid(True, axis=grid_axis, color=GRID, linewidth=st.thin)
        ax.set_axisbelow(True)


def finish_ticks(ax, st: Style, grid: str | None = None) -> None:
    """The last call on an axes: on the fast path its ticks, tick labels and `grid` lines
    become a few flat artists (fast.flat_ticks); otherwise matplotlib draws its own."""
    if fast.enabled():
        fast.flat_ticks(ax, st, grid)


def add_labels(ax, xs, ys, texts, size_pt: float, colors, *, transform=None,
               ha: str = "center", va: str = "center", angle: float = 0.0,
               bold: bool = False) -> None:
    """Short one-line labels at (x, y) in `transform` coordinates (data by default), as
    ax.text would place them (rotation_mode="anchor"); `colors` is one colour or one per
    label. Like ax.text, the labels are not clipped to the axes. On the fast path they are
    one artist of glyph outlines (fast.add_labels)."""
    if fast.enabled():
        return fast.add_labels(ax, xs, ys, texts, size_pt, colors, transform=transform,
                               ha=ha, va=va, angle=angle, bold=bold)
    transform = ax.transData if transform is None else transform
    colors = [colors] * len(texts) if isinstance(colors, str) else list(colors)
    for x, y, text, color in zip(xs, ys, texts, colors):
        ax.text(x, y, text, transform=transform, ha=ha, va=va, rotation=angle,
                rotation_mode="anchor", fontsize=size_pt, color=color,
                fontweight="bold" if bold else "normal", parse_math=False)


# --------------------------------------------------------------------------------------------
# Legends
# --------------------------------------------------------------------------------------------

LEGEND_PAD = 0.5                  # matplotlib's borderaxespad, in font sizes


class LegendSpec(NamedTuple):
    """Everything a legend's pixels depend on but its position (a cache key for fast.legend).

    An entry is ("line", colour, linewidth, linestyle, label) or
    ("patch", facecolour, edgecolour, linewidth, label): plain values, so a spec hashes."""
    entries: tuple
    fontsize: float
    ncols: int
    framealpha: float
    handlelength: float | None
    dpi: float
    pad: float = LEGEND_PAD

    def handles(self) -> list:
        handles = []
        for kind, *spec, label in self.entries:
            if kind == "patch":
                face, edge, width = spec
                handles.append(Patch(facecolor=face, edgecolor=edge, linewidth=width,
                                     label=label))
            else:
                color, width, style = spec
                handles.append(Line2D([], [], color=color, linewidth=width, linestyle=style,
                                      label=label))
        return handles

    def kwargs(self) -> dict:
        kwargs = {"fontsize": self.fontsize, "ncols": self.ncols, "frameon": True,
                  "framealpha": self.framealpha, "edgecolor": "none",
                  "borderaxespad": self.pad}
        if self.handlelength is not None:
            kwargs["handlelength"] = self.handlelength
        return kwargs


@dataclass(frozen=True)
class Legend:
    """A legend as a chart's layout describes it."""
    entries: tuple
    loc: str
    anchor: tuple | None = None
    ncols: int = 1
    framealpha: float = 0.85
    handlelength: float | None = None


def mpl_legend(ax, spec: LegendSpec, *, loc: str, anchor=None) -> None:
    """matplotlib's own Legend on the axes."""
    kwargs = spec.kwargs()
    if anchor is not None:
        kwargs["bbox_to_anchor"] = anchor
    ax.legend(handles=spec.handles(), loc=loc, **kwargs)


def legend(ax, st: Style, lg: Legend) -> None:
    """`lg` on the axes: matplotlib's Legend, or on the fast path the same legend pasted as
    an image (fast.legend)."""
    spec = LegendSpec(tuple(lg.entries), st.small, lg.ncols, lg.framealpha, lg.handlelength,
                      ax.figure.dpi)
    if fast.enabled():
        fast.legend(ax, spec, loc=lg.loc, anchor=lg.anchor)
    else:
        mpl_legend(ax, spec, loc=lg.loc, anchor=lg.anchor)


# --------------------------------------------------------------------------------------------
# Header: title, subtitle lines, provenance tag
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    title: str
    title_size: float
    lines: tuple[str, ...]     # the subtitle, wrapped
    tag: str
    height: float              # pixels from the top edge to where the content may start


def wrap(parts: list[str], measure: Measure, size: float, max_w: float) -> list[str]:
    """Greedy wrap of " · "-joined parts into lines no wider than max_w pixels."""
    lines: list[str] = []
    for part in (p for p in parts if p):
        if lines and measure.width(lines[-1] + SEP + part, size) <= max_w:
            lines[-1] += SEP + part
        else:
            lines.append(part)
    return lines


def header(st: Style, measure: Measure, title: str, subtitle: list[str], tag: str,
           extra_gap: float = 0.0) -> Header:
    """Title and subtitle at the top left, tag at the top right: what fits, and the pixels
    they take."""
    avail = st.width_px - 2 * st.pad
    tag_w = measure.width(tag, st.subtitle, bold=True) + st.px(10) if tag else 0
    title_size = st.title
    while title_size > st.label and measure.width(title, title_size, True) > avail - tag_w:
        title_size *= 0.92
    while len(title) > 8 and measure.width(title, title_size, True) > avail - tag_w:
        title = title[: int(len(title) * 0.9)].rstrip(" ,;:(") + "\u2026"
        title = title.replace("\u2026\u2026", "\u2026")
    lines = wrap(subtitle, measure, st.subtitle, avail)
    y = st.height_px - st.pad
    y -= Measure.line(title_size) + st.px(3)
    if lines:
        y -= Measure.line(st.subtitle) * len(lines)
    return Header(title, title_size, tuple(lines), tag,
                  st.height_px - y + st.px(8) + extra_gap)


def draw_header(fig: Figure, st: Style, hd: Header) -> None:
    y = st.height_px - st.pad
    fig.text(st.pad / st.width_px, y / st.height_px, hd.title, fontsize=hd.title_size,
             fontweight="bold", color=INK, ha="left", va="top", parse_math=False)
    if hd.tag:
        fig.text((st.width_px - st.pad - st.px(3)) / st.width_px,
                 (y - st.px(2)) / st.height_px, hd.tag,
                 fontsize=st.subtitle, fontweight="bold", color="white", ha="right", va="top",
                 parse_math=False, bbox={"boxstyle": "round,pad=0.3", "facecolor": TAG,
                                         "edgecolor": "none"})
    y -= Measure.line(hd.title_size) + st.px(3)
    if hd.lines:
        fig.text(st.pad / st.width_px, y / st.height_px, "\n".join(hd.lines),
                 fontsize=st.subtitle, color=MUTED, ha="left", va="top", linespacing=1.2,
                 parse_math=False)


@dataclass(frozen=True)
class NoData:
    """The layout of a chart whose report has nothing to draw."""
    style: Style
    header: Header


def no_data(report, st: Style, measure: Measure, title: str) -> NoData:
    """A readable picture for an empty report instead of an exception."""
    return NoData(st, header(st, measure, title, [as_of_text(report)], provenance_tag(report)))


def draw_no_data(fig: Figure, layout: NoData) -> None:
    st = layout.style
    draw_header(fig, st, layout.header)
    fig.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=st.pt(28), color=MUTED,
             fontweight="bold")
    fig.text(0.5, 0.5 - st.px(34) / st.height_px,
             "the analysis returned no rows for these parameters", ha="center", va="center",
             fontsize=st.label, color=MUTED)


# --------------------------------------------------------------------------------------------
# Compound paths: thousands of bars or wicks as one artist
# --------------------------------------------------------------------------------------------

_RECT_CODES = np.array([Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY],
                       dtype=Path.code_type)
_SEGMENT_CODES = np.array([Path.MOVETO, Path.LINETO], dtype=Path.code_type)


def add_bars(ax, x, bottom, top, width: float, color, *, alpha: float = 1.0,
             edge: float = 0.0) -> None:
    """Bars centred on x from bottom to top, one PathPatch (limits are set by the caller)."""
    ok = np.isfinite(x) & np.isfinite(bottom) & np.isfinite(top)
    if not ok.any():
        return
    x, bottom, top = x[ok], bottom[ok], top[ok]
    left, right = x - width / 2, x + width / 2
    verts = np.stack([np.column_stack(p) for p in ((left, bottom), (left, top), (right, top),
                                                   (right, bottom), (left, bottom))], axis=1)
    path = Path(verts.reshape(-1, 2), np.tile(_RECT_CODES, len(x)))
    ax.add_artist(PathPatch(path, facecolor=color, edgecolor=color if edge else "none",
                            linewidth=edge, alpha=alpha))


def add_segments(ax, x, y0, y1, color, linewidth: float) -> None:
    """Vertical segments (candle wicks), one PathPatch."""
    ok = np.isfinite(x) & np.isfinite(y0) & np.isfinite(y1)
    if not ok.any():
        return
    verts = np.stack([np.column_stack((x[ok], y0[ok])), np.column_stack((x[ok], y1[ok]))],
                     axis=1)
    path = Path(verts.reshape(-1, 2), np.tile(_SEGMENT_CODES, int(ok.sum())))
    ax.add_artist(PathPatch(path, fill=False, edgecolor=color, linewidth=linewidth,
                            capstyle="butt"))


def add_band(ax, x, lower, upper, color, alpha) -> None:
    """A filled band between two lines, one polygon per run of defined values."""
    ok = np.isfinite(lower) & np.isfinite(upper)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        xs = x[start:stop]
        poly = np.concatenate([np.column_stack((xs, upper[start:stop])),
                               np.column_stack((xs[::-1], lower[start:stop][::-1]))])
        ax.add_artist(Polygon(poly, closed=True, facecolor=color, edgecolor="none",
                              alpha=alpha))


# --------------------------------------------------------------------------------------------
# Legend size without a Figure
# --------------------------------------------------------------------------------------------

def legend_size(measure: Measure, st: Style, entries, ncols: int,
                handlelength: float = 2.0) -> tuple[float, float]:
    """The pixels (width, height) a legend of `entries` in `ncols` columns takes, from
    matplotlib's Legend defaults (borderpad 0.4, labelspacing 0.5, handletextpad 0.8,
    columnspacing 2.0 font sizes; entries split into columns as np.array_split does), a few
    pixels on the large side: a layout reserves this room so the legend covers no data."""
    fs = Measure.line(st.small) / 1.2        # the font size in pixels
    texts = [e[-1] for e in entries]
    if not texts:
        return 0.0, 0.0
    ncols = max(1, min(ncols, len(texts)))
    columns = [c for c in np.array_split(np.array(texts, dtype=object), ncols) if len(c)]
    width = sum((handlelength + 0.8) * fs + max(measure.width(t, st.small) for t in col)
                for col in columns) + 2.0 * fs * (len(columns) - 1) + 2 * 0.4 * fs
    rows = max(len(c) for c in columns)
    height = rows * Measure.line(st.small) + (rows - 1) * 0.5 * fs + 2 * 0.4 * fs
    return width + 2.0, height + 2.0
