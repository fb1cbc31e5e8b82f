import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis.liquidity import COLUMNS, liquidity_report
from binance_svc.upstream.frames import depth_frames

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"   # see its README.md


def assert_finite(obj, path="summary"):
    if path == "summary":       # plain JSON types too: no numpy scalars, no NaN
        json.dumps(obj, allow_nan=False)
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_finite(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            assert_finite(v, f"{path}[{i}]")
    elif isinstance(obj, float):
        assert math.isfinite(obj), f"{path} is {obj}"


# Mid 100: each side has a level exactly 10, 50, 100, 200 and 300 bps away.
#   side  price  qty  notional  cum_qty  cum_notional
#   bid    99.9   10     999       10        999
#   bid    99.5   20    1990       30       2989
#   bid    99.0   10     990       40       3979
#   bid    98.0   50    4900       90       8879
#   bid    97.0  100    9700      190      18579
#   ask   100.1   10    1001       10       1001
#   ask   100.5   20    2010       30       3011
#   ask   101.0   10    1010       40       4021
#   ask   102.0   50    5100       90       9121
#   ask   103.0  100   10300      190      19421
BOOK = {"bids": [["99.9", "10"], ["99.5", "20"], ["99.0", "10"], ["98.0", "50"], ["97.0", "100"]],
        "asks": [["100.1", "10"], ["100.5", "20"], ["101.0", "10"], ["102.0", "50"],
                 ["103.0", "100"]]}


def report_for(book=BOOK, notionals=(500, 1000, 2000, 19421, 50000)):
    bids, asks = depth_frames(book)
    return liquidity_report(bids, asks, params={"symbol": "TESTUSDT"},
                            notionals=list(notionals))


def fill(summary, side, notional):
    return next(s for s in summary["slippage"] if s["side"] == side and s["notional"] == notional)


def test_spread_and_levels():
    report = report_for()
    s = report.summary
    assert (s["best_bid"], s["best_ask"]) == (99.9, 100.1)
    assert s["mid"] == pytest.approx(100.0)
    assert s["spread"] == pytest.approx(0.2)
    assert s["spread_bps"] == pytest.approx(20.0)       # 0.2 / 100 * 1e4
    assert s["levels"] == {"bids": 5, "asks": 5}
    t = report.frame
    assert list(t.columns) == COLUMNS
    assert t["side"].tolist() == ["bid"] * 5 + ["ask"] * 5
    assert t["price"].tolist() == [99.9, 99.5, 99.0, 98.0, 97.0, 100.1, 100.5, 101.0, 102.0, 103.0]
    np.testing.assert_allclose(t["notional"], [999, 1990, 990, 4900, 9700,
                                               1001, 2010, 1010, 5100, 10300])
    np.testing.assert_allclose(t["cum_quantity"], [10, 30, 40, 90, 190] * 2)
    np.testing.assert_allclose(t["cum_notional"], [999, 2989, 3979, 8879, 18579,
                                                   1001, 3011, 4021, 9121, 19421])
    np.testing.assert_allclose(t["distance_bps"], [-10, -50, -100, -200, -300,
                                                   10, 50, 100, 200, 300])
    assert report.analysis == "liquidity" and report.main_table == "levels"
    assert all("too thin" in w for w in report.warnings)    # nothing else to say


def test_bands_are_inclusive():
    bands = report_for().summary["bands"]
    assert [b["bps"] for b in bands] == [10, 50, 100, 200]
    # Within 10 bps: the first level on each side (exactly on the edge, so included).
    assert [b["bid_notional"] for b in bands] == pytest.approx([999, 2989, 3979, 8879])
    assert [b["ask_notional"] for b in bands] == pytest.approx([1001, 3011, 4021, 9121])
    # imbalance (bid - ask) / (bid + ask): (999 - 1001) / 2000, ..., (8879 - 9121) / 18000
    assert [b["imbalance"] for b in bands] == pytest.approx(
        [-2 / 2000, -22 / 6000, -42 / 8000, -242 / 18000])


def test_buy_walks_the_asks():
    s = report_for().summary
    # 500 inside the first level: 500 / 100.1 base at 100.1, 10 bps from mid.
    f = fill(s, "buy", 500)
    assert f["avg_price"] == pytest.approx(100.1) and f["impact_bps"] == pytest.approx(10.0)
    assert f["filled"] and f["filled_notional"] == 500
    # 2000: the whole first level (1001 quote, 10 base), then 999 of the second at 100.5
    # (999 / 100.5 base, a partial level): avg = 2000 / (10 + 999 / 100.5).
    f = fill(s, "buy", 2000)
    avg = 2000 / (10 + 999 / 100.5)
    assert f["avg_price"] == pytest.approx(avg)
    assert f["impact_bps"] == pytest.approx((avg - 100) / 100 * 1e4)
    assert f["filled"] is True
    # 19421 is exactly the whole side: 190 base, still filled.
    f = fill(s, "buy", 19421)
    assert f["avg_price"] == pytest.approx(19421 / 190) and f["filled"] is True
    # 50000 runs out of book: figures for the 19421 that filled.
    f = fill(s, "buy", 50000)
    assert f["filled"] is False and f["filled_notional"] == pytest.approx(19421)
    assert f["avg_price"] == pytest.approx(19421 / 190)


def test_sell_walks_the_bids():
    s = report_for().summary
    # 1000: the first level (999 quote for 10 base), then 1 quote at 99.5.
    f = fill(s, "sell", 1000)
    avg = 1000 / (10 + 1 / 99.5)
    assert f["avg_price"] == pytest.approx(avg)
    assert f["impact_bps"] == pytest.approx((100 - avg) / 100 * 1e4)
    # The whole bid side is 18579 quote for 190 base: 19421 does not fill.
    f = fill(s, "sell", 19421)
    assert f["filled"] is False and f["filled_notional"] == pytest.approx(18579)
    assert f["avg_price"] == pytest.approx(18579 / 190)
    assert [x["side"] for x in s["slippage"]] == ["buy"] * 5 + ["sell"] * 5


def test_thin_book_is_warned():
    report = report_for()
    warning = " ".join(report.warnings)
    assert "buy 50,000" in warning and "sell 19,421" in warning and "buy 19,421" not in warning
    assert_finite(report.summary)


def test_recorded_btcusdt_depth():
    path = FIXTURES / "rest" / "http_spot_market_depth.json"
    bids, asks = depth_frames(json.loads(path.read_text()))
    report = liquidity_report(bids, asks, params={}, notionals=[10_000, 100_000])
    s = report.summary
    assert s["best_bid"] == bids["price"].iloc[0] and s["best_ask"] == asks["price"].iloc[0]
    assert 0 < s["spread_bps"] < 1
    assert report.frame["distance_bps"].iloc[:len(bids)].lt(0).all()
    assert report.frame["distance_bps"].iloc[len(bids):].gt(0).all()
    buy = fill(s, "buy", 10_000)
    assert buy["filled"] and buy["avg_price"] >= s["best_ask"]
    assert_finite(s)


@pytest.mark.parametrize("book", [
    {"bids": [], "asks": []},
    {"bids": [["99", "1"]], "asks": []},
    {"bids": [], "asks": [["101", "1"]]},
    {"bids": [["101", "1"]], "asks": [["99", "1"]]},            # crossed
], ids=["empty", "no-asks", "no-bids", "crossed"])
def test_degenerate_books(book):
    report = report_for(book, notionals=[100])
    s = report.summary
    assert s["mid"] is None and s["spread"] is None and s["spread_bps"] is None
    assert all(b["imbalance"] is None and b["bid_notional"] is None for b in s["bands"])
    assert all(x["impact_bps"] is None for x in s["slippage"])
    assert report.warnings
    assert list(report.frame.columns) == COLUMNS
    assert len(report.frame) == len(book["bids"]) + len(book["asks"])
    assert_finite(s)


def test_empty_side_fills_nothing():
    s = report_for({"bids": [["99", "1"]], "asks": []}, notionals=[100]).summary
    buy, sell = fill(s, "buy", 100), fill(s, "sell", 100)
    assert buy == {"notional": 100.0, "side": "buy", "avg_price": None, "impact_bps": None,
                   "filled": False, "filled_notional": 0.0}
    # 1 base at 99 is all the bids: 99 of the 100 asked.
    assert sell["avg_price"] == pytest.approx(99.0) and sell["filled"] is False
    assert sell["filled_notional"] == pytest.approx(99.0)


def test_no_notionals_and_one_sided_band_imbalance():
    # Only asks near the mid: within 10 bps everything is on the ask side.
    book = {"bids": [["90", "1"]], "asks": [["90.05", "2"]]}
    s = report_for(book, notionals=[]).summary
    assert s["slippage"] == []
    assert s["bands"][0]["bid_notional"] == pytest.approx(90.0)   # 90 is ~2.8 bps below mid
    book = {"bids": [["80", "1"]], "asks": [["100", "2"]]}           # mid 90, both > 200 bps
    s = report_for(book, notionals=[]).summary
    assert s["bands"][0] == {"bps": 10, "bid_notional": 0.0, "ask_notional": 0.0,
                             "imbalance": None}
    assert isinstance(report_for(book, notionals=[]).frame, pd.DataFrame)
