"""The indicator catalogue: what `indicators=` may ask for, how it is parsed, named and computed.

One `Indicator` record per indicator (name, parameters with defaults and ranges, outputs and
their column names, inputs, chart family, warm-up rule, formula reference, compute; the record
types and the warm-up arithmetic are in indicator_types.py). Requests
come from `parse_indicators("sma:20,macd:12:26:9,obv")`; `compute_requests` adds their
columns to a klines frame (binance_svc.upstream.frames.klines_frame columns) and
`max_warmup` says how many candles to fetch before the first returned row so that every
value on it has converged. docs/indicators.md is the reference a user reads.

Pure: numpy/pandas only, no web imports; errors are binance_svc.errors.InvalidParameter.
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidParameter
from . import ta
from .indicator_types import (SEED_WEIGHT, Indicator, Output, Param, Request,  # noqa: F401
                              _ema_alpha, _vwap_warmup, format_value, seed_decay)

PARAM = "indicators"
MAX_INDICATORS = 30

# Chart panels: "overlay" is drawn on the price panel; each other family shares one panel
# (its members have the same scale), except "other", where each indicator gets its own.
FAMILIES = ("overlay", "oscillator", "macd", "adx", "volume", "other")

_INT_RE = re.compile(r"^[+]?[0-9]{1,9}$")
_NUM_RE = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


# --- the catalogue --------------------------------------------------------------------------

def _period(default: int, lo: int, hi: int, what: str = "candles in the window") -> Param:
    return Param("period", int, default, lo, hi, what)


def _single(stem: str, description: str = "") -> tuple[Output, ...]:
    return (Output("value", stem, description),)


# decay(m, alpha) is seed_decay: the steps after which m cascaded EMAs of factor alpha keep at
# most 1e-8 of their seeds (one stage: ceil(ln 1e-8 / ln(1 - alpha))).
_WILDER = "Wilder smoothing (alpha 1/n): n + decay(1, 1/n) candles"


def _macd_check(p):
    return None if p[0] < p[1] else "macd's fast period must be shorter than its slow period"


def _sar_check(p):
    return (None if p[0] <= p[1] else
            "sar's acceleration must not exceed its maximum")


_CATALOGUE: tuple[Indicator, ...] = (
    # overlays ------------------------------------------------------------------------------
    Indicator("sma", "Simple moving average", "overlay", ("close",),
              (_period(20, 2, 1000),), _single("sma"),
              "finite window: period - 1 candles", "TA-Lib SMA",
              ta.sma, lambda p, i: p[0] - 1),
    Indicator("ema", "Exponential moving average", "overlay", ("close",),
              (_period(20, 2, 500),), _single("ema"),
              "n - 1 + decay(1, 2/(n+1)), about 9.2 (n + 1) candles: the EMA's seed then "
              "weighs at most 1e-8",
              "TA-Lib EMA", ta.ema,
              lambda p, i: p[0] - 1 + seed_decay(_ema_alpha(p[0]))),
    Indicator("wma", "Weighted moving average", "overlay", ("close",),
              (_period(20, 2, 1000),), _single("wma"),
              "finite window: period - 1 candles", "TA-Lib WMA",
              ta.wma, lambda p, i: p[0] - 1),
    Indicator("dema", "Double exponential moving average", "overlay", ("close",),
              (_period(20, 2, 200),), _single("dema"),
              "two cascaded EMAs: 2 (n - 1) + decay(2, 2/(n+1))", "TA-Lib DEMA", ta.dema,
              lambda p, i: 2 * (p[0] - 1) + seed_decay(_ema_alpha(p[0]), 2)),
    Indicator("tema", "Triple exponential moving average", "overlay", ("close",),
              (_period(20, 2, 200),), _single("tema"),
              "three cascaded EMAs: 3 (n - 1) + decay(3, 2/(n+1))", "TA-Lib TEMA", ta.tema,
              lambda p, i: 3 * (p[0] - 1) + seed_decay(_ema_alpha(p[0]), 3)),
    Indicator("kama", "Kaufman adaptive moving average", "overlay", ("close",),
              (_period(30, 2, 100, "candles of the efficiency ratio"),), _single("kama"),
              "the worst case, efficiency 0 throughout (factor (2/31)^2): "
              "n + decay(1, (2/31)^2) = n + 4,417 candles", "TA-Lib KAMA", ta.kama,
              lambda p, i: p[0] + seed_decay((2.0 / 31) ** 2),
              notes="TA-Lib counts a window whose summed changes are below 1e-8 as perfectly "
                    "efficient; here only an exactly zero sum is."),
    Indicator("bbands", "Bollinger Bands", "overlay", ("close",),
              (_period(20, 2, 500), Param("k", float, 2.0, 0.1, 10.0,
                                         "band width in population standard deviations")),
              (Output("upper", "bb_upper"), Output("middle", "bb_middle", "SMA"),
               Output("lower", "bb_lower")),
              "finite window: period - 1 candles",
              "TA-Lib BBANDS (nbdevup = nbdevdn = k, SMA)", ta.bbands,
              lambda p, i: p[0] - 1),
    Indicator("sar", "Parabolic SAR", "overlay", ("high", "low"),
              (Param("acceleration", float, 0.02, 0.005, 0.5,
                     "acceleration factor step (and start)"),
               Param("maximum", float, 0.2, 0.005, 1.0, "largest acceleration factor")),
              _single("sar"),
              "path-dependent, no finite bound: 250 + ceil(4 / acceleration) candles, "
              "empirical (runs started anywhere in BTCUSDT 1h June 2023 and in a synthetic "
              "walk agreed exactly after at most 134 candles at 0.02/0.2 and 382 at "
              "0.005/0.5)", "TA-Lib SAR", ta.sar,
              lambda p, i: 250 + math.ceil(4 / p[0]), check=_sar_check),
    Indicator("ichimoku", "Ichimoku Kinko Hyo", "overlay", ("high", "low", "close"),
              (Param("tenkan", int, 9, 1, 200, "conversion line window"),
               Param("kijun", int, 26, 1, 200, "base line window and displacement"),
               Param("senkou", int, 52, 1, 400, "leading span B window")),
              (Output("tenkan", "ichimoku_tenkan", "conversion line"),
               Output("kijun", "ichimoku_kijun", "base line"),
               Output("senkou_a", "ichimoku_senkou_a", "leading span A, kijun candles ahead"),
               Output("senkou_b", "ichimoku_senkou_b", "leading span B, kijun candles ahead"),
               Output("chikou", "ichimoku_chikou",
                      "lagging span: the close kijun candles later; NaN on the last kijun "
                      "rows")),
              "finite windows: max(max(tenkan, kijun) - 1, senkou - 1) + kijun candles",
              "https://chartschool.stockcharts.com/table-of-contents/technical-indicators-"
              "and-overlays/technical-overlays/ichimoku-cloud", ta.ichimoku,
              lambda p, i: max(p[0], p[1], p[2]) - 1 + p[1]),
    Indicator("vwap", "Volume-weighted average price, per UTC day", "overlay",
              ("open_time", "volume", "quote_volume"), (), _single("vwap"),
              "the candles of the UTC day before the row: ceil(1 day / interval) - 1 "
              "(23 for 1h, 1,439 for 1m, 86,399 for 1s, 0 from 1d up); an incomplete first "
              "day is NaN",
              "cumulative quote volume / cumulative volume since 00:00 UTC (hand-worked "
              "example in tests)", ta.vwap, lambda p, i: _vwap_warmup(i)),
    # oscillators on a fixed scale -------------------------------------------------------------
    Indicator("rsi", "Relative strength index", "oscillator", ("close",),
              (_period(14, 2, 100),), _single("rsi"),
              _WILDER, "TA-Lib RSI", ta.rsi,
              lambda p, i: p[0] + seed_decay(1.0 / p[0]), bounds=(0.0, 100.0),
              notes="50 when nothing moved over the whole history (TA-Lib writes 0)."),
    Indicator("stoch", "Stochastic oscillator (slow)", "oscillator",
              ("high", "low", "close"),
              (Param("fastk", int, 14, 1, 500, "window of the highest high / lowest low"),
               Param("slowk", int, 3, 1, 100, "SMA of fast %K"),
               Param("slowd", int, 3, 1, 100, "SMA of %K")),
              (Output("k", "stoch_k", "%K"), Output("d", "stoch_d", "%D")),
              "finite windows: fastk + slowk + slowd - 3 candles",
              "TA-Lib STOCH (slowk_matype = slowd_matype = SMA)", ta.stoch,
              lambda p, i: p[0] + p[1] + p[2] - 3, bounds=(0.0, 100.0),
              notes="%K is defined from fastk + slowk - 2 on; TA-Lib starts both outputs "
                    "where %D starts."),
    Indicator("stochrsi", "Stochastic RSI", "oscillator", ("close",),
              (_period(14, 2, 100, "RSI period"),
               Param("fastk", int, 14, 1, 500, "window of the RSI's highest / lowest"),
               Param("fastd", int, 3, 1, 100, "SMA of %K")),
              (Output("k", "stochrsi_k", "%K"), Output("d", "stochrsi_d", "%D")),
              "the RSI's warm-up, then finite windows: "
              "period + decay(1, 1/period) + fastk + fastd - 2 candles",
              "TA-Lib STOCHRSI (fastd_matype = SMA)", ta.stochrsi,
              lambda p, i: p[0] + seed_decay(1.0 / p[0]) + p[1] + p[2] - 2,
              bounds=(0.0, 100.0),
              notes="%K is defined from period + fastk - 1 on; TA-Lib starts both outputs "
                    "where %D starts."),
    Indicator("willr", "Williams %R", "oscillator", ("high", "low", "close"),
              (_period(14, 2, 500),), _single("willr"),
              "finite window: period - 1 candles", "TA-Lib WILLR", ta.willr,
              lambda p, i: p[0] - 1, bounds=(-100.0, 0.0)),
    Indicator("mfi", "Money flow index", "oscillator", ("high", "low", "close", "volume"),
              (_period(14, 2, 500),), _single("mfi"),
              "finite window: period candles", "TA-Lib MFI", ta.mfi,
              lambda p, i: p[0], bounds=(0.0, 100.0),
              notes="50 over a window without any money flow (TA-Lib writes 0 whenever the "
                    "window's total flow is below 1). A typical price that moved by less "
                    "than 1e-12 of itself (decimal rounding, not a tick) counts as "
                    "unchanged."),
    Indicator("ultosc", "Ultimate oscillator", "oscillator", ("high", "low", "close"),
              (Param("period1", int, 7, 1, 100, "first period"),
               Param("period2", int, 14, 1, 100, "second period"),
               Param("period3", int, 28, 1, 100, "third period")),
              _single("ultosc"),
              "finite windows: the longest period", "TA-Lib ULTOSC", ta.ultosc,
              lambda p, i: max(p), bounds=(0.0, 100.0),
              notes="The periods are sorted: weight 4 goes to the shortest, 1 to the "
                    "longest, in any order given (as TA-Lib)."),
    Indicator("aroon", "Aroon", "oscillator", ("high", "low"),
              (_period(14, 2, 500),),
              (Output("up", "aroon_up"), Output("down", "aroon_down")),
              "finite window: period candles", "TA-Lib AROON", ta.aroon,
              lambda p, i: p[0], bounds=(0.0, 100.0)),
    # MACD ----------------------------------------------------------------------------------
    Indicator("macd", "Moving average convergence/divergence", "macd", ("close",),
              (Param("fast", int, 12, 2, 200, "fast EMA period"),
               Param("slow", int, 26, 3, 500, "slow EMA period"),
               Param("signal", int, 9, 1, 100, "signal EMA period")),
              (Output("macd", "macd", "fast EMA - slow EMA"),
               Output("signal", "macd_signal", "EMA of the MACD line"),
               Output("hist", "macd_hist", "MACD - signal")),
              "slow EMA then signal EMA, cascaded: slow + signal - 2 + "
              "decay(2, min(2/(slow+1), 2/(signal+1))) (the slower factor for both stages "
              "bounds the cascade from above)",
              "TA-Lib MACD", ta.macd,
              lambda p, i: p[1] + p[2] - 2 + seed_decay(
                  min(_ema_alpha(p[1]), _ema_alpha(p[2])), 2), check=_macd_check,
              notes="Both EMAs are seeded from the first closes (as the default technical "
                    "columns), so the line is defined from slow - 1 and the signal from "
                    "slow + signal - 2; TA-Lib seeds the fast EMA later and starts all three "
                    "together. Equal after the warm-up."),
    # directional movement ----------------------------------------------------------------
    Indicator("adx", "Average directional index", "adx", ("high", "low", "close"),
              (_period(14, 2, 100),), _single("adx"),
              "two cascaded Wilder smoothings: 2n - 1 + decay(2, 1/n)", "TA-Lib ADX", ta.adx,
              lambda p, i: 2 * p[0] - 1 + seed_decay(1.0 / p[0], 2), bounds=(0.0, 100.0),
              notes="A DX over no directional movement at all counts 0 (TA-Lib keeps the "
                    "previous ADX)."),
    Indicator("plus_di", "Plus directional indicator", "adx", ("high", "low", "close"),
              (_period(14, 2, 100),), _single("plus_di"),
              _WILDER, "TA-Lib PLUS_DI", ta.plus_di,
              lambda p, i: p[0] + seed_decay(1.0 / p[0]), bounds=(0.0, 100.0)),
    Indicator("minus_di", "Minus directional indicator", "adx", ("high", "low", "close"),
              (_period(14, 2, 100),), _single("minus_di"),
              _WILDER, "TA-Lib MINUS_DI", ta.minus_di,
              lambda p, i: p[0] + seed_decay(1.0 / p[0]), bounds=(0.0, 100.0)),
    # volume --------------------------------------------------------------------------------
    Indicator("obv", "On-balance volume", "volume", ("close", "volume"), (), _single("obv"),
              "none: a running sum, 0 on the first returned row (only its changes are "
              "meaningful; TA-Lib starts it at the first candle's volume)", "TA-Lib OBV",
              ta.obv, lambda p, i: 0, cumulative=True),
    # each in its own panel -----------------------------------------------------------------
    Indicator("atr", "Average true range", "other", ("high", "low", "close"),
              (_period(14, 1, 100),), _single("atr"),
              _WILDER, "TA-Lib ATR", ta.atr,
              lambda p, i: p[0] + (seed_decay(1.0 / p[0]) if p[0] > 1 else 0)),
    Indicator("natr", "Normalized average true range (%)", "other",
              ("high", "low", "close"), (_period(14, 1, 100),), _single("natr"),
              _WILDER, "TA-Lib NATR", ta.natr,
              lambda p, i: p[0] + (seed_decay(1.0 / p[0]) if p[0] > 1 else 0)),
    Indicator("cci", "Commodity channel index", "other", ("high", "low", "close"),
              (_period(20, 2, 500),), _single("cci"),
              "finite window: period - 1 candles", "TA-Lib CCI", ta.cci,
              lambda p, i: p[0] - 1),
    Indicator("roc", "Rate of change (%)", "other", ("close",),
              (_period(10, 1, 500),), _single("roc"),
              "finite window: period candles", "TA-Lib ROC", ta.roc, lambda p, i: p[0]),
    Indicator("mom", "Momentum", "other", ("close",),
              (_period(10, 1, 500),), _single("mom"),
              "finite window: period candles", "TA-Lib MOM", ta.mom, lambda p, i: p[0]),
    Indicator("trix", "TRIX (%)", "other", ("close",),
              (_period(30, 2, 200),), _single("trix"),
              "three cascaded EMAs and a 1-candle change: 3 (n - 1) + 1 + "
              "decay(3, 2/(n+1))", "TA-Lib TRIX", ta.trix,
              lambda p, i: 3 * (p[0] - 1) + 1 + seed_decay(_ema_alpha(p[0]), 3)),
)

CATALOGUE: dict[str, Indicator] = {ind.name: ind for ind in _CATALOGUE}
NAMES: tuple[str, ...] = tuple(sorted(CATALOGUE))


def describe() -> list[dict]:
    """The catalogue as plain data (for GET /api/v1/indicators), sorted by name."""
    return [CATALOGUE[name].describe() for name in NAMES]


# --- the parser -----------------------------------------------------------------------------

def _show(raw: str, limit: int = 60) -> str:
    text = raw if len(raw) <= limit else raw[:limit] + "…"
    return '"' + "".join(ch if ch.isprintable() else "�" for ch in text) + '"'


def _bad(raw: str, detail: str, allowed: list | None = None) -> InvalidParameter:
    return InvalidParameter(f"{PARAM}={_show(raw)} is not valid: {detail}.", param=PARAM,
                            allowed=allowed)


def _param_value(p: Param, text: str):
    text = text.strip()
    if p.kind is int:
        if not _INT_RE.match(text):
            return None
        value = int(text)
    else:
        if not _NUM_RE.match(text):
            return None
        value = float(text)
        if not math.isfinite(value):
            return None
    return value if p.min <= value <= p.max else None


def parse_indicators(raw: str | None) -> list[Request] | None:
    """`indicators=` -> Requests in the order given; None when absent (the default set).

    A comma list of name[:param[:param...]]; names are case-insensitive, blanks around items
    and parameters are ignored, missing trailing parameters take their defaults. Raises
    InvalidParameter(param="indicators") for an empty item, an unknown name, a parameter
    that is not a number in its range, too many parameters, more than 30 items, or two
    items that would produce the same column.
    """
    if raw is None:
        return None
    items = raw.split(",")
    if len(items) > MAX_INDICATORS:
        raise _bad(raw, f"at most {MAX_INDICATORS} indicators (got {len(items)})")
    requests: list[Request] = []
    owner: dict[str, str] = {}
    for position, item in enumerate(items, 1):
        text = item.strip()
        if not text:
            raise _bad(raw, f"item {position} is empty; write name[:param[:param...]] "
                            "items separated by commas, e.g. sma:20,rsi:14", list(NAMES))
        name, *values = [part.strip() for part in text.split(":")]
        indicator = CATALOGUE.get(name.lower())
        if indicator is None:
            raise _bad(raw, f"unknown indicator {_show(name)}; one of {', '.join(NAMES)}",
                       list(NAMES))
        allowed = [p.allowed() for p in indicator.params]
        if len(values) > len(indicator.params):
            takes = ("takes no parameters" if not indicator.params else
                     f"takes at most {len(indicator.params)} parameter"
                     f"{'s' if len(indicator.params) > 1 else ''} ("
                     + ", ".join(p.name for p in indicator.params) + ")")
            raise _bad(raw, f"{_show(text)}: {indicator.name} {takes}; "
                            f"usage {indicator.usage()}", allowed)
        parsed = []
        for p, value_text in zip(indicator.params, values):
            value = _param_value(p, value_text)
            if value is None:
                raise _bad(raw, f"{_show(text)}: {indicator.name}'s {p.allowed()}, "
                                f"not {_show(value_text)}", allowed)
            parsed.append(value)
        try:
            params = indicator.resolve(tuple(parsed))
        except ValueError as exc:
            raise _bad(raw, f"{_show(text)}: {exc}", allowed) from None
        request = Request(indicator, params)
        for column in request.columns:
            if column in owner:
                raise _bad(raw, f"{_show(text)} and {_show(owner[column])} both give the "
                                f"column {column}; ask for each column once")
            owner[column] = text
        requests.append(request)
    return requests


# --- computing ------------------------------------------------------------------------------

def max_warmup(requests: Sequence[Request] | None, interval: str | None = None) -> int:
    """Candles to fetch before the first returned row: the slowest request's warm-up."""
    return max((r.warmup(interval) for r in requests or ()), default=0)


def compute_requests(frame: pd.DataFrame, requests: Sequence[Request], *,
                     anchor: int = 0) -> dict[str, np.ndarray]:
    """Every requested column over `frame` (klines columns, oldest first).

    `anchor` is the row that will be the first one returned (the number of warm-up rows
    before it): running sums (OBV) are shifted to be 0 there, so they do not depend on how
    many warm-up candles happened to be fetched.
    """
    frame = frame.reset_index(drop=True)
    out: dict[str, np.ndarray] = {}
    for request in requests:
        columns = request.compute(frame)
        if request.indicator.cumulative and 0 <= anchor < len(frame):
            columns = {k: v - v[anchor] for k, v in columns.items()}
        out.update(columns)
    return out


def with_requests(frame: pd.DataFrame, requests: Sequence[Request], *,
                  anchor: int = 0) -> pd.DataFrame:
    """`frame` (index reset) with every requested column appended, in request order."""
    base = frame.reset_index(drop=True)
    columns = compute_requests(base, requests, anchor=anchor)
    return pd.concat([base, pd.DataFrame(columns, index=base.index)], axis=1)
