import json
import math
from pathlib import Path

import pandas as pd
import pytest

from binance_svc.analysis.statistics import COLUMNS, statistics_report
from binance_svc.upstream.frames import tickers_frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"   # see its README.md


def assert_finite(obj, path="summary"):
    if path == "summary":       # plain JSON types too: no numpy scalars, no NaN
        json.dumps(obj, allow_nan=False)
    """No NaN or inf anywhere in a summary (None is how undefined is said)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_finite(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            assert_finite(v, f"{path}[{i}]")
    elif isinstance(obj, float):
        assert math.isfinite(obj), f"{path} is {obj}"


def ticker(symbol, pct, quote_volume, *, last=105.0, high=120.0, low=100.0, volume=10.0,
           trades=7):
    """A ticker as Binance sends it (strings for numbers)."""
    return {"symbol": symbol, "priceChange": str(pct), "priceChangePercent": str(pct),
            "weightedAvgPrice": "110", "lastPrice": str(last), "openPrice": "100",
            "highPrice": str(high), "lowPrice": str(low), "volume": str(volume),
            "quoteVolume": str(quote_volume), "openTime": 1634858001452,
            "closeTime": 1634944401452, "count": trades}


def test_recorded_btcusdt_ticker():
    path = FIXTURES / "rest" / "spot_market_ticker_24hr.json"
    report = statistics_report(tickers_frame(json.loads(path.read_text())),
                               params={"symbols": ["BTCUSDT"]}, symbols=["BTCUSDT"])
    row = report.frame.iloc[0]
    assert list(report.frame.columns) == COLUMNS
    assert row["symbol"] == "BTCUSDT"
    # high 63732.39, low 60000.00, last 60755.18, change -3.003 %
    assert row["range_pct"] == pytest.approx((63732.39 - 60000) / 60000 * 100)
    assert row["close_position"] == pytest.approx((60755.18 - 60000) / (63732.39 - 60000))
    assert row["sentiment"] == "bearish"
    assert row["trades"] == 1580643
    s = report.summary
    assert (s["advancers"], s["decliners"], s["unchanged"], s["symbols"]) == (0, 1, 0, 1)
    assert s["breadth"] == -1.0
    assert s["weighted_change_pct"] == pytest.approx(-3.003)
    assert s["top_gainer"] == s["top_loser"] == "BTCUSDT"
    assert s["sentiment"] == "bearish"
    assert report.warnings == []
    assert_finite(s)


def test_sentiment_bounds_breadth_and_weighted_mean():
    raw = [ticker("AAAUSDT", 2.0, 1000), ticker("BBBUSDT", -2.0, 3000),
           ticker("CCCUSDT", 1.99, 6000),
           ticker("DDDUSDT", 0.0, 0, last=50, high=50, low=50, volume=0, trades=0)]
    order = ["CCCUSDT", "AAAUSDT", "DDDUSDT", "BBBUSDT"]     # the caller's order, not Binance's
    report = statistics_report(tickers_frame(raw), params={}, symbols=order)
    df = report.frame.set_index("symbol")
    assert list(report.frame["symbol"]) == order
    # exactly +2 % is bullish, exactly -2 % bearish, 1.99 % neutral
    assert df["sentiment"].to_dict() == {"CCCUSDT": "neutral", "AAAUSDT": "bullish",
                                         "DDDUSDT": "neutral", "BBBUSDT": "bearish"}
    # high 120, low 100, last 105: range 20 %, position 5/20
    assert df.loc["AAAUSDT", "range_pct"] == pytest.approx(20.0)
    assert df.loc["AAAUSDT", "close_position"] == pytest.approx(0.25)
    # high == low: the middle of an empty range
    assert df.loc["DDDUSDT", "close_position"] == 0.5
    assert df.loc["DDDUSDT", "range_pct"] == 0.0
    s = report.summary
    # up: AAA, CCC; down: BBB; flat: DDD -> breadth (2 - 1) / 4
    assert (s["advancers"], s["decliners"], s["unchanged"]) == (2, 1, 1)
    assert s["breadth"] == pytest.approx(0.25)
    # (2 - 2 + 1.99 + 0) / 4
    assert s["mean_change_pct"] == pytest.approx(0.4975)
    # (2*1000 - 2*3000 + 1.99*6000 + 0*0) / 10000 = 7940 / 10000
    assert s["weighted_change_pct"] == pytest.approx(0.794)
    assert s["sentiment"] == "neutral"
    assert (s["top_gainer"], s["top_loser"]) == ("AAAUSDT", "BBBUSDT")
    # DDD traded nothing: the reader is told
    assert any("DDDUSDT" in w and "No trades" in w for w in report.warnings)
    assert_finite(s)


def test_weighted_sentiment_follows_the_money():
    # The big market falls 3 %, two small ones rise 5 %: the plain mean is up, the market down.
    raw = [ticker("BIGUSDT", -3.0, 1_000_000), ticker("S1USDT", 5.0, 100),
           ticker("S2USDT", 5.0, 100)]
    s = statistics_report(tickers_frame(raw), params={}, symbols=[]).summary
    assert s["mean_change_pct"] == pytest.approx(7 / 3)
    assert s["weighted_change_pct"] == pytest.approx((-3e6 + 500 + 500) / 1_000_200)
    assert s["sentiment"] == "bearish"


def test_zero_volume_everywhere_falls_back_to_plain_mean():
    raw = [ticker("AAAUSDT", 3.0, 0, volume=0, trades=0),
           ticker("BBBUSDT", 1.0, 0, volume=0, trades=0)]
    report = statistics_report(tickers_frame(raw), params={}, symbols=["AAAUSDT", "BBBUSDT"])
    assert report.summary["weighted_change_pct"] == pytest.approx(2.0)
    assert report.summary["sentiment"] == "bullish"
    assert any("plain mean" in w for w in report.warnings)
    assert any("AAAUSDT, BBBUSDT" in w for w in report.warnings)
    assert_finite(report.summary)


def test_zero_low_gives_undefined_range_not_inf():
    raw = [ticker("NEWUSDT", 0.0, 10, last=0, high=0, low=0),
           ticker("ODDUSDT", 1.0, 10, last=1, high=2, low=0)]
    report = statistics_report(tickers_frame(raw), params={}, symbols=["NEWUSDT", "ODDUSDT"])
    assert report.frame["range_pct"].isna().all()
    assert report.frame["close_position"].tolist() == [0.5, 0.5]
    assert_finite(report.summary)


def test_missing_symbol_is_warned_and_left_out():
    report = statistics_report(tickers_frame([ticker("AAAUSDT", 1.0, 10)]), params={},
                               symbols=["AAAUSDT", "ZZZUSDT"])
    assert report.frame["symbol"].tolist() == ["AAAUSDT"]
    assert any("ZZZUSDT" in w for w in report.warnings)


@pytest.mark.parametrize("symbols", [[], ["BTCUSDT"]])
def test_empty_tickers(symbols):
    report = statistics_report(tickers_frame([]), params={}, symbols=symbols)
    assert report.frame.empty and list(report.frame.columns) == COLUMNS
    s = report.summary
    assert s["symbols"] == 0 and s["breadth"] is None and s["sentiment"] is None
    assert s["top_gainer"] is None and s["weighted_change_pct"] is None
    assert report.warnings
    assert_finite(s)


def test_report_shape():
    report = statistics_report(tickers_frame([ticker("AAAUSDT", 1.0, 10)]),
                               params={"symbols": ["AAAUSDT"]}, symbols=["AAAUSDT"])
    assert report.analysis == "statistics" and report.main_table == "tickers"
    assert report.params == {"symbols": ["AAAUSDT"]}
    assert report.data_as_of is None and report.title
    assert isinstance(report.frame, pd.DataFrame)
