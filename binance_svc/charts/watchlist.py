"""Watch-list chart: small multiples, one panel per symbol, each its closes over the window
with the request's single-line overlays (moving averages, VWAP), its last close and its change
over the window in the panel's title. Each panel has its own price scale: a watch list mixes
BTC at 90,000 with DOGE at 0.1."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from binance_svc.analysis.catalogue import parse_indicators
from binance_svc.charts import primitives as P
from binance_svc.charts.style import (DOWN, INK, UP, Measure, PriceFormatter, Style,
                                      as_of_text, finite_range, minus, num, padded,
                                      provenance_tag, rect, xtick_space)

CLOSE = "#37474f"
OVERLAY_COLORS = ("#1e88e5", "#fb8c00", "#7e57c2", "#26a69a", "#8d6e63")
MAX_OVERLAYS = len(OVERLAY_COLORS)
DEFAULT_OVERLAYS = (("sma_20", "SMA(20)"), ("sma_50", "SMA(50)"))


@dataclass(frozen=True)
class Panel:
    symbol: str
    title: str
    title_color: str
    rect: tuple                   # pixels
    x: np.ndarray                 # matplotlib date numbers
    close: np.ndarray
    overlays: tuple               # (values, color)
    y_lim: tuple[float, float]


@dataclass(frozen=True)
class Layout:
    style: Style
    header: P.Header
    panels: tuple
    legend: tuple                 # (label, color) of the lines every panel has
    title_pt: float


def _overlays(report) -> list[tuple[str, str]]:
    """(column, label) of the single-output overlays asked for, or the default set's SMAs."""
    items = (report.params or {}).get("indicators")
    if items is None:
        return list(DEFAULT_OVERLAYS)
    out = []
    for r in parse_indicators(",".join(items)):
        if r.indicator.family == "overlay" and len(r.columns) == 1:
            out.append((r.columns[0], r.label))
    return out[:MAX_OVERLAYS]


def _grid(n: int, width: float, height: float) -> tuple[int, int]:
    """Columns and rows for n panels, keeping each panel near 3:2."""
    best = None
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        aspect = (width / cols) / (height / rows)
        score = abs(math.log(aspect / 1.5)) + 0.05 * (cols * rows - n)
        if best is None or score < best[0]:
            best = (score, cols, rows)
    return best[1], best[2]


def layout(report, width: int, height: int):
    st = Style.of(width, height)
    measure = Measure()
    title = report.title or "Technical analysis of a watch list"
    df = report.frame
    if df.empty or "symbol" not in df:
        return P.no_data(report, st, measure, title)

    overlays = [(c, label) for c, label in _overlays(report) if c in df.columns]
    interval = (report.params or {}).get("interval", "")
    header = P.header(st, measure, title, [f"closes, {interval} candles" if interval else
                                           "closes", as_of_text(report)],
                      provenance_tag(report), extra_gap=st.px(12))
    symbols = list(dict.fromkeys(df["symbol"]))
    cols, rows = _grid(len(symbols), st.width_px, st.height_px - header.height)
    top = st.height_px - header.height
    gap_x, gap_y = st.px(34), st.px(30)
    cell_w = (st.width_px - 2 * st.pad - gap_x * (cols - 1) - st.px(40)) / cols
    cell_h = (top - st.pad - xtick_space(st) - st.px(16) - gap_y * (rows - 1)) / rows
    colors = dict(zip((c for c, _ in overlays), OVERLAY_COLORS))
    title_pt = st.label if len(symbols) <= 4 else st.small
    panels = []
    for i, symbol in enumerate(symbols):
        part = df[df["symbol"] == symbol]
        close = num(part, "close")
        # matplotlib's date numbers: days since 1970-01-01 UTC
        x = part["open_time"].astype("int64").to_numpy() / 86_400e9 if len(part) else \
            np.array([])
        lines = tuple((num(part, c), colors[c]) for c, _ in overlays)
        lo, hi = finite_range(close, *(v for v, _ in lines))
        finite = close[np.isfinite(close)]
        change = (finite[-1] / finite[0] - 1) * 100 if len(finite) > 1 and finite[0] else None
        change_text = "" if change is None else minus(f"  {change:+.2f}%")
        head = symbol + change_text
        if len(finite):
            with_price = f"{symbol}  {PriceFormatter()(finite[-1])}{change_text}"
            if measure.width(with_price, title_pt, True) <= cell_w:
                head = with_price
        r, c = divmod(i, cols)
        left = st.pad + st.px(40) + c * (cell_w + gap_x)
        bottom = top - st.px(16) - (r + 1) * cell_h - r * gap_y
        panels.append(Panel(symbol, head, INK if change is None else UP if change >= 0 else DOWN,
                            (left, bottom, cell_w, cell_h), x, close, lines, padded(lo, hi)))
    legend = (("close", CLOSE),) + tuple((label, colors[c]) for c, label in overlays)
    return Layout(st, header, tuple(panels), legend, title_pt)


def draw(fig: Figure, lay) -> None:
    if isinstance(lay, P.NoData):
        return P.draw_no_data(fig, lay)
    st = lay.style
    P.draw_header(fig, st, lay.header)
    for p in lay.panels:
        ax = fig.add_axes(rect(st, *p.rect))
        P.style_axes(ax, st, grid_axis="y")
        ax.plot(p.x, p.close, color=CLOSE, linewidth=st.line)
        for values, color in p.overlays:
            ax.plot(p.x, values, color=color, linewidth=st.thin * 1.3)
        if len(p.x):
            ax.set_xlim(p.x[0], p.x[-1] if p.x[-1] > p.x[0] else p.x[0] + 1)
        ax.set_ylim(*p.y_lim)
        ax.yaxis.set_major_formatter(PriceFormatter())
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        locator = AutoDateLocator(minticks=2, maxticks=4)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
        ax.set_title(p.title, fontsize=lay.title_pt, color=p.title_color, loc="left",
                     fontweight="bold", pad=st.pt(4))
        P.finish_ticks(ax, st, grid="y")
    # One legend for the figure, at the top right under the header: every panel has the lines.
    y = (st.height_px - lay.header.height + st.px(6)) / st.height_px
    x = (st.width_px - st.pad) / st.width_px
    measure = Measure()
    for label, color in reversed(lay.legend):
        fig.text(x, y, f"\u2014 {label}", color=color, fontsize=st.small, ha="right",
                 va="bottom", fontweight="bold", parse_math=False)
        x -= (measure.width(f"\u2014 {label}", st.small, True) + st.px(10)) / st.width_px
