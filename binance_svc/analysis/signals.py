"""Signals of the indicators a request named, where a trading convention gives them one
(docs/api.md, "Technical analysis": signals).

Each signal is keyed by the indicator's first column (e.g. `rsi_14`, `stoch_k_14_3_3`,
`macd_12_26_9`), so two periods of one indicator get a signal each. The thresholds are the
common conventions (StockCharts ChartSchool): an indicator without one gets no signal.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

# (overbought above, oversold below) on the indicator's own scale.
LEVELS = {"rsi": (70.0, 30.0), "stoch": (80.0, 20.0), "stochrsi": (80.0, 20.0),
          "mfi": (80.0, 20.0), "willr": (-20.0, -80.0), "cci": (100.0, -100.0)}
ADX_TREND = 25.0      # ADX above this: a trending market (Wilder)


def level(value: float | None, high: float, low: float) -> str | None:
    if value is None:
        return None
    return "overbought" if value > high else "oversold" if value < low else "neutral"


def macd_cross(hist: float | None, prev_hist: float | None) -> str | None:
    """A histogram of exactly 0 counts as bearish, so a cross is any change of that
    classification between the last two candles."""
    if hist is None:
        return None
    out = "bullish" if hist > 0 else "bearish"
    if prev_hist is not None and (prev_hist > 0) != (hist > 0):
        out += "_cross"
    return out


def band(close: float | None, upper: float | None, lower: float | None) -> str | None:
    if close is None or upper is None or lower is None:
        return None
    return "above_upper" if close > upper else "below_lower" if close < lower else "inside"


def side(close: float | None, line: float | None, above: str, below: str) -> str | None:
    if close is None or line is None:
        return None
    return above if close > line else below


def for_requests(requests: Sequence, last: Callable[[str], float | None],
                 prev: Callable[[str], float | None]) -> dict[str, str | None]:
    """The signals of `requests` (catalogue Requests) from the last row's values (`last`) and
    the row before (`prev`), each a column -> float or None."""
    out: dict[str, str | None] = {}
    close = last("close")
    for r in requests:
        cols = r.columns
        name = r.name
        if name in LEVELS:
            out[cols[0]] = level(last(cols[0]), *LEVELS[name])
        elif name == "macd":
            out[cols[0]] = macd_cross(last(cols[2]), prev(cols[2]))
        elif name == "bbands":              # upper, middle, lower
            out[cols[0]] = band(close, last(cols[0]), last(cols[2]))
        elif name == "adx":
            adx = last(cols[0])
            out[cols[0]] = None if adx is None else "trending" if adx > ADX_TREND else "ranging"
        elif name == "vwap":
            out[cols[0]] = side(close, last(cols[0]), "above", "below")
        elif name == "sar":
            out[cols[0]] = side(close, last(cols[0]), "up", "down")
    return out


def finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
