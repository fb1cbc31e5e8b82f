"""Observability: one JSON line per request on gunicorn's stderr (method, path, status,
duration_ms, format, cache, upstream_calls, upstream_weight), the request id echoed in
X-Request-ID (a sane incoming one kept, a hostile one replaced), and /health/ready telling the
ban state and the last upstream error.
"""
from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow

WORKERS = 2
FIELDS = ("method", "path", "status", "duration_ms", "format", "cache", "upstream_calls",
          "upstream_weight", "pid")
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def service(start_service):
    return start_service(workers=WORKERS, LOG_LEVEL="INFO", CACHE_TTL_DEPTH="1")


def request_lines(service, request_id: str, wait: float = 3.0) -> list[dict]:
    deadline = time.monotonic() + wait
    while True:
        lines = [d for d in service.log_lines()
                 if d.get("event") == "request" and d.get("request_id") == request_id]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def one_line(service, request_id: str) -> dict:
    lines = request_lines(service, request_id)
    assert len(lines) == 1, (request_id, lines)
    line = lines[0]
    missing = [f for f in FIELDS if f not in line]
    assert not missing, (missing, line)
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0, line
    assert isinstance(line["upstream_calls"], int) and isinstance(line["upstream_weight"], int)
    assert line["cache"] in (None, "hit", "miss", "stale"), line
    assert line["pid"] in service.worker_pids(), line     # the worker that answered
    return line


REQUESTS = [
    # (target, status, format)
    ("/api/v1/analysis/technical/ADAUSDT?interval=2h", 200, "json"),
    ("/api/v1/analysis/technical/ADAUSDT?interval=2h&format=csv", 200, "csv"),
    ("/api/v1/analysis/technical/ADAUSDT?interval=2h&format=png", 200, "png"),
    ("/api/v1/market/statistics?symbols=ADAUSDT,XRPUSDT&format=xml", 200, "xml"),
    ("/api/v1/market/liquidity/ADAUSDT?depth=50&format=html", 200, "html"),
    ("/api/v1/symbols?format=csv", 200, "csv"),
    ("/api/v1/analysis/technical/ADAUSDT?limit=0", 400, "json"),
    ("/api/v1/analysis/technical/ZZZZUSDT", 404, "json"),
    ("/api/v1/analysis/technical/ADAUSDT?format=pdf", 400, "json"),
    ("/health", 200, None),
]


def test_one_json_line_per_request_with_what_it_cost(service, upstream):
    upstream.reset()
    seen = []
    for target, status, fmt in REQUESTS * 2:          # the second round: from the caches
        rid = f"rel-{uuid.uuid4().hex[:12]}"
        resp = service.get(target, headers={"X-Request-ID": rid})
        assert resp.status == status, (target, resp)
        assert resp.headers["X-Request-ID"] == rid
        line = one_line(service, rid)
        assert line["method"] == "GET" and line["path"] == target.split("?")[0], line
        assert line["status"] == status and line["format"] == fmt, line
        seen.append((target, line))
    # What the lines say the upstream cost is what the upstream counted.
    logged = sum(line["upstream_weight"] for _, line in seen)
    calls = sum(line["upstream_calls"] for _, line in seen)
    stats = upstream.stats()
    assert logged == stats["total_weight"], (logged, stats)
    assert calls == sum(stats["requests"].values()), (calls, stats)
    first = dict(seen[0][1])
    assert first["cache"] == "miss" and first["upstream_calls"] >= 1, first
    assert first["upstream_weight"] >= 2, first
    health = [line for target, line in seen if target == "/health"]
    assert all(h["upstream_calls"] == 0 and h["cache"] is None for h in health), health


def test_a_repeat_is_a_hit_and_costs_nothing(service):
    target = "/api/v1/analysis/technical/TRXUSDT?interval=1d&format=csv"
    rid = [f"rep-{i}-{uuid.uuid4().hex[:8]}" for i in range(WORKERS * 8)]
    for r in rid:
        assert service.get(target, headers={"X-Request-ID": r}).status == 200
    lines = [one_line(service, r) for r in rid]
    hits = [line for line in lines if line["cache"] == "hit"]
    assert len(hits) >= len(lines) - WORKERS, lines     # at most one miss per worker
    assert all(h["upstream_calls"] == 0 and h["upstream_weight"] == 0 for h in hits)




def test_stale_answers_are_logged_as_stale(service, upstream):
    target = "/api/v1/market/liquidity/LINKUSDT?depth=10"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: service.get(target), range(16)))
    time.sleep(1.3)
    upstream.inject(kind="status", status=503, count=-1)
    for _ in range(6):
        rid = f"stale-{uuid.uuid4().hex[:12]}"
        resp = service.get(target, headers={"X-Request-ID": rid})
        if resp.status == 200:
            break
    assert resp.status == 200 and resp.json()["stale"] is True, resp
    line = one_line(service, rid)
    assert line["cache"] == "stale" and line["status"] == 200, line


def test_failed_upstream_calls_are_counted_in_the_log(service, upstream):
    upstream.inject(kind="status", status=500, count=-1, path="/api/v3/depth")
    rid = f"fail-{uuid.uuid4().hex[:12]}"
    resp = service.get("/api/v1/market/liquidity/LINKUSDT?depth=11",
                       headers={"X-Request-ID": rid})
    assert resp.status == 502
    line = one_line(service, rid)
    assert line["status"] == 502 and line["upstream_calls"] == 1, line
    assert line["upstream_weight"] == 5, line


@pytest.mark.parametrize("incoming,kept", [
    ("abc-123.DEF_x", True),
    ("a" * 64, True),
    ("a" * 65, False),
    ("<script>alert(1)</script>", False),
    ("id with spaces", False),
    ("../../etc/passwd", False),
    ("%0d%0aSet-Cookie:x=1", False),
    ("", False),
    ("ÿ-latin1", False),
])
def test_request_id_is_echoed_when_sane_and_replaced_when_not(service, incoming, kept):
    resp = service.get("/health", headers={"X-Request-ID": incoming})
    echoed = resp.headers["X-Request-ID"]
    if kept:
        assert echoed == incoming
    else:
        assert echoed != incoming and GENERATED_ID.match(echoed), echoed
    assert "Set-Cookie" not in resp.headers
    line = one_line(service, echoed)
    assert line["path"] == "/health" and line["status"] == 200


def test_health_never_calls_upstream(service, upstream):
    upstream.reset()
    upstream.inject(kind="status", status=500, count=-1)
    for _ in range(10):
        resp = service.get("/health")
        assert resp.status == 200 and resp.json()["status"] == "ok"
    assert upstream.requests() == {}


def _ready_until(service, predicate, tries: int = 30):
    for _ in range(tries):
        resp = service.get("/health/ready")
        if predicate(resp):
            return resp
    pytest.fail(f"/health/ready never matched: last {resp!r}")


def test_ready_reports_the_last_upstream_error(service, upstream):
    assert service.get("/health/ready").status in (200, 503)
    upstream.inject(kind="status", status=502, count=-1, path="/api/v3/depth")
    with ThreadPoolExecutor(8) as pool:             # both workers see the failure
        list(pool.map(lambda d: service.get(f"/api/v1/market/liquidity/DOTUSDT?depth={d}"),
                      range(12, 28)))
    resp = _ready_until(service, lambda r: (r.json().get("last_error") or "").startswith(
        "upstream_unavailable"))
    doc = resp.json()
    assert "502" in doc["last_error"], doc
    assert resp.status == 200 and doc["status"] == "ready", doc     # ping still answers
    assert f"127.0.0.1:{upstream.port}" not in resp.text and "api/v3" not in resp.text


def test_ready_reports_the_ban(service, upstream):
    upstream.inject(kind="status", status=418, retry_after=30, count=-1, path="/api/v3/depth")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda d: service.get(f"/api/v1/market/liquidity/DOTUSDT?depth={d}"),
                      range(30, 46)))
    resp = _ready_until(service, lambda r: r.status == 503)
    doc = resp.json()
    assert doc["status"] == "rate_limited", doc
    assert 1 <= doc["banned_for_s"] <= 30, doc
    assert 1 <= int(resp.headers["Retry-After"]) <= 30, resp.headers
    assert doc["last_error"].startswith("upstream_rate_limited"), doc
