"""CORS on the API (docs/api.md, CORS): every API answer a script on another origin may read,
the preflight, and CORS_ORIGINS (any, none, a list). The browser's side of it is
tests/e2e/test_interactive.py::test_another_origin_fetches_the_csv."""
from __future__ import annotations

import pytest

from binance_svc import ConfigError
from binance_svc.settings import Settings

from .conftest import make_app

EXPOSED = {"ETag", "Link", "Warning", "Retry-After", "Content-Disposition", "Content-Range",
           "X-Request-ID"}
OTHER = "http://127.0.0.1:9999"
URLS = [
    "/api/v1/market/statistics?format=csv",
    "/api/v1/analysis/technical/BTCUSDT?limit=50",
    "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT&format=xml",
    "/api/v1/market/liquidity/ETHUSDT?depth=50&format=png",
    "/api/v1/symbols?format=parquet",
    "/api/v1/indicators?format=html",
]


def _exposed(resp) -> set[str]:
    return {h.strip() for h in resp.headers.get("Access-Control-Expose-Headers", "").split(",")}


@pytest.mark.parametrize("url", URLS)
def test_every_resource_is_readable_from_any_origin(client, url):
    first = client.get(url, headers={"Origin": OTHER})
    again = client.get(url, headers={"Origin": OTHER})         # a hit, in front of Flask
    for resp in (first, again):
        assert resp.status_code == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert EXPOSED <= _exposed(resp)
        assert "Origin" not in resp.headers.get("Vary", "")     # `*` does not vary
    assert "Access-Control-Allow-Credentials" not in first.headers


def test_a_hit_answered_before_flask_carries_the_headers(app):
    seen = []
    app.before_request(lambda: seen.append(1) and None)
    client = app.test_client()
    client.get(URLS[0])
    resp = client.get(URLS[0])
    assert len(seen) == 1, "the second request should not have reached Flask"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_304_206_and_errors_carry_the_headers(client):
    url = URLS[1]
    etag = client.get(url).headers["ETag"]
    cases = [
        client.get(url, headers={"If-None-Match": etag}),
        client.get(url, headers={"Range": "bytes=0-9"}),
        client.get("/api/v1/analysis/technical/BTCUSDT?limit=abc"),
        client.get("/api/v1/analysis/technical/NOSUCHCOIN"),
        client.get("/api/v1/no/such/path"),
        client.post(url),
        client.get(url, headers={"Accept": "application/x-nothing"}),
    ]
    assert [r.status_code for r in cases] == [304, 206, 400, 404, 404, 405, 406]
    for resp in cases:
        assert resp.headers["Access-Control-Allow-Origin"] == "*", resp.status_code
        assert EXPOSED <= _exposed(resp)


def test_the_preflight_is_a_204(client):
    resp = client.options(URLS[1], headers={
        "Origin": OTHER, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match, range"})
    assert resp.status_code == 204
    assert resp.data == b""
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"accept", "if-none-match", "range", "if-range"} <= allowed
    assert int(resp.headers["Access-Control-Max-Age"]) > 0


def test_pages_outside_the_api_are_left_alone(client):
    for url in ("/", "/health", "/docs", "/static/report.css"):
        resp = client.get(url, headers={"Origin": OTHER})
        assert "Access-Control-Allow-Origin" not in resp.headers, url
    assert client.get("/openapi.json").headers["Access-Control-Allow-Origin"] == "*"


def test_a_list_echoes_a_listed_origin_and_varies_on_it():
    client = make_app(CORS_ORIGINS=f"https://notebook.example, {OTHER}").test_client()
    url = "/api/v1/analysis/technical/BTCUSDT?limit=50"
    listed = client.get(url, headers={"Origin": OTHER})
    assert listed.headers["Access-Control-Allow-Origin"] == OTHER
    assert EXPOSED <= _exposed(listed)
    other = client.get(url, headers={"Origin": "https://evil.example"})   # a hit now
    none = client.get(url)
    for resp in (listed, other, none):
        assert resp.status_code == 200
        assert {v.strip() for v in resp.headers["Vary"].split(",")} >= {"Origin"}
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in none.headers
    negotiated = client.get(url, headers={"Origin": OTHER, "Accept": "text/csv"})
    assert negotiated.headers["Vary"] == "Accept, Origin"

    preflight = {"Access-Control-Request-Method": "GET"}
    ok = client.options(url, headers={"Origin": OTHER, **preflight})
    assert ok.status_code == 204 and ok.headers["Access-Control-Allow-Origin"] == OTHER
    refused = client.options(url, headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code != 204
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize("value", ["", "none", "NONE"])
def test_cors_can_be_turned_off(value):
    client = make_app(CORS_ORIGINS=value).test_client()
    url = "/api/v1/market/statistics"
    resp = client.get(url, headers={"Origin": OTHER})
    assert resp.status_code == 200
    assert not [h for h in resp.headers.keys() if h.lower().startswith("access-control-")]
    pre = client.options(url, headers={"Origin": OTHER, "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers


@pytest.mark.parametrize("raw,expected", [
    (None, ("*",)), ("*", ("*",)), (" none ", ()), ("", ()),
    ("https://A.example/, http://127.0.0.1:8888", ("https://a.example", "http://127.0.0.1:8888")),
    ("http://[::1]:8000", ("http://[::1]:8000",)),
])
def test_the_setting_is_parsed(raw, expected):
    env = {} if raw is None else {"CORS_ORIGINS": raw}
    assert Settings.load(env=env).cors_origins == expected


@pytest.mark.parametrize("raw", ["*,https://a.example", "https://a.example/path", "a.example",
                                 "ftp://a.example", "https://a.example:port", ","])
def test_a_bad_setting_stops_start_up(raw):
    with pytest.raises(ConfigError) as info:
        Settings.load(env={"CORS_ORIGINS": raw})
    assert info.value.variable == "CORS_ORIGINS"
