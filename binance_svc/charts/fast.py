"""The charts' speed-ups: the ONLY module that reaches into matplotlib's internals.

Since matplotlib 3.11 the Agg renderer lays out and rasterises every Text glyph by glyph, in
Python, on every render (about 1 ms a label), and an Axis builds a Tick per location (two
marks, a grid line and two Texts) on every draw. Here the same pixels are made cheaper; each
speed-up leans on matplotlib internals, listed here so that an upgrade knows what to check:

- `label_path` / `add_labels`: `backend_agg.get_hinting_flag()` and the FT2Font of
  `font_manager.get_font()` (`set_size`, `set_text`, `load_char`, `get_path`,
  `get_width_height`, `get_descent`, `get_sfnt_table`), and a copy of how
  `Text._get_layout` aligns a line (ascent and descent at least the OS/2 typographic ones).
- `flat_ticks`: a copy of `Axis._update_ticks` (format every location, keep those inside the
  view), the private `Axis._autolabelpos`, `Axis.labelpad`, `Axis.offsetText` and where
  matplotlib places the offset text (OFFSETTEXTPAD, 3 pt).
- `legend`: a copy of `Legend._get_anchored_bbox` (`Bbox.anchored` in the parent box padded
  by borderaxespad), and Agg rounding text to whole pixels (the image is kept per sub-pixel
  offset of its corner).
- `release_renderer`: `FigureCanvasAgg.renderer` and the private `Text._renderer`.

All of it sits behind one switch, the environment variable CHARTS_FAST: on unless it is "0"
(or "false", "no", "off"). Off, the charts are plain matplotlib (real Texts, matplotlib's own
ticks and Legend, the renderer freed by the garbage collector) and look the same within
anti-aliasing (tests/charts compare both). `enabled()` reads the variable; `use(flag)` pins the
answer for the code inside it (a render pins it once, so one chart never mixes the two).

Caches (process-wide, bounded, each emptied or evicted when full): glyph outlines per label
(`label_path`, LRU of 1024, a few kB each), text heights (`_TEXT_HEIGHTS`, 256), legend sizes
and legend images (`_LEGEND_SIZES`, `_LEGEND_IMAGES`, `MAX_LEGENDS` each).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, get_hinting_flag
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.lines import Line2D
from matplotlib.path import Path
from matplotlib.text import Text
from matplotlib.ticker import NullLocator
from matplotlib.transforms import Bbox, IdentityTransform, offset_copy

from binance_svc.charts.style import DPI, GRID, INK, PX_PER_PT, Measure, Style

ENV = "CHARTS_FAST"
_pinned: contextvars.ContextVar[bool | None] = contextvars.ContextVar("charts_fast",
                                                                        default=None)


def enabled() -> bool:
    """Whether charts take the fast path: pinned by `use`, else CHARTS_FAST (default on)."""
    pinned = _pinned.get()
    if pinned is not None:
        return pinned
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def use(flag: bool):
    """Fast path on or off for the code inside (this thread or task only)."""
    token = _pinned.set(bool(flag))
    try:
        yield
    finally:
        _pinned.reset(token)


# --------------------------------------------------------------------------------------------
# Labels as glyph outlines
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1024)    # a few kB each
def label_path(text: str, size_pt: float, bold: bool = False, ha: str = "center",
               va: str = "center", angle: float = 0.0) -> Path | None:
    """The glyphs of a one-line `text`, in pixels from its anchor point, exactly where the
    Agg renderer puts those of a Text with this alignment (and rotation_mode="anchor"):
    the same hinted outlines (FreeType, at this size and 100 dpi), pen positions and font
    metrics, so the pixels hardly differ (Agg rasterises the outline instead of FreeType).
    None when the text is not one glyph per character of the first font: use a Text then.
    Cached: nothing in it depends on the figure (the FT2Font is matplotlib's, per thread)."""
    prop = FontProperties(size=size_pt, weight="bold" if bold else "normal")
    font = get_font(findfont(prop))
    font.set_size(size_pt, DPI)
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
    scale = size_pt * PX_PER_PT / font.get_sfnt_table("head")["unitsPerEm"]
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


def add_labels(ax, xs, ys, texts, size_pt: float, colors, *, transform=None,
               ha: str = "center", va: str = "center", angle: float = 0.0,
               bold: bool = False) -> None:
    """Many short labels as ONE artist of glyph outlines that looks like the Texts it
    replaces (a Text costs a text layout and a FreeType rendering per glyph, every render:
    the annotated 10 x 10 heatmap spent most of its time there). Arguments as
    primitives.add_labels; a text that is not a plain run of glyphs is still a Text."""
    transform = ax.transData if transform is None else transform
    colors = [colors] * len(texts) if isinstance(colors, str) else list(colors)
    paths, offsets, facecolors = [], [], []
    for x, y, text, color in zip(xs, ys, texts, colors):
        path = label_path(text, size_pt, bold, ha, va, angle)
        if path is None:
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
_MAX_TEXT_HEIGHTS = 256


def text_height(fig: Figure, size: float) -> float:
    """Pixels from top to bottom of a one-line Text's box (what matplotlib stacks an axis
    label under), which is taller than the glyphs: the font's ascent and descent."""
    key = (size, fig.dpi)
    height = _TEXT_HEIGHTS.get(key)
    if height is None:
        text = Text(0, 0, "Nov", fontsize=size, figure=fig)
        height = text.get_window_extent(fig.canvas.get_renderer()).height
        if len(_TEXT_HEIGHTS) >= _MAX_TEXT_HEIGHTS:
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


# --------------------------------------------------------------------------------------------
# Legends pasted as images
# --------------------------------------------------------------------------------------------

LEGEND_CODES = {"upper left": "NW", "upper right": "NE", "upper center": "N",
                "lower left": "SW", "lower right": "SE", "lower center": "S"}
_LEGEND_SIZES: dict = {}           # LegendSpec -> (width, height) in pixels
_LEGEND_IMAGES: dict = {}          # (LegendSpec, x fraction, y fraction) -> RGBA array
MAX_LEGENDS = 64


def _legend_figure(spec, x: float, y: float):
    """A transparent figure holding only the legend, its lower-left corner at (x, y) px."""
    fig = Figure(figsize=(1, 1), dpi=spec.dpi, facecolor="none")
    canvas = FigureCanvasAgg(fig)
    legend = fig.legend(handles=spec.handles(), loc="lower left",
                        bbox_to_anchor=(x, y), bbox_transform=IdentityTransform(),
                        **{**spec.kwargs(), "borderaxespad": 0})
    box = legend.get_window_extent(canvas.get_renderer())
    return fig, canvas, box


def legend(ax, spec, *, loc: str, anchor=None) -> None:
    """matplotlib's legend for `spec` (a primitives.LegendSpec), drawn once per size and
    then pasted as an image.

    A Legend lays out and rasterises its texts glyph by glyph on every draw: the four-panel
    chart's two legends cost ~50 ms of a ~300 ms render. The legend depends only on its
    entries, font size and dpi, and on where its corner falls within a pixel (Agg rounds
    text to whole pixels): so it is drawn by matplotlib on a transparent canvas at that same
    sub-pixel offset, kept, and placed where matplotlib would place it (the same anchoring,
    `Bbox.anchored` inside the axes or the anchor point, padded by borderaxespad), above the
    axes."""
    fig = ax.figure
    size = _LEGEND_SIZES.get(spec)
    if size is None:
        side, canvas, box = _legend_figure(spec, 0.0, 0.0)
        release_renderer(side, canvas)
        size = (box.width, box.height)
        if len(_LEGEND_SIZES) >= MAX_LEGENDS:
            _LEGEND_SIZES.clear()
        _LEGEND_SIZES[spec] = size
    pad = spec.pad * spec.fontsize * spec.dpi / 72
    if anchor is None:
        parent = ax.bbox
    else:
        parent = Bbox.from_bounds(*ax.transAxes.transform(anchor), 0, 0)
    x0, y0 = Bbox.from_bounds(0, 0, *size).anchored(LEGEND_CODES[loc],
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
        if len(_LEGEND_IMAGES) >= MAX_LEGENDS:
            _LEGEND_IMAGES.clear()
        _LEGEND_IMAGES[(spec, fx, fy)] = image
    fig.figimage(image, ix, iy, origin="upper", zorder=5)


# --------------------------------------------------------------------------------------------
# Ticks without Tick objects
# --------------------------------------------------------------------------------------------

def flat_ticks(ax, st: Style, grid: str | None = None) -> None:
    """Draw `ax`'s major ticks, tick labels and `grid` lines ("x", "y", "both") as a few
    artists, then switch matplotlib's own off. Call it last, once limits, locators and
    formatters are final. An Axis builds a Tick per location on every draw and lays out and
    rasterises every label glyph by glyph: about 75 ms of the four-panel chart.
    The locations and labels are the axis' own locator's and formatter's; marks, labels, grid
    lines, the axis label and the offset text (e.g. a date formatter's "2026-Nov") go where
    matplotlib puts them with the tick_params of primitives.style_axes (left and bottom,
    outward)."""
    fig = ax.figure
    px_w, px_h = ax.get_position().width * fig.bbox.width, \
        ax.get_position().height * fig.bbox.height
    out_px = (st.tick_len + st.tick_pad) * PX_PER_PT     # spine to the labels' near edge
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
            add_labels(ax, xs[shown], ys[shown], [labels[i] for i in shown], st.tick, INK,
                       transform=label_at, ha=ha, va=va)
        # the axis label would now be placed against the spine: put it past the labels
        if axis.get_label_text() and getattr(axis, "_autolabelpos", True):
            if name == "x":
                below = out_px + (text_height(fig, st.tick) if shown else 0.0) \
                    + axis.labelpad * PX_PER_PT
                axis.set_label_coords(0.5, -below / px_h)
            else:
                measure = Measure(fig.dpi)
                widest = max((measure.width(labels[i], st.tick) for i in shown), default=0.0)
                axis.set_label_coords(-(out_px + widest + axis.labelpad * PX_PER_PT) / px_w,
                                      0.5)
        if offset:
            if name == "x":   # under the labels, right-aligned to the axes (OFFSETTEXTPAD 3 pt)
                down = out_px + text_height(fig, st.tick) + 3 * PX_PER_PT
                add_labels(ax, [1.0], [0.0], [offset], axis.offsetText.get_fontsize(), INK,
                           transform=offset_copy(ax.transAxes, fig=fig, y=-down,
                                                 units="dots"), ha="right", va="top")
            else:             # above the axes, left-aligned
                add_labels(ax, [0.0], [1.0], [offset], axis.offsetText.get_fontsize(), INK,
                           transform=offset_copy(ax.transAxes, fig=fig, y=3 * PX_PER_PT,
                                                 units="dots"), ha="left", va="bottom")
