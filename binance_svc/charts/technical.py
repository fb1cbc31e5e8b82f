"""Technical chart: candles with SMA 20/50 and Bollinger band, volume, RSI and MACD panels.

The layout is computed in pixels from measured text (no layout engine: the constrained one
draws the whole figure an extra time).
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from binance_svc.charts import primitives as P
from binance_svc.charts.style import (BAND, DOWN, GRID, INK, MACD, MUTED, PX_PER_PT, RSI,
                                      SIGNAL, SMA20, SMA50, UP, UTC, Measure, PriceFormatter,
                                      Style, as_of_text, compact, finite_range, join, num,
                                      padded, price_text, provenance_tag, rect, tick_labels,
                                      xtick_space, ytick_space)

RATIOS = np.array([5, 1.2, 1.5, 1.5])      # price, volume, RSI, MACD panel heights


@dataclass(frozen=True)
class Layout:
    style: Style
    header: P.Header
    x: np.ndarray                 # candle centres, matplotlib date numbers
    span: float                   # one interval, days
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    up: np.ndarray                # close >= open
    bb_lower: np.ndarray
    bb_upper: np.ndarray
    sma_20: np.ndarray
    sma_50: np.ndarray
    volume: np.ndarray
    rsi: np.ndarray
    macd: np.ndarray
    macd_signal: np.ndarray
    macd_hist: np.ndarray
    price_lim: tuple[float, float]
    vol_lim: tuple[float, float]
    macd_lim: tuple[float, float]
    price_nbins: int
    last: tuple[float, str, bool] | None     # last close, its label, rising
    panels: tuple                 # four pixel rects (left, bottom, width, height), top first
    plot_w: float
    ylabel_x: float               # y labels' position in axes fractions
    ylabels: tuple                # one name or None per panel
    rsi_ticks: tuple
    wick_lw: float
    body_w: float
    body_edge: float
    x_lim: tuple[float, float]
    date_maxticks: int
    legends: tuple                # (price legend, MACD legend) or ()


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


def _price_locator(nbins: int) -> MaxNLocator:
    return MaxNLocator(nbins=nbins)


def _vol_locator() -> MaxNLocator:
    return MaxNLocator(nbins=2, min_n_ticks=2)


def _macd_locator() -> MaxNLocator:
    return MaxNLocator(nbins=4, min_n_ticks=3)


def _compact_fmt() -> FuncFormatter:
    return FuncFormatter(lambda v, pos: compact(v))


def _macd_fmt() -> FuncFormatter:
    return FuncFormatter(lambda v, pos: compact(v, 2))


def layout(report, width: int, height: int):
    st = Style.of(width, height)
    measure = Measure()
    params = report.params or {}
    symbol, interval = params.get("symbol", ""), params.get("interval", "")
    title = report.title or f"Technical analysis: {symbol} {interval}".strip()
    if interval and interval not in title:
        title = f"{title} {interval}"
    df = report.frame
    if df.empty or "open_time" not in df:
        return P.no_data(report, st, measure, title)

    x_open = _to_date_nums(df["open_time"])
    span = _candle_span(df, x_open)
    x = x_open + span / 2                         # a candle is drawn across its interval
    o, h, l, c = (num(df, k) for k in ("open", "high", "low", "close"))
    n = len(df)

    signals = (report.summary or {}).get("signals") or {}
    signal_text = join(*(f"{k} {str(v).replace('_', ' ')}" for k, v in signals.items()
                         if v is not None))
    header = P.header(st, measure, title,
                      [f"{n} candle{'s' if n != 1 else ''}" + (f" of {interval}" if interval
                                                              else ""),
                       as_of_text(report), "" if st.small_chart else signal_text],
                      provenance_tag(report))

    # limits first: the layout measures the tick labels they produce
    lower, upper = num(df, "bb_lower"), num(df, "bb_upper")
    price_lim = padded(*finite_range(l, h, lower, upper))
    if not st.small_chart:   # headroom for the legend above the highest high
        price_lim = (price_lim[0], price_lim[1] + (price_lim[1] - price_lim[0]) * 0.08)
    vol = num(df, "volume")
    vol_lim = (0.0, (finite_range(vol)[1] * 1.12) or 1.0)
    hist, macd, signal = num(df, "macd_hist"), num(df, "macd"), num(df, "macd_signal")
    m_lo, m_hi = finite_range(hist, macd, signal, default=(-1.0, 1.0))
    m_abs = max(abs(m_lo), abs(m_hi)) * 1.1 or 1.0
    macd_lim = (-m_abs, m_abs * (1.45 if not st.small_chart else 1.0))   # legend headroom

    last_ok = np.flatnonzero(np.isfinite(c))
    last = None
    if len(last_ok):
        i = last_ok[-1]
        last = (float(c[i]), price_text(c[i]), bool(c[i] >= o[i]))
    last_label = last[1] if last else ""

    price_nbins = max(4, min(8, int(st.height_px / 130)))
    widest = max(
        ytick_space(measure, st, tick_labels(_price_locator(price_nbins), PriceFormatter(),
                                             *price_lim)),
        ytick_space(measure, st, tick_labels(_vol_locator(), _compact_fmt(), *vol_lim)),
        ytick_space(measure, st, ["70"]),
        ytick_space(measure, st, tick_labels(_macd_locator(), _macd_fmt(), *macd_lim)),
    )
    ylabel_w = Measure.line(st.label) + st.label_pad * PX_PER_PT
    left = st.pad + ylabel_w + widest
    right = st.pad + (measure.width(last_label, st.small, True) + st.px(8) if last_label else 0)
    bottom = st.pad + xtick_space(st) + Measure.line(st.label)
    top = header.height
    gap = st.px(7)
    plot_h = st.height_px - top - bottom - gap * (len(RATIOS) - 1)
    plot_w = st.width_px - left - right
    heights = plot_h * RATIOS / RATIOS.sum()
    panels = []
    y = st.height_px - top
    for hh in heights:
        y -= hh
        panels.append((left, y, plot_w, hh))
        y -= gap

    # sizes of one candle, so 20 and 1,000 candles both look right
    slot_px = plot_w / max(n + 2, 1)
    names = (("Price",), ("Volume", "Vol"), ("RSI (14)", "RSI"), ("MACD",))
    ylabels = []
    for hh, choices in zip(heights, names):
        fits = [name for name in choices if measure.width(name, st.label) <= hh * 0.95]
        ylabels.append(fits[0] if fits else None)   # the longest name that fits, else none

    legends = ()
    if not st.small_chart:
        legends = (
            P.Legend((("patch", to_rgba(BAND, 0.15), to_rgba(BAND, 0.5), st.thin,
                       "Bollinger (20, 2)"),
                      ("line", SMA20, st.line, "-", "SMA 20"),
                      ("line", SMA50, st.line, "-", "SMA 50")),
                     loc="upper left", framealpha=0.85, ncols=3, handlelength=1.6),
            P.Legend((("line", MACD, st.line, "-", "MACD (12, 26)"),
                      ("line", SIGNAL, st.line, "-", "Signal (9)")),
                     loc="upper left", framealpha=0.85, ncols=2, handlelength=1.6))

    return Layout(
        style=st, header=header, x=x, span=span, open=o, high=h, low=l, close=c, up=c >= o,
        bb_lower=lower, bb_upper=upper, sma_20=num(df, "sma_20"), sma_50=num(df, "sma_50"),
        volume=vol, rsi=num(df, "rsi_14"), macd=macd, macd_signal=signal, macd_hist=hist,
        price_lim=price_lim, vol_lim=vol_lim, macd_lim=macd_lim, price_nbins=price_nbins,
        last=last, panels=tuple(panels), plot_w=plot_w,
        ylabel_x=-(widest + st.label_pad * PX_PER_PT) / plot_w, ylabels=tuple(ylabels),
        rsi_ticks=(30, 50, 70) if heights[2] > Measure.line(st.tick) * 4 else (30, 70),
        wick_lw=max(0.6, min(slot_px * 0.12, 1.6 * st.scale)) / PX_PER_PT,
        body_w=span * (0.7 if slot_px >= 4 else 0.8),
        body_edge=0.6 / PX_PER_PT if slot_px < 4 else st.pt(0.4),
        x_lim=(x[0] - span, x[-1] + span),
        date_maxticks=max(4, int(plot_w / (105 * st.scale))), legends=legends)


def draw(fig: Figure, lay) -> None:
    if isinstance(lay, P.NoData):
        return P.draw_no_data(fig, lay)
    st = lay.style
    P.draw_header(fig, st, lay.header)
    axes = [fig.add_axes(rect(st, *panel)) for panel in lay.panels]
    ax_p, ax_v, ax_r, ax_m = axes
    for ax in axes:
        P.style_axes(ax, st, grid_axis="y")
    x, up, o, c = lay.x, lay.up, lay.open, lay.close

    # price panel
    P.add_band(ax_p, x, lay.bb_lower, lay.bb_upper, BAND, 0.08)
    ax_p.plot(x, lay.bb_upper, color=BAND, linewidth=st.thin, alpha=0.5)
    ax_p.plot(x, lay.bb_lower, color=BAND, linewidth=st.thin, alpha=0.5)
    for mask, color in ((up, UP), (~up, DOWN)):
        P.add_segments(ax_p, x[mask], lay.low[mask], lay.high[mask], color, lay.wick_lw)
        P.add_bars(ax_p, x[mask], np.fmin(o, c)[mask], np.fmax(o, c)[mask], lay.body_w, color,
                   edge=lay.body_edge)
    ax_p.plot(x, lay.sma_20, color=SMA20, linewidth=st.line)
    ax_p.plot(x, lay.sma_50, color=SMA50, linewidth=st.line)
    ax_p.set_ylim(*lay.price_lim)
    ax_p.yaxis.set_major_locator(_price_locator(lay.price_nbins))
    ax_p.yaxis.set_major_formatter(PriceFormatter())
    if lay.last:
        value, label, rising = lay.last
        ax_p.axhline(value, color=UP if rising else DOWN, linewidth=st.thin, linestyle=":")
        ax_p.annotate(label, xy=(1.0, value),
                      xycoords=ax_p.get_yaxis_transform(), xytext=(st.pt(4), 0),
                      textcoords="offset points", va="center", ha="left", fontsize=st.small,
                      color="white", fontweight="bold", annotation_clip=False,
                      bbox={"boxstyle": "square,pad=0.25", "edgecolor": "none",
                            "facecolor": UP if rising else DOWN})
    if lay.legends:
        P.legend(ax_p, st, lay.legends[0])

    # volume panel
    for mask, color in ((up, UP), (~up, DOWN)):
        P.add_bars(ax_v, x[mask], np.zeros(int(mask.sum())), lay.volume[mask], lay.body_w,
                   color, alpha=0.55)
    ax_v.set_ylim(*lay.vol_lim)
    ax_v.yaxis.set_major_locator(_vol_locator())
    ax_v.yaxis.set_major_formatter(_compact_fmt())

    # RSI panel
    ax_r.axhspan(30, 70, color=RSI, alpha=0.06, linewidth=0)
    for level in (30, 70):
        ax_r.axhline(level, color=RSI, linewidth=st.thin, linestyle="--", alpha=0.6)
    ax_r.plot(x, lay.rsi, color=RSI, linewidth=st.line)
    ax_r.set_ylim(0, 100)
    ax_r.set_yticks(list(lay.rsi_ticks))

    # MACD panel
    hist = lay.macd_hist
    pos = hist >= 0
    P.add_bars(ax_m, x[pos], np.zeros(int(pos.sum())), hist[pos], lay.body_w, UP, alpha=0.5)
    P.add_bars(ax_m, x[~pos], np.zeros(int((~pos).sum())), hist[~pos], lay.body_w, DOWN,
               alpha=0.5)
    ax_m.axhline(0, color=MUTED, linewidth=st.thin)
    ax_m.plot(x, lay.macd, color=MACD, linewidth=st.line)
    ax_m.plot(x, lay.macd_signal, color=SIGNAL, linewidth=st.line)
    ax_m.set_ylim(*lay.macd_lim)
    ax_m.yaxis.set_major_locator(_macd_locator())
    ax_m.yaxis.set_major_formatter(_macd_fmt())
    if lay.legends:
        P.legend(ax_m, st, lay.legends[1])

    for ax, name in zip(axes, lay.ylabels):
        if name:
            ax.set_ylabel(name, fontsize=st.label, color=INK)
            ax.yaxis.set_label_coords(lay.ylabel_x, 0.5)

    # one time axis, UTC, at the bottom; the panels above get its grid lines but no ticks
    # (not sharex: ticks on hidden axes cost as much to build as visible ones)
    locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=lay.date_maxticks)
    ax_m.xaxis.set_major_locator(locator)
    ax_m.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax_m.xaxis.get_offset_text().set_fontsize(st.tick)
    ax_m.set_xlabel("UTC", fontsize=st.label, color=INK, labelpad=st.pt(2))
    ax_m.grid(True, axis="x", color=GRID, linewidth=st.thin)
    for ax in axes:
        ax.set_xlim(*lay.x_lim)
    grid_x = [v for v in locator() if lay.x_lim[0] <= v <= lay.x_lim[1]]
    for ax in axes[:-1]:
        ax.xaxis.set_major_locator(NullLocator())
        ax.vlines(grid_x, 0, 1, transform=ax.get_xaxis_transform(), colors=GRID,
                  linewidth=st.thin, zorder=0.5)
    for ax in axes:
        P.finish_ticks(ax, st, grid="both" if ax is ax_m else "y")
