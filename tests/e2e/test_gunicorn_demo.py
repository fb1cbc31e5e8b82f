"""`make demo` really serves: the real gunicorn with the repo's config, on the demo market."""
from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def get(url: str, accept: str | None = None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_health_answers_without_upstream(demo_server):
    status, headers, body = get(demo_server.url + "/health")
    assert status == 200
    doc = json.loads(body)
    assert doc["status"] == "ok" and doc["source"] == "demo"
    assert headers["Content-Type"] == "application/json"


def test_symbols_list_from_the_demo_market(demo_server):
    status, headers, body = get(demo_server.url + "/api/v1/symbols")
    assert status == 200
    doc = json.loads(body)
    assert doc["source"] == "demo"
    symbols = {row["symbol"] for row in doc["rows"]}
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= symbols
    assert all(row["status"] == "TRADING" for row in doc["rows"])
    assert doc["columns"] == ["symbol", "base_asset", "quote_asset", "status"]


def test_every_analysis_answers_json_through_gunicorn(demo_server):
    for path in ("/api/v1/market/statistics", "/api/v1/analysis/technical/BTCUSDT",
                 "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,SOLUSDT",
                 "/api/v1/market/liquidity/ETHUSDT"):
        status, headers, body = get(demo_server.url + path)
        assert status == 200, path
        doc = json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} in {path}"))
        assert doc["source"] == "demo" and doc["rows"], path
