"""The JSON envelope (docs/api.md, "The JSON envelope")."""
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from binance_svc.report import Report
from binance_svc.errors import UnknownSymbol
from binance_svc.render.formats import RenderContext, content_type
from binance_svc.render.json import envelope, render_json, render_json_error

ASOF = datetime(2026, 11, 23, 19, 0, 0, 345_678, tzinfo=timezone.utc)
CTX = RenderContext(path="/api/v1/analysis/technical/BTCUSDT")


def technical(n=4, warmup=2):
    open_time = pd.date_range("2026-11-23T15:00:00Z", periods=n, freq="h")
    close = 97000.0 + np.arange(n) * 10.5
    rsi = pd.Series(np.linspace(40, 60, n))
    rsi[:warmup] = np.nan
    table = pd.DataFrame({
        "open_time": open_time,
        "close_time": open_time + pd.Timedelta(hours=1) - pd.Timedelta(milliseconds=1),
        "close": close, "trades": np.arange(n, dtype="int64") * 100, "rsi_14": rsi})
    return Report("technical", {"symbol": "BTCUSDT", "interval": "1h", "limit": n},
                  {"candles": table},
                  summary={"last_close": np.float64(close[-1]), "trend_days": np.int64(3),
                           "last": {"rsi_14": float(rsi.iloc[-1]), "sma_50": float("nan")},
                           "signals": {"rsi": "neutral", "macd": "bullish"}},
                  warnings=["Fewer candles than asked."], data_as_of=ASOF, generated_at=ASOF,
                  title="Technical analysis: BTCUSDT 1h")


def correlation():
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    matrix = pd.DataFrame({"symbol": symbols, "BTCUSDT": [1.0, 0.8, 0.6],
                           "ETHUSDT": [0.8, 1.0, 0.7], "SOLUSDT": [0.6, 0.7, 1.0]})
    assets = pd.DataFrame({"symbol": symbols, "annualized_return": [0.5, 0.4, np.inf],
                           "max_drawdown": [-0.2, -0.3, -0.5], "beta": [1.0, 1.2, np.nan]})
    return Report("correlation", {"symbols": symbols, "interval": "1d", "limit": 90},
                  {"matrix": matrix, "assets": assets},
                  summary={"most_correlated": {"pair": ["BTCUSDT", "ETHUSDT"], "correlation": 0.8}},
                  data_as_of=ASOF, generated_at=ASOF)


def strict_loads(body: bytes):
    def fail(token):
        raise AssertionError(f"non-standard JSON token {token}")
    return json.loads(body, parse_constant=fail)


def test_envelope_keys_in_contract_order():
    body = strict_loads(render_json(technical(), CTX))
    assert list(body) == ["analysis", "params", "source", "data_as_of", "generated_at", "stale",
                          "warnings", "summary", "columns", "rows"]
    assert body["analysis"] == "technical"
    assert body["params"] == {"symbol": "BTCUSDT", "interval": "1h", "limit": 4}
    assert (body["source"], body["stale"]) == ("binance", False)
    assert body["warnings"] == ["Fewer candles than asked."]
    assert body["columns"] == ["open_time", "close_time", "close", "trades", "rsi_14"]
    assert all(list(row) == body["columns"] for row in body["rows"])


def test_values_numbers_nulls_and_utc_times():
    body = strict_loads(render_json(technical(), CTX))
    first, last = body["rows"][0], body["rows"][-1]
    assert first == {"open_time": "2026-11-23T15:00:00Z", "close_time": "2026-11-23T15:59:59.999Z",
                     "close": 97000.0, "trades": 0, "rsi_14": None}
    assert isinstance(last["trades"], int) and last["trades"] == 300
    assert last["rsi_14"] == 60.0
    # metadata times: seconds, Z
    assert body["data_as_of"] == body["generated_at"] == "2026-11-23T19:00:00Z"
    assert body["summary"] == {"last_close": 97031.5, "trend_days": 3,
                               "last": {"rsi_14": 60.0, "sma_50": None},
                               "signals": {"rsi": "neutral", "macd": "bullish"}}


def test_no_nan_or_infinity_tokens_anywhere():
    raw = render_json(correlation(), CTX)
    assert b"NaN" not in raw and b"Infinity" not in raw
    body = strict_loads(raw)
    assert [r["annualized_return"] for r in body["tables"]["assets"]["rows"]] == [0.5, 0.4, None]


def test_extra_tables_are_named():
    body = strict_loads(render_json(correlation(), CTX))
    assert list(body)[-1] == "tables"
    assert body["columns"] == ["symbol", "BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert body["rows"][1] == {"symbol": "ETHUSDT", "BTCUSDT": 0.8, "ETHUSDT": 1.0, "SOLUSDT": 0.7}
    assert list(body["tables"]) == ["assets"]
    assets = body["tables"]["assets"]
    assert assets["columns"] == ["symbol", "annualized_return", "max_drawdown", "beta"]
    assert assets["rows"][2]["beta"] is None
    assert body["params"]["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_single_table_has_no_tables_key():
    assert "tables" not in strict_loads(render_json(technical(), CTX))


def test_fast_path_equals_the_plain_envelope():
    for report in (technical(50, 20), correlation()):
        raw = render_json(report, CTX)
        assert strict_loads(raw) == envelope(report)
        assert b": " not in raw and b", " not in raw[:200]         # compact separators


def test_awkward_columns_and_values():
    table = pd.DataFrame({'say "hi"': ["a,b", 'q"uote', None], "100%": [1.5, -np.inf, 2.0],
                          "flag": [True, False, True], "n": pd.array([1, None, 3], dtype="Int64"),
                          "when": pd.to_datetime(["2026-01-01", None, "2026-01-02"], utc=True)})
    report = Report("x", {}, {"t": table})
    body = strict_loads(render_json(report, CTX))
    assert body["rows"] == [
        {'say "hi"': "a,b", "100%": 1.5, "flag": True, "n": 1, "when": "2026-01-01T00:00:00Z"},
        {'say "hi"': 'q"uote', "100%": None, "flag": False, "n": None, "when": None},
        {'say "hi"': None, "100%": 2.0, "flag": True, "n": 3, "when": "2026-01-02T00:00:00Z"}]
    assert body["data_as_of"] is None


def test_empty_table():
    report = technical()
    report.tables["candles"] = report.frame.iloc[:0]
    body = strict_loads(render_json(report, CTX))
    assert body["rows"] == [] and body["columns"][0] == "open_time"


def test_error_body():
    err = UnknownSymbol("Binance does not list 'FOO<1>'.", param="symbol")
    assert strict_loads(render_json_error(err, CTX)) == {"error": {
        "status": 404, "code": "unknown_symbol", "message": "Binance does not list 'FOO<1>'.",
        "param": "symbol"}}
    assert content_type("json") == "application/json"


@pytest.mark.parametrize("value, expected", [
    (pd.Timestamp("2026-11-23T19:00:00.999", tz="UTC"), "2026-11-23T19:00:00.999Z"),
    (pd.Timestamp("2026-11-23T20:00:00", tz="Europe/Paris"), "2026-11-23T19:00:00Z"),
    (datetime(2026, 11, 23, 19, 0), "2026-11-23T19:00:00Z"),       # naive = UTC
    (np.datetime64("2026-11-23T19:00:00.000500"), "2026-11-23T19:00:00Z"),
])
def test_times_are_utc_with_z(value, expected):
    report = Report("x", {"at": value}, {"t": pd.DataFrame({"a": [1]})})
    assert strict_loads(render_json(report, CTX))["params"]["at"] == expected
