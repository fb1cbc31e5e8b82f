"""One drawing function per analysis, each drawing a Report on a matplotlib Figure.

Never pyplot: the caller owns the Figure (see png.py), so nothing here touches global state and
charts render concurrently in threads. Styles are passed to each artist rather than set through
rcParams (which are process-global). Sizes scale with the figure, so a chart designed at
1200 x 800 stays legible from 300 x 300 to 3000 x 3000 pixels.

Speed: the layout is computed here, in pixels, from measured text (no layout engine: the
constrained one draws the whole figure an extra time), and many-bar series (candles, volume,
MACD histogram) are one compound Path per colour, not one artist or path per bar. Likewise
many short labels (heatmap cells, row symbols, bar values, table cells) are one collection of
cached glyph outlines (_add_labels) rather than a Text each: since matplotlib 3.11 the Agg
renderer lays out and rasterises every Text glyph by glyph, in Python, on every render
(about 1 ms a label), and the outlines are FreeType's hinted ones at the same positions, so
the pixels are the same to the eye. Row labels placed this way also spare the Tick objects,
and so do the axes' ticks (_flat_ticks: marks, labels and grid lines as three artists an axis,
from the axis' own locator and formatter; about 17 % of the technical and liquidity renders).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, NamedTuple

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg, get_hinting_flag
from matplotlib.collections import PathCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Polygon
from matplotlib.path import Path
from matplotlib.text import Text
from matplotlib.transforms import Bbox, IdentityTransform, offset_copy
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator, NullLocator

UTC = timezone.utc

UP = "#26a69a"        # rising candle, bid side, bullish
DOWN = "#ef5350"      # falling candle, ask side, bearish
FLAT = "#9e9e9e"      # neutral sentiment
INK = "#263238"       # titles, labels, mid line
MUTED = "#607d8b"     # subtitles, guides
SPINE = "#b0bec5"
GRID = "#e6e9ec"
SMA20 = "#ff9800"
SMA50 = "#3f51b5"
BAND = "#5c6bc0"      # Bollinger band
MACD = "#1e88e5"
SIGNAL = "#fb8c00"
RSI = "#7e57c2"
TAG = "#e65100"       # DEMO DATA / STALE
NAN_CELL = "#d0d0d0"

_DESIGN_W, _DESIGN_H = 1200, 800   # the size the point sizes below are chosen for
_DPI = 100                        # png.py renders at 100 dpi
_PX_PER_PT = _DPI / 72


# --------------------------------------------------------------------------------------------
# Style: every size in one place, scaled with the figure
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Style:
    scale: float
    width_px: float
    height_px: float

    @classmethod
    def of(cls, fig: Figure) -> "_Style":
        w, h = fig.get_size_inches() * fig.dpi
        wr, hr = w / _DESIGN_W, h / _DESIGN_H
        # geometric mean of the two ratios, but never much more than the smaller one (a very
        # wide, short chart must not get tall text), clamped so text stays readable when small
        scale = min(math.sqrt(wr * hr), 1.3 * min(wr, hr))
        return cls(scale=max(0.66, min(scale, 3.0)), width_px=float(w), height_px=float(h))

    def pt(self, size: float) -> float:
        return size * self.scale

    def px(self, size_pt: float) -> float:
        """A scaled point size, in pixels."""
        return size_pt * self.scale * _PX_PER_PT

    title = property(lambda self: self.pt(15))
    subtitle = property(lambda self: self.pt(10.5))
    label = property(lambda self: self.pt(10))
    tick = property(lambda self: self.pt(9))
    small = property(lambda self: self.pt(8.5))
    line = property(lambda self: self.pt(1.2))
    thin = property(lambda self: self.pt(0.7))
    tick_len = property(lambda self: self.pt(3))
    tick_pad = property(lambda self: self.pt(2.5))
    label_pad = property(lambda self: self.pt(4))
    pad = property(lambda self: self.px(7))          # figure edge to content, pixels

    @property
    def small_chart(self) -> bool:
        """True when there is too little room for legends and long labels."""
        return self.width_px < 700 or self.height_px < 450


class _Measure:
    """Text extents in pixels, from the canvas' own renderer (so they match the drawing).

    Widths are kept across figures (they depend on the text, size, weight and dpi only):
    symbols, tick labels and titles come back render after render, and one measurement
    costs as much as a FreeType layout of the string."""

    _widths: dict = {}     # (text, size, bold, dpi) -> pixels; emptied when full
    _MAX_WIDTHS = 8192

    def __init__(self, fig: Figure):
        self._renderer = fig.canvas.get_renderer()
        self._props: dict = {}

    def width(self, text: str, size: float, bold: bool = False) -> float:
        if not text:
            return 0.0
        key = (text, size, bold, self._renderer.dpi)
        w = self._widths.get(key)
        if w is not None:
            return w
        prop = self._props.get((size, bold))
        if prop is None:
            prop = self._props[(size, bold)] = FontProperties(
                size=size, weight="bold" if bold else "normal")
        w, _, _ = self._renderer.get_text_width_height_descent(text, prop, ismath=False)
        if len(self._widths) >= self._MAX_WIDTHS:
            self._widths.clear()
        self._widths[key] = w
        return w

    @staticmethod
    def line(size: float) -> float:
        """Height of one line of text (matplotlib's line spacing is 1.2)."""
        return size * _PX_PER_PT * 1.2


class _Frame:
    """Converts a pixel box (left, bottom from the figure's lower-left corner) to figure
    fractions, for fig.add_axes and fig.text."""

    def __init__(self, st: _Style):
        self.w, self.h = st.width_px, st.height_px

    def rect(self, left: float, bottom: float, width: float, height: float) -> list[float]:
        return [left / self.w, bottom / self.h, max(width, 1.0) / self.w,
                max(height, 1.0) / self.h]

    def xy(self, x: float, y: float) -> tuple[float, float]:
        return x / self.w, y / self.h


def _style_axes(ax, st: _Style, *, grid_axis: str | None = "y") -> None:
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


def _tick_labels(axis, lo: float, hi: float) -> list[str]:
    """The labels an axis will show between lo and hi (for measuring before drawing)."""
    locs = axis.get_major_locator().tick_values(lo, hi)
    eps = abs(hi - lo) * 1e-9
    locs = [v for v in locs if min(lo, hi) - eps <= v <= max(lo, hi) + eps]
    return axis.get_major_formatter().format_ticks(locs) if locs else []


def _ytick_space(measure: _Measure, st: _Style, labels: list[str]) -> float:
    """Pixels from an axes' left spine to the far edge of its y tick labels."""
    widest = max((measure.width(t, st.tick) for t in labels), default=0.0)
    return widest + (st.tick_len + st.tick_pad) * _PX_PER_PT


def _xtick_space(st: _Style) -> float:
    """Pixels below an axes' bottom spine taken by one row of x tick labels."""
    return _Measure.line(st.tick) + (st.tick_len + st.tick_pad) * _PX_PER_PT


@functools.lru_cache(maxsize=1024)    # a few kB each
def _label_path(text: str, size_pt: float, bold: bool = False, ha: str = "center",
                va: str = "center", angle: float = 0.0) -> Path | None:
    """The glyphs of a one-line `text`, in pixels from its anchor point, exactly where the
    Agg renderer puts those of a Text with this alignment (and rotation_mode="anchor"):
    the same hinted outlines (FreeType, at this size and 100 dpi), pen positions and font
    metrics, so the pixels hardly differ (Agg rasterises the outline instead of FreeType).
    None when the text is not one glyph per character of the first font: use a Text then.
    Cached: nothing in it depends on the figure (the FT2Font is matplotlib's, per thread)."""
    prop = FontProperties(size=size_pt, weight="bold" if bold else "normal")
    font = get_font(findfont(prop))
    font.set_size(size_pt, _DPI)
    flags = get_hinting_flag()
    if not all(font.get_char_index(ord(c)) for c in text):
        return None
    pen = font.set_text(text, 0.0, flags=flags) / 64
    if len(pen) != len(text):
        return None
    width, height = (v / 64 for v in font.get_width_height())
    descent = font.get_descent() / 64
    # as Text._get_layout: a line is at least as tall as the font's typographic extent
    os2 = font.get_sfnt_table("OS/2")
    scale = size_pt * _PX_PER_PT / font.get_sfnt_table("head")["unitsPerEm"]
    ascent = max(height - descent, os2["sTypoAscender"] * scale)
    descent = max(descent, -os2["sTypoDescender"] * scale)
    baseline = {"center": (descent - ascent) / 2, "center_baseline": -ascent / 2,
                "baseline": 0.0, "top": -ascent, "bottom": descent}[va]
    origin = np.array([{"left": 0.0, "center": -width / 2, "right": -width}[ha], baseline])
    verts, codes = [], []
    for char, xy in zip(text, pen):
        font.load_char(ord(char), flags=flags)
        v, c = font.get_path()
        if len(v):
            verts.append(v + xy + origin)
            codes.append(c)
    if not verts:
        return Path(np.empty((0, 2)), readonly=True)
    verts = np.concatenate(verts)
    if angle:    # FreeType hints upright, then turns the outline: so do we
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        verts = verts @ np.array([[cos, sin], [-sin, cos]])
    return Path(verts, np.concatenate(codes), readonly=True)


def _add_labels(ax, xs, ys, texts, size_pt: float, colors, *, transform=None,
                ha: str = "center", va: str = "center", angle: float = 0.0,
                bold: bool = False) -> None:
    """Many short labels as ONE artist of glyph outlines that looks like the Texts it
    replaces (a Text costs a text layout and a FreeType rendering per glyph, every render:
    the annotated 10 x 10 heatmap spent most of its time there). (x, y) are in `transform`
    coordinates, data by default; `colors` is one colour or one per label. Like ax.text,
    the labels are not clipped to the axes."""
    transform = ax.transData if transform is None else transform
    colors = [colors] * len(texts) if isinstance(colors, str) else list(colors)
    paths, offsets, facecolors = [], [], []
    for x, y, text, color in zip(xs, ys, texts, colors):
        path = _label_path(text, size_pt, bold, ha, va, angle)
        if path is None:    # not a plain run of glyphs: a Text then
            ax.text(x, y, text, transform=transform, ha=ha, va=va, rotation=angle,
                    rotation_mode="anchor", fontsize=size_pt, color=color,
                    fontweight="bold" if bold else "normal", parse_math=False)
            continue
        paths.append(path)
        offsets.append((x, y))
        facecolors.append(color)
    if paths:
        labels = PathCollection(paths, offsets=offsets, offset_transform=transform,
                                transform=IdentityTransform(), facecolors=facecolors,
                                edgecolors="none", linewidths=0, snap=False, zorder=3)
        ax.add_collection(labels, autolim=False)
        labels.set_clip_on(False)


_TEXT_HEIGHTS: dict = {}     # (size, dpi) -> pixels


def _text_height(fig: Figure, size: float) -> float:
    """Pixels from top to bottom of a one-line Text's box (what matplotlib stacks an axis
    label under), which is taller than the glyphs: the font's ascent and descent."""
    key = (size, fig.dpi)
    height = _TEXT_HEIGHTS.get(key)
    if height is None:
        text = Text(0, 0, "Nov", fontsize=size, figure=fig)
        height = text.get_window_extent(fig.canvas.get_renderer()).height
        if len(_TEXT_HEIGHTS) >= 256:
            _TEXT_HEIGHTS.clear()
        _TEXT_HEIGHTS[key] = height
    return height


def release_renderer(fig: Figure, canvas: FigureCanvasAgg) -> None:
    """Free the pixel buffer (36 MB at 3000 x 3000) now, not whenever the cyclic GC reaches
    the figure: the canvas and every drawn Text (its private `_renderer`) hold the renderer.
    The artists themselves, a few hundred kB, go with the figure's reference cycles."""
    canvas.renderer = None
    for text in fig.findobj(Text):
        if getattr(text, "_renderer", None) is not None:
            text._renderer = None


# A legend entry: ("line", colour, linewidth, linestyle, label) or
# ("patch", facecolour, edgecolour, linewidth, label). Plain values, so an entry list is a key.
_LEGEND_PAD = 0.5                  # matplotlib's borderaxespad, in font sizes
_LEGEND_CODES = {"upper left": "NW", "upper right": "NE", "upper center": "N",
                 "lower left": "SW", "lower right": "SE", "lower center": "S"}
_LEGEND_SIZES: dict = {}           # _LegendSpec -> (width, height) in pixels
_LEGEND_IMAGES: dict = {}          # (_LegendSpec, x fraction, y fraction) -> RGBA array
_MAX_LEGENDS = 64                  # each cache is emptied when full


class _LegendSpec(NamedTuple):
    """Everything a legend's pixels depend on but its position: a cache key."""
    entries: tuple
    fontsize: float
    ncols: int
    framealpha: float
    handlelength: float | None
    dpi: float

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
                  "borderaxespad": _LEGEND_PAD}
        if self.handlelength is not None:
            kwargs["handlelength"] = self.handlelength
        return kwargs


def _mpl_legend(ax, st: _Style, entries, *, loc: str, anchor=None, ncols: int = 1,
                framealpha: float = 0.85, handlelength: float | None = None) -> None:
    """matplotlib's own legend on the axes: what _legend draws, and the tests' reference."""
    spec = _LegendSpec(tuple(entries), st.small, ncols, framealpha, handlelength,
                       ax.figure.dpi)
    kwargs = spec.kwargs()
    if anchor is not None:
        kwargs["bbox_to_anchor"] = anchor
    ax.legend(handles=spec.handles(), loc=loc, **kwargs)


def _legend_figure(spec: _LegendSpec, x: float, y: float):
    """A transparent figure holding only the legend, its lower-left corner at (x, y) px."""
    fig = Figure(figsize=(1, 1), dpi=spec.dpi, facecolor="none")
    canvas = FigureCanvasAgg(fig)
    legend = fig.legend(handles=spec.handles(), loc="lower left",
                        bbox_to_anchor=(x, y), bbox_transform=IdentityTransform(),
                        **{**spec.kwargs(), "borderaxespad": 0})
    box = legend.get_window_extent(canvas.get_renderer())
    return fig, canvas, box


def _legend(ax, st: _Style, entries, *, loc: str, anchor=None, ncols: int = 1,
            framealpha: float = 0.85, handlelength: float | None = None) -> None:
    """matplotlib's legend, drawn once per size and then pasted as an image.

    A Legend lays out and rasterises its texts glyph by glyph on every draw: the technical
    chart's two legends cost ~50 ms of a ~300 ms render. The legend depends only on its
    entries, font size and dpi, and on where its corner falls within a pixel (Agg rounds
    text to whole pixels): so it is drawn by matplotlib on a transparent canvas at that same
    sub-pixel offset, kept, and placed where matplotlib would place it (the same anchoring,
    `Bbox.anchored` inside the axes or the anchor point, padded by borderaxespad), above the
    axes. The tests compare every chart's pixels with matplotlib's legend (`_mpl_legend`)."""
    fig = ax.figure
    spec = _LegendSpec(tuple(entries), st.small, ncols, framealpha, handlelength, fig.dpi)
    size = _LEGEND_SIZES.get(spec)
    if size is None:
        side, canvas, box = _legend_figure(spec, 0.0, 0.0)
        release_renderer(side, canvas)
        size = (box.width, box.height)
        if len(_LEGEND_SIZES) >= _MAX_LEGENDS:
            _LEGEND_SIZES.clear()
        _LEGEND_SIZES[spec] = size
    pad = _LEGEND_PAD * spec.fontsize * spec.dpi / 72
    if anchor is None:
        parent = ax.bbox
    else:
        parent = Bbox.from_bounds(*ax.transAxes.transform(anchor), 0, 0)
    x0, y0 = Bbox.from_bounds(0, 0, *size).anchored(_LEGEND_CODES[loc],
                                                    container=parent.padded(-pad)).p0
    ix, iy = math.floor(x0), math.floor(y0)
    fx, fy = round(x0 - ix, 2), round(y0 - iy, 2)
    image = _LEGEND_IMAGES.get((spec, fx, fy))
    if image is None:
        side, canvas, box = _legend_figure(spec, fx, fy)
        side.set_size_inches(math.ceil(box.x1) / side.dpi, math.ceil(box.y1) / side.dpi)
        canvas.draw()
        image = np.array(canvas.buffer_rgba())
        release_renderer(side, canvas)
        image.flags.writeable = False
        if len(_LEGEND_IMAGES) >= _MAX_LEGENDS:
            _LEGEND_IMAGES.clear()
        _LEGEND_IMAGES[(spec, fx, fy)] = image
    fig.figimage(image, ix, iy, origin="upper", zorder=5)


def _flat_ticks(ax, st: _Style, grid: str | None = None) -> None:
    """Draw `ax`'s major ticks, tick labels and `grid` lines ("x", "y", "both") as a few
    artists, then switch matplotlib's own off. Call it last, once limits, locators and
    formatters are final. An Axis builds a Tick per location (two marks, a grid line and two
    Texts, each with its transforms) on every draw, and lays out and rasterises every label
    glyph by glyph: about 75 ms of the four-panel technical chart. The locations and labels
    are the axis' own locator's and formatter's; marks, labels, grid lines, the axis label
    and the offset text (e.g. a date formatter's "2026-Nov") go where matplotlib puts them
    with the tick_params of _style_axes (left and bottom, outward)."""
    fig = ax.figure
    px_w, px_h = ax.get_position().width * fig.bbox.width, \
        ax.get_position().height * fig.bbox.height
    out_px = (st.tick_len + st.tick_pad) * _PX_PER_PT     # spine to the labels' near edge
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        locator = axis.get_major_locator()
        if isinstance(locator, NullLocator):
            continue
        # as Axis._update_ticks: format every location, keep those inside the view
        locs = np.asarray(locator(), dtype=float)
        formatter = axis.get_major_formatter()
        labels = formatter.format_ticks(list(locs)) if len(locs) else []
        offset = formatter.get_offset() if len(locs) else ""
        lo, hi = sorted(axis.get_view_interval())
        eps = (hi - lo) * 1e-10
        keep = (locs >= lo - eps) & (locs <= hi + eps)
        locs, labels = locs[keep], [t for t, k in zip(labels, keep) if k]
        axis.set_major_locator(NullLocator())
        axis.set_minor_locator(NullLocator())
        axis.offsetText.set_visible(False)      # drawn below, where the labels end
        if name == "x":
            place, marker = ax.get_xaxis_transform(), 3        # TICKDOWN
            xs, ys = locs, np.zeros(len(locs))
            label_at = offset_copy(place, fig=fig, y=-out_px, units="dots")
            ha, va = "center", "top"
        else:
            place, marker = ax.get_yaxis_transform(), 0        # TICKLEFT
            xs, ys = np.zeros(len(locs)), locs
            label_at = offset_copy(place, fig=fig, x=-out_px, units="dots")
            ha, va = "right", "center_baseline"
        if grid in (name, "both") and len(locs):
            lines = ax.vlines if name == "x" else ax.hlines
            lines(locs, 0, 1, transform=place, colors=GRID, linewidth=st.thin, zorder=0.5)
        if len(locs):
            ax.add_line(Line2D(xs, ys, transform=place, linestyle="none", marker=marker,
                               markersize=st.tick_len, markeredgewidth=st.thin, color=INK,
                               clip_on=False, zorder=2.5))
        shown = [i for i, t in enumerate(labels) if t]
        if shown:
            _add_labels(ax, xs[shown], ys[shown], [labels[i] for i in shown], st.tick, INK,
                        transform=label_at, ha=ha, va=va)
        # the axis label would now be placed against the spine: put it past the labels
        if axis.get_label_text() and getattr(axis, "_autolabelpos", True):
            if name == "x":
                below = out_px + (_text_height(fig, st.tick) if shown else 0.0) \
                    + axis.labelpad * _PX_PER_PT
                axis.set_label_coords(0.5, -below / px_h)
            else:
                measure = _Measure(fig)
                widest = max((measure.width(labels[i], st.tick) for i in shown), default=0.0)
                axis.set_label_coords(-(out_px + widest + axis.labelpad * _PX_PER_PT) / px_w,
                                      0.5)
        if offset:
            if name == "x":   # under the labels, right-aligned to the axes (OFFSETTEXTPAD 3 pt)
                down = out_px + _text_height(fig, st.tick) + 3 * _PX_PER_PT
                _add_labels(ax, [1.0], [0.0], [offset], axis.offsetText.get_fontsize(), INK,
                            transform=offset_copy(ax.transAxes, fig=fig, y=-down,
                                                  units="dots"), ha="right", va="top")
            else:             # above the axes, left-aligned
                _add_labels(ax, [0.0], [1.0], [offset], axis.offsetText.get_fontsize(), INK,
                            transform=offset_copy(ax.transAxes, fig=fig, y=3 * _PX_PER_PT,
                                                  units="dots"), ha="left", va="bottom")


# --------------------------------------------------------------------------------------------
# Titles, tags, number formats
# --------------------------------------------------------------------------------------------

def _as_of_text(report) -> str:
    when = report.data_as_of or report.generated_at
    if when is None:
        return ""
    if isinstance(when, datetime) and when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"data as of {pd.Timestamp(when).strftime('%Y-%m-%d %H:%M')} UTC"


def provenance_tag(report) -> str:
    """The corner tag: "DEMO DATA" for the demo market, "STALE" for an expired cache copy."""
    tags = []
    if getattr(report, "source", "binance") == "demo":
        tags.append("DEMO DATA")
    if getattr(report, "stale", False):
        tags.append("STALE")
    return " \u00b7 ".join(tags)


_SEP = " \u00b7 "


def _join(*parts: str) -> str:
    return _SEP.join(p for p in parts if p)


def _wrap(parts: list[str], measure: _Measure, size: float, max_w: float) -> list[str]:
    """Greedy wrap of " · "-joined parts into lines no wider than max_w pixels."""
    lines: list[str] = []
    for part in (p for p in parts if p):
        if lines and measure.width(lines[-1] + _SEP + part, size) <= max_w:
            lines[-1] += _SEP + part
        else:
            lines.append(part)
    return lines


@dataclass
class _Header:
    title: str
    subtitle: list[str]
    tag: str


def _draw_header(fig: Figure, st: _Style, measure: _Measure, header: _Header,
                 extra_gap: float = 0.0) -> float:
    """Title and subtitle at the top left, tag at the top right; returns the pixels used."""
    frame = _Frame(st)
    avail = st.width_px - 2 * st.pad
    tag_w = measure.width(header.tag, st.subtitle, bold=True) + st.px(10) if header.tag else 0
    y = st.height_px - st.pad
    title_size, title = st.title, header.title
    while title_size > st.label and measure.width(title, title_size, True) > avail - tag_w:
        title_size *= 0.92
    while len(title) > 8 and measure.width(title, title_size, True) > avail - tag_w:
        title = title[: int(len(title) * 0.9)].rstrip(" ,;:(") + "\u2026"
        title = title.replace("\u2026\u2026", "\u2026")
    fig.text(*frame.xy(st.pad, y), title, fontsize=title_size, fontweight="bold",
             color=INK, ha="left", va="top", parse_math=False)
    if header.tag:
        fig.text(*frame.xy(st.width_px - st.pad - st.px(3), y - st.px(2)), header.tag,
                 fontsize=st.subtitle, fontweight="bold", color="white", ha="right", va="top",
                 parse_math=False, bbox={"boxstyle": "round,pad=0.3", "facecolor": TAG,
                                         "edgecolor": "none"})
    y -= _Measure.line(title_size) + st.px(3)
    lines = _wrap(header.subtitle, measure, st.subtitle, avail)
    if lines:
        fig.text(*frame.xy(st.pad, y), "\n".join(lines), fontsize=st.subtitle, color=MUTED,
                 ha="left", va="top", linespacing=1.2, parse_math=False)
        y -= _Measure.line(st.subtitle) * len(lines)
    return st.height_px - y + st.px(8) + extra_gap


def _minus(text: str) -> str:
    """A typographic minus, as matplotlib's own tick labels use."""
    return text.replace("-", "\u2212")


def _compact(value: float, decimals: int = 1) -> str:
    """1234567 -> '1.2M': volumes and notionals of any magnitude in a few characters."""
    if value is None or not np.isfinite(value):
        return "n/a"
    mag = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if mag >= div:
            return _minus(f"{value / div:.{decimals}f}".rstrip("0").rstrip(".") + suffix)
    if mag >= 1 or mag == 0:
        return _minus(f"{value:.{decimals}f}".rstrip("0").rstrip("."))
    return _minus(f"{value:.2g}")


def _price_text(value: float) -> str:
    """A price with as many decimals as its size needs: 97,123.45 / 3.5321 / 0.00001234."""
    if value is None or not np.isfinite(value):
        return "n/a"
    mag = abs(value)
    if mag >= 100:
        decimals = 2
    elif mag >= 10:
        decimals = 3
    elif mag >= 1:
        decimals = 4
    elif mag == 0:
        decimals = 0
    else:
        decimals = min(10, 3 - int(math.floor(math.log10(mag))))
    return _minus(f"{value:,.{decimals}f}")


class _PriceFormatter(Formatter):
    """Tick labels with the decimals the tick step needs, thousands separated, no offset."""

    _decimals: int | None = None

    def set_locs(self, locs):
        super().set_locs(locs)
        locs = sorted(float(v) for v in locs if np.isfinite(v))
        step = min(b - a for a, b in zip(locs, locs[1:])) if len(locs) > 1 else 0.0
        if step <= 0:
            self._decimals = None
            return
        decimals = max(0, min(10, -int(math.floor(math.log10(step)))))
        if any(abs(round(v, decimals) - v) > step * 1e-6 for v in locs):
            decimals += 1     # steps like 2.5 or 0.25
        self._decimals = min(decimals, 10)

    def __call__(self, x, pos=None):
        if self._decimals is None:
            return _price_text(x)
        return _minus(f"{x:,.{self._decimals}f}")


def _no_data(fig: Figure, report, st: _Style, title: str) -> None:
    """A readable figure for an empty report instead of an exception."""
    measure = _Measure(fig)
    _draw_header(fig, st, measure, _Header(title, [_as_of_text(report)], provenance_tag(report)))
    fig.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=st.pt(28), color=MUTED,
             fontweight="bold")
    fig.text(0.5, 0.5 - st.px(34) / st.height_px,
             "the analysis returned no rows for these parameters", ha="center", va="center",
             fontsize=st.label, color=MUTED)


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, NaN where undefined or missing (renderers never trust dtypes)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64",
                                                                  na_value=np.nan)


# --------------------------------------------------------------------------------------------
# Compound paths: thousands of bars or wicks as one artist
# --------------------------------------------------------------------------------------------

_RECT_CODES = np.array([Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY],
                       dtype=Path.code_type)
_SEGMENT_CODES = np.array([Path.MOVETO, Path.LINETO], dtype=Path.code_type)


def _add_bars(ax, x, bottom, top, width: float, color, *, alpha: float = 1.0,
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


def _add_segments(ax, x, y0, y1, color, linewidth: float) -> None:
    """Vertical segments (candle wicks), one PathPatch."""
    ok = np.isfinite(x) & np.isfinite(y0) & np.isfinite(y1)
    if not ok.any():
        return
    verts = np.stack([np.column_stack((x[ok], y0[ok])), np.column_stack((x[ok], y1[ok]))],
                     axis=1)
    path = Path(verts.reshape(-1, 2), np.tile(_SEGMENT_CODES, int(ok.sum())))
    ax.add_artist(PathPatch(path, fill=False, edgecolor=color, linewidth=linewidth,
                            capstyle="butt"))


def _add_band(ax, x, lower, upper, color, alpha) -> None:
    """A filled band between two lines, one polygon per run of defined values."""
    ok = np.isfinite(lower) & np.isfinite(upper)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
    for start, stop in zip(edges[::2], edges[1::2]):
        xs = x[start:stop]
        poly = np.concatenate([np.column_stack((xs, upper[start:stop])),
                               np.column_stack((xs[::-1], lower[start:stop][::-1]))])
        ax.add_artist(Polygon(poly, closed=True, facecolor=color, edgecolor="none",
                              alpha=alpha))


def _finite_range(*arrays, default=(0.0, 1.0)) -> tuple[float, float]:
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if not len(values):
        return default
    return float(values.min()), float(values.max())


def _padded(lo: float, hi: float, share: float = 0.05) -> tuple[float, float]:
    span = hi - lo
    pad = span * share if span > 0 else (abs(hi) * 0.01 or 1.0)
    return lo - pad, hi + pad


# --------------------------------------------------------------------------------------------
# Technical: candles + SMA + Bollinger, volume, RSI, MACD
# --------------------------------------------------------------------------------------------

def _to_date_nums(series: pd.Series) -> np.ndarray:
    values = pd.to_datetime(series, utc=True).dt.tz_localize(None)
    return mdates.date2num(values.to_numpy(dtype="datetime64[ms]"))


def _candle_span(frame: pd.DataFrame, x_open: np.ndarray) -> float:
    """The interval length in days: from close_time - open_time, else the spacing of opens."""
    if "close_time" in frame and len(frame):
        spans = _to_date_nums(frame["close_time"]) - x_open
        spans = spans[np.isfinite(spans) & (spans > 0)]
        if len(spans):
            return float(np.median(spans)) + 1 / 86_400_000   # close_time = next open - 1 ms
    if len(x_open) > 1:
        d = np.diff(x_open)
        d = d[d > 0]
        if len(d):
            return float(np.median(d))
    return 1 / 24


def draw_technical(fig: Figure, report) -> None:
    st = _Style.of(fig)
    params = report.params or {}
    symbol, interval = params.get("symbol", ""), params.get("interval", "")
    title = report.title or f"Technical analysis: {symbol} {interval}".strip()
    if interval and interval not in title:
        title = f"{title} {interval}"
    df = report.frame
    if df.empty or "open_time" not in df:
        return _no_data(fig, report, st, title)

    measure = _Measure(fig)
    x_open = _to_date_nums(df["open_time"])
    span = _candle_span(df, x_open)
    x = x_open + span / 2                         # a candle is drawn across its interval
    o, h, l, c = (_num(df, k) for k in ("open", "high", "low", "close"))
    up = c >= o
    n = len(df)

    signals = (report.summary or {}).get("signals") or {}
    signal_text = _join(*(f"{k} {str(v).replace('_', ' ')}" for k, v in signals.items()
                          if v is not None))
    header = _Header(title, [f"{n} candle{'s' if n != 1 else ''}"
                             + (f" of {interval}" if interval else ""),
                             _as_of_text(report), "" if st.small_chart else signal_text],
                     provenance_tag(report))
    top_used = _draw_header(fig, st, measure, header)

    # limits first: the layout measures the tick labels they produce
    lower, upper = _num(df, "bb_lower"), _num(df, "bb_upper")
    price_lim = _padded(*_finite_range(l, h, lower, upper))
    if not st.small_chart:   # headroom for the legend above the highest high
        price_lim = (price_lim[0], price_lim[1] + (price_lim[1] - price_lim[0]) * 0.08)
    vol = _num(df, "volume")
    vol_lim = (0.0, (_finite_range(vol)[1] * 1.12) or 1.0)
    hist, macd, signal = _num(df, "macd_hist"), _num(df, "macd"), _num(df, "macd_signal")
    m_lo, m_hi = _finite_range(hist, macd, signal, default=(-1.0, 1.0))
    m_abs = max(abs(m_lo), abs(m_hi)) * 1.1 or 1.0
    macd_lim = (-m_abs, m_abs * (1.45 if not st.small_chart else 1.0))   # legend headroom

    last_ok = np.flatnonzero(np.isfinite(c))
    last_label = _price_text(c[last_ok[-1]]) if len(last_ok) else ""

    price_fmt = _PriceFormatter()
    price_loc = MaxNLocator(nbins=max(4, min(8, int(st.height_px / 130))))
    compact_fmt = FuncFormatter(lambda v, pos: _compact(v))
    macd_fmt = FuncFormatter(lambda v, pos: _compact(v, 2))
    vol_loc = MaxNLocator(nbins=2, min_n_ticks=2)
    macd_loc = MaxNLocator(nbins=4, min_n_ticks=3)

    class _Axis:   # a stand-in to run a locator and formatter before the axes exist
        def __init__(self, loc, fmt):
            self.loc, self.fmt = loc, fmt

        def get_major_locator(self):
            return self.loc

        def get_major_formatter(self):
            return self.fmt

    widest = max(
        _ytick_space(measure, st, _tick_labels(_Axis(price_loc, price_fmt), *price_lim)),
        _ytick_space(measure, st, _tick_labels(_Axis(vol_loc, compact_fmt), *vol_lim)),
        _ytick_space(measure, st, ["70"]),
        _ytick_space(measure, st, _tick_labels(_Axis(macd_loc, macd_fmt), *macd_lim)),
    )
    ylabel_w = _Measure.line(st.label) + st.label_pad * _PX_PER_PT
    left = st.pad + ylabel_w + widest
    right = st.pad + (measure.width(last_label, st.small, True) + st.px(8) if last_label else 0)
    bottom = st.pad + _xtick_space(st) + _Measure.line(st.label)
    top = top_used
    gap = st.px(7)
    ratios = np.array([5, 1.2, 1.5, 1.5])
    plot_h = st.height_px - top - bottom - gap * (len(ratios) - 1)
    plot_w = st.width_px - left - right
    heights = plot_h * ratios / ratios.sum()
    frame = _Frame(st)
    axes = []
    y = st.height_px - top
    for hh in heights:
        y -= hh
        axes.append(fig.add_axes(frame.rect(left, y, plot_w, hh)))
        y -= gap
    ax_p, ax_v, ax_r, ax_m = axes
    for ax in axes:
        _style_axes(ax, st, grid_axis="y")

    # sizes of one candle, so 20 and 1,000 candles both look right
    slot_px = plot_w / max(n + 2, 1)
    wick_lw = max(0.6, min(slot_px * 0.12, 1.6 * st.scale)) / _PX_PER_PT
    body_w = span * (0.7 if slot_px >= 4 else 0.8)
    body_edge = 0.6 / _PX_PER_PT if slot_px < 4 else st.pt(0.4)

    # price panel
    _add_band(ax_p, x, lower, upper, BAND, 0.08)
    ax_p.plot(x, upper, color=BAND, linewidth=st.thin, alpha=0.5)
    ax_p.plot(x, lower, color=BAND, linewidth=st.thin, alpha=0.5)
    for mask, color in ((up, UP), (~up, DOWN)):
        _add_segments(ax_p, x[mask], l[mask], h[mask], color, wick_lw)
        _add_bars(ax_p, x[mask], np.fmin(o, c)[mask], np.fmax(o, c)[mask], body_w, color,
                  edge=body_edge)
    ax_p.plot(x, _num(df, "sma_20"), color=SMA20, linewidth=st.line)
    ax_p.plot(x, _num(df, "sma_50"), color=SMA50, linewidth=st.line)
    ax_p.set_ylim(*price_lim)
    ax_p.yaxis.set_major_locator(price_loc)
    ax_p.yaxis.set_major_formatter(price_fmt)
    if last_label:
        last_up = bool(up[last_ok[-1]])
        ax_p.axhline(c[last_ok[-1]], color=UP if last_up else DOWN, linewidth=st.thin,
                     linestyle=":")
        ax_p.annotate(last_label, xy=(1.0, c[last_ok[-1]]),
                      xycoords=ax_p.get_yaxis_transform(), xytext=(st.pt(4), 0),
                      textcoords="offset points", va="center", ha="left", fontsize=st.small,
                      color="white", fontweight="bold", annotation_clip=False,
                      bbox={"boxstyle": "square,pad=0.25", "edgecolor": "none",
                            "facecolor": UP if last_up else DOWN})
    if not st.small_chart:
        _legend(ax_p, st, [("patch", to_rgba(BAND, 0.15), to_rgba(BAND, 0.5), st.thin,
                            "Bollinger (20, 2)"),
                           ("line", SMA20, st.line, "-", "SMA 20"),
                           ("line", SMA50, st.line, "-", "SMA 50")],
                loc="upper left", framealpha=0.85, ncols=3, handlelength=1.6)

    # volume panel
    for mask, color in ((up, UP), (~up, DOWN)):
        _add_bars(ax_v, x[mask], np.zeros(int(mask.sum())), vol[mask], body_w, color,
                  alpha=0.55)
    ax_v.set_ylim(*vol_lim)
    ax_v.yaxis.set_major_locator(vol_loc)
    ax_v.yaxis.set_major_formatter(compact_fmt)

    # RSI panel
    ax_r.axhspan(30, 70, color=RSI, alpha=0.06, linewidth=0)
    for level in (30, 70):
        ax_r.axhline(level, color=RSI, linewidth=st.thin, linestyle="--", alpha=0.6)
    ax_r.plot(x, _num(df, "rsi_14"), color=RSI, linewidth=st.line)
    ax_r.set_ylim(0, 100)
    ax_r.set_yticks([30, 50, 70] if heights[2] > _Measure.line(st.tick) * 4 else [30, 70])

    # MACD panel
    pos = hist >= 0
    _add_bars(ax_m, x[pos], np.zeros(int(pos.sum())), hist[pos], body_w, UP, alpha=0.5)
    _add_bars(ax_m, x[~pos], np.zeros(int((~pos).sum())), hist[~pos], body_w, DOWN, alpha=0.5)
    ax_m.axhline(0, color=MUTED, linewidth=st.thin)
    ax_m.plot(x, macd, color=MACD, linewidth=st.line)
    ax_m.plot(x, signal, color=SIGNAL, linewidth=st.line)
    ax_m.set_ylim(*macd_lim)
    ax_m.yaxis.set_major_locator(macd_loc)
    ax_m.yaxis.set_major_formatter(macd_fmt)
    if not st.small_chart:
        _legend(ax_m, st, [("line", MACD, st.line, "-", "MACD (12, 26)"),
                           ("line", SIGNAL, st.line, "-", "Signal (9)")],
                loc="upper left", framealpha=0.85, ncols=2, handlelength=1.6)

    for ax, hh, names in ((ax_p, heights[0], ("Price",)), (ax_v, heights[1], ("Volume", "Vol")),
                          (ax_r, heights[2], ("RSI (14)", "RSI")), (ax_m, heights[3], ("MACD",))):
        fits = [name for name in names if measure.width(name, st.label) <= hh * 0.95]
        if fits:   # the longest name that fits along the panel, else none
            ax.set_ylabel(fits[0], fontsize=st.label, color=INK)
            ax.yaxis.set_label_coords(-(widest + st.label_pad * _PX_PER_PT) / plot_w, 0.5)

    # one time axis, UTC, at the bottom; the panels above get its grid lines but no ticks
    # (not sharex: ticks on hidden axes cost as much to build as visible ones)
    x_lim = (x[0] - span, x[-1] + span)
    locator = mdates.AutoDateLocator(tz=UTC, minticks=3,
                                     maxticks=max(4, int(plot_w / (105 * st.scale))))
    ax_m.xaxis.set_major_locator(locator)
    ax_m.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax_m.xaxis.get_offset_text().set_fontsize(st.tick)
    ax_m.set_xlabel("UTC", fontsize=st.label, color=INK, labelpad=st.pt(2))
    ax_m.grid(True, axis="x", color=GRID, linewidth=st.thin)
    for ax in axes:
        ax.set_xlim(*x_lim)
    grid_x = [v for v in locator() if x_lim[0] <= v <= x_lim[1]]
    for ax in axes[:-1]:
        ax.xaxis.set_major_locator(NullLocator())
        ax.vlines(grid_x, 0, 1, transform=ax.get_xaxis_transform(), colors=GRID,
                  linewidth=st.thin, zorder=0.5)
    for ax in axes:
        _flat_ticks(ax, st, grid="both" if ax is ax_m else "y")


# --------------------------------------------------------------------------------------------
# Correlation: annotated heatmap + volatility bars aligned with its rows
# --------------------------------------------------------------------------------------------

def draw_correlation(fig: Figure, report) -> None:
    st = _Style.of(fig)
    params = report.params or {}
    interval = params.get("interval", "")
    title = report.title or "Return correlation"
    matrix = report.tables.get("matrix", report.frame)
    if matrix.empty or matrix.shape[1] < 2:
        return _no_data(fig, report, st, title)

    measure = _Measure(fig)
    rows = [str(s) for s in matrix.iloc[:, 0]]
    cols = [str(s) for s in matrix.columns[1:]]
    values = matrix.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    n_rows, n_cols = values.shape

    summary = report.summary or {}
    obs = summary.get("observations")
    mean_corr = summary.get("mean_correlation")
    header = _Header(title, [
        f"{interval} log returns" if interval else "log returns",
        f"{obs} observations" if obs is not None else "",
        "mean correlation " + _minus(f"{mean_corr:.2f}")
        if isinstance(mean_corr, (int, float)) and np.isfinite(mean_corr) else "",
        _as_of_text(report)], provenance_tag(report))

    assets = report.tables.get("assets")
    show_vol = (assets is not None and not assets.empty and "annualized_volatility" in assets
                and st.width_px >= 500)
    top = _draw_header(fig, st, measure, header,
                       extra_gap=_Measure.line(st.label) if show_vol else 0.0)

    # geometry, in pixels: [row labels][heatmap][colorbar]   [row labels][volatility bars]
    row_label_w = max(measure.width(r, st.tick) for r in rows) + st.px(5)
    col_label_w = max(measure.width(c, st.tick) for c in cols)
    cbar_w, cbar_gap = st.px(12), st.px(8)
    cbar_label_w = measure.width("\u22120.5", st.tick) + _Measure.line(st.label) + st.px(10)
    bars_w = 0.0
    if show_vol:
        vol_row_w = max(measure.width(str(s), st.tick) for s in assets["symbol"]) + st.px(5)
        bars_w = vol_row_w + max(st.px(110), 0.2 * st.width_px)
    avail_w = (st.width_px - 2 * st.pad - row_label_w - cbar_gap - cbar_w - cbar_label_w
               - (bars_w + st.px(20) if show_vol else 0))
    avail_h_flat = st.height_px - top - st.pad - _Measure.line(st.tick) - st.px(6)
    cell = min(avail_w / n_cols, avail_h_flat / n_rows)
    rotate = cell * 0.92 < col_label_w
    if rotate:   # 45 degree labels: their height is their width over root two
        avail_h = (st.height_px - top - st.pad - st.px(6)
                   - (col_label_w + _Measure.line(st.tick)) / math.sqrt(2))
        cell = min(cell, avail_h / n_rows)
    cell = max(cell, 1.0)
    heat_w, heat_h = cell * n_cols, cell * n_rows
    block_w = row_label_w + heat_w + cbar_gap + cbar_w + cbar_label_w + (
        bars_w + st.px(20) if show_vol else 0)
    x0 = st.pad + max(0.0, (st.width_px - 2 * st.pad - block_w) / 2)
    heat_left = x0 + row_label_w
    below = (col_label_w + _Measure.line(st.tick)) / math.sqrt(2) if rotate else \
        _Measure.line(st.tick)
    spare_h = st.height_px - top - st.pad - st.px(6) - below - heat_h
    heat_bottom = st.height_px - top - heat_h - max(0.0, spare_h) / 2   # centred vertically
    frame = _Frame(st)

    ax = fig.add_axes(frame.rect(heat_left, heat_bottom, heat_w, heat_h))
    cmap = colormaps["RdBu_r"].with_extremes(bad=NAN_CELL)
    norm = Normalize(vmin=-1.0, vmax=1.0)
    image = ax.pcolormesh(np.arange(n_cols + 1) - 0.5, np.arange(n_rows + 1) - 0.5,
                          np.ma.masked_invalid(values), cmap=cmap, norm=norm,
                          edgecolors="white", linewidth=max(0.3, min(st.pt(1.2), cell * 0.05)))
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    # symbols in a smaller font when the cells are too small for the usual one (the layout
    # above measured them at the usual size, so they only get more room)
    label_pt = min(st.tick, cell * 0.85 / 1.2 / _PX_PER_PT)
    # symbols placed as tick labels would be, but without Tick objects (two lines, a grid
    # line and two Texts each, dearer to build than the label is to draw)
    ax.set_xticks([])
    ax.set_yticks([])
    _add_labels(ax, np.zeros(n_rows), np.arange(n_rows), rows, label_pt, INK,
                transform=offset_copy(ax.get_yaxis_transform(), fig=fig, x=-st.tick_pad,
                                      units="points"),
                ha="right", va="center_baseline")
    _add_labels(ax, np.arange(n_cols), np.zeros(n_cols), cols, label_pt, INK,
                transform=offset_copy(ax.get_xaxis_transform(), fig=fig, y=-st.tick_pad,
                                      units="points"),
                ha="right" if rotate else "center", va="top", angle=45 if rotate else 0)
    for spine in ax.spines.values():
        spine.set_visible(False)

    # each cell annotated, sized to the cell, in a colour readable on it
    font_pt = min(st.pt(13), cell * 0.27 / _PX_PER_PT)
    if font_pt >= 4.5:
        rgba = cmap(norm(np.nan_to_num(values)))
        luminance = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        texts, colors = [], []
        for v, lum in zip(values.ravel(), luminance.ravel()):
            texts.append("n/a" if not np.isfinite(v) else _minus(f"{v:.2f}"))
            colors.append(INK if not np.isfinite(v) or lum > 0.5 else "white")
        cols_idx, rows_idx = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
        _add_labels(ax, cols_idx.ravel(), rows_idx.ravel(), texts, font_pt, colors)

    cax = fig.add_axes(frame.rect(heat_left + heat_w + cbar_gap, heat_bottom, cbar_w, heat_h))
    bar = fig.colorbar(image, cax=cax, ticks=[-1, -0.5, 0, 0.5, 1])
    bar.outline.set_visible(False)
    bar.ax.tick_params(labelsize=st.tick, width=st.thin, length=st.tick_len, colors=INK,
                       pad=st.tick_pad)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: _minus(f"{v:g}")))
    bar.set_label("Pearson correlation", fontsize=st.label, color=INK)

    if show_vol:
        order = {s: i for i, s in enumerate(rows)}
        a = assets.assign(_row=assets["symbol"].astype(str).map(order))
        a = a.sort_values("_row", na_position="last").reset_index(drop=True)
        # rows of the heatmap line up with the bars when every asset is a row of the matrix
        aligned = a["_row"].notna().all() and len(a) == n_rows
        vol = _num(a, "annualized_volatility") * 100
        bars_left = heat_left + heat_w + cbar_gap + cbar_w + cbar_label_w + st.px(20) + vol_row_w
        ax_b = fig.add_axes(frame.rect(bars_left, heat_bottom, bars_w - vol_row_w, heat_h))
        _style_axes(ax_b, st, grid_axis="x")
        y = np.arange(len(a))
        ax_b.barh(y, np.nan_to_num(vol), color=MUTED, alpha=0.75,
                  height=min(0.6 if aligned else 0.7, st.px(26) / cell))
        ax_b.set_yticks([])
        _add_labels(ax_b, np.zeros(len(a)), y, [str(s) for s in a["symbol"]], label_pt, INK,
                    transform=offset_copy(ax_b.get_yaxis_transform(), fig=fig,
                                          x=-st.tick_pad, units="points"),
                    ha="right", va="center_baseline")
        ax_b.set_ylim(len(a) - 0.5, -0.5)
        ax_b.spines["left"].set_visible(False)
        hi = _finite_range(vol, default=(0.0, 1.0))[1]
        ax_b.set_xlim(0, hi * 1.35 or 1.0)
        ax_b.xaxis.set_major_locator(MaxNLocator(nbins=3))
        ax_b.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: f"{v:.0f}%"))
        value_pt = min(st.small, label_pt)
        _add_labels(ax_b, np.nan_to_num(vol), y,
                    [f" {v:.0f}%" if np.isfinite(v) else " n/a" for v in vol], value_pt, INK,
                    ha="left", va="center")
        ax_b.set_title("Annualized volatility", fontsize=st.label, color=INK, loc="left",
                       pad=st.pt(5))
        _flat_ticks(ax_b, st, grid="x")


# --------------------------------------------------------------------------------------------
# Liquidity: cumulative depth around mid + band imbalance
# --------------------------------------------------------------------------------------------

def _depth_steps(price: np.ndarray, cum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step vertices of a cumulative depth curve, levels best first, rising from zero at the
    best level: the depth at a price is everything between it and the mid."""
    xs = np.repeat(price, 2)
    ys = np.concatenate([[0.0], np.repeat(cum, 2)[:-1]])
    return xs, ys


def draw_liquidity(fig: Figure, report) -> None:
    st = _Style.of(fig)
    params = report.params or {}
    symbol = params.get("symbol", "")
    title = report.title or f"Order-book liquidity: {symbol}".strip()
    df = report.frame
    if df.empty or "side" not in df:
        return _no_data(fig, report, st, title)

    measure = _Measure(fig)
    summary = report.summary or {}
    side = df["side"].astype(str).str.lower()
    bids = df[side == "bid"].sort_values("price", ascending=False)
    asks = df[side == "ask"].sort_values("price", ascending=True)
    bid_p, bid_c = _num(bids, "price"), _num(bids, "cum_notional")
    ask_p, ask_c = _num(asks, "price"), _num(asks, "cum_notional")

    def _value(key, fallback):
        v = summary.get(key)
        return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else fallback

    best_bid = _value("best_bid", bid_p[0] if len(bid_p) else np.nan)
    best_ask = _value("best_ask", ask_p[0] if len(ask_p) else np.nan)
    mid = _value("mid", float(np.nanmean([best_bid, best_ask])))
    if not np.isfinite(mid) or mid <= 0:      # no usable price on either side
        return _no_data(fig, report, st, title)

    spread = summary.get("spread_bps")
    spread_text = ""
    if isinstance(spread, (int, float)) and np.isfinite(spread):
        spread_text = f"spread {spread:.2f} bps" if spread >= 0.1 else f"spread {spread:.2g} bps"
    header = _Header(title, [
        f"{len(bids)} bid and {len(asks)} ask levels",
        f"best bid {_price_text(best_bid)}, best ask {_price_text(best_ask)}",
        spread_text, _as_of_text(report)], provenance_tag(report))

    bands = [b for b in (summary.get("bands") or []) if isinstance(b, dict)]
    show_bands = bool(bands) and st.width_px >= 500
    top = _draw_header(fig, st, measure, header,
                       extra_gap=_Measure.line(st.label) if show_bands else 0.0)

    # plotted range: within 200 bps of mid or the fetched book, whichever is smaller
    prices = np.concatenate([bid_p, ask_p])
    extent = float(np.nanmax(np.abs(prices - mid))) if np.isfinite(prices).any() else 0.0
    half = min(mid * 0.02, extent) if extent > 0 else abs(mid) * 0.001 or 1.0
    half *= 1.04
    lo, hi = mid - half, mid + half
    visible = np.concatenate([bid_c[bid_p >= lo], ask_c[ask_p <= hi]])
    depth_top = (_finite_range(visible, default=(0.0, 1.0))[1] * 1.15) or 1.0

    y_fmt = FuncFormatter(lambda v, pos: _compact(v))
    y_loc = MaxNLocator(nbins=5)
    y_labels = y_loc.tick_values(0, depth_top)
    left_w = _ytick_space(measure, st, [_compact(v) for v in y_labels if v <= depth_top])
    left = st.pad + _Measure.line(st.label) + st.label_pad * _PX_PER_PT + left_w
    bottom = st.pad + _xtick_space(st) + _Measure.line(st.label)
    imb_w = max(st.px(140), 0.2 * st.width_px) if show_bands else 0.0
    imb_left_w = _ytick_space(measure, st, ["\u22120.5"]) + st.px(16)
    depth_w = st.width_px - left - st.pad - (imb_w + imb_left_w if show_bands else 0)
    plot_h = st.height_px - top - bottom
    frame = _Frame(st)
    ax = fig.add_axes(frame.rect(left, bottom, depth_w, plot_h))
    _style_axes(ax, st, grid_axis="both")

    entries = []     # the legend's, in drawing order
    for p, cum, color, name in ((bid_p, bid_c, UP, "Bids"), (ask_p, ask_c, DOWN, "Asks")):
        ok = np.isfinite(p) & np.isfinite(cum)
        if not ok.any():
            continue
        xs, ys = _depth_steps(p[ok], cum[ok])
        ax.fill_between(xs, ys, color=color, alpha=0.22, linewidth=0)
        ax.plot(xs, ys, color=color, linewidth=st.line)
        entries.append(("line", color, st.line, "-", f"{name} (cumulative)"))
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, depth_top)

    # depth bands, nested and shaded, only those inside the plotted range
    band_bps = [b.get("bps") for b in bands if isinstance(b.get("bps"), (int, float))]
    labelled_px = []
    for bps in sorted(band_bps or [10, 50, 100, 200], reverse=True):
        b_lo, b_hi = mid * (1 - bps / 1e4), mid * (1 + bps / 1e4)
        if b_lo < lo or b_hi > hi:
            continue
        ax.axvspan(b_lo, b_hi, color=MUTED, alpha=0.06, linewidth=0)
        for edge in (b_lo, b_hi):
            ax.axvline(edge, color=MUTED, linewidth=st.thin, linestyle=(0, (2, 3)), alpha=0.6)
        # label the band's upper edge, right of it when there is room, and only where it
        # does not run into a label already placed (pixels from mid)
        edge_px = (b_hi - mid) / half * depth_w / 2
        text = f" \u00b1{bps:g} bps "
        text_w = measure.width(text, st.small)
        inside = edge_px + text_w > depth_w / 2
        span_px = (edge_px - text_w, edge_px) if inside else (edge_px, edge_px + text_w)
        if all(span_px[1] <= a or span_px[0] >= b for a, b in labelled_px):
            labelled_px.append(span_px)
            _add_labels(ax, [b_hi], [0.99], [text], st.small, MUTED,
                        transform=ax.get_xaxis_transform(), ha="right" if inside else "left",
                        va="top")

    ax.axvline(mid, color=INK, linewidth=st.thin * 1.4, linestyle="--")
    entries.append(("line", INK, st.thin * 1.4, "--", "Mid"))
    ax.text(mid, 0.93, f"mid {_price_text(mid)}", transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=st.small, color=INK, fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.9})
    ax.xaxis.set_major_formatter(_PriceFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=max(3, min(7, int(depth_w / 140)))))
    ax.yaxis.set_major_formatter(y_fmt)
    ax.yaxis.set_major_locator(y_loc)
    ax.set_xlabel("Price", fontsize=st.label, color=INK, labelpad=st.pt(2))
    ax.set_ylabel("Cumulative depth (quote)", fontsize=st.label, color=INK)
    ax.yaxis.set_label_coords(-(left_w + st.label_pad * _PX_PER_PT) / depth_w, 0.5)
    if not st.small_chart:
        _legend(ax, st, entries, loc="upper center", anchor=(0.5, 0.86), framealpha=0.9,
                ncols=3, handlelength=1.6)
    _flat_ticks(ax, st, grid="both")

    if show_bands:
        ax_i = fig.add_axes(frame.rect(st.width_px - st.pad - imb_w, bottom, imb_w, plot_h))
        _style_axes(ax_i, st, grid_axis="y")
        labels = [f"{b['bps']:g}" if isinstance(b.get("bps"), (int, float))
                  else str(b.get("bps")) for b in bands]
        imb = np.array([b.get("imbalance") if isinstance(b.get("imbalance"), (int, float))
                        else np.nan for b in bands], dtype=float)
        xi = np.arange(len(bands))
        ax_i.bar(xi, np.nan_to_num(imb), color=[UP if v >= 0 else DOWN for v in
                                                np.nan_to_num(imb)], width=0.6)
        ax_i.axhline(0, color=MUTED, linewidth=st.thin)
        ax_i.set_ylim(-1.15, 1.15)
        ax_i.set_yticks([-1, -0.5, 0, 0.5, 1])
        ax_i.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: _minus(f"{v:g}")))
        ax_i.set_xticks(xi, labels)
        ax_i.set_xlim(-0.6, len(bands) - 0.4)
        ax_i.set_xlabel("\u00b1 bps from mid", fontsize=st.label, color=INK,
                        labelpad=st.pt(2))
        texts = ["n/a" if not np.isfinite(v) else _minus(f"{v:+.2f}") for v in imb]
        above = ~(np.nan_to_num(imb) < 0)
        for side, sign, va in ((above, 1, "bottom"), (~above, -1, "top")):
            _add_labels(ax_i, xi[side], np.nan_to_num(imb)[side],
                        [t for t, s in zip(texts, side) if s], st.small, INK,
                        transform=offset_copy(ax_i.transData, fig=fig, y=sign * st.pt(2),
                                              units="points"),
                        va=va)
        for y_ax, text, color, va in ((0.985, "bid-heavy", UP, "top"),
                                      (0.015, "ask-heavy", DOWN, "bottom")):
            _add_labels(ax_i, [0.03], [y_ax], [text], st.small, color,
                        transform=ax_i.transAxes, ha="left", va=va, bold=True)
        ax_i.set_title("Depth imbalance", fontsize=st.label, color=INK, loc="left",
                       pad=st.pt(5))
        _flat_ticks(ax_i, st, grid="y")


# --------------------------------------------------------------------------------------------
# Market statistics: 24 h change per symbol
# --------------------------------------------------------------------------------------------

_SENTIMENT_COLORS = {"bullish": UP, "bearish": DOWN, "neutral": FLAT}


def draw_statistics(fig: Figure, report) -> None:
    st = _Style.of(fig)
    title = report.title or "Market statistics: 24 h change"
    df = report.frame
    if df.empty or "symbol" not in df:
        return _no_data(fig, report, st, title)

    measure = _Measure(fig)
    pct_all = _num(df, "price_change_pct")
    order = np.argsort(np.nan_to_num(pct_all, nan=-np.inf), kind="stable")
    t = df.iloc[order].reset_index(drop=True)
    pct = pct_all[order]
    if "sentiment" in t:
        sentiment = t["sentiment"].astype(str).str.lower().tolist()
    else:
        sentiment = ["bullish" if v >= 2 else "bearish" if v <= -2 else "neutral" for v in pct]
    colors = [_SENTIMENT_COLORS.get(s, FLAT) for s in sentiment]
    y = np.arange(len(t))
    symbols = [str(s) for s in t["symbol"]]

    s = report.summary or {}
    parts = []
    if s.get("sentiment"):
        parts.append(f"market sentiment {s['sentiment']}")
    if isinstance(s.get("breadth"), (int, float)):
        counts = [f"{s[k]} {w}" for k, w in (("advancers", "up"), ("decliners", "down"),
                                             ("unchanged", "unchanged"))
                  if s.get(k) is not None]
        parts.append("breadth " + _minus(f"{s['breadth']:+.2f}")
                     + (f" ({', '.join(counts)})" if counts else ""))
    if isinstance(s.get("weighted_change_pct"), (int, float)) and not st.small_chart:
        parts.append("volume-weighted change " + _minus(f"{s['weighted_change_pct']:+.2f}%"))
    top = _draw_header(fig, st, measure, _Header(title, [*parts, _as_of_text(report)],
                                                 provenance_tag(report)),
                       extra_gap=_Measure.line(st.small))

    left = st.pad + max(measure.width(sym, st.tick) for sym in symbols) + st.px(8)
    bottom = st.pad + _xtick_space(st) + _Measure.line(st.label)

    # a column of last price and quote volume on the right, when there is room for it
    columns = []
    if st.width_px >= 600:
        for key, head, fmt in (("last_price", "last", _price_text),
                               ("quote_volume", "quote vol.", _compact)):
            if key in t:
                cells = [fmt(v) for v in _num(t, key)]
                width = max(measure.width(head, st.small, True),
                            *(measure.width(c, st.tick) for c in cells))
                columns.append((head, cells, width))
    col_gap = st.px(14)
    right = st.pad + sum(w + col_gap for _, _, w in columns)
    frame = _Frame(st)
    ax = fig.add_axes(frame.rect(left, bottom, st.width_px - left - right,
                                 st.height_px - top - bottom))
    x_px = st.width_px - right
    for head, cells, width in columns:
        x_px += col_gap + width        # right-aligned columns
        trans = offset_copy(ax.get_yaxis_transform(), fig=fig,
                            x=x_px - (st.width_px - right), units="dots")
        head_trans = offset_copy(ax.transAxes, fig=fig, x=x_px - (st.width_px - right),
                                 y=st.px(2), units="dots")
        ax.text(1.0, 1.0, head, transform=head_trans, ha="right", va="bottom",
                fontsize=st.small, color=MUTED, fontweight="bold", clip_on=False)
        _add_labels(ax, np.ones(len(cells)), y, cells, st.tick, INK, transform=trans,
                    ha="right", va="center")
    _style_axes(ax, st, grid_axis="x")
    row_px = (st.height_px - top - bottom) / max(len(t), 1)
    ax.barh(y, np.nan_to_num(pct), color=colors, height=min(0.66, st.px(34) / row_px))
    # symbols where y tick labels would be, without Tick objects (see draw_correlation)
    ax.set_yticks([])
    _add_labels(ax, np.zeros(len(t)), y, symbols,
                min(st.tick, row_px * 0.85 / 1.2 / _PX_PER_PT), INK,
                transform=offset_copy(ax.get_yaxis_transform(), fig=fig, x=-st.tick_pad,
                                      units="points"),
                ha="right", va="center_baseline")
    ax.spines["left"].set_visible(False)
    ax.axvline(0, color=INK, linewidth=st.thin)
    for guide in (-2, 2):
        ax.axvline(guide, color=MUTED, linewidth=st.thin, linestyle="--", alpha=0.8)

    lo, hi = _finite_range(pct, default=(0.0, 0.0))
    lo, hi = min(-2.5, lo), max(2.5, hi)
    # room beyond the longest bars for their labels: a share of the axes width each side
    ax_w = st.width_px - left - right
    labels = ["n/a" if not np.isfinite(v) else _minus(f"{v:+.2f}%") for v in pct]
    label_pt = min(st.small, (st.height_px - top - bottom) / max(len(t), 1) * 0.55 / _PX_PER_PT)
    room = [st.px(10) + max((measure.width(txt, label_pt) for txt, v in zip(labels, pct)
                             if (np.nan_to_num(v) >= 0) == positive), default=0.0)
            for positive in (False, True)]
    share_lo, share_hi = (min(r / max(ax_w, 1.0), 0.35) for r in room)
    span = (hi - lo) / max(1 - share_lo - share_hi, 0.3)
    ax.set_xlim(lo - span * share_lo, hi + span * share_hi)
    ax.set_ylim(-0.6, len(t) - 0.4)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: _minus(f"{v:+g}%") if v
                                               else "0%"))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=max(4, min(8, int(st.width_px / 150))),
                                           steps=[1, 2, 5, 10]))
    ax.set_xlabel("24 h price change", fontsize=st.label, color=INK, labelpad=st.pt(2))
    for guide, text, ha in ((2, " +2%", "left"), (-2, "\u22122% ", "right")):
        _add_labels(ax, [guide], [1.0], [text], st.small, MUTED,
                    transform=ax.get_xaxis_transform(), ha=ha, va="bottom")

    # each change past the end of its bar: right of it when up, left of it when down
    ends = np.nan_to_num(pct)
    for up, sign, ha in ((True, 1, "left"), (False, -1, "right")):
        side = (ends >= 0) == up
        _add_labels(ax, ends[side], y[side], [lab for lab, s in zip(labels, side) if s],
                    label_pt, INK, transform=offset_copy(ax.transData, fig=fig,
                                                         x=sign * st.pt(3), units="points"),
                    ha=ha, va="center")

    if not st.small_chart:
        entries = [("patch", color, color, None, label)
                   for color, label in ((UP, "bullish (\u2265 +2%)"), (FLAT, "neutral"),
                                        (DOWN, "bearish (\u2264 \u22122%)"))]
        # the lowest rows are the worst changes: their bars leave the right side free,
        # unless every symbol rose, which frees the left side
        corner = "lower right" if not len(pct) or np.nan_to_num(pct[0]) < 0 else "lower left"
        _legend(ax, st, entries, loc=corner, framealpha=0.9)
    _flat_ticks(ax, st, grid="x")


DRAWERS: dict[str, Callable[[Figure, object], None]] = {
    "technical": draw_technical,
    "correlation": draw_correlation,
    "liquidity": draw_liquidity,
    "statistics": draw_statistics,
}
