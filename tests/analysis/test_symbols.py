import json
from pathlib import Path

import pytest

from binance_svc.analysis.symbols import COLUMNS, symbols_report
from binance_svc.upstream.frames import symbols_frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"   # see its README.md


def info(*rows):
    return {"symbols": [{"symbol": s, "baseAsset": b, "quoteAsset": q, "status": st}
                        for s, b, q, st in rows]}


LISTING = symbols_frame(info(("ETHUSDT", "ETH", "USDT", "TRADING"),
                             ("ETHBTC", "ETH", "BTC", "TRADING"),
                             ("BTCUSDT", "BTC", "USDT", "TRADING"),
                             ("LUNAUSDT", "LUNA", "USDT", "BREAK"),
                             ("BNBBTC", "BNB", "BTC", "HALT")))


def test_trading_only_by_default_sorted_by_symbol():
    report = symbols_report(LISTING, params={})
    assert list(report.frame.columns) == COLUMNS
    assert report.frame["symbol"].tolist() == ["BTCUSDT", "ETHBTC", "ETHUSDT"]
    assert report.summary == {"count": 3, "quote_assets": ["BTC", "USDT"], "status": "TRADING"}
    assert report.analysis == "symbols" and report.main_table == "symbols"
    assert report.warnings == []


def test_quote_filter_is_case_insensitive():
    report = symbols_report(LISTING, params={"quote": "usdt"}, quote="usdt")
    assert report.frame["symbol"].tolist() == ["BTCUSDT", "ETHUSDT"]
    assert report.summary["quote_assets"] == ["USDT"]
    assert report.params == {"quote": "usdt"}


def test_all_statuses():
    report = symbols_report(LISTING, params={}, status=None)
    assert report.frame["symbol"].tolist() == ["BNBBTC", "BTCUSDT", "ETHBTC", "ETHUSDT",
                                               "LUNAUSDT"]
    assert report.summary["status"] is None
    report = symbols_report(LISTING, params={}, quote="BTC", status=None)
    assert report.frame["status"].tolist() == ["HALT", "TRADING"]


def test_nothing_matches():
    report = symbols_report(LISTING, params={}, quote="EUR")
    assert report.frame.empty and list(report.frame.columns) == COLUMNS
    assert report.summary == {"count": 0, "quote_assets": [], "status": "TRADING"}
    assert "EUR" in report.warnings[0]
    report = symbols_report(symbols_frame({"symbols": []}), params={}, status=None)
    assert report.summary["count"] == 0 and report.warnings


def test_recorded_exchange_info():
    path = FIXTURES / "rest" / "http_spot_market_exchange_info.json"
    report = symbols_report(symbols_frame(json.loads(path.read_text())), params={})
    assert report.frame["symbol"].tolist() == ["BTCUSDT", "ETHUSDT"]
    assert report.frame.loc[0, "base_asset"] == "BTC"
