"""Cache hits answered in front of Flask (binance_svc/web/hits.py) are the same answers Flask
gives: same status, bytes and headers (but the request id), for every resource and format.

Whether a request reached Flask is seen by a `before_request` hook the test adds: Flask runs
it for every request it dispatches, and the hit path never dispatches.
"""
from __future__ import annotations

import pytest

from .conftest import make_app

URLS = [
    "/api/v1/market/statistics",
    "/api/v1/analysis/technical/BTCUSDT?interval=1d&limit=200",
    "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,SOLUSDT&interval=1d",
    "/api/v1/market/liquidity/ETHUSDT?depth=50",
    "/api/v1/symbols?quote=USDT",
]
FORMATS = ("json", "csv", "html", "xml", "png", "parquet")


@pytest.fixture
def counted():
    app = make_app(CACHE_TTL_DEPTH="600", CACHE_TTL_TICKER="600")
    seen = []
    app.before_request(lambda: seen.append(1) and None)
    return app.test_client(), seen


def _with(url: str, **query) -> str:
    extra = "&".join(f"{k}={v}" for k, v in query.items())
    return url + ("&" if "?" in url else "?") + extra if extra else url


def _comparable(resp) -> tuple:
    headers = {k: v for k, v in resp.headers.items() if k != "X-Request-ID"}
    # max-age counts down with the clock: a second may pass between the two requests
    age = int(headers.pop("Cache-Control").rsplit("=", 1)[1])
    return resp.status_code, resp.data, headers, age


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hit_is_the_answer_flask_gave(counted, url, fmt):
    client, seen = counted
    if fmt == "png" and url.startswith("/api/v1/symbols"):
        pytest.skip("the symbol list has no chart")
    target = _with(url, format=fmt, width=600, height=400) if fmt == "png" else \
        _with(url, format=fmt)
    first = client.get(target)
    assert first.status_code == 200 and len(seen) == 1
    second = client.get(target)
    assert len(seen) == 1, "a cached URL went through Flask again"
    s1, b1, h1, age1 = _comparable(first)
    s2, b2, h2, age2 = _comparable(second)
    assert (s2, b2, h2) == (s1, b1, h1)
    assert 0 <= age1 - age2 <= 1
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]


def test_accept_negotiation_on_a_hit_matches_flask(counted):
    client, seen = counted
    url = "/api/v1/market/statistics"
    for accept, fmt in [("text/csv", "csv"), ("application/xml;q=0.9, text/html", "html"),
                        (None, "json"), ("*/*", "json")]:
        headers = {"Accept": accept} if accept else {}
        first = client.get(url, headers=headers)
        before = len(seen)
        second = client.get(url, headers=headers)
        assert len(seen) == before, accept
        assert second.headers["Vary"] == "Accept" and second.mimetype == first.mimetype
        assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
        assert second.data == client.get(f"{url}?format={fmt}").data


def test_not_modified_on_a_hit(counted):
    client, seen = counted
    url = "/api/v1/symbols?format=csv"
    etag = client.get(url).headers["ETag"]
    resp = client.get(url, headers={"If-None-Match": f'W/{etag}, "other"'})
    assert resp.status_code == 304 and resp.data == b"" and resp.headers["ETag"] == etag
    assert len(seen) == 1


@pytest.mark.parametrize("variant, status", [
    ("symbols=BTCUSDT%2CETHUSDT%2CSOLUSDT&interval=1d", 200),   # escaped: Flask, same key
    ("interval=1d&symbols=BTCUSDT,ETHUSDT,SOLUSDT", 200),       # other order: same key
    ("symbols=BTCUSDT,ETHUSDT,SOLUSDT&interval=1d&download=1", 200),   # attachment: Flask
    ("symbols=BTCUSDT,ETHUSDT,SOLUSDT&interval=1d&interval=1d", 400),  # repeated
    ("symbols=BTCUSDT,ETHUSDT,SOLUSDT&interval=1d&x=1", 400),          # unknown
    ("symbols=BTCUSDT,ETHUSDT,SOLUSDT&interval=1d&format=pdf", 400),   # unknown format
])
def test_other_spellings_of_a_cached_url_get_flask_s_answer(counted, variant, status):
    client, seen = counted
    base = "/api/v1/analysis/correlation"
    cached = client.get(f"{base}?symbols=BTCUSDT,ETHUSDT,SOLUSDT&interval=1d")
    resp = client.get(f"{base}?{variant}")
    assert resp.status_code == status, resp.get_json()
    if status == 200:
        assert resp.data == cached.data and resp.headers["ETag"] == cached.headers["ETag"]
        assert ("attachment" in resp.headers.get("Content-Disposition", "")) == \
            ("download" in variant)
    else:
        assert resp.get_json()["error"]["param"] in ("interval", "x", "format")
    if "%2C" in variant or "download" in variant or status == 400:
        assert len(seen) == 2, "went through Flask"


def test_a_resource_without_the_format_is_answered_by_flask(counted):
    client, seen = counted
    client.get("/api/v1/symbols")
    resp = client.get("/api/v1/symbols", headers={"Accept": "image/png, application/json;q=0.5"})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    resp = client.get("/api/v1/symbols", headers={"Accept": "image/png"})
    assert resp.status_code == 406


def test_head_and_post_are_flask_s(counted):
    client, seen = counted
    client.get("/api/v1/symbols?format=json")
    assert client.head("/api/v1/symbols?format=json").status_code == 200
    assert client.post("/api/v1/symbols?format=json").status_code == 405
    assert len(seen) == 3
