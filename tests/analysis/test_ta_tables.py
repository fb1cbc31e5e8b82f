"""VWAP and Ichimoku (no TA-Lib counterpart) against tables worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis.catalogue import compute_requests, parse_indicators
from binance_svc.analysis.ta import ichimoku, vwap

NAN = np.nan


def frame(times, volume, quote_volume, **prices) -> pd.DataFrame:
    data = {"open_time": pd.to_datetime(times, utc=True), "volume": volume,
            "quote_volume": quote_volume}
    data.update(prices)
    return pd.DataFrame(data)


def test_vwap_resets_each_utc_day_worked_example():
    k = frame(["2024-01-01T12:00Z", "2024-01-02T00:00Z", "2024-01-02T12:00Z",
               "2024-01-03T00:00Z", "2024-01-03T12:00Z"],
              volume=[1.0, 2.0, 3.0, 0.0, 4.0],
              quote_volume=[10.0, 200.0, 330.0, 0.0, 440.0])
    expected = [
        NAN,                        # Jan 1 began before the first candle: its VWAP is unknown
        200 / 2,                    # Jan 2 00:00: 200 / 2 = 100
        (200 + 330) / (2 + 3),      # Jan 2 12:00: 530 / 5 = 106
        NAN,                        # Jan 3 00:00: reset, and no trade yet
        (0 + 440) / (0 + 4),        # Jan 3 12:00: 440 / 4 = 110
    ]
    (req,) = parse_indicators("vwap")
    np.testing.assert_allclose(compute_requests(k, [req])["vwap"], expected, rtol=1e-15)


def test_vwap_first_session_is_kept_when_it_starts_with_the_frame():
    k = frame(["2024-01-02T00:00Z", "2024-01-02T12:00Z", "2024-01-03T00:00Z"],
              volume=[2.0, 3.0, 5.0], quote_volume=[200.0, 330.0, 600.0])
    # 200 / 2 = 100; (200 + 330) / 5 = 106; new day: 600 / 5 = 120
    np.testing.assert_allclose(vwap(k["open_time"], k["volume"], k["quote_volume"]),
                               [100.0, 106.0, 120.0], rtol=1e-15)


def test_vwap_of_daily_candles_is_each_candle_own():
    k = frame(["2024-01-01", "2024-01-02", "2024-01-03"], volume=[4.0, 5.0, 8.0],
              quote_volume=[400.0, 550.0, 1000.0])
    # Every 1d candle is a whole UTC day: 400/4 = 100, 550/5 = 110, 1000/8 = 125.
    np.testing.assert_allclose(vwap(k["open_time"], k["volume"], k["quote_volume"]),
                               [100.0, 110.0, 125.0], rtol=1e-15)


def test_vwap_reads_naive_times_and_epoch_milliseconds_as_utc():
    day = 86_400_000
    ms = np.array([day - 3_600_000, day, day + 3_600_000])   # 23:00, 00:00, 01:00
    volume, quote = np.array([1.0, 2.0, 2.0]), np.array([50.0, 20.0, 40.0])
    expected = [NAN, 10.0, 15.0]                               # 20/2; (20 + 40)/(2 + 2)
    np.testing.assert_allclose(vwap(ms, volume, quote), expected)
    naive = pd.Series(pd.to_datetime(ms, unit="ms"))
    np.testing.assert_allclose(vwap(naive, volume, quote), expected)


HIGH = [10, 12, 11, 14, 13, 15, 16, 14]
LOW = [8, 9, 9, 10, 11, 12, 13, 12]
CLOSE = [9, 11, 10, 13, 12, 14, 15, 13]


def test_ichimoku_worked_example_with_periods_2_3_4():
    tenkan, kijun, span_a, span_b, chikou = ichimoku(HIGH, LOW, CLOSE, 2, 3, 4)
    # tenkan, 2 candles: (highest high + lowest low) / 2
    #   row 1 (12 + 8)/2 = 10; row 2 (12 + 9)/2 = 10.5; row 3 (14 + 9)/2 = 11.5;
    #   row 4 (14 + 10)/2 = 12; row 5 (15 + 11)/2 = 13; row 6 (16 + 12)/2 = 14; row 7 (16 + 12)/2
    expected_tenkan = [NAN, 10, 10.5, 11.5, 12, 13, 14, 14]
    # kijun, 3 candles: row 2 (12 + 8)/2 = 10; row 3 (14 + 9)/2 = 11.5; row 4 (14 + 9)/2;
    #   row 5 (15 + 10)/2 = 12.5; row 6 (16 + 11)/2 = 13.5; row 7 (16 + 12)/2 = 14
    expected_kijun = [NAN, NAN, 10, 11.5, 11.5, 12.5, 13.5, 14]
    # senkou A = (tenkan + kijun)/2, computed at row 2 (10.5 + 10)/2 = 10.25, row 3 11.5,
    #   row 4 (12 + 11.5)/2 = 11.75, then plotted kijun = 3 rows later (rows 5, 6, 7)
    expected_a = [NAN] * 5 + [10.25, 11.5, 11.75]
    # senkou B, 4 candles: row 3 (14 + 8)/2 = 11, row 4 (14 + 9)/2 = 11.5, 3 rows later
    expected_b = [NAN] * 6 + [11, 11.5]
    # chikou: row t shows close[t + 3]; the last 3 rows have no future close
    expected_chikou = [13, 12, 14, 15, 13, NAN, NAN, NAN]
    for got, want in ((tenkan, expected_tenkan), (kijun, expected_kijun), (span_a, expected_a),
                      (span_b, expected_b), (chikou, expected_chikou)):
        np.testing.assert_array_equal(got, np.array(want, dtype="float64"))


def test_ichimoku_columns_and_warmup():
    k = pd.DataFrame({"high": HIGH, "low": LOW, "close": CLOSE}, dtype="float64")
    (req,) = parse_indicators("ichimoku:2:3:4")
    out = compute_requests(k, [req])
    assert list(out) == ["ichimoku_tenkan_2_3_4", "ichimoku_kijun_2_3_4",
                         "ichimoku_senkou_a_2_3_4", "ichimoku_senkou_b_2_3_4",
                         "ichimoku_chikou_2_3_4"]
    # Warm-up max(2, 3, 4) - 1 + 3 = 6: row 6 is the first with both leading spans.
    assert req.warmup() == 6
    assert np.isnan(out["ichimoku_senkou_b_2_3_4"][5])
    assert out["ichimoku_senkou_b_2_3_4"][6] == 11


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_frames_give_all_nan_not_errors(n):
    k = frame(pd.date_range("2024-01-01", periods=n, freq="h"), volume=[1.0] * n,
              quote_volume=[1.0] * n, open=[1.0] * n, high=[1.0] * n, low=[1.0] * n,
              close=[1.0] * n)
    requests = parse_indicators("sma,ema,wma,dema,tema,kama,bbands,sar,ichimoku,rsi,stoch,"
                                "stochrsi,willr,mfi,ultosc,aroon,macd,adx,plus_di,minus_di,"
                                "atr,natr,cci,roc,mom,trix")
    for column, values in compute_requests(k, requests).items():
        assert len(values) == n and np.isnan(values).all(), column
