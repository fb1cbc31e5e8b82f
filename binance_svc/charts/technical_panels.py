"""What the technical chart draws in each panel, before the panels are placed: the default set
(candles with SMA 20/50 and Bollinger band, volume, RSI, MACD) and a set asked for with
`indicators=`, grouped into panels by the catalogue's chart family.

Pure: arrays, colours and labels; charts/technical.py sizes the panels and draws them.
Thresholds come from analysis/signals.py, so a guide line sits where a signal flips.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba

from binance_svc.analysis import signals
from binance_svc.charts import primitives as P
from binance_svc.charts.style import (ADX_LINE, BAND, DOWN, GUIDE, ICHIMOKU_CHIKOU,
                                      ICHIMOKU_KIJUN, ICHIMOKU_TENKAN, MACD, MUTED,
                                      OVERLAY_COLORS, PANEL_COLORS, RSI, SIGNAL, SMA20, SMA50,
                                      UP, PX_PER_PT, Style, finite_range, num, padded)


@dataclass(frozen=True)
class Series:
    """One thing drawn against the time axis.

    kind: "line" (y), "dots" (y, marker size `size` pt), "band" (y lower, y2 upper: a fill
    and its two edges), "cloud" (y senkou A, y2 senkou B: filled UP where A >= B, DOWN
    below), "updown" (bars from y to y2 coloured like their candle), "hist" (bars from 0 to
    y coloured by sign). `x` replaces the candle centres (a line broken at session ends)."""
    kind: str
    y: np.ndarray
    color: str
    width: float
    y2: np.ndarray | None = None
    style: str = "-"
    alpha: float | None = None
    x: np.ndarray | None = None
    size: float = 0.0


@dataclass(frozen=True)
class Panel:
    """One panel's content. `lim` are the data limits (charts/technical.py adds room for the
    legend, see `legend_at`); axis "price", "volume", "signed" (the default MACD's
    locator), "auto" (as many ticks as the panel's height holds) or "fixed"
    (the first of `ticks` whose labels do not crowd each other); `names` the y label, longest
    first (the longest that fits the panel's height is shown)."""
    key: str
    names: tuple
    lim: tuple
    axis: str = "auto"
    ticks: tuple = ()
    under: tuple = ()              # drawn first (candles come after them on the price panel)
    over: tuple = ()
    guides: tuple = ()             # (level, colour, linestyle, alpha or None)
    shade: tuple | None = None     # (low, high, colour, alpha)
    entries: tuple = ()            # legend entries (primitives.LegendSpec)
    legend_at: str = "inside"      # "inside" the limits as given, "headroom": inside with
                                   # the upper limit raised clear of it, "above" the panel
    weight: float = 1.5            # share of the height, against the price panel's 5
    title: str = ""                # what the header names when the panel does not fit


# --------------------------------------------------------------------------------------------
# The default set: today's chart, column for column
# --------------------------------------------------------------------------------------------

def default_panels(df: pd.DataFrame, st: Style) -> tuple[Panel, ...]:
    """Price (Bollinger band, SMA 20 and 50), volume, RSI (14), MACD (12, 26, 9)."""
    lo, hi = finite_range(num(df, "low"), num(df, "high"), num(df, "bb_lower"),
                          num(df, "bb_upper"))
    price_lim = padded(lo, hi)
    if not st.small_chart:   # headroom for the legend above the highest high
        price_lim = (price_lim[0], price_lim[1] + (price_lim[1] - price_lim[0]) * 0.08)
    vol = num(df, "volume")
    vol_lim = (0.0, (finite_range(vol)[1] * 1.12) or 1.0)
    hist, macd, signal = num(df, "macd_hist"), num(df, "macd"), num(df, "macd_signal")
    m_lo, m_hi = finite_range(hist, macd, signal, default=(-1.0, 1.0))
    m_abs = max(abs(m_lo), abs(m_hi)) * 1.1 or 1.0
    macd_lim = (-m_abs, m_abs * (1.45 if not st.small_chart else 1.0))   # legend headroom
    legends = not st.small_chart
    rsi_levels = signals.LEVELS["rsi"]
    return (
        Panel("price", ("Price",), price_lim, axis="price", weight=5,
              under=(Series("band", num(df, "bb_lower"), BAND, st.thin,
                            y2=num(df, "bb_upper"), alpha=0.08),),
              over=(Series("line", num(df, "sma_20"), SMA20, st.line),
                    Series("line", num(df, "sma_50"), SMA50, st.line)),
              entries=(("patch", to_rgba(BAND, 0.15), to_rgba(BAND, 0.5), st.thin,
                        "Bollinger (20, 2)"),
                       ("line", SMA20, st.line, "-", "SMA 20"),
                       ("line", SMA50, st.line, "-", "SMA 50")) if legends else ()),
        Panel("volume", ("Volume", "Vol"), vol_lim, axis="volume", weight=1.2,
              under=(Series("updown", np.zeros(len(vol)), "", 0.0, y2=vol, alpha=0.55),)),
        Panel("rsi", ("RSI (14)", "RSI"), (0.0, 100.0), axis="fixed",
              ticks=((min(rsi_levels), 50, max(rsi_levels)), tuple(sorted(rsi_levels))),
              shade=(min(rsi_levels), max(rsi_levels), RSI, 0.06),
              guides=tuple((v, RSI, "--", 0.6) for v in sorted(rsi_levels)),
              over=(Series("line", num(df, "rsi_14"), RSI, st.line),)),
        Panel("macd", ("MACD",), macd_lim, axis="signed",
              under=(Series("hist", hist, "", 0.0, alpha=0.5),),
              guides=((0.0, MUTED, "-", None),),
              over=(Series("line", macd, MACD, st.line),
                    Series("line", signal, SIGNAL, st.line)),
              entries=(("line", MACD, st.line, "-", "MACD (12, 26)"),
                       ("line", SIGNAL, st.line, "-", "Signal (9)")) if legends else ()),
    )


# --------------------------------------------------------------------------------------------
# A requested set
# --------------------------------------------------------------------------------------------

# legend names of outputs after the first of a multi-output indicator
_OUTPUT_NAMES = {"k": "%K", "d": "%D", "up": "up", "down": "down", "signal": "signal"}
# extra guides of the "other" family, where the indicator has no LEVELS entry: 0 is where a
# rate of change or momentum changes sign
_ZERO_LINE = {"roc", "mom", "trix"}


def _label(request, i: int) -> str:
    outputs = request.indicator.outputs
    if len(outputs) == 1:
        return request.label
    name = _OUTPUT_NAMES.get(outputs[i].name, outputs[i].name)
    return f"{request.label} {name}" if i == 0 else name


def _panel_key(request) -> str:
    ind = request.indicator
    if ind.family == "oscillator":
        return f"oscillator:{ind.bounds}"   # 0..100 together, Williams %R (-100..0) apart
    if ind.family == "other":
        return f"other:{ind.name}"          # ATR in price units, CCI around ±100, ...
    return ind.family


def _session_breaks(x: np.ndarray, y: np.ndarray, open_x: np.ndarray):
    """x, y with a NaN between UTC days: a VWAP restarts each day, and a line joining the
    last value of one day to the first of the next would be a move that never happened."""
    day = np.floor(open_x)
    cut = np.flatnonzero(np.diff(day) != 0) + 1
    if not len(cut):
        return x, y
    return np.insert(x, cut, x[cut] - 1e-9), np.insert(y, cut, np.nan)


def overlays(df: pd.DataFrame, requests, st: Style, x: np.ndarray, open_x: np.ndarray,
             slot_px: float):
    """(under, over, legend entries, value arrays for the price range) of the overlays."""
    under, over, entries, ranges = [], [], [], []
    colors = iter(OVERLAY_COLORS * (len(requests) // len(OVERLAY_COLORS) + 1))
    for r in requests:
        if r.indicator.family != "overlay":
            continue
        cols = [num(df, c) for c in r.columns]
        if r.name == "ichimoku":
            tenkan, kijun, span_a, span_b, chikou = cols
            under.append(Series("cloud", span_a, "", st.thin, y2=span_b, alpha=0.14))
            over += [Series("line", tenkan, ICHIMOKU_TENKAN, st.line),
                     Series("line", kijun, ICHIMOKU_KIJUN, st.line),
                     Series("line", chikou, ICHIMOKU_CHIKOU, st.thin)]
            entries += [("patch", to_rgba(UP, 0.25), to_rgba(UP, 0.6), st.thin, r.label),
                        ("line", ICHIMOKU_TENKAN, st.line, "-", "tenkan"),
                        ("line", ICHIMOKU_KIJUN, st.line, "-", "kijun"),
                        ("line", ICHIMOKU_CHIKOU, st.thin, "-", "chikou")]
            ranges += cols
            continue
        color = next(colors)
        if r.name == "bbands":
            upper, middle, lower = cols
            under.append(Series("band", lower, color, st.thin, y2=upper, alpha=0.08))
            over.append(Series("line", middle, color, st.thin, style="--", alpha=0.7))
            entries.append(("patch", to_rgba(color, 0.15), to_rgba(color, 0.5), st.thin,
                            r.label))
            ranges += [upper, lower]
        elif r.name == "sar":
            size = max(1.0, min(st.pt(2.6), slot_px * 0.7 / PX_PER_PT))
            over.append(Series("dots", cols[0], color, 0.0, size=size))
            entries.append(("line", color, st.line * 1.6, ":", r.label))
            ranges.append(cols[0])
        else:
            y = cols[0]
            line_x = None
            if r.name == "vwap":
                line_x, y = _session_breaks(x, y, open_x)
            over.append(Series("line", y, color, st.line, x=line_x))
            entries.append(("line", color, st.line, "-", r.label))
            ranges.append(cols[0])
    return tuple(under), tuple(over), tuple(entries), ranges


def indicator_panels(df: pd.DataFrame, requests, st: Style) -> tuple[Panel, ...]:
    """One panel per family (per indicator in "other"), in the order the request first names
    each; the price panel is not among them."""
    groups: dict[str, list] = {}
    for r in requests:
        if r.indicator.family != "overlay":
            groups.setdefault(_panel_key(r), []).append(r)
    builders = {"macd": _macd, "adx": _adx, "volume": _volume}
    panels = []
    for key, members in groups.items():
        family = members[0].indicator.family
        build = _oscillator if family == "oscillator" else builders.get(family, _other)
        panels.append(build(key, df, members, st))
    return tuple(panels)


def _names(members) -> tuple:
    names = list(dict.fromkeys(m.name.upper() for m in members))
    joined = " / ".join(names)
    return (joined, names[0]) if len(names) > 1 else (joined,)


def _title(members) -> str:
    return ", ".join(m.label for m in members)


def _lines(members, df, st, colors) -> tuple[list, list, list]:
    """A line per output, the indicator's colour solid for its first output, dashed for the
    others (%K and %D read as one indicator)."""
    series, entries, values = [], [], []
    for r, color in zip(members, colors):
        for i, column in enumerate(r.columns):
            y = num(df, column)
            style = "-" if i == 0 else "--"
            series.append(Series("line", y, color, st.line, style=style))
            entries.append(("line", color, st.line, style, _label(r, i)))
            values.append(y)
    return series, entries, values


def _cycle(colors, n: int) -> list:
    return [colors[i % len(colors)] for i in range(n)]


def _oscillator(key, df, members, st) -> Panel:
    bounds = members[0].indicator.bounds
    series, entries, _ = _lines(members, df, st, _cycle(PANEL_COLORS, len(members)))
    # the levels of the first indicator that has a convention lead (dashed, shaded, with tick
    # labels); another indicator's different levels are fainter dotted lines in its colour
    guides, first_levels, shade = {}, None, None
    for r, s in zip(members, (s for s in series if s.style == "-")):
        levels = signals.LEVELS.get(r.name)
        if levels is None:
            continue
        if first_levels is None:
            first_levels = tuple(sorted(levels))
            shade = (first_levels[0], first_levels[1], s.color, 0.06)
        for v in levels:
            guides.setdefault(v, (v, s.color, "--", 0.6) if v in first_levels else
                              (v, s.color, ":", 0.6))
    mid = (bounds[0] + bounds[1]) / 2
    if first_levels:
        ticks = ((first_levels[0], mid, first_levels[1]), first_levels)
    else:
        ticks = ((bounds[0], mid, bounds[1]), (mid,))
    return Panel(key, _names(members), bounds, axis="fixed", ticks=ticks, shade=shade,
                 guides=tuple(guides[v] for v in sorted(guides)), over=tuple(series),
                 entries=tuple(entries), legend_at="above", title=_title(members))


def _macd(key, df, members, st) -> Panel:
    series, entries, values, hist = [], [], [], None
    colors = iter(PANEL_COLORS[3:] * len(members))
    for i, r in enumerate(members):
        line, sig, h = (num(df, c) for c in r.columns)
        line_color, sig_color, sig_style = ((MACD, SIGNAL, "-") if i == 0 else
                                            (next(colors),) * 2 + ("--",))
        if i == 0:        # one histogram: overlapping ones would hide each other
            hist = Series("hist", h, "", 0.0, alpha=0.5)
            values.append(h)
        series += [Series("line", line, line_color, st.line),
                   Series("line", sig, sig_color, st.line, style=sig_style)]
        entries += [("line", line_color, st.line, "-", r.label),
                    ("line", sig_color, st.line, sig_style, "signal")]
        values += [line, sig]
    lo, hi = finite_range(*values, default=(-1.0, 1.0))
    m_abs = max(abs(lo), abs(hi)) * 1.1 or 1.0
    return Panel(key, ("MACD",), (-m_abs, m_abs), under=(hist,),
                 guides=((0.0, MUTED, "-", None),), over=tuple(series),
                 entries=tuple(entries), legend_at="above", title=_title(members))


def _adx(key, df, members, st) -> Panel:
    own = {"adx": ADX_LINE, "plus_di": UP, "minus_di": DOWN}
    taken, colors = set(), []
    spare = iter(PANEL_COLORS[3:] * len(members))
    for r in members:   # the usual colours for the first of each, others from the palette
        colors.append(own[r.name] if r.name not in taken else next(spare))
        taken.add(r.name)
    series, entries, values = _lines(members, df, st, colors)
    entries = [(k, c, w, s, t.replace("PLUS_DI", "+DI").replace("MINUS_DI", "\u2212DI"))
               for k, c, w, s, t in entries]
    hi = max(finite_range(*values, default=(0.0, signals.ADX_TREND))[1],
             signals.ADX_TREND) * 1.08
    trend = signals.ADX_TREND          # labelled, with its multiples that are in view
    steps = tuple(trend * k for k in range(int(hi // trend) + 1))
    return Panel(key, ("ADX / DI", "ADX") if len(taken) > 1 else ("ADX" if "adx" in taken
                                                                   else "DI",),
                 (0.0, hi), axis="fixed", ticks=(steps, (0.0, trend), (trend,)),
                 guides=((trend, GUIDE, "--", 0.8),),
                 over=tuple(series), entries=tuple(entries), legend_at="above",
                 title=_title(members))


def _volume(key, df, members, st) -> Panel:
    series, entries, values = _lines(members, df, st, _cycle((MACD,) + PANEL_COLORS[3:],
                                                             len(members)))
    # OBV is 0 on the first candle shown: the zero line is where the window started
    return Panel(key, _names(members), padded(*finite_range(*values, 0.0)),
                 guides=((0.0, MUTED, "-", None),), over=tuple(series),
                 entries=tuple(entries), legend_at="above", title=_title(members))


def _other(key, df, members, st) -> Panel:
    series, entries, values = _lines(members, df, st, _cycle(PANEL_COLORS[1:], len(members)))
    name = members[0].name
    guides = ()
    if name in signals.LEVELS:         # CCI: ±100
        guides = tuple((v, GUIDE, "--", 0.8) for v in sorted(signals.LEVELS[name]))
    elif name in _ZERO_LINE:
        guides = ((0.0, MUTED, "-", None),)
    levels = [np.array([g[0] for g in guides])] if guides else []
    return Panel(key, _names(members), padded(*finite_range(*values, *levels)),
                 guides=guides, over=tuple(series), entries=tuple(entries), legend_at="above",
                 title=_title(members))


def legend_for(entries: tuple, ncols: int, above: bool) -> P.Legend:
    """Inside the panel at the top left, or `above` it (in the strip over an indicator
    panel, so a fixed scale such as 0-100 keeps its whole height for the data)."""
    if above:
        return P.Legend(entries, loc="lower left", anchor=(0.0, 1.0), framealpha=0.85,
                        ncols=ncols, handlelength=1.6)
    return P.Legend(entries, loc="upper left", framealpha=0.85, ncols=ncols,
                    handlelength=1.6)
