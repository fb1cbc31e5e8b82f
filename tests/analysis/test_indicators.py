"""Indicators against TA-Lib, against worked examples, and on degenerate prices."""
from __future__ import annotations

from math import sqrt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis import indicators as ind

talib = pytest.importorskip("talib", reason="TA-Lib (test extra 'ta-lib') is not installed")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"   # see its README.md
BTC_1H = FIXTURES / "klines_1h_2023-06" / "BTCUSDT-1h-2023-06.csv.gz"
RTOL = 1e-9


@pytest.fixture(params=["btcusdt_1h", "seeded_walk"])
def closes(request) -> pd.Series:
    if request.param == "btcusdt_1h":
        # data.binance.vision CSV (gzipped): no header, column 4 is the close.
        return pd.read_csv(BTC_1H, header=None)[4].astype("float64").rename("close")
    rng = np.random.default_rng(20230601)
    # A geometric random walk around 100 with 1 % moves; an index that is not 0..n-1 checks
    # that results stay aligned to the input index.
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 1000)))
    return pd.Series(prices, index=pd.RangeIndex(5000, 6000), name="close")


def assert_matches(ours: pd.Series, reference, first: int, *, atol: float = 0.0) -> None:
    """NaN exactly before `first` in both, then equal to RTOL (relative) from `first` on."""
    reference = pd.Series(np.asarray(reference, dtype="float64"), index=ours.index)
    assert ours.iloc[:first].isna().all() and reference.iloc[:first].isna().all()
    assert ours.iloc[first:].notna().all() and reference.iloc[first:].notna().all()
    pd.testing.assert_series_equal(ours.iloc[first:], reference.iloc[first:], check_names=False,
                                   check_exact=False, rtol=RTOL, atol=atol)


# --- against TA-Lib -------------------------------------------------------------------------

@pytest.mark.parametrize("period", [20, 50])
def test_sma_matches_talib(closes, period):
    assert_matches(ind.sma(closes, period), talib.SMA(closes.to_numpy(), period), period - 1)


@pytest.mark.parametrize("period", [12, 26])
def test_ema_matches_talib(closes, period):
    # TA-Lib's EMA is seeded with the SMA of the first n values, as ours.
    assert_matches(ind.ema(closes, period), talib.EMA(closes.to_numpy(), period), period - 1)


@pytest.mark.parametrize("period", [14, 7])
def test_rsi_matches_talib(closes, period):
    assert_matches(ind.rsi(closes, period), talib.RSI(closes.to_numpy(), period), period)


def test_bollinger_matches_talib(closes):
    x = closes.to_numpy()
    upper, middle, lower = talib.BBANDS(x, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    bb = ind.bollinger(closes, 20, 2)
    assert_matches(bb["bb_middle"], middle, 19)
    assert_matches(bb["bb_upper"], upper, 19)
    assert_matches(bb["bb_lower"], lower, 19)
    assert_matches(bb["bb_bandwidth"], (upper - lower) / middle, 19)
    # %B is a difference of prices over the band width and passes through 0, where a relative
    # tolerance means nothing; 1e-9 absolute is a billionth of the band width.
    assert_matches(bb["bb_percent_b"], (x - lower) / (upper - lower), 19, atol=1e-9)


def talib_macd_as_api_defines_it(x: np.ndarray):
    """TA-Lib's MACD seeds its fast EMA with the SMA of closes 14..25 (so both EMAs start at
    index 25) where docs/api.md seeds it with closes 0..11; so the reference is built from
    talib.EMA pieces: EMA12 - EMA26 of the closes, then EMA9 of that line from its first
    defined value (index 25), which seeds the signal with the SMA of its first 9 values."""
    line = talib.EMA(x, 12) - talib.EMA(x, 26)
    signal = np.full(len(x), np.nan)
    signal[25:] = talib.EMA(line[25:], 9)
    return line, signal, line - signal


def test_macd_matches_talib_ema_pieces(closes):
    line, signal, hist = talib_macd_as_api_defines_it(closes.to_numpy())
    m = ind.macd(closes)
    assert list(m.columns) == ["macd", "macd_signal", "macd_hist"]
    # The line is a difference of two EMAs near the price level and crosses 0, so it gets an
    # absolute tolerance of 1e-12 of the price level besides the relative one.
    atol = 1e-12 * closes.abs().max()
    assert_matches(m["macd"], line, 25, atol=atol)
    assert_matches(m["macd_signal"], signal, 33, atol=atol)
    assert_matches(m["macd_hist"], hist, 33, atol=atol)


def test_macd_differs_from_talib_macd_only_while_the_fast_seed_is_remembered(closes):
    x = closes.to_numpy()
    talib_line, talib_signal, _ = talib.MACD(x, 12, 26, 9)
    m = ind.macd(closes)
    # TA-Lib outputs nothing before index 33 and a different value at 33 (other fast seed) ...
    assert np.isnan(talib_line[:33]).all()
    assert not np.isclose(m["macd"].iloc[33], talib_line[33], rtol=RTOL)
    # ... but after 300 candles both fast EMAs have forgotten their seed (weight 0.846^300).
    later = slice(333, None)
    atol = 1e-12 * closes.abs().max()
    np.testing.assert_allclose(m["macd"].to_numpy()[later], talib_line[later], rtol=RTOL,
                               atol=atol)
    np.testing.assert_allclose(m["macd_signal"].to_numpy()[later], talib_signal[later],
                               rtol=RTOL, atol=atol)


# --- worked examples ------------------------------------------------------------------------

WORKED = pd.Series([10, 11, 12, 11, 10, 12, 14, 13, 15, 16,
                    15, 17, 18, 17, 19, 20, 19, 18, 20, 21], dtype="float64")


def test_sma_worked_example():
    s = ind.sma(WORKED, 5)
    assert s.iloc[:4].isna().all()
    assert s.iloc[4] == pytest.approx((10 + 11 + 12 + 11 + 10) / 5)    # 54 / 5 = 10.8
    assert s.iloc[5] == pytest.approx((11 + 12 + 11 + 10 + 12) / 5)    # 56 / 5 = 11.2
    assert s.iloc[19] == pytest.approx((20 + 19 + 18 + 20 + 21) / 5)   # 98 / 5 = 19.6


def test_ema_worked_example():
    e = ind.ema(WORKED, 10)
    # Seed at index 9: the SMA of the first ten closes, 124 / 10 = 12.4.
    # alpha = 2 / (10 + 1) = 2/11, and EMA = previous + alpha * (close - previous):
    # index 10 (close 15): 12.4 + 2/11 * (15 - 12.4) = 62/5 + 26/55 = 708/55 = 12.8727...
    # index 11 (close 17): 708/55 + 2/11 * (17 - 708/55) = 708/55 + 454/605 = 8242/605 = 13.6231...
    assert e.iloc[:9].isna().all()
    assert e.iloc[9] == pytest.approx(12.4, rel=1e-12)
    assert e.iloc[10] == pytest.approx(708 / 55, rel=1e-12)
    assert e.iloc[11] == pytest.approx(8242 / 605, rel=1e-12)


def test_rsi_worked_example_with_wilder_averages():
    close = pd.Series([10, 11, 10.5, 11.5, 11, 12, 11.5])
    # Changes: +1, -0.5, +1, -0.5, +1, -0.5; period 3, so Wilder's smoothing is
    # avg = (previous avg * 2 + today's value) / 3, seeded with the simple mean of 3 changes.
    # index 3: gains (1, 0, 1) -> 2/3; losses (0, 0.5, 0) -> 1/6; RSI = 100 * g / (g + l) = 80
    # index 4 (-0.5): g = (2/3*2 + 0)/3 = 4/9;   l = (1/6*2 + 0.5)/3 = 5/18;  RSI = 800/13
    # index 5 (+1):   g = (4/9*2 + 1)/3 = 17/27; l = (5/18*2 + 0)/3 = 5/27;   RSI = 1700/22
    # index 6 (-0.5): g = (17/27*2)/3 = 34/81;   l = (5/27*2 + 0.5)/3 = 47/162; RSI = 6800/115
    expected = pd.Series([np.nan] * 3 + [80, 800 / 13, 1700 / 22, 6800 / 115])
    pd.testing.assert_series_equal(ind.rsi(close, 3), expected, rtol=1e-12)


def test_bollinger_worked_example_uses_population_std():
    close = pd.Series([1.0, 2.0, 3.0, 4.0, 6.0])
    bb = ind.bollinger(close, period=4, k=2)
    # index 3, window 1 2 3 4: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5;
    # population variance 5/4 (the sample one would be 5/3), std sqrt(1.25) = 1.1180...
    std3 = sqrt(5 / 4)
    # index 4, window 2 3 4 6: mean 3.75; squared deviations 3.0625 + 0.5625 + 0.0625 +
    # 5.0625 = 8.75; variance 8.75/4 = 2.1875, std 1.4790...
    std4 = sqrt(8.75 / 4)
    expected = pd.DataFrame({
        "bb_middle": [np.nan] * 3 + [2.5, 3.75],
        "bb_upper": [np.nan] * 3 + [2.5 + 2 * std3, 3.75 + 2 * std4],
        "bb_lower": [np.nan] * 3 + [2.5 - 2 * std3, 3.75 - 2 * std4],
        # %B = (close - lower) / (upper - lower): (4 - 0.2639) / 4.4721 = 0.8354...
        "bb_percent_b": [np.nan] * 3 + [(4 - 2.5 + 2 * std3) / (4 * std3),
                                        (6 - 3.75 + 2 * std4) / (4 * std4)],
        # bandwidth = (upper - lower) / middle: 4.4721 / 2.5 = 1.7889...
        "bb_bandwidth": [np.nan] * 3 + [4 * std3 / 2.5, 4 * std4 / 3.75],
    })
    pd.testing.assert_frame_equal(bb, expected, rtol=1e-12)


def test_macd_worked_example_with_short_periods():
    close = pd.Series([1.0, 2.0, 4.0, 3.0, 5.0])
    m = ind.macd(close, fast=2, slow=3, signal=2)
    # EMA2 (alpha 2/3), seed (1+2)/2 = 3/2 at index 1: then 19/6, 55/18, 235/54.
    # EMA3 (alpha 1/2), seed (1+2+4)/3 = 7/3 at index 2: then 8/3, 23/6.
    # MACD from index 2: 19/6 - 7/3 = 5/6; 55/18 - 8/3 = 7/18; 235/54 - 23/6 = 14/27.
    # Signal EMA2 of MACD, seed (5/6 + 7/18)/2 = 11/18 at index 3;
    #   index 4: 11/18 + 2/3 * (14/27 - 11/18) = 89/162.
    expected = pd.DataFrame({
        "macd": [np.nan, np.nan, 5 / 6, 7 / 18, 14 / 27],
        "macd_signal": [np.nan, np.nan, np.nan, 11 / 18, 89 / 162],
        "macd_hist": [np.nan, np.nan, np.nan, 7 / 18 - 11 / 18, 14 / 27 - 89 / 162],
    })
    pd.testing.assert_frame_equal(m, expected, rtol=1e-12)


# --- degenerate prices ----------------------------------------------------------------------

@pytest.mark.parametrize("price", [100.0, 0.1, 27065.77])
def test_flat_prices(price):
    close = pd.Series([price] * 60)
    assert (ind.rsi(close).iloc[14:] == 50).all()
    bb = ind.bollinger(close).iloc[19:]
    assert (bb["bb_upper"] == bb["bb_lower"]).all() and (bb["bb_middle"] == price).all()
    assert (bb["bb_bandwidth"] == 0).all() and (bb["bb_percent_b"] == 0.5).all()
    m = ind.macd(close)
    assert (m["macd"].iloc[25:] == 0).all() and (m["macd_hist"].iloc[33:] == 0).all()
    assert (ind.ema(close, 12).iloc[11:] == price).all()


def test_flat_after_volatile_prices_gives_zero_width_exactly():
    rng = np.random.default_rng(7)
    close = pd.Series(np.r_[27000 + rng.normal(0, 500, 100), [27065.77] * 30])
    bb = ind.bollinger(close).iloc[-10:]
    assert (bb["bb_upper"] == bb["bb_lower"]).all()
    assert (bb["bb_percent_b"] == 0.5).all()


def test_strictly_rising_prices_give_rsi_100():
    close = pd.Series(np.linspace(100, 200, 50))
    assert (ind.rsi(close).iloc[14:] == 100).all()


def test_strictly_falling_prices_give_rsi_0():
    close = pd.Series(np.linspace(200, 100, 50))
    assert (ind.rsi(close).iloc[14:] == 0).all()


@pytest.mark.parametrize("n", [0, 1, 5, 14, 19])
def test_short_series_are_all_nan_without_error(n):
    close = pd.Series(np.arange(1.0, n + 1))
    assert ind.sma(close, 20).isna().all() and len(ind.sma(close, 20)) == n
    assert ind.ema(close, 20).isna().all()
    assert ind.rsi(close.iloc[:14], 14).isna().all()  # 14 closes give only 13 changes
    assert ind.bollinger(close, 20).isna().all().all()
    m = ind.macd(close)
    assert m.isna().all().all() and len(m) == n


def test_outputs_keep_the_input_index():
    close = pd.Series(np.linspace(1, 2, 40), index=pd.date_range("2024-01-01", periods=40,
                                                                  freq="h", tz="UTC"))
    for result in (ind.sma(close, 5), ind.ema(close, 5), ind.rsi(close), ind.macd(close),
                   ind.bollinger(close)):
        assert result.index.equals(close.index)


@pytest.mark.parametrize("bad", [0, -3, 2.5, None])
def test_invalid_period_is_rejected(bad):
    with pytest.raises(ValueError):
        ind.ema(pd.Series([1.0, 2.0]), bad)


