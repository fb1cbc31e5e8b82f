"""Technical chart: candles with the overlays on the price panel, and a panel per indicator
family below it (charts/technical_panels.py says what goes in each).

Without `indicators=` it is the default set: SMA 20/50 and Bollinger band, volume, RSI (14)
and MACD (12, 26, 9). With it, every requested indicator is drawn: overlays on the price panel
(volume then sits in its bottom sixth), then the families in the order the request first
names them, as many as the height keeps readable (MAX_PANELS at most); the header names any
left out. Requested panels reserve room for their legend above the data, measured, so a
legend never covers a line.

The layout is computed in pixels from measured text (no layout engine: the constrained one
draws the whole figure an extra time).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from binance_svc.analysis.catalogue import parse_indicators
from binance_svc.charts import primitives as P
from binance_svc.charts import technical_panels as T
from binance_svc.charts.style import (PX_PER_PT, Measure, Style, as_of_text, finite_range,
                                      join, minus, num, padded, price_text, provenance_tag,
                                      tick_labels, xtick_space, ytick_space)
from binance_svc.charts.technical_draw import axis as _axis
from binance_svc.charts.technical_draw import draw  # noqa: F401  (this chart's draw())

MAX_PANELS = 6            # the price panel and five indicator panels
VOLUME_SHARE = 0.16       # of the price panel's height, under the candles (requested sets)


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
    contents: tuple               # technical_panels.Panel per panel, top first, final limits
    nbins: tuple                  # per panel: the bins of its y locator
    last: tuple[float, str, bool] | None     # last close, its label, rising
    panels: tuple                 # pixel rects (left, bottom, width, height), top first
    plot_w: float
    ylabel_x: float               # y labels' position in axes fractions
    ylabels: tuple                # one name or None per panel
    ticks: tuple                  # per panel: the fixed ticks, or () for a locator
    panel_legends: tuple          # per panel: a Legend or None
    wick_lw: float
    body_w: float
    body_edge: float
    x_lim: tuple[float, float]
    date_maxticks: int
    legends: tuple                # the legends of panel_legends that are there, top first
    omitted: tuple = ()           # panels that did not fit, as the header names them


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


def _fixed_text(v: float) -> str:
    return minus(f"{v:g}")


def _nbins(kind: str, hh: float, st: Style, price_nbins: int) -> int:
    if kind == "price":
        return price_nbins
    # a tick label's line and most of another between neighbours
    return max(1, min(4, int(hh / (1.8 * Measure.line(st.tick)))))


def _requests(params: dict):
    items = params.get("indicators")
    return None if items is None else parse_indicators(",".join(items))


def _signal_parts(report, requests) -> list[str]:
    """The summary's signals as header parts: one part in all for the default set (as it
    always was), one per signal for a requested set (named as the legends name them), so
    that a long list wraps."""
    signals = (report.summary or {}).get("signals") or {}
    names = {r.columns[0]: r.label for r in requests or ()}
    parts = [f"{names.get(k, k)} {str(v).replace('_', ' ')}" for k, v in signals.items()
             if v is not None]
    return [join(*parts)] if requests is None else parts


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
    requests = _requests(params)

    last_ok = np.flatnonzero(np.isfinite(c))
    last = None
    if len(last_ok):
        i = last_ok[-1]
        last = (float(c[i]), price_text(c[i]), bool(c[i] >= o[i]))
    last_label = last[1] if last else ""
    right = st.pad + (measure.width(last_label, st.small, True) + st.px(8) if last_label else 0)
    # an estimate of the plot width for sizing legends and candles; the left margin is final
    # only once every panel's limits (which leave room for the legends) are known
    rough_w = st.width_px - right - st.pad - st.px(60)
    slot_px = rough_w / max(n + 2, 1)

    def make_header(omitted=()):
        note = [f"not shown at this size: {omitted[0]}", *omitted[1:]] if omitted else []
        return P.header(st, measure, title,
                        [f"{n} candle{'s' if n != 1 else ''}" + (f" of {interval}" if interval
                                                                else ""),
                         as_of_text(report), *note,
                         *([] if st.small_chart else _signal_parts(report, requests))],
                        provenance_tag(report))

    bottom = st.pad + xtick_space(st) + Measure.line(st.label)
    gap = st.px(7)
    if requests is None:
        contents = T.default_panels(df, st)
        legends = [T.legend_for(p.entries, len(p.entries), above=False) if p.entries else None
                   for p in contents]
        header, omitted = make_header(), ()
    else:
        price_under, price_over, price_entries, ranges = T.overlays(df, requests, st, x,
                                                                    x_open, slot_px)
        price = T.Panel("price", ("Price",), padded(*finite_range(l, h, *ranges)),
                        axis="price", weight=5, under=price_under, over=price_over,
                        entries=price_entries, legend_at="headroom")
        below = T.indicator_panels(df, requests, st)
        below_legends = [_legend(p, measure, st, rough_w) for p in below]
        omitted = ()
        for _ in range(3):      # the note on what is left out may take a line of the header
            header = make_header(omitted)
            keep = _panels_that_fit(below, [_gap_above(p, lg, measure, st, gap)
                                     for p, lg in zip(below, below_legends)],
                                    st, st.height_px - header.height - bottom)
            if tuple(p.title for p in below[keep:]) == omitted:
                break
            omitted = tuple(p.title for p in below[keep:])
        contents = (_price_weight(price, below[:keep]),) + below[:keep]
        legends = [_legend(price, measure, st, rough_w)] + below_legends[:keep]

    # heights, top first: an indicator panel's legend sits in the gap above it
    top = header.height
    gaps = [_gap_above(p, lg, measure, st, gap) for p, lg in zip(contents[1:], legends[1:])]
    weights = np.array([p.weight for p in contents], dtype=float)
    plot_h = st.height_px - top - bottom - sum(gaps)
    heights = plot_h * weights / weights.sum()
    if requests is not None:
        price = _with_headroom(contents[0], legends[0], heights[0], measure, st)
        contents = (_with_volume(price, df, c >= o),) + contents[1:]

    price_nbins = max(4, min(8, int(st.height_px / 130)))
    ticks, labels = [], []
    nbins = tuple(_nbins(p.axis, hh, st, price_nbins) for p, hh in zip(contents, heights))
    for p, hh, bins in zip(contents, heights, nbins):
        if p.axis == "fixed":
            chosen = _fixed_ticks(p, hh, st)
            ticks.append(chosen)
            labels.append([_fixed_text(v) for v in chosen])
        else:
            ticks.append(())
            labels.append(tick_labels(*_axis(p.axis, bins), *p.lim))
    widest = max(ytick_space(measure, st, t) for t in labels)
    ylabel_w = Measure.line(st.label) + st.label_pad * PX_PER_PT
    left = st.pad + ylabel_w + widest
    plot_w = st.width_px - left - right
    panels = []
    y = st.height_px - top
    for hh, below_gap in zip(heights, gaps + [0.0]):
        y -= hh
        panels.append((left, y, plot_w, hh))
        y -= below_gap

    # sizes of one candle, so 20 and 1,000 candles both look right
    slot_px = plot_w / max(n + 2, 1)
    ylabels = []
    for hh, p in zip(heights, contents):
        fits = [name for name in p.names if measure.width(name, st.label) <= hh * 0.95]
        ylabels.append(fits[0] if fits else None)   # the longest name that fits, else none

    return Layout(
        style=st, header=header, x=x, span=span, open=o, high=h, low=l, close=c, up=c >= o,
        contents=tuple(contents), nbins=nbins, last=last, panels=tuple(panels),
        plot_w=plot_w, ylabel_x=-(widest + st.label_pad * PX_PER_PT) / plot_w,
        ylabels=tuple(ylabels), ticks=tuple(ticks), panel_legends=tuple(legends),
        wick_lw=max(0.6, min(slot_px * 0.12, 1.6 * st.scale)) / PX_PER_PT,
        body_w=span * (0.7 if slot_px >= 4 else 0.8),
        body_edge=0.6 / PX_PER_PT if slot_px < 4 else st.pt(0.4),
        x_lim=(x[0] - span, x[-1] + span),
        date_maxticks=max(4, int(plot_w / (105 * st.scale))),
        legends=tuple(lg for lg in legends if lg is not None), omitted=omitted)


def _gap_above(p: T.Panel, lg, measure: Measure, st: Style, gap: float) -> float:
    """Pixels between a panel and the one above it: the usual gap, or the legend's strip."""
    if lg is None or p.legend_at != "above":
        return gap
    return max(gap, P.legend_size(measure, st, lg.entries, lg.ncols, 1.6)[1]
               + _legend_pad(st) + st.px(3))


def _legend_pad(st: Style) -> float:
    return P.LEGEND_PAD * Measure.line(st.small) / 1.2      # borderaxespad, in pixels


def _price_weight(price: T.Panel, below) -> T.Panel:
    """The price panel keeps close to half the height however many panels are under it."""
    weight = max(price.weight, 0.85 * sum(p.weight for p in below))
    return replace(price, weight=weight)


def _panels_that_fit(below, gaps: list, st: Style, room: float) -> int:
    """How many indicator panels (in order, each with the gap above it) fit under the price
    panel with room for two tick labels each (MAX_PANELS in all)."""
    least = 2.6 * Measure.line(st.tick)
    for keep in range(min(len(below), MAX_PANELS - 1), 0, -1):
        weights = [p.weight for p in below[:keep]]
        total = max(5.0, 0.85 * sum(weights)) + sum(weights)
        if (room - sum(gaps[:keep])) * min(weights) / total >= least:
            return keep
    return min(len(below), 1)


def _legend(p: T.Panel, measure: Measure, st: Style, avail: float):
    """The panel's legend: all entries in one row if it fits the width, else as few rows as
    fit; None without entries."""
    if not p.entries:
        return None
    ncols = len(p.entries)
    while ncols > 1 and P.legend_size(measure, st, p.entries, ncols, 1.6)[0] > avail * 0.97:
        ncols -= 1
    return T.legend_for(p.entries, ncols, above=p.legend_at == "above")


def _with_headroom(p: T.Panel, lg, hh: float, measure, st: Style) -> T.Panel:
    """The price panel with its limits widened so that the legend's box, at the top left, is
    above the highest value and the volume bars below the lowest (the prices keep at least
    a third of the panel)."""
    room = 0.0
    if lg is not None:
        room = P.legend_size(measure, st, lg.entries, lg.ncols, 1.6)[1] + _legend_pad(st) \
            + st.px(2)
    keep = max(1 / 3, (hh - room) / hh - VOLUME_SHARE)
    lo, hi = p.lim
    span = (hi - lo) / keep
    lo -= span * VOLUME_SHARE
    return replace(p, lim=(lo, lo + span))


def _with_volume(p: T.Panel, df, up) -> T.Panel:
    """Volume bars in the bottom VOLUME_SHARE of the price panel (no scale of their own:
    they read against each other, as on a trading terminal)."""
    vol = num(df, "volume")
    top = finite_range(vol, default=(0.0, 0.0))[1]
    if top <= 0:
        return p
    lo, hi = p.lim
    height = (hi - lo) * VOLUME_SHARE * 0.92 / top
    bars = T.Series("updown", np.full(len(vol), lo), "", 0.0, y2=lo + vol * height, alpha=0.3)
    return replace(p, under=(bars,) + p.under)


def _fixed_ticks(p: T.Panel, hh: float, st: Style) -> tuple:
    """The first candidate whose neighbouring labels are far enough apart to be read."""
    lo, hi = p.lim
    need = 0.8 * Measure.line(st.tick)
    for ticks in p.ticks:
        steps = np.diff(sorted(ticks)) / (hi - lo) * hh
        if not len(steps) or steps.min() > need:
            return tuple(ticks)
    return tuple(p.ticks[-1][:1]) if p.ticks else ()
