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

import numpy as np
import pandas as pd

from ..errors import UpstreamUnavailable

KLINE_FIELDS = ["open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trades", "taker_buy_base", "taker_buy_quote", "ignore"]
KLINE_COLUMNS = KLINE_FIELDS[:-1]
_KLINE_FLOATS = ["open", "high", "low", "close", "volume", "quote_volume",
                 "taker_buy_base", "taker_buy_quote"]

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

    Converted column by column with numpy: pandas' per-column astype costs ~20x more here.
    """
    if not isinstance(raw, list):
        raise _malformed("klines")
    if not raw:
        return empty_klines()
    try:
        arr = np.array([row[:11] for row in raw], dtype=object)
        if arr.ndim != 2 or arr.shape[1] != 11:
            raise ValueError("ragged klines rows")
        floats = arr[:, [1, 2, 3, 4, 5, 7, 9, 10]].astype("float64")
        out = pd.DataFrame({
            "open_time": ms_to_utc(arr[:, 0].astype("int64")),
            **{c: floats[:, i] for i, c in enumerate(["open", "high", "low", "close", "volume"])},
            "close_time": ms_to_utc(arr[:, 6].astype("int64")),
            "quote_volume": floats[:, 5],
            "trades": arr[:, 8].astype("int64"),
            "taker_buy_base": floats[:, 6],
            "taker_buy_quote": floats[:, 7],
        })
    except (KeyError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise _malformed("klines") from exc
    if not np.isfinite(floats).all():
        raise _malformed("klines")
    if not out["open_time"].is_monotonic_increasing or not out["open_time"].is_unique:
        out = out.sort_values("open_time").drop_duplicates("open_time")
    return out.reset_index(drop=True)


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
            arr = np.array([lv[:2] for lv in levels], dtype=object).reshape(-1, 2)
            arr = arr.astype("float64")
            order = np.argsort(-arr[:, 0] if descending else arr[:, 0], kind="stable")
            sides.append(pd.DataFrame({"price": arr[order, 0], "quantity": arr[order, 1]}))
    except (KeyError, ValueError, TypeError) as exc:
        raise _malformed("depth") from exc
    if not all(np.isfinite(s.to_numpy()).all() for s in sides):
        raise _malformed("depth")
    return sides[0], sides[1]


def symbols_frame(raw) -> pd.DataFrame:
    """`/api/v3/exchangeInfo` -> one row per symbol (all statuses)."""
    try:
        rows = [(s["symbol"], s["baseAsset"], s["quoteAsset"], s["status"])
                for s in raw["symbols"]]
    except (KeyError, TypeError) as exc:
        raise _malformed("exchangeInfo") from exc
    return pd.DataFrame(rows, columns=SYMBOL_COLUMNS)
