"""/health (liveness: never calls upstream) and /health/ready (readiness: upstream reachable
and not rate-banned), and what a client sees while Binance rate-limits us (docs/api.md: "Caching
and upstream etiquette", "Errors")."""
from __future__ import annotations

import pytest

STATS = "/api/v1/market/statistics?symbols=BTCUSDT,ETHUSDT"


def _retry_after(resp) -> int:
    value = resp.headers.get("Retry-After")
    assert value is not None and value.isdigit(), resp.headers
    return int(value)


def test_health_is_ok_and_never_calls_upstream(client, demo):
    for _ in range(3):
        resp = client.get("/health")
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["status"] == "ok"
        assert body["source"] == "demo"
        assert resp.headers["Cache-Control"] == "no-store"
    assert demo.counters.requests == {}


def test_ready_on_the_demo_market(client, demo):
    resp = client.get("/health/ready")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ready"
    assert body["banned_for_s"] == 0
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Retry-After" not in resp.headers
    # One cheap ping, cached: probes every few seconds do not spend Binance's weight.
    assert demo.counters.requests == {"/api/v3/ping": 1}
    assert client.get("/health/ready").status_code == 200
    assert demo.counters.requests == {"/api/v3/ping": 1}


@pytest.mark.parametrize("status", [429, 418])
def test_rate_limit_gives_503_with_retry_after_and_ready_says_so(client, demo, status):
    demo.inject(kind="status", status=status, retry_after=30)
    resp = client.get(STATS)
    assert resp.status_code == 503
    assert resp.headers["Content-Type"] == "application/json"
    error = resp.get_json()["error"]
    assert error["code"] == "upstream_rate_limited"
    assert error["status"] == 503
    assert 0 < _retry_after(resp) <= 30
    # No upstream internals reach the client.
    for leak in ("binance.vision", "http://", "https://", "Traceback", "-1003"):
        assert leak not in error["message"]

    ready = client.get("/health/ready")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "rate_limited"
    assert 0 < body["banned_for_s"] <= 30
    assert 0 < _retry_after(ready) <= 30

    # Liveness is not readiness: the process is fine, and /health still calls nobody.
    before = dict(demo.counters.requests)
    assert client.get("/health").status_code == 200
    assert demo.counters.requests == before


def test_no_request_leaves_while_banned(client, demo):
    demo.inject(kind="status", status=429, retry_after=30)
    assert client.get(STATS).status_code == 503
    before = dict(demo.counters.requests)
    for url in ("/api/v1/analysis/technical/BTCUSDT", "/api/v1/market/liquidity/ETHUSDT",
                "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT", "/api/v1/symbols",
                "/health/ready"):
        resp = client.get(url)
        assert resp.status_code == 503, (url, resp.data[:200])
        assert 0 < _retry_after(resp) <= 30
    assert demo.counters.requests == before


def test_rate_limit_on_the_data_call_itself(client, demo):
    """exchangeInfo already cached (symbol validation passes); the ticker call gets the 429."""
    assert client.get("/api/v1/symbols").status_code == 200
    demo.inject(kind="status", status=429, retry_after=30, path="/api/v3/ticker/24hr")
    resp = client.get(STATS)
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "upstream_rate_limited"
    assert _retry_after(resp) == 30
    assert demo.counters.requests.get("/api/v3/ticker/24hr") == 1
    assert client.get("/health/ready").get_json()["status"] == "rate_limited"


def test_rate_limit_error_in_the_negotiated_format(client, demo):
    from lxml import etree
    demo.inject(kind="status", status=429, retry_after=30)
    resp = client.get(STATS, headers={"Accept": "application/xml"})
    assert resp.status_code == 503
    assert resp.headers["Content-Type"] == "application/xml"
    assert etree.fromstring(resp.data).findtext("code") == "upstream_rate_limited"
    assert 0 < _retry_after(resp) <= 30



def test_rate_limit_with_an_older_copy_serves_it_stale(app_factory):
    """docs/api.md: when upstream fails and the cache holds an older copy, serve it marked stale
    (Warning 110, stale: true, a warning in words) instead of an error."""
    app = app_factory(CACHE_TTL_TICKER="0")   # every request goes upstream; the last answer
    client = app.test_client()                # stays in the cache as the stale copy
    demo = app.extensions["binance_svc"].demo
    fresh = client.get(STATS)
    assert fresh.status_code == 200 and fresh.get_json()["stale"] is False
    demo.inject(kind="status", status=429, retry_after=30, path="/api/v3/ticker/24hr")
    resp = client.get(STATS)
    assert resp.status_code == 200
    assert resp.headers["Warning"] == '110 - "Response is Stale"'
    assert resp.headers["Cache-Control"] == "public, max-age=0"
    body = resp.get_json()
    assert body["stale"] is True
    assert body["rows"] == fresh.get_json()["rows"]
    assert any("stale" in w.lower() for w in body["warnings"]), body["warnings"]
    html = client.get(STATS + "&format=html")
    assert html.status_code == 200 and b"Stale data" in html.data
    assert client.get("/health/ready").get_json()["status"] == "rate_limited"


def test_ready_shows_this_worker_s_rendered_response_store(client):
    empty = client.get("/health/ready").get_json()["response_cache"]
    assert empty == {"entries": 0, "bytes": 0, "max_bytes": 64 * 2**20}
    body = client.get("/api/v1/symbols?format=csv").data
    store = client.get("/health/ready").get_json()["response_cache"]
    assert store["entries"] == 1
    # the body, its Link header and a fixed allowance for the entry (response_cache.py)
    assert len(body) + 1024 < store["bytes"] < len(body) + 2048


def test_a_request_log_that_cannot_be_written_does_not_fail_the_request():
    import io
    import logging

    from binance_svc.web.observe import JsonHandler

    from .conftest import make_app
    app = make_app(LOG_LEVEL="INFO")
    root = logging.getLogger("binance_svc")
    handler = next(h for h in root.handlers if isinstance(h, JsonHandler))
    closed = io.StringIO()
    closed.close()
    saved = handler.setStream(closed)
    try:
        resp = app.test_client().get("/api/v1/symbols?format=csv")
        again = app.test_client().get("/api/v1/symbols?format=csv")   # the hit path too
    finally:
        handler.setStream(saved)
        root.setLevel(logging.WARNING)
    assert resp.status_code == again.status_code == 200
