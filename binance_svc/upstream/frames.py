"""Raw Binance JSON -> typed pandas DataFrames.

Every time column is tz-aware UTC (datetime64[ns, UTC]); every price, quantity and volume a
float64; counts int64. These schemas are what `analysis/` may rely on.

klines_frame:   open_time, open, high, low, close, volume, close_time, quote_volume, trades,
                taker_buy_base, taker_buy_quote          (oldest first, unique open_time)
tickers_frame:  symbol, last_price, open_price, high, low, price_change, price_change_pct,
                weighted_avg_price, volume, quote_volume, trades, open_time, close_time
depth_frames:   (bids, asks): price, quantity; bids best (highest) first, asks best (lowest) first
symbols_frame:  symbol, base_asset, quote_asset, status
"""
from __future__ import annotations

from itertools import chain

import numpy as np
import orjson
import pandas as pd

from ..errors import UpstreamUnavailable

KLINE_FIELDS = ["open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore"]
KLINE_COLUMNS = KLINE_FIELDS[:-1]

TICKER_COLUMNS = ["symbol", "last_price", "open_price", "high", "low", "price_change",
                  "price_change_pct", "weighted_avg_price", "volume", "quote_volume", "trades",
                  "open_time", "close_time"]
_TICKER_MAP = {"symbol": "symbol", "lastPrice": "last_price", "openPrice": "open_price",
               "highPrice": "high", "lowPrice": "low", "priceChange": "price_change",
               "priceChangePercent": "price_change_pct",
               "weightedAvgPrice": "weighted_avg_price", "volume": "volume",
               "quoteVolume": "quote_volume", "count": "trades", "openTime": "open_time",
               "closeTime": "close_time"}

SYMBOL_COLUMNS = ["symbol", "base_asset", "quote_asset", "status"]


def _malformed(what: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"Binance sent a {what} response that could not be read.")


def ms_to_utc(values) -> pd.Series:
    ms = np.asarray(values, dtype="int64")
    return pd.Series(ms.astype("datetime64[ms]").astype("datetime64[ns]")).dt.tz_localize("UTC")


def klines_frame(raw) -> pd.DataFrame:
    """`/api/v3/klines` rows -> frame, oldest first.

    The rows are transposed with zip() and each column converted straight from its tuple:
    np.array(values, dtype=...) casts exactly as an object array's astype() does (same
    numbers, same errors) without building a (rows, 11) object array first, and pandas'
    per-column astype would cost ~20x more. The price strings go through _kline_floats; the
    frame is built from ready arrays, and sorting is only paid for when the rows are not
    already strictly increasing in open time.
    """
    if not isinstance(raw, list):
        raise _malformed("klines")
    if not raw:
        return empty_klines()
    try:
        # zip() stops at the shortest row: 11 columns means every row has (at least) 11,
        # and later fields (Binance's "ignore", any future one) are not looked at.
        if not set(map(type, raw)) <= {list, tuple}:
            raise TypeError("klines rows must be arrays")
        cols = list(zip(*raw))
        if len(cols) < 11:
            raise ValueError("short klines rows")
        floats = _kline_floats([cols[i] for i in (1, 2, 3, 4, 5, 7, 9, 10)], len(raw))
        open_ms, close_ms, trades = (np.array(cols[i], dtype="int64") for i in (0, 6, 8))
        if floats.shape != (8, len(raw)) or open_ms.ndim != 1 or close_ms.ndim != 1:
            raise ValueError("nested klines fields")
        open_time = _ms_to_utc_array(open_ms)
        out = pd.DataFrame({
            "open_time": open_time,
            **{c: floats[i] for i, c in enumerate(["open", "high", "low", "close", "volume"])},
            "close_time": _ms_to_utc_array(close_ms),
            "quote_volume": floats[5],
            "trades": trades,
            "taker_buy_base": floats[6],
            "taker_buy_quote": floats[7],
        })
    except (KeyError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise _malformed("klines") from exc
    if not np.isfinite(floats).all():
        raise _malformed("klines")
    ns = open_time.asi8
    if not (ns[1:] > ns[:-1]).all():          # strictly increasing = sorted and unique
        out = out.sort_values("open_time").drop_duplicates("open_time").reset_index(drop=True)
    return out


def _decimal_strings(groups, count: int) -> list[float] | None:
    """`count` decimal strings, in groups (rows or columns), as floats, or None.

    float() on each string is most of the cost of parsing klines (8,000 per 1,000 candles) and
    books (10,000 per 5,000 levels); one orjson.loads of them all joined into a JSON array is
    3-10x faster and gives the same doubles (both correctly rounded; checked on 2M random
    decimals, subnormals and halfway cases included). Taken only when that is certain: every
    value a string, none with a comma (so each is one array element), each parsed as a JSON
    *float* (an integer literal such as "-0" would lose its sign). Anything else -- numbers,
    "NaN", "1_000", "1e999", "01.5" -- returns None, and the caller's float() path decides
    validity as before.
    """
    try:
        text = ",".join(chain.from_iterable(groups))
    except TypeError:
        return None
    if text.count(",") != count - 1:
        return None
    try:
        values = orjson.loads("[" + text + "]")
    except orjson.JSONDecodeError:
        return None
    if len(values) != count or set(map(type, values)) != {float}:
        return None
    return values


def _kline_floats(columns: list[tuple], n: int) -> np.ndarray:
    """Columns of n decimal strings as a (len(columns), n) float64 array."""
    values = _decimal_strings(columns, len(columns) * n)
    if values is not None:
        return np.array(values, dtype="float64").reshape(len(columns), n)
    return np.array(columns, dtype="float64")


def _ms_to_utc_array(ms: np.ndarray) -> pd.DatetimeIndex:
    """ms_to_utc's values, without the Series and .dt accessor (~3x cheaper per column)."""
    ns = ms.astype("datetime64[ms]").astype("datetime64[ns]")
    return pd.DatetimeIndex(ns).tz_localize("UTC")


def empty_klines() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="float64") for c in KLINE_COLUMNS})
    out["open_time"] = pd.Series(dtype="datetime64[ns, UTC]")
    out["close_time"] = pd.Series(dtype="datetime64[ns, UTC]")
    out["trades"] = pd.Series(dtype="int64")
    return out[KLINE_COLUMNS]


def tickers_frame(raw) -> pd.DataFrame:
    """`/api/v3/ticker/24hr` (one object or a list) -> one row per symbol."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise _malformed("ticker")
    try:
        # `{}` is not "no tickers": it must fail below like any object without the fields.
        df = pd.DataFrame(raw) if raw else pd.DataFrame(columns=list(_TICKER_MAP))
        df = df[list(_TICKER_MAP)].rename(columns=_TICKER_MAP)
        for c in TICKER_COLUMNS:
            if c == "symbol":
                df[c] = df[c].astype(str)
            elif c in ("open_time", "close_time"):
                df[c] = ms_to_utc(df[c].astype("int64"))
            elif c == "trades":
                df[c] = df[c].astype("int64")
            else:
                df[c] = df[c].astype("float64")
    except (KeyError, ValueError, TypeError) as exc:
        raise _malformed("ticker") from exc
    return df[TICKER_COLUMNS].reset_index(drop=True)


def depth_frames(raw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`/api/v3/depth` -> (bids, asks), each best first, with float price and quantity."""
    if not isinstance(raw, dict):
        raise _malformed("depth")
    try:
        sides = []
        for key, descending in (("bids", True), ("asks", False)):
            levels = raw[key]
            if not isinstance(levels, list):
                raise TypeError(key)
            arr = _levels_fast(levels)
            if arr is None:
                arr = np.array([lv[:2] for lv in levels], dtype=object).reshape(-1, 2)
                arr = arr.astype("float64")
            order = np.argsort(-arr[:, 0] if descending else arr[:, 0], kind="stable")
            sides.append(pd.DataFrame({"price": arr[order, 0], "quantity": arr[order, 1]}))
    except (KeyError, ValueError, TypeError) as exc:
        raise _malformed("depth") from exc
    if not all(np.isfinite(s.to_numpy()).all() for s in sides):
        raise _malformed("depth")
    return sides[0], sides[1]


def _levels_fast(levels: list) -> np.ndarray | None:
    """Depth levels ``[["97000.10", "0.5"], ...]`` as an (n, 2) float array, or None (then
    the float() way decides)."""
    n = len(levels)
    if not n or set(map(type, levels)) != {list} or set(map(len, levels)) != {2}:
        return None
    values = _decimal_strings(levels, 2 * n)
    return None if values is None else np.array(values, dtype="float64").reshape(n, 2)


def symbols_frame(raw) -> pd.DataFrame:
    """`/api/v3/exchangeInfo` -> one row per symbol (all statuses)."""
    try:
        rows = [(s["symbol"], s["baseAsset"], s["quoteAsset"], s["status"])
                for s in raw["symbols"]]
    except (KeyError, TypeError) as exc:
        raise _malformed("exchangeInfo") from exc
    return pd.DataFrame(rows, columns=SYMBOL_COLUMNS)
