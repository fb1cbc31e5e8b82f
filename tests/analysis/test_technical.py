"""technical_report: the table, the window, the summary and signals, the warnings."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis import indicators as ind
from binance_svc.analysis.technical import (INDICATOR_COLUMNS, INTERVAL_MS, WARMUP_CANDLES,
                                            technical_report)
from binance_svc.upstream.frames import KLINE_COLUMNS, empty_klines

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
EXPECTED_COLUMNS = [
    "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
    "trades", "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal",
    "macd_hist", "bb_middle", "bb_upper", "bb_lower", "bb_percent_b", "bb_bandwidth",
]


def make_klines(closes, *, start: datetime = START, interval: str = "1h",
                open_times=None) -> pd.DataFrame:
    """A klines frame in the frames.py schema whose candles close at `closes`."""
    closes = np.asarray(closes, dtype="float64")
    step = pd.Timedelta(milliseconds=INTERVAL_MS[interval])
    if open_times is None:
        open_times = pd.date_range(start, periods=len(closes), freq=step)
    open_times = pd.DatetimeIndex(open_times).as_unit("ns")
    opens = np.r_[closes[:1], closes[:-1]]
    frame = pd.DataFrame({
        "open_time": open_times,
        "open": opens,
        "high": np.maximum(opens, closes) * 1.001,
        "low": np.minimum(opens, closes) * 0.999,
        "close": closes,
        "volume": 10.0,
        "close_time": open_times + step - pd.Timedelta(milliseconds=1),
        "quote_volume": closes * 10,
        "trades": np.full(len(closes), 100, dtype="int64"),
        "taker_buy_base": 5.0,
        "taker_buy_quote": closes * 5,
    })
    return frame[KLINE_COLUMNS]


def walk(closes_n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, closes_n)))


def report(klines, *, limit=200, interval="1h", start=None, now=None, symbol="BTCUSDT"):
    if now is None and len(klines):  # by default the window ends right after the last candle
        now = klines["open_time"].iloc[-1] + pd.Timedelta(milliseconds=INTERVAL_MS[interval])
    params = {"symbol": symbol, "interval": interval, "limit": limit}
    return technical_report(klines, params=params, limit=limit, interval=interval,
                            start=start, now=now)


def assert_no_nan_or_inf(value, path="summary"):
    if isinstance(value, dict):
        for k, v in value.items():
            assert_no_nan_or_inf(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            assert_no_nan_or_inf(v, f"{path}[{i}]")
    elif isinstance(value, (float, np.floating)):
        assert math.isfinite(value), f"{path} is {value}"
    else:
        assert value is None or isinstance(value, (str, int, datetime)), f"{path}: {value!r}"


# --- the table ------------------------------------------------------------------------------

def test_report_shape_and_columns_in_order():
    r = report(make_klines(walk(400)))
    assert r.analysis == "technical"
    assert r.main_table == "candles"
    assert list(r.frame.columns) == EXPECTED_COLUMNS
    assert r.params == {"symbol": "BTCUSDT", "interval": "1h", "limit": 200}
    assert r.title == "Technical analysis — BTCUSDT 1h"
    assert str(r.frame["open_time"].dtype) == "datetime64[ns, UTC]"
    assert r.frame["trades"].dtype == "int64"
    assert r.source == "binance" and r.stale is False  # left for the caller's Provenance


def test_limit_keeps_the_last_rows_each_with_every_indicator():
    klines = make_klines(walk(400))
    r = report(klines, limit=200)
    assert len(r.frame) == 200
    assert r.frame["open_time"].tolist() == klines["open_time"].iloc[-200:].tolist()
    assert r.frame[INDICATOR_COLUMNS].notna().all().all()
    assert r.warnings == []


def test_indicators_are_computed_over_everything_fetched():
    closes = walk(400)
    r = report(make_klines(closes), limit=100)
    whole = pd.Series(closes)
    assert r.frame["ema_26"].tolist() == ind.ema(whole, 26).iloc[-100:].tolist()
    assert r.frame["rsi_14"].tolist() == ind.rsi(whole).iloc[-100:].tolist()
    assert r.frame["macd_hist"].tolist() == ind.macd(whole)["macd_hist"].iloc[-100:].tolist()


def test_start_keeps_rows_from_start_and_limit_caps_them():
    klines = make_klines(walk(400))
    start = START + timedelta(hours=250)
    r = report(klines, start=start, limit=1000)
    assert r.frame["open_time"].iloc[0] == start and len(r.frame) == 150
    assert r.frame[INDICATOR_COLUMNS].notna().all().all()  # warmed up on the rows before start

    capped = report(klines, start=start, limit=40)
    assert capped.frame["open_time"].tolist() == klines["open_time"].iloc[-40:].tolist()


def test_start_between_candle_opens_begins_at_the_next_candle_without_warning():
    r = report(make_klines(walk(400)), start=START + timedelta(hours=250, minutes=30),
               limit=1000)
    assert r.frame["open_time"].iloc[0] == START + timedelta(hours=251)
    assert r.warnings == []


def test_warmup_candles_make_rows_independent_of_where_the_fetch_began():
    # With WARMUP_CANDLES before the window, the seeds of EMA and RSI are forgotten: fetching
    # 100 candles more changes no value of the window by more than 1e-6 relative, or 1e-6
    # absolute (1e-8 of these ~100 prices) for MACD values passing through 0.
    closes = walk(100 + WARMUP_CANDLES + 200)
    longer = report(make_klines(closes), limit=200).frame
    shorter = report(make_klines(closes[100:], start=START + timedelta(hours=100)),
                     limit=200).frame
    pd.testing.assert_frame_equal(longer, shorter, check_exact=False, rtol=1e-6, atol=1e-6)


def test_input_out_of_order_is_sorted_first():
    klines = make_klines(walk(300))
    shuffled = klines.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(report(shuffled).frame, report(klines).frame)


# --- summary and signals --------------------------------------------------------------------

def test_summary_reports_the_last_row():
    r = report(make_klines(walk(400)))
    last = r.frame.iloc[-1]
    s = r.summary
    assert s["last_close"] == last["close"] and type(s["last_close"]) is float
    assert list(s["last"]) == INDICATOR_COLUMNS
    assert all(s["last"][c] == last[c] and type(s["last"][c]) is float
               for c in INDICATOR_COLUMNS)
    assert s["candles"] == 200
    assert s["first_open_time"] == START + timedelta(hours=200)
    assert s["last_open_time"] == START + timedelta(hours=399)
    assert s["last_open_time"].tzinfo is not None
    assert set(s["signals"]) == {"rsi", "macd", "bollinger", "trend"}


def test_rising_market_signals():
    r = report(make_klines(np.linspace(100, 200, 300)))
    # Only gains: RSI 100; the shorter average lags less, so SMA20 is above SMA50.
    assert r.summary["signals"]["rsi"] == "overbought"
    assert r.summary["signals"]["trend"] == "up"
    assert r.summary["last"]["rsi_14"] == 100


def test_falling_market_signals():
    r = report(make_klines(np.linspace(200, 100, 300)))
    assert r.summary["signals"]["rsi"] == "oversold"
    assert r.summary["signals"]["trend"] == "down"
    assert r.summary["last"]["rsi_14"] == 0


def test_bollinger_signals_on_a_jump_out_of_a_quiet_market():
    quiet = 100 + 0.1 * np.sin(np.arange(100))  # bands about +-0.14 wide
    up = report(make_klines(np.r_[quiet, 105.0])).summary["signals"]
    down = report(make_klines(np.r_[quiet, 95.0])).summary["signals"]
    inside = report(make_klines(np.r_[quiet, 100.0])).summary["signals"]
    assert up["bollinger"] == "above_upper"
    assert down["bollinger"] == "below_lower"
    assert inside["bollinger"] == "inside"
    assert inside["rsi"] == "neutral"


def _first_sign_change(closes, *, upward: bool) -> int:
    hist = ind.macd(pd.Series(closes))["macd_hist"].to_numpy()
    for i in range(40, len(hist)):
        if upward and hist[i - 1] <= 0 < hist[i]:
            return i
        if not upward and hist[i - 1] > 0 >= hist[i]:
            return i
    raise AssertionError("the constructed closes never cross")


@pytest.mark.parametrize("upward", [True, False])
def test_macd_cross_on_the_last_candle_then_plain_direction(upward):
    # A sine wave of period 60: the MACD histogram changes sign twice a period, leading the
    # turns of the price; cut the closes right at a crossing.
    closes = 100 + 5 * np.sin(2 * np.pi * np.arange(200) / 60)
    i = _first_sign_change(closes, upward=upward)
    assert i < 120

    at_cross = report(make_klines(closes[: i + 1]))
    hist = at_cross.frame["macd_hist"]
    assert (hist.iloc[-2] > 0) != (hist.iloc[-1] > 0)
    direction = "bullish" if upward else "bearish"
    assert at_cross.summary["signals"]["macd"] == f"{direction}_cross"

    after = report(make_klines(closes[: i + 2])).summary["signals"]
    assert after["macd"] == direction


def test_signals_with_undefined_inputs_are_none():
    r = report(make_klines(walk(30)))  # RSI and Bollinger defined; SMA50 and MACD hist not
    signals = r.summary["signals"]
    assert signals["trend"] is None and signals["macd"] is None
    assert signals["rsi"] is not None and signals["bollinger"] is not None
    assert r.summary["last"]["sma_50"] is None and r.summary["last"]["macd_hist"] is None


def test_macd_signal_without_a_previous_histogram_has_no_cross():
    r = report(make_klines(100 * 1.01 ** np.arange(34)))  # histogram defined on the last only
    assert r.frame["macd_hist"].notna().sum() == 1
    assert r.summary["signals"]["macd"] == "bullish"


def test_flat_market_signals():
    r = report(make_klines(np.full(300, 27065.77)))
    assert r.summary["signals"] == {"rsi": "neutral", "macd": "bearish", "bollinger": "inside",
                                    "trend": "down"}
    assert r.summary["last"]["bb_percent_b"] == 0.5 and r.summary["last"]["macd"] == 0


@pytest.mark.parametrize("klines", [
    make_klines(walk(400)), make_klines(walk(37)), make_klines(walk(3)),
    make_klines(np.full(300, 0.1)), make_klines(np.linspace(1, 2, 300)), empty_klines(),
], ids=["full", "young", "tiny", "flat", "rising", "empty"])
def test_summary_never_holds_nan_or_inf(klines):
    assert_no_nan_or_inf(report(klines).summary)


# --- warnings -------------------------------------------------------------------------------

def test_young_symbol_warns_of_fewer_candles_and_missing_indicators():
    r = report(make_klines(walk(37)), limit=200)
    assert len(r.frame) == 37
    assert r.warnings[0] == ("Only 37 of the 200 candles asked for exist: BTCUSDT has no older "
                             "1h history.")
    assert r.warnings[1].startswith("The first 37 of the 37 candles lack some indicators")
    assert len(r.warnings) == 2


def test_short_warmup_warns_about_rows_lacking_indicators():
    r = report(make_klines(walk(230)), limit=200)  # 30 candles of warm-up; SMA50 needs 49
    assert r.frame["sma_50"].isna().sum() == 19
    assert r.frame["macd_signal"].isna().sum() == 3
    assert r.warnings == [
        "The first 19 of the 200 candles lack some indicators: BTCUSDT has too little 1h "
        "history before them to compute them (SMA50 needs 50 candles, the MACD signal 34). "
        "Ask for fewer candles or a later start to get complete rows."]


def test_symbol_younger_than_start_warns():
    klines = make_klines(walk(300), start=START)
    r = report(klines, start=START - timedelta(days=30), limit=1000)
    assert ("BTCUSDT has no 1h history before 2024-01-01T00:00:00Z, so the candles start "
            "there rather than at 2023-12-02T00:00:00Z.") in r.warnings


def test_gaps_are_counted_and_the_first_named():
    klines = make_klines(walk(400))
    # Drop 3 candles after 300 (maintenance) and 1 after 350.
    klines = klines.drop(index=[301, 302, 303, 351]).reset_index(drop=True)
    r = report(klines, limit=200)
    gap = [w for w in r.warnings if "gap" in w]
    assert gap == [
        "2 gaps in the 1h candles (4 candles missing, usually exchange maintenance): the first "
        "after the candle of 2024-01-13T12:00:00Z, the next one opening at "
        "2024-01-13T16:00:00Z."]


def test_no_gap_check_for_monthly_candles():
    months = pd.date_range("2020-01-01", periods=60, freq="MS", tz="UTC")
    klines = make_klines(walk(60), interval="1M", open_times=months)
    r = report(klines, interval="1M", limit=60, now=months[-1] + timedelta(days=40))
    assert not any("gap" in w for w in r.warnings)


def test_old_last_candle_warns_of_a_halted_market():
    klines = make_klines(walk(400))
    last = klines["open_time"].iloc[-1]
    r = report(klines, now=last + timedelta(hours=2, minutes=1))
    assert r.warnings == [
        "The last candle opened at 2024-01-17T15:00:00Z, more than two 1h intervals before "
        "2024-01-17T17:01:00Z: trading in BTCUSDT may be halted."]
    assert report(klines, now=last + timedelta(hours=1, minutes=59)).warnings == []


def test_monthly_candles_allow_two_long_months_before_warning():
    months = pd.date_range("2020-01-01", "2024-07-01", freq="MS", tz="UTC")
    klines = make_klines(walk(len(months)), interval="1M", open_times=months)
    # 2024-07-01 is the last closed candle until 2024-09-01: just before, 62 days have passed.
    assert not any("halted" in w for w in report(klines, interval="1M", limit=55,
                   now=datetime(2024, 8, 31, 23, 59, tzinfo=timezone.utc)).warnings)
    assert any("halted" in w for w in report(klines, interval="1M", limit=55,
               now=datetime(2024, 10, 1, tzinfo=timezone.utc)).warnings)


def test_empty_klines_give_an_empty_table_and_a_warning():
    r = report(empty_klines(), limit=200)
    assert list(r.frame.columns) == EXPECTED_COLUMNS and r.frame.empty
    s = r.summary
    assert s["last_close"] is None and s["candles"] == 0
    assert s["first_open_time"] is None and s["last_open_time"] is None
    assert all(v is None for v in s["last"].values())
    assert all(v is None for v in s["signals"].values())
    assert r.warnings == ["No 1h candles exist for BTCUSDT: the market has no history in the "
                          "window asked for."]


def test_unknown_interval_is_a_programming_error():
    with pytest.raises(ValueError):
        report(make_klines(walk(10)), interval="7h", now=START)
