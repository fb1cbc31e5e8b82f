"""Bad parameters are a 400 naming the parameter, the value and what is allowed -- before any
upstream call (docs/api.md, "Parameters"; docs/design.md: "400/404 before any upstream call").

Each case runs on a fresh app, so the demo market's request counters start at zero and show
exactly what the request cost upstream: nothing at all for a 400, and only the exchangeInfo
that symbol validation needs for an unknown symbol's 404.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pytest

T = "/api/v1/analysis/technical/BTCUSDT"
S = "/api/v1/market/statistics"
C = "/api/v1/analysis/correlation"
L = "/api/v1/market/liquidity/BTCUSDT"
Y = "/api/v1/symbols"
TWENTY_ONE = ",".join(f"S{i:02d}USDT" for i in range(21))
TEN_DAYS_AGO = datetime.now(timezone.utc) - timedelta(days=10)
FUTURE = datetime.now(timezone.utc) + timedelta(days=2)
ALL_INTERVALS = "1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Bad:
    path: str
    query: tuple                 # ((name, value), ...), URL-encoded by the test
    param: str                   # error.param
    allowed: str                 # a phrase of the message that says what is allowed
    echo: str | None = None      # the value as the message repeats it (None: the raw value)
    code: str = "invalid_parameter"

    def url(self) -> str:
        return self.path + ("?" + urlencode(self.query) if self.query else "")


def q(**kw) -> tuple:
    return tuple(kw.items())


CASES = {
    # limit (technical 1-10000, correlation 10-1000)
    "limit-negative": Bad(T, q(limit="-1"), "limit", "1 to 10000"),
    "limit-zero": Bad(T, q(limit="0"), "limit", "1 to 10000"),
    "limit-10001": Bad(T, q(limit="10001"), "limit", "1 to 10000"),
    "limit-huge": Bad(T, q(limit="9" * 30), "limit", "1 to 10000", echo="9" * 30),
    "limit-nan": Bad(T, q(limit="NaN"), "limit", "1 to 10000"),
    "limit-inf": Bad(T, q(limit="inf"), "limit", "1 to 10000"),
    "limit-fraction": Bad(T, q(limit="1.5"), "limit", "1 to 10000"),
    "limit-exponent": Bad(T, q(limit="1e2"), "limit", "1 to 10000"),
    "limit-empty": Bad(T, q(limit=""), "limit", "1 to 10000"),
    "limit-word": Bad(T, q(limit="abc"), "limit", "1 to 1000"),
    "correlation-limit-9": Bad(C, q(limit="9"), "limit", "10 to 1000"),
    "correlation-limit-1001": Bad(C, q(limit="1001"), "limit", "10 to 1000"),
    # interval
    "interval-1H": Bad(T, q(interval="1H"), "interval", ALL_INTERVALS),
    "interval-2m": Bad(T, q(interval="2m"), "interval", ALL_INTERVALS),
    "interval-empty": Bad(T, q(interval=""), "interval", ALL_INTERVALS),
    "correlation-interval": Bad(C, q(interval="1y"), "interval", ALL_INTERVALS),
    # symbol in the path
    "symbol-too-long": Bad("/api/v1/analysis/technical/" + "A" * 21, (), "symbol",
                           "2 to 20 letters or digits", echo="A" * 21),
    "symbol-too-short": Bad("/api/v1/market/liquidity/B", (), "symbol",
                            "2 to 20 letters or digits", echo="B"),
    "symbol-non-ascii": Bad("/api/v1/analysis/technical/" + quote("BTCÜSDT"), (), "symbol",
                            "2 to 20 letters or digits", echo="BTCÜSDT"),
    "symbol-punctuation": Bad("/api/v1/market/liquidity/BTC-USDT", (), "symbol",
                              "2 to 20 letters or digits", echo="BTC-USDT"),
    "symbol-dot": Bad("/api/v1/analysis/technical/BTC.USDT", (), "symbol",
                      "2 to 20 letters or digits", echo="BTC.USDT"),
    # symbols lists
    "symbols-item-too-long": Bad(S, q(symbols="BTCUSDT," + "B" * 21), "symbols",
                                 "2 to 20 letters or digits", echo="B" * 21),
    "symbols-non-ascii": Bad(S, q(symbols="BTCUSDT,ÉTHUSDT"), "symbols",
                             "2 to 20 letters or digits", echo="ÉTHUSDT"),
    "symbols-punctuation": Bad(S, q(symbols="BTC/USDT"), "symbols", "2 to 20 letters or digits"),
    "symbols-21": Bad(S, q(symbols=TWENTY_ONE), "symbols", "1 to 20 distinct symbols",
                      echo=TWENTY_ONE[:40]),
    "correlation-symbols-21": Bad(C, q(symbols=TWENTY_ONE), "symbols",
                                  "2 to 20 distinct symbols", echo=TWENTY_ONE[:40]),
    "symbols-duplicates": Bad(S, q(symbols="BTCUSDT,ETHUSDT,BTCUSDT"), "symbols", "distinct"),
    "symbols-duplicates-by-case": Bad(C, q(symbols="BTCUSDT,btcusdt"), "symbols", "distinct"),
    "symbols-empty-item": Bad(S, q(symbols="BTCUSDT,,ETHUSDT"), "symbols", "no empty items"),
    "symbols-trailing-comma": Bad(C, q(symbols="BTCUSDT,ETHUSDT,"), "symbols",
                                  "no empty items"),
    "symbols-empty": Bad(S, q(symbols=""), "symbols", "no empty items"),
    "correlation-one-symbol": Bad(C, q(symbols="BTCUSDT"), "symbols",
                                  "2 to 20 distinct symbols"),
    # depth
    "depth-4": Bad(L, q(depth="4"), "depth", "5 to 5000"),
    "depth-5001": Bad(L, q(depth="5001"), "depth", "5 to 5000"),
    "depth-word": Bad(L, q(depth="abc"), "depth", "5 to 5000"),
    "depth-fraction": Bad(L, q(depth="10.5"), "depth", "5 to 5000"),
    # notional
    "notional-zero": Bad(L, q(notional="0"), "notional", "1 to 1e9"),
    "notional-1e10": Bad(L, q(notional="1e10"), "notional", "1 to 1e9"),
    "notional-11-items": Bad(L, q(notional=",".join(["1000"] * 11)), "notional", "at most 10"),
    "notional-word": Bad(L, q(notional="abc"), "notional", "1 to 1e9"),
    "notional-nan": Bad(L, q(notional="nan"), "notional", "1 to 1e9"),
    "notional-inf": Bad(L, q(notional="1000,inf"), "notional", "1 to 1e9"),
    "notional-negative": Bad(L, q(notional="-5000"), "notional", "1 to 1e9"),
    "notional-empty-item": Bad(L, q(notional="1000,,2000"), "notional", "1 to 1e9"),
    # start / end
    "start-future": Bad(T, q(start=iso(FUTURE)), "start", "not in the future"),
    "end-future": Bad(C, q(end=iso(FUTURE)), "end", "not in the future"),
    "end-future-epoch-ms": Bad(T, q(end=str(int(FUTURE.timestamp() * 1000))), "end",
                               "not in the future"),
    "start-garbage": Bad(T, q(start="yesterday"), "start", "ISO-8601"),
    "start-half-date": Bad(T, q(start="2026-13-45T00:00:00Z"), "start", "ISO-8601"),
    "end-garbage": Bad(C, q(end="12:00"), "end", "ISO-8601"),
    "start-epoch-seconds": Bad(T, q(start="1700000000"), "start", "2017"),
    "start-epoch-ms-fraction": Bad(T, q(start="1700000000000.5"), "start", "epoch milliseconds"),
    "start-equals-end": Bad(T, q(start=iso(TEN_DAYS_AGO), end=iso(TEN_DAYS_AGO)), "start",
                            "before end", echo=""),
    "start-after-end": Bad(C, q(start=iso(TEN_DAYS_AGO), end=iso(TEN_DAYS_AGO - timedelta(1))),
                           "start", "before end", echo=""),
    # table
    "table-unknown": Bad(C, q(table="returns"), "table", "matrix, assets"),
    "table-case": Bad(C, q(table="MATRIX"), "table", "matrix, assets"),
    "table-on-one-table-resource": Bad(T, q(table="assets"), "table", "This resource takes",
                                       echo=""),
    # width / height
    "width-299": Bad(T, q(format="png", width="299"), "width", "300 to 3000"),
    "width-word": Bad(L, q(format="png", width="wide"), "width", "300 to 3000"),
    "height-3001": Bad(C, q(format="png", height="3001"), "height", "300 to 3000"),
    "height-fraction": Bad(S, q(format="png", height="500.5"), "height", "300 to 3000"),
    # flags and choices
    "closed-maybe": Bad(T, q(closed="maybe"), "closed", "true or false"),
    "download-maybe": Bad(S, q(download="maybe"), "download", "true or false"),
    "bom-maybe": Bad(S, q(bom="maybe"), "bom", "true or false"),
    "quote-punctuation": Bad(Y, q(quote="US-DT"), "quote", "letters and digits"),
    "status-unknown": Bad(Y, q(status="OPEN"), "status", "TRADING"),
    "benchmark-not-in-symbols": Bad(C, q(symbols="BTCUSDT,ETHUSDT", benchmark="SOLUSDT"),
                                    "benchmark", "one of the symbols: BTCUSDT, ETHUSDT"),
    "benchmark-malformed": Bad(C, q(benchmark="<b>"), "benchmark", "2 to 20 letters or digits"),
    # the query as a whole
    "unknown-parameter": Bad(T, q(symbol="ETHUSDT"), "symbol", "This resource takes", echo=""),
    "unknown-parameter-typo": Bad(S, q(symbol="BTCUSDT"), "symbol", "symbols", echo=""),
    "repeated-parameter": Bad(T, (("limit", "5"), ("limit", "6")), "limit", "once", echo=""),
    "repeated-format": Bad(S, (("format", "json"), ("format", "csv")), "format", "once",
                           echo=""),
    # format
    "format-unknown": Bad(T, q(format="pdf"), "format", "json, html, csv, xml, png",
                          code="unknown_format"),
    "format-empty": Bad(S, q(format=""), "format", "json, html, csv, xml, png",
                        code="unknown_format"),
    "format-png-on-symbols": Bad(Y, q(format="png"), "format", "json, html, csv, xml"),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_parameter_is_a_400_before_any_upstream_call(client, demo, case):
    resp = client.get(case.url())
    assert resp.status_code == 400, resp.data[:300]
    assert resp.headers["Content-Type"] == "application/json"
    error = resp.get_json()["error"]
    assert error["status"] == 400
    assert error["code"] == case.code
    assert error["param"] == case.param
    assert case.allowed in error["message"], error["message"]
    if case.echo != "":
        echo = case.echo if case.echo is not None else dict(case.query)[case.param]
        assert echo in error["message"], error["message"]
    assert resp.headers["Cache-Control"] == "no-store"
    # Nothing reached the (demo) exchange: the parameters were checked first.
    assert demo.counters.requests == {}, "a 400 costs no upstream call, not even exchangeInfo"


@pytest.mark.parametrize("name", ["start-equals-end", "start-after-end"])
def test_start_not_before_end_repeats_both_values(client, name):
    case = CASES[name]
    message = client.get(case.url()).get_json()["error"]["message"]
    values = dict(case.query)
    assert values["start"] in message and values["end"] in message, message


@pytest.mark.parametrize("path", [
    "/api/v1/analysis/technical/FOOBARUSDT",
    "/api/v1/market/liquidity/foobarusdt",
    "/api/v1/market/statistics?symbols=BTCUSDT,FOOUSDT",
    "/api/v1/analysis/correlation?symbols=FOOUSDT,BTCUSDT",
    "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,LUNAXUSDT&benchmark=ETHUSDT",
])
def test_unknown_symbol_is_a_404_after_exchange_info_only(client, demo, path):
    resp = client.get(path)
    assert resp.status_code == 404, resp.data[:300]
    error = resp.get_json()["error"]
    assert error["code"] == "unknown_symbol"
    assert error["param"] == ("symbols" if "symbols=" in path else "symbol")   # as sent
    unknown = [s for s in ("FOOBARUSDT", "FOOUSDT", "LUNAXUSDT") if s in path.upper()][0]
    assert unknown in error["message"], error["message"]   # upper-cased before the check
    assert "/api/v1/symbols" in error["message"]            # where to look instead
    assert demo.counters.requests == {"/api/v3/exchangeInfo": 1}


def test_valid_values_at_the_bounds_are_accepted(client):
    """The other side of each bound above: the edges themselves are allowed."""
    ok = [
        (T, {"limit": "1"}), (T, {"limit": "1000"}), (T, {"interval": "1M", "limit": "5"}),
        (C, {"symbols": "BTCUSDT,ETHUSDT", "limit": "10"}),
        (L, {"depth": "5"}), (L, {"depth": "5000"}),
        (L, {"notional": "1,1000000000"}), (L, {"notional": ",".join(["1000"] * 10)}),
        (L, {"notional": "1e3,2.5e4"}),
        (S, {"symbols": ",".join(["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT",
                                  "ADAUSDT", "DOGEUSDT", "TRXUSDT", "LINKUSDT", "AVAXUSDT",
                                  "DOTUSDT", "LTCUSDT", "ETHBTC", "BNBBTC", "SOLBTC",
                                  "NEWUSDT"])}),
        (T, {"format": "png", "width": "300", "height": "3000"}),
        (T, {"start": str(int(TEN_DAYS_AGO.timestamp() * 1000))}),
        (T, {"closed": "false", "limit": "3"}),
        (Y, {"status": "all"}), (Y, {"quote": "usdt"}),
    ]
    for path, query in ok:
        resp = client.get(path, query_string=query)
        assert resp.status_code == 200, (path, query, resp.data[:300])


def test_notional_echoed_as_numbers(client):
    body = client.get(L, query_string={"notional": "1e3,2.5e4"}).get_json()
    assert body["params"]["notional"] == [1000.0, 25000.0]
