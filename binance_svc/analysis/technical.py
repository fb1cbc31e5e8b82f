"""Technical analysis of one symbol: candles with indicators, signals and warnings.

A pure function of a klines frame (binance_svc.upstream.frames.klines_frame schema, oldest
first); the caller adds provenance (source, stale, fetch time) to the Report.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from ..settings import INTERVAL_MS
from . import catalogue, indicators, signals
from ..report import Report, utcnow
from ..spec import INTEGER, NUMBER, TIME, columns, names

# Candles the upstream layer fetches before the window asked for, so that every returned row
# has every indicator: SMA50 needs 49 earlier candles and the MACD signal 33, and the EMA and
# RSI recursions, seeded with simple means, have forgotten their seed after ~200 candles
# (0.86^200 ~ 1e-13 for EMA12, (13/14)^200 ~ 4e-7 for RSI14), so a row's values no longer
# depend on where the fetch happened to start.
WARMUP_CANDLES = 200

CANDLE_TABLE_COLUMNS = columns(
    ("open_time", TIME, "When the candle opened (UTC)"),
    ("close_time", TIME, "When the candle closes (UTC), open_time + interval − 1 ms"),
    ("open", NUMBER, "First trade price", "quote asset"),
    ("high", NUMBER, "Highest trade price", "quote asset"),
    ("low", NUMBER, "Lowest trade price", "quote asset"),
    ("close", NUMBER, "Last trade price", "quote asset"),
    ("volume", NUMBER, "Volume traded", "base asset"),
    ("quote_volume", NUMBER, "Volume traded", "quote asset"),
    ("trades", INTEGER, "Number of trades"),
)
INDICATOR_TABLE_COLUMNS = columns(
    ("sma_20", NUMBER, "Simple moving average of 20 closes", "quote asset"),
    ("sma_50", NUMBER, "Simple moving average of 50 closes", "quote asset"),
    ("ema_12", NUMBER, "Exponential moving average, span 12, SMA-seeded", "quote asset"),
    ("ema_26", NUMBER, "Exponential moving average, span 26, SMA-seeded", "quote asset"),
    ("rsi_14", NUMBER, "Wilder's relative strength index of 14 candles, 0 to 100"),
    ("macd", NUMBER, "ema_12 − ema_26", "quote asset"),
    ("macd_signal", NUMBER, "EMA 9 of macd, SMA-seeded", "quote asset"),
    ("macd_hist", NUMBER, "macd − macd_signal", "quote asset"),
    ("bb_middle", NUMBER, "Bollinger middle band: SMA 20", "quote asset"),
    ("bb_upper", NUMBER, "bb_middle + 2 population standard deviations of 20 closes",
     "quote asset"),
    ("bb_lower", NUMBER, "bb_middle − 2 population standard deviations of 20 closes",
     "quote asset"),
    ("bb_percent_b", NUMBER, "(close − bb_lower) / (bb_upper − bb_lower)"),
    ("bb_bandwidth", NUMBER, "(bb_upper − bb_lower) / bb_middle"),
)
CANDLE_COLUMNS = names(CANDLE_TABLE_COLUMNS)
INDICATOR_COLUMNS = names(INDICATOR_TABLE_COLUMNS)
COLUMNS = CANDLE_COLUMNS + INDICATOR_COLUMNS


def technical_report(klines: pd.DataFrame, *, params: dict, limit: int, interval: str,
                     start: datetime | None = None, now: datetime | None = None,
                     requests: list | None = None) -> Report:
    """Indicators over all of `klines`, then the rows opening at or after `start`, then the
    last `limit` of those. `now` is when the window ends (the current time unless the
    request set an end); it only decides whether the last candle is suspiciously old.
    `requests` (catalogue Requests, from `indicators=`) replace the default set of columns."""
    if interval not in INTERVAL_MS:
        raise ValueError(f"unknown interval {interval!r}")
    symbol = str(params.get("symbol", "this market"))
    start = _utc(start) if start is not None else None
    now = _utc(now) if now is not None else pd.Timestamp(utcnow())

    if requests is None:
        frame, columns = with_indicators(klines), INDICATOR_COLUMNS
    else:
        frame, columns = with_requested(klines, requests, start=start, limit=limit)
    if start is not None:
        frame = frame[frame["open_time"] >= start]
    frame = frame.tail(limit).reset_index(drop=True)

    return Report(
        analysis="technical",
        params=params,
        tables={"candles": frame},
        summary=_summary(frame, columns, requests),
        warnings=_warnings(frame, klines, columns, symbol=symbol, limit=limit,
                           interval=interval, start=start, now=now, requests=requests),
        title=f"Technical analysis — {symbol} {interval}",
    )


def with_requested(klines: pd.DataFrame, requests: list, *, start, limit: int
                   ) -> tuple[pd.DataFrame, list[str]]:
    """The candle columns with the requested indicators' columns, and those columns' names.
    Running sums (OBV) start at 0 on the first row that will be returned."""
    frame = klines.sort_values("open_time", kind="stable")[CANDLE_COLUMNS]
    frame = frame.reset_index(drop=True)
    kept = frame.index if start is None else frame.index[frame["open_time"] >= start]
    anchor = int(kept[-limit:][0]) if len(kept) else 0
    computed = catalogue.compute_requests(frame, requests, anchor=anchor)
    frame = pd.concat([frame, pd.DataFrame(computed, index=frame.index)], axis=1)
    return frame, list(computed)


def with_indicators(klines: pd.DataFrame) -> pd.DataFrame:
    """The candle columns of `klines`, oldest first, with every indicator column added."""
    frame = klines.sort_values("open_time", kind="stable")[CANDLE_COLUMNS]
    frame = frame.reset_index(drop=True)
    close = frame["close"].astype("float64")
    frame["sma_20"] = indicators.sma(close, 20)
    frame["sma_50"] = indicators.sma(close, 50)
    frame["ema_12"] = indicators.ema(close, 12)
    frame["ema_26"] = indicators.ema(close, 26)
    frame["rsi_14"] = indicators.rsi(close, 14)
    frame = pd.concat([frame, indicators.macd(close), indicators.bollinger(close)], axis=1)
    return frame[COLUMNS]


def _summary(frame: pd.DataFrame, columns: list[str], requests: list | None) -> dict:
    last = frame.iloc[-1] if len(frame) else None

    def value(column: str, row=last):
        if row is None or pd.isna(row[column]):
            return None
        return signals.finite(row[column])

    prev = frame.iloc[-2] if len(frame) > 1 else None
    if requests is None:
        found = _signals(value, prev_hist=value("macd_hist", prev))
    else:
        found = signals.for_requests(requests, value, lambda c: value(c, prev))
    return {
        "last_close": value("close"),
        "last": {c: value(c) for c in columns},
        "signals": found,
        "candles": len(frame),
        "first_open_time": _pydatetime(frame["open_time"].iloc[0]) if len(frame) else None,
        "last_open_time": _pydatetime(frame["open_time"].iloc[-1]) if len(frame) else None,
    }


def _signals(value, *, prev_hist: float | None) -> dict:
    rsi, hist, close = value("rsi_14"), value("macd_hist"), value("close")
    upper, lower = value("bb_upper"), value("bb_lower")
    sma20, sma50 = value("sma_20"), value("sma_50")

    rsi_signal = signals.level(rsi, *signals.LEVELS["rsi"])
    macd_signal = signals.macd_cross(hist, prev_hist)
    bollinger = signals.band(close, upper, lower)

    trend = None
    if sma20 is not None and sma50 is not None:
        trend = "up" if sma20 > sma50 else "down"

    return {"rsi": rsi_signal, "macd": macd_signal, "bollinger": bollinger, "trend": trend}


def _warnings(frame: pd.DataFrame, klines: pd.DataFrame, columns: list[str], *, symbol: str,
              limit: int, interval: str, start: pd.Timestamp | None, now: pd.Timestamp,
              requests: list | None) -> list[str]:
    if frame.empty:
        since = f" from {_iso(start)}" if start is not None else ""
        return [f"No {interval} candles exist for {symbol}{since}: the market has no history "
                "in the window asked for."]

    out = []
    step = pd.Timedelta(milliseconds=INTERVAL_MS[interval])
    first = frame["open_time"].iloc[0]
    if start is None and len(frame) < limit:
        out.append(f"Only {len(frame)} of the {limit} candles asked for exist: {symbol} has "
                   f"no older {interval} history.")
    elif start is not None and first - start >= step and klines["open_time"].min() >= first:
        out.append(f"{symbol} has no {interval} history before {_iso(first)}, so the candles "
                   f"start there rather than at {_iso(start)}.")

    # Indicators are undefined only while they warm up, so the rows lacking one come first.
    # Indicators that look ahead (Ichimoku's lagging span) are empty on the last rows by
    # definition, so only the leading rows count here.
    missing = frame[columns].isna().any(axis=1).to_numpy() if columns else []
    lacking = int(missing.argmin()) if len(missing) and not missing.all() else len(missing)
    if lacking:
        need = ("SMA50 needs 50 candles, the MACD signal 34" if requests is None else
                f"the slowest indicator asked for needs {catalogue.max_warmup(requests, interval)}")
        out.append(f"The first {lacking} of the {len(frame)} candles lack some indicators: "
                   f"{symbol} has too little {interval} history before them to compute them "
                   f"({need}). Ask for fewer candles or a later start to get complete rows.")

    if interval != "1M":  # months differ in length, so their step is not a constant
        steps = frame["open_time"].diff().iloc[1:]
        gaps = steps[steps != step]
        if len(gaps):
            at = gaps.index[0]
            missing = int(((gaps - step) // step).clip(lower=0).sum())
            out.append(f"{_count(len(gaps), 'gap')} in the {interval} candles "
                       f"({_count(missing, 'candle')} missing, usually exchange maintenance): "
                       f"the first after the candle of {_iso(frame['open_time'].iloc[at - 1])},"
                       f" the next one opening at {_iso(frame['open_time'].iloc[at])}.")

    # A closed 1M candle may have opened up to 62 days ago (two 31-day months).
    allowed = 2 * (pd.Timedelta(days=31) if interval == "1M" else step)
    last = frame["open_time"].iloc[-1]
    if now - last > allowed:
        out.append(f"The last candle opened at {_iso(last)}, more than two {interval} "
                   f"intervals before {_iso(now)}: trading in {symbol} may be halted.")
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _utc(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize(timezone.utc) if t.tzinfo is None else t.tz_convert(timezone.utc)


def _iso(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pydatetime(t) -> datetime:
    return pd.Timestamp(t).to_pydatetime()


__all__ = ["technical_report", "with_indicators", "WARMUP_CANDLES", "INTERVAL_MS", "COLUMNS",
           "CANDLE_COLUMNS", "INDICATOR_COLUMNS"]
