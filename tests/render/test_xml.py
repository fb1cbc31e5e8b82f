"""XML: the envelope, well-formed for every report, whatever its keys and values."""
import io
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from lxml import etree

from binance_svc.report import Report
from binance_svc.errors import NotAcceptable
from binance_svc.render.formats import RenderContext, content_type
from binance_svc.render.xml import render_xml, render_xml_error

ASOF = datetime(2026, 11, 23, 19, 0, 0, tzinfo=timezone.utc)
CTX = RenderContext()


def technical(n=5):
    open_time = pd.date_range("2026-11-23T14:00:00Z", periods=n, freq="h")
    rsi = pd.Series(np.linspace(30, 70, n))
    rsi[:2] = np.nan
    table = pd.DataFrame({"open_time": open_time,
                          "close_time": open_time + pd.Timedelta(milliseconds=3_599_999),
                          "close": 97000.0 + np.arange(n), "trades": np.arange(n) * 3,
                          "rsi_14": rsi})
    return Report("technical", {"symbol": "BTCUSDT", "interval": "1h", "limit": n, "closed": True},
                  {"candles": table}, summary={"last_close": 97004.0,
                                               "signals": {"rsi": "neutral", "trend": "up"}},
                  data_as_of=ASOF, generated_at=ASOF)


def correlation():
    symbols = ["BTCUSDT", "ETHUSDT"]
    matrix = pd.DataFrame({"symbol": symbols, "BTCUSDT": [1.0, 0.8], "ETHUSDT": [0.8, 1.0]})
    assets = pd.DataFrame({"symbol": symbols, "sharpe": [1.2, np.nan], "beta": [1.0, 1.1]})
    return Report("correlation", {"symbols": symbols}, {"matrix": matrix, "assets": assets},
                  summary={"most_correlated": {"pair": symbols, "correlation": 0.8},
                           "observations": 89})


def liquidity():
    book = pd.DataFrame({"side": ["bid", "bid", "ask"], "price": [99.9, 99.8, 100.1],
                         "quantity": [1.0, 2.0, 1.5], "distance_bps": [-10.0, -20.0, 10.0]})
    summary = {"best_bid": 99.9, "spread_bps": 20.0,
               "bands": [{"bps": 10, "bid_notional": 99.9, "ask_notional": 150.15,
                          "imbalance": -0.2}],
               "slippage": [{"notional": 10000, "side": "buy", "avg_price": 100.2,
                             "impact_bps": 20.0, "filled": False}],
               # keys of the kind that broke the original service
               "depth": {"0_1percent": 1.0, "5percent+": 2.0, "a b": 3.0, "<x>": 4.0,
                         "xmlns": 5.0, "": 6.0, "ok": None}}
    return Report("liquidity", {"symbol": "ETH&USDT", "notional": [10000, 100000]},
                  {"book": book}, summary=summary, source="demo", stale=True,
                  warnings=['Book < 5 levels & "thin"', "ctrl\x00\x1bchars"])


def awkward():
    table = pd.DataFrame({"0_1percent": [1.0, np.nan], "5percent+": [2.0, 3.0],
                          "a b": ["<b>&amp;", 'say "x"'], "<x>": [True, False], "ok": [1, 2],
                          "50%s": ["%s%d", "%"]})
    return Report("awkward", {"q": "<script>alert(1)</script>"}, {"t": table},
                  summary={"nested": {"lists": [[1, 2], []], "inf": float("inf")}})


ALL = [technical, correlation, liquidity, awkward]


@pytest.mark.parametrize("build", ALL)
def test_well_formed(build):
    root = etree.fromstring(render_xml(build(), CTX))
    assert root.tag == "report"
    assert [el.tag for el in root][:9] == ["analysis", "params", "source", "data_as_of",
                                           "generated_at", "stale", "warnings", "summary",
                                           "columns"]


def test_main_table_via_pandas():
    report = technical()
    body = render_xml(report, CTX)
    df = pd.read_xml(io.BytesIO(body), xpath=".//rows/row", parser="lxml")
    assert list(df.columns) == list(report.frame.columns)
    assert len(df) == 5
    assert df["close"].tolist() == report.frame["close"].tolist()
    assert df["rsi_14"].isna().tolist() == [True, True, False, False, False]
    assert df["open_time"].iloc[0] == "2026-11-23T14:00:00Z"
    assert df["close_time"].iloc[0] == "2026-11-23T14:59:59.999Z"


def test_elements_and_values():
    root = etree.fromstring(render_xml(technical(), CTX))
    assert root.findtext("analysis") == "technical"
    assert root.findtext("params/limit") == "5"
    assert root.findtext("params/closed") == "true"
    assert root.findtext("stale") == "false"
    assert root.findtext("data_as_of") == "2026-11-23T19:00:00Z"
    assert root.findtext("summary/signals/trend") == "up"
    assert [c.text for c in root.find("columns")] == list(technical().frame.columns)
    first = root.find("rows/row")
    assert first.find("rsi_14").text is None and len(first.find("rsi_14")) == 0   # null: empty
    assert first.findtext("trades") == "0"


def test_extra_tables_and_lists():
    root = etree.fromstring(render_xml(correlation(), CTX))
    assert [r.findtext("symbol") for r in root.findall("rows/row")] == ["BTCUSDT", "ETHUSDT"]
    assets = root.find("tables/table[@name='assets']")
    assert [c.text for c in assets.find("columns")] == ["symbol", "sharpe", "beta"]
    assert assets.find("rows/row[2]/sharpe").text is None
    assert [i.text for i in root.findall("summary/most_correlated/pair/item")] == \
        ["BTCUSDT", "ETHUSDT"]
    assert [i.text for i in root.findall("params/symbols/item")] == ["BTCUSDT", "ETHUSDT"]
    df = pd.read_xml(io.BytesIO(render_xml(correlation(), CTX)), xpath="/report/rows/row")
    assert df.shape == (2, 3)


def test_awkward_keys_become_items_with_key_attribute():
    root = etree.fromstring(render_xml(liquidity(), CTX))
    depth = root.find("summary/depth")
    keyed = {el.get("key"): el.text for el in depth.findall("item")}
    assert keyed == {"0_1percent": "1.0", "5percent+": "2.0", "a b": "3.0", "<x>": "4.0",
                     "xmlns": "5.0", "": "6.0"}
    assert depth.find("ok").text is None
    assert [b.findtext("imbalance") for b in root.findall("summary/bands/item")] == ["-0.2"]
    assert root.findtext("summary/slippage/item/filled") == "false"
    row = etree.fromstring(render_xml(awkward(), CTX)).find("rows/row")
    assert [(c.tag, c.get("key"), c.text) for c in row] == [
        ("item", "0_1percent", "1.0"), ("item", "5percent+", "2.0"), ("item", "a b", "<b>&amp;"),
        ("item", "<x>", "true"), ("ok", None, "1"), ("item", "50%s", "%s%d")]


def test_values_escaped():
    raw = render_xml(liquidity(), CTX)
    root = etree.fromstring(raw)
    assert root.findtext("params/symbol") == "ETH&USDT"
    assert b"ETH&amp;USDT" in raw
    assert [w.text for w in root.findall("warnings/warning")] == [
        'Book < 5 levels & "thin"', "ctrl\ufffd\ufffdchars"]
    assert root.findtext("source") == "demo" and root.findtext("stale") == "true"
    awk = render_xml(awkward(), CTX)
    assert b"<script>" not in awk
    assert etree.fromstring(awk).findtext("params/q") == "<script>alert(1)</script>"
    assert etree.fromstring(awk).find("summary/nested/inf").text is None


def test_error_document():
    err = NotAcceptable("Nothing <acceptable> & more", allowed=["application/json", "text/csv"])
    root = etree.fromstring(render_xml_error(err, CTX))
    assert root.tag == "error"
    assert [el.tag for el in root] == ["status", "code", "message", "param", "allowed"]
    assert root.findtext("status") == "406"
    assert root.findtext("message") == "Nothing <acceptable> & more"
    assert root.find("param").text is None
    assert [i.text for i in root.findall("allowed/item")] == ["application/json", "text/csv"]
    assert content_type("xml") == "application/xml"
