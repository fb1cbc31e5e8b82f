"""No numeric garbage: no response in any format carries NaN or Infinity; flat, dead, young and
thin markets give defined numbers (a number, or null where the figure is undefined).

Flat and dead markets do not occur in the demo market, so the upstream is told to answer with
such data (a fault of kind "status" with status 200 and a body of our choosing).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.slow

FORMATS = ("json", "csv", "xml", "html", "png")
GARBAGE_CELL = re.compile(r"^\s*[+-]?(nan|inf|infinity)\s*$", re.IGNORECASE)
GARBAGE_TEXT = re.compile(r"(?<![A-Za-z])[+-]?(NaN|nan|Infinity|inf)(?![A-Za-z])")

REGULAR = [
    "/api/v1/market/statistics",
    "/api/v1/analysis/technical/BTCUSDT",
    "/api/v1/analysis/technical/ETHBTC?interval=1w&limit=1000",
    "/api/v1/analysis/correlation",
    "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,NEWUSDT&interval=1h&limit=500",
    "/api/v1/market/liquidity/BTCUSDT",
    "/api/v1/market/liquidity/DOGEUSDT?depth=5000&notional=1,1e9",
    "/api/v1/symbols?status=all",
]
YOUNG = "/api/v1/analysis/technical/NEWUSDT?interval=1d&limit=200"
YOUNG_CORRELATION = "/api/v1/analysis/correlation?symbols=BTCUSDT,NEWUSDT&interval=1d&limit=200"
THIN = "/api/v1/market/liquidity/NEWUSDT?depth=5&notional=1e9"


@pytest.fixture(scope="module")
def service(start_service):
    return start_service(workers=2)


def _walk(value, path="$"):
    if isinstance(value, float):
        assert math.isfinite(value), f"{path} = {value}"
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]")


def check_no_garbage(fmt: str, resp, strict_json) -> None:
    assert resp.status == 200, resp
    if fmt == "json":
        _walk(strict_json(resp.body))               # refuses NaN/Infinity, then 1e999 etc.
    elif fmt == "csv":
        for row in csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))):
            bad = [c for c in row if GARBAGE_CELL.match(c)]
            assert not bad, row
    elif fmt == "xml":
        root = ElementTree.fromstring(resp.body)
        for el in root.iter():
            assert not GARBAGE_CELL.match(el.text or ""), (el.tag, el.text)
    elif fmt == "html":
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", resp.text, re.S)
        assert cells, "no table cells in the page"
        for cell in cells:
            text = re.sub(r"<[^>]+>", "", cell).strip()
            assert not GARBAGE_CELL.match(text), cell
        body = re.sub(r"<(script|style)\b.*?</\1>", "", resp.text, flags=re.S)
        visible = re.sub(r"<[^>]+>", " ", body)
        assert not GARBAGE_TEXT.search(visible), GARBAGE_TEXT.search(visible)
    else:
        assert resp.body.startswith(b"\x89PNG\r\n\x1a\n")


def _with(target: str, fmt: str) -> str:
    return target + ("&" if "?" in target else "?") + f"format={fmt}"


@pytest.mark.parametrize("target", REGULAR)
def test_no_nan_or_infinity_in_any_format(service, strict_json, target):
    for fmt in FORMATS:
        if target.startswith("/api/v1/symbols") and fmt == "png":
            continue
        check_no_garbage(fmt, service.get(_with(target, fmt), timeout=60), strict_json)
    if "correlation" in target:
        check_no_garbage("csv", service.get(_with(target, "csv") + "&table=assets"),
                         strict_json)


def test_young_market_gives_what_it_has_with_a_warning(service, strict_json):
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(YOUNG, fmt), timeout=60), strict_json)
    doc = service.get(YOUNG).json()
    assert 25 <= len(doc["rows"]) <= 31, len(doc["rows"])      # listed 30 days ago
    assert any("NEWUSDT" in w or "candles" in w for w in doc["warnings"][1:]), doc["warnings"]
    last = doc["rows"][-1]
    assert isinstance(last["close"], float) and isinstance(last["rsi_14"], float), last
    assert last["sma_50"] is None                                # not enough history: null
    corr = service.get(YOUNG_CORRELATION).json()
    assert corr["summary"]["observations"] <= 30, corr["summary"]
    assert isinstance(corr["summary"]["mean_correlation"], float), corr["summary"]
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(YOUNG_CORRELATION, fmt), timeout=60),
                         strict_json)


def test_thin_book_gives_defined_slippage(service, strict_json):
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(THIN, fmt), timeout=60), strict_json)
    doc = service.get(THIN).json()
    assert len(doc["rows"]) == 10
    slips = doc["summary"]["slippage"]
    assert {s["side"] for s in slips} == {"buy", "sell"}
    for s in slips:
        assert s["filled"] is False, s                 # 5 levels cannot fill 1e9 USDT
        assert isinstance(s["avg_price"], float) and s["avg_price"] > 0, s
        assert isinstance(s["impact_bps"], float) and s["impact_bps"] >= 0, s


# -- flat and dead markets, served by the upstream on request ----------------------------------
HOUR = 3_600_000


def _flat_klines(n: int = 450, price: str = "100.00000000", volume: str = "0.00000000"):
    last_open = int(time.time() * 1000) // HOUR * HOUR - HOUR      # the last closed candle
    first = last_open - (n - 1) * HOUR
    return [[t, price, price, price, price, volume, t + HOUR - 1, "0.00000000", 0,
             "0.00000000", "0.00000000", "0"] for t in range(first, last_open + 1, HOUR)]


def _dead_ticker(symbol: str) -> dict:
    """What Binance sends for a symbol nobody traded in 24 h: zeros everywhere."""
    now = int(time.time() * 1000)
    zero = "0.00000000"
    return {"symbol": symbol, "priceChange": zero, "priceChangePercent": "0.000",
            "weightedAvgPrice": zero, "prevClosePrice": zero, "lastPrice": zero,
            "lastQty": zero, "bidPrice": zero, "bidQty": zero, "askPrice": zero, "askQty": zero,
            "openPrice": zero, "highPrice": zero, "lowPrice": zero, "volume": zero,
            "quoteVolume": zero, "openTime": now - 86_400_000, "closeTime": now, "firstId": -1,
            "lastId": -1, "count": 0}


def test_flat_market_gives_defined_indicators(service, upstream, strict_json):
    upstream.inject(kind="status", status=200, count=-1, path="/api/v3/klines",
                    body=json.dumps(_flat_klines()))
    target = "/api/v1/analysis/technical/DOTUSDT?interval=1h&limit=100"
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(target, fmt), timeout=60), strict_json)
    doc = service.get(target).json()
    last = doc["rows"][-1]
    assert last["rsi_14"] == 50, last                  # docs/api.md: no movement at all gives 50
    assert last["macd"] == 0 and last["bb_bandwidth"] == 0, last
    assert last["bb_percent_b"] is None or isinstance(last["bb_percent_b"], float), last
    corr = "/api/v1/analysis/correlation?symbols=DOTUSDT,LTCUSDT&interval=1h&limit=100"
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(corr, fmt), timeout=60), strict_json)
    check_no_garbage("csv", service.get(_with(corr, "csv") + "&table=assets"), strict_json)


def test_dead_market_ticker_gives_defined_statistics(service, upstream, strict_json):
    upstream.inject(kind="status", status=200, count=-1, path="/api/v3/ticker/24hr",
                    body=json.dumps([_dead_ticker("DOTUSDT"), _dead_ticker("LTCUSDT")]))
    target = "/api/v1/market/statistics?symbols=DOTUSDT,LTCUSDT"
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(target, fmt), timeout=60), strict_json)
    doc = service.get(target).json()
    assert doc["summary"]["unchanged"] == 2, doc["summary"]


def test_one_sided_book_gives_defined_figures(service, upstream, strict_json):
    body = {"lastUpdateId": 1, "bids": [], "asks": [["5.0", "1.0"], ["5.1", "2.0"]]}
    upstream.inject(kind="status", status=200, count=-1, path="/api/v3/depth",
                    body=json.dumps(body))
    target = "/api/v1/market/liquidity/DOTUSDT?depth=7&notional=10,1e9"
    for fmt in FORMATS:
        check_no_garbage(fmt, service.get(_with(target, fmt), timeout=60), strict_json)


def test_non_finite_numbers_from_upstream_never_reach_a_client(service, upstream, strict_json):
    """A ticker whose prices parse to inf/nan ("1e400", "NaN") is refused or nulled."""
    bad = _dead_ticker("DOTUSDT")
    bad.update({"lastPrice": "1e400", "highPrice": "NaN", "lowPrice": "0.5",
                "quoteVolume": "Infinity", "priceChangePercent": "-inf"})
    upstream.inject(kind="status", status=200, count=-1, path="/api/v3/ticker/24hr",
                    body=json.dumps([bad]))
    target = "/api/v1/market/statistics?symbols=DOTUSDT"
    for fmt in FORMATS:
        resp = service.get(_with(target, fmt), timeout=60)
        assert resp.status in (200, 502), resp
        if resp.status == 200:
            check_no_garbage(fmt, resp, strict_json)
        else:
            assert strict_json(resp.body)["error"]["code"] == "upstream_unavailable"
