"""The charts' palette, sizes, text measurement and number formats.

Sizes scale with the picture, so a chart designed at 1200 x 800 stays legible from 300 x 300
to 3000 x 3000 pixels. Styles are passed to each artist rather than set through rcParams
(which are process-global). Everything here is computed from the pixel size alone: a chart's
`layout()` uses it without a Figure.

Owns one cache: `Measure`'s text widths (bounded, see there).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import Formatter

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

# Requested indicators (charts/technical_panels.py). Overlays take these in request order:
# distinct from the candles' UP/DOWN and from each other on white, and from the Bollinger
# fill they may sit in.
OVERLAY_COLORS = ("#ff9800", "#3f51b5", "#e91e63", "#00acc1", "#8d6e63", "#9c27b0",
                  "#827717", "#546e7a")
# Lines of one indicator panel, in the order the panel's indicators were asked for.
PANEL_COLORS = (RSI, MACD, SIGNAL, "#e91e63", "#00acc1", "#8d6e63", "#827717")
ADX_LINE = "#37474f"  # ADX; its +DI / -DI take UP / DOWN, the usual reading
GUIDE = MUTED         # threshold lines an indicator has no colour of its own for
ICHIMOKU_TENKAN = "#1e88e5"
ICHIMOKU_KIJUN = "#b71c1c"
ICHIMOKU_CHIKOU = "#7cb342"

DESIGN_W, DESIGN_H = 1200, 800   # the size the point sizes below are chosen for
DPI = 100                        # figsize = pixels / 100: the picture is exactly the pixels
PX_PER_PT = DPI / 72


@dataclass(frozen=True)
class Style:
    """Every size in one place, scaled with the picture."""

    scale: float
    width_px: float
    height_px: float

    @classmethod
    def of(cls, width: int, height: int) -> "Style":
        # as the Figure reports its size (inches x dpi), to the last float bit
        w, h = width / DPI * DPI, height / DPI * DPI
        wr, hr = w / DESIGN_W, h / DESIGN_H
        # geometric mean of the two ratios, but never much more than the smaller one (a very
        # wide, short chart must not get tall text), clamped so text stays readable when small
        scale = min(math.sqrt(wr * hr), 1.3 * min(wr, hr))
        return cls(scale=max(0.66, min(scale, 3.0)), width_px=float(w), height_px=float(h))

    def pt(self, size: float) -> float:
        return size * self.scale

    def px(self, size_pt: float) -> float:
        """A scaled point size, in pixels."""
        return size_pt * self.scale * PX_PER_PT

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
    pad = property(lambda self: self.px(7))          # picture edge to content, pixels

    @property
    def small_chart(self) -> bool:
        """True when there is too little room for legends and long labels."""
        return self.width_px < 700 or self.height_px < 450


class Measure:
    """Text extents in pixels, as the Agg renderer that draws the chart computes them.

    A 1 x 1 RendererAgg at the charts' dpi measures like the canvas' own renderer (a text's
    extent depends on the text, font size, weight and dpi only), so a layout needs no Figure.
    Widths are kept across charts in `_widths` (at most `_MAX_WIDTHS`, emptied when full):
    symbols, tick labels and titles come back render after render, and one measurement costs
    as much as a FreeType layout of the string."""

    _widths: dict = {}     # (text, size, bold, dpi) -> pixels
    _MAX_WIDTHS = 8192

    def __init__(self, dpi: float = DPI):
        self._renderer = RendererAgg(1, 1, dpi)
        self._dpi = dpi
        self._props: dict = {}

    def width(self, text: str, size: float, bold: bool = False) -> float:
        if not text:
            return 0.0
        key = (text, size, bold, self._dpi)
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
        return size * PX_PER_PT * 1.2


def rect(st: Style, left: float, bottom: float, width: float,
         height: float) -> tuple[float, ...]:
    """A pixel box (left, bottom from the lower-left corner) as figure fractions."""
    return (left / st.width_px, bottom / st.height_px, max(width, 1.0) / st.width_px,
            max(height, 1.0) / st.height_px)


def ytick_space(measure: Measure, st: Style, labels: list[str]) -> float:
    """Pixels from an axes' left spine to the far edge of its y tick labels."""
    widest = max((measure.width(t, st.tick) for t in labels), default=0.0)
    return widest + (st.tick_len + st.tick_pad) * PX_PER_PT


def xtick_space(st: Style) -> float:
    """Pixels below an axes' bottom spine taken by one row of x tick labels."""
    return Measure.line(st.tick) + (st.tick_len + st.tick_pad) * PX_PER_PT


def tick_labels(locator, formatter, lo: float, hi: float) -> list[str]:
    """The labels an axis with this locator and formatter shows between lo and hi."""
    locs = locator.tick_values(lo, hi)
    eps = abs(hi - lo) * 1e-9
    locs = [v for v in locs if min(lo, hi) - eps <= v <= max(lo, hi) + eps]
    return formatter.format_ticks(locs) if locs else []


# --------------------------------------------------------------------------------------------
# Texts and number formats
# --------------------------------------------------------------------------------------------

SEP = " \u00b7 "


def join(*parts: str) -> str:
    return SEP.join(p for p in parts if p)


def as_of_text(report) -> str:
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
    return SEP.join(tags)


def minus(text: str) -> str:
    """A typographic minus, as matplotlib's own tick labels use."""
    return text.replace("-", "\u2212")


def compact(value: float, decimals: int = 1) -> str:
    """1234567 -> '1.2M': volumes and notionals of any magnitude in a few characters."""
    if value is None or not np.isfinite(value):
        return "n/a"
    mag = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if mag >= div:
            return minus(f"{value / div:.{decimals}f}".rstrip("0").rstrip(".") + suffix)
    if mag >= 1 or mag == 0:
        return minus(f"{value:.{decimals}f}".rstrip("0").rstrip("."))
    return minus(f"{value:.2g}")


def price_text(value: float) -> str:
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
    return minus(f"{value:,.{decimals}f}")


class PriceFormatter(Formatter):
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
            return price_text(x)
        return minus(f"{x:,.{self._decimals}f}")


# --------------------------------------------------------------------------------------------
# Numbers out of a report's tables
# --------------------------------------------------------------------------------------------

def num(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, NaN where undefined or missing (renderers never trust dtypes)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64",
                                                                  na_value=np.nan)


def finite_range(*arrays, default=(0.0, 1.0)) -> tuple[float, float]:
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    if not len(values):
        return default
    return float(values.min()), float(values.max())


def padded(lo: float, hi: float, share: float = 0.05) -> tuple[float, float]:
    span = hi - lo
    pad = span * share if span > 0 else (abs(hi) * 0.01 or 1.0)
    return lo - pad, hi + pad
