"""NGINX for real: Debian's nginx runs the repo's nginx/ configuration in front of the real
app (gunicorn, demo market) and is checked over HTTP.

The configuration trusts 127.0.0.1 as the proxy in front (NGINX_REAL_IP_FROM), so each test
speaks as its own client address through X-Forwarded-For (documentation addresses, RFC 5737:
they only ever appear in headers) and one test's burst never spends another's rate limit.
"""
from __future__ import annotations

import gzip
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import urllib3

from deploy_support import REPO, find_tool, start_nginx, stop

pytestmark = pytest.mark.slow

SYMBOLS = "/api/v1/symbols?quote=USDT"
TECHNICAL_JSON = "/api/v1/analysis/technical/ETHUSDT?interval=4h&format=json"


def client(ip: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-Forwarded-For"] = ip
    return session


def get(session, url, **kwargs):
    return session.get(url, timeout=30, **kwargs)


# --- headers ---------------------------------------------------------------------------

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@pytest.mark.parametrize("path", ["/", f"{SYMBOLS}&format=json", "/docs", "/health",
                                  "/no-such-page"])
def test_security_headers_on_every_response(nginx_server, path):
    resp = get(client("192.0.2.10"), nginx_server.url + path)
    assert resp.status_code in (200, 404), resp.text[:300]
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, (name, resp.headers)
    csp = resp.headers["Content-Security-Policy"]
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";")}
    assert directives["default-src"] == "default-src 'self'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["object-src"] == "object-src 'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # One copy of each: the app's own security headers are hidden behind NGINX's.
    assert resp.raw.headers.getlist("Content-Security-Policy") == [csp]
    # HSTS only over HTTPS (test_tls_server_sends_hsts).
    assert "Strict-Transport-Security" not in resp.headers
    assert resp.headers.get("X-Request-ID")


def test_server_tokens_off(nginx_server):
    resp = get(client("192.0.2.11"), nginx_server.url + "/no-such-page")
    assert resp.status_code == 404
    assert resp.headers["Server"] == "nginx"  # no version, and not gunicorn's
    ok = get(client("192.0.2.11"), nginx_server.url + "/health")
    assert ok.headers["Server"] == "nginx"


def test_request_id_is_passed_through_when_sane(nginx_server):
    session = client("192.0.2.12")
    resp = get(session, nginx_server.url + "/health", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = get(session, nginx_server.url + "/health", headers={"X-Request-ID": "a b\"c"})
    assert resp.headers["X-Request-ID"] != "a b\"c"
    assert len(resp.headers["X-Request-ID"]) == 32  # NGINX's own $request_id


# --- gzip ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,media_type", [
    ("json", "application/json"),
    ("csv", "text/csv"),
    ("xml", "application/xml"),
    ("html", "text/html"),
])
def test_gzip_for_text_formats(nginx_server, fmt, media_type):
    url = f"{nginx_server.url}/api/v1/analysis/technical/BTCUSDT?limit=300&format={fmt}"
    resp = get(client("192.0.2.20"), url, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith(media_type)
    assert resp.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in resp.headers.get("Vary", "")
    compressed = resp.raw.read(decode_content=False)
    body = gzip.decompress(compressed)
    assert len(compressed) < len(body) / 2
    if fmt == "json":
        assert json.loads(body)["analysis"] == "technical"


def test_no_gzip_without_accept_encoding_or_for_png(nginx_server):
    session = client("192.0.2.21")
    plain = get(session, f"{nginx_server.url}{SYMBOLS}&format=json",
                headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    png = get(session, nginx_server.url + "/api/v1/analysis/technical/BTCUSDT?format=png",
              headers={"Accept-Encoding": "gzip"})
    assert png.headers["Content-Type"] == "image/png"
    assert "Content-Encoding" not in png.headers


# --- proxy cache -----------------------------------------------------------------------

def test_proxy_cache_miss_then_hit(nginx_server):
    session = client("192.0.2.30")
    url = nginx_server.url + TECHNICAL_JSON
    first = get(session, url)
    second = get(session, url)
    assert first.status_code == second.status_code == 200
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert first.content == second.content
    assert first.headers["ETag"] == second.headers["ETag"]
    # A conditional request is answered from the cache too.
    etag = first.headers["ETag"]
    cond = get(session, url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert cond.status_code == 304


def test_proxy_cache_keeps_one_entry_per_accept(nginx_server):
    session = client("192.0.2.31")
    url = nginx_server.url + SYMBOLS  # no ?format=: the format comes from Accept
    statuses = {}
    for accept, media_type in [("application/json", "application/json"),
                               ("text/csv", "text/csv"),
                               ("application/json", "application/json"),
                               ("text/csv", "text/csv")]:
        resp = get(session, url, headers={"Accept": accept})
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith(media_type), (accept, resp.headers)
        statuses.setdefault(accept, []).append(resp.headers["X-Cache-Status"])
    assert statuses == {"application/json": ["MISS", "HIT"], "text/csv": ["MISS", "HIT"]}


def test_proxy_cache_lock_sends_one_request_upstream(nginx_server):
    """Concurrent misses on one URL: one goes to gunicorn, the others wait for the cache."""
    url = nginx_server.url + "/api/v1/analysis/technical/SOLUSDT?interval=2h&format=csv"

    def fetch(i):
        return get(client(f"198.51.100.{100 + i}"), url)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(fetch, range(8)))
    assert all(r.status_code == 200 for r in responses)
    statuses = [r.headers["X-Cache-Status"] for r in responses]
    assert statuses.count("MISS") == 1, statuses
    assert len({r.content for r in responses}) == 1


def test_health_is_not_cached(nginx_server):
    session = client("192.0.2.32")
    for _ in range(3):
        resp = get(session, nginx_server.url + "/health")
        assert resp.status_code == 200
        assert "X-Cache-Status" not in resp.headers
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.json()["status"] == "ok"


# --- rate limit ------------------------------------------------------------------------

def test_burst_gets_429_per_client_ip(nginx_server):
    noisy, quiet = client("198.51.100.7"), client("198.51.100.8")
    url = f"{nginx_server.url}{SYMBOLS}&format=json"
    answers = [get(noisy, url) for _ in range(50)]
    statuses = [r.status_code for r in answers]
    assert statuses[0] == 200
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(429) >= 10, statuses  # 10 r/s with a burst of 20
    # (checked on the burst's own 429s: one more request after it may find the bucket refilled
    # on a slow host, 100 ms after the last one let through)
    for limited in (r for r in answers if r.status_code == 429):
        assert limited.headers["X-Content-Type-Options"] == "nosniff"
    # Another client address is not limited by the first one's burst.
    assert get(quiet, url).status_code == 200


def test_health_is_never_rate_limited(nginx_server):
    session = client("198.51.100.9")
    url = nginx_server.url + "/health"
    statuses = [get(session, url).status_code for _ in range(80)]
    assert statuses == [200] * 80
    # ...even while the same client is being limited on the API.
    api = [get(session, f"{nginx_server.url}{SYMBOLS}&format=csv").status_code
           for _ in range(40)]
    assert 429 in api
    assert get(session, url).status_code == 200
    assert get(session, nginx_server.url + "/health/ready").status_code == 200


def test_readiness_is_bounded_in_its_own_zone(nginx_server):
    """/health/ready may call Binance: limited (5 r/s, burst 10), but apart from the API."""
    session = client("198.51.100.10")
    statuses = [get(session, nginx_server.url + "/health/ready").status_code for _ in range(30)]
    assert statuses[0] == 200 and 429 in statuses, statuses
    assert get(client("198.51.100.11"), nginx_server.url + "/health/ready").status_code == 200


# --- logs ------------------------------------------------------------------------------

def test_access_log_is_one_json_object_per_line(nginx_server):
    get(client("192.0.2.40"), f"{nginx_server.url}{SYMBOLS}&format=xml",
        headers={"User-Agent": 'quote " and \\ backslash'})
    time.sleep(0.3)
    lines = [line for line in nginx_server.log.read_text().splitlines()
             if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r["remote_addr"] == "192.0.2.40" and r["user_agent"] == 'quote " and \\ backslash'
               for r in records)
    assert all({"status", "uri", "request_time", "cache", "request_id"} <= r.keys()
               for r in records)


# --- TLS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_nginx(app_server, tmp_path_factory):
    openssl = find_tool("openssl", install="openssl")
    root = tmp_path_factory.mktemp("nginx-tls")
    cert, key = root / "fullchain.pem", root / "privkey.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = start_nginx(root, app_server.port, tls_cert=(cert, key))
    try:
        yield server
    finally:
        stop(server.proc, sig=signal.SIGQUIT)


def test_tls_server_sends_hsts(tls_nginx):
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # self-signed
    session = client("192.0.2.50")
    resp = session.get(tls_nginx.tls_url + f"{SYMBOLS}&format=json", verify=False, timeout=30)
    assert resp.status_code == 200
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Cache-Status"] in {"MISS", "HIT", "EXPIRED", "UPDATING"}
    health = session.get(tls_nginx.tls_url + "/health", verify=False, timeout=30)
    assert health.status_code == 200 and "Strict-Transport-Security" in health.headers
    # The plain-HTTP server of the same instance still sends none.
    plain = get(session, tls_nginx.url + "/health")
    assert "Strict-Transport-Security" not in plain.headers


# --- the pages in a browser, through NGINX ---------------------------------------------

def test_html_page_loads_its_css_and_chart_under_nginx_csp(nginx_server, tmp_path):
    """A resource the CSP forbids is never requested: the access log proves it was allowed."""
    chromium = find_tool("chromium", install="chromium",
                         alternatives=("chromium-browser", "google-chrome"))
    path = "/api/v1/analysis/technical/BNBUSDT?format=html"
    shot = tmp_path / "page.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
         "--virtual-time-budget=8000", f"--screenshot={shot}", nginx_server.url + path],
        check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000
    time.sleep(0.3)
    records = [json.loads(line) for line in nginx_server.log.read_text().splitlines()
               if line.startswith("{")]
    served = {(r["uri"], r["status"]) for r in records}
    assert (path, 200) in served
    assert any(uri.startswith("/static/") and uri.endswith(".css") and status in (200, 304)
               for uri, status in served), served
    assert any("BNBUSDT" in uri and "format=png" in uri and status == 200
               for uri, status in served), served


# --- upstream keepalive, the cache key, the HTTPS redirect, request-line limit ----------

class _KeepAliveBackend(http.server.ThreadingHTTPServer):
    """An HTTP/1.1 backend that records the client port of every request it answers."""

    def __init__(self):
        peers = self.peers = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                peers.append(self.client_address[1])
                body = b'{"status":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


def test_nginx_keeps_connections_to_gunicorn_open(tmp_path):
    """The upstream block keeps idle connections (snippets/upstream-keepalive.conf): 30
    requests, each on a new client connection, reach the app over a few reused ones."""
    backend = _KeepAliveBackend()
    server = start_nginx(tmp_path / "nginx", backend.server_address[1])
    try:
        for _ in range(30):
            assert get(requests, server.url + "/health").status_code == 200
        assert len(backend.peers) >= 30     # and start_nginx's own probe
        assert len(set(backend.peers)) <= 4, backend.peers   # one per NGINX worker, or so
    finally:
        stop(server.proc, sig=signal.SIGQUIT)
        backend.close()


def _json_accept_spellings():
    ranges = ["application/json", "Application/Json", "APPLICATION/JSON", "*/*", "application/*"]
    params = ["", ";q=1", ";q=0.9", "; q=0.8", ";charset=utf-8", ";q=0.5;charset=UTF-8", " ",
              ";q=1.0"]
    return [r + p for r in ranges for p in params]


def test_cache_key_is_the_negotiated_format_not_the_raw_accept(nginx_server):
    """40 spellings of an Accept that means JSON are one cached copy, not 40."""
    url = nginx_server.url + "/api/v1/symbols?quote=BTC"
    spellings = _json_accept_spellings()
    assert len(set(spellings)) == 40
    statuses = []
    for i, accept in enumerate(spellings):
        # One client address each (RFC 5737 TEST-NET-3): 40 requests exceed one IP's burst.
        resp = get(client(f"203.0.113.{10 + i}"), url, headers={"Accept": accept})
        assert resp.status_code == 200, (accept, resp.text[:200])
        assert resp.headers["Content-Type"].startswith("application/json"), accept
        statuses.append(resp.headers["X-Cache-Status"])
    assert statuses == ["MISS"] + ["HIT"] * 39, list(zip(spellings, statuses))
    # No Accept at all is JSON too: the same entry.
    resp = get(client("203.0.113.60"), url, headers={"Accept": None})
    assert resp.headers["X-Cache-Status"] == "HIT"


def test_browser_accept_shares_the_html_entry(nginx_server):
    session = client("192.0.2.71")
    url = nginx_server.url + "/api/v1/symbols?quote=ETH"
    firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    chrome = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
              "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
    answers = [get(session, url, headers={"Accept": a}) for a in (firefox, chrome, "text/html")]
    assert all(r.headers["Content-Type"].startswith("text/html") for r in answers)
    assert [r.headers["X-Cache-Status"] for r in answers] == ["MISS", "HIT", "HIT"]


def test_unrecognised_accept_is_passed_through_uncached(nginx_server):
    """An Accept the map does not decide is answered by the app and never stored, so it can
    neither fill the cache nor put one format under another's key: here text/html ties with
    application/json and the app answers JSON, while the HTML entry stays HTML."""
    session = client("192.0.2.72")
    url = nginx_server.url + "/api/v1/symbols?quote=BNB"
    html = get(session, url, headers={"Accept": "text/html"})
    assert html.headers["Content-Type"].startswith("text/html")
    for i in range(3):
        tie = get(session, url, headers={"Accept": f"text/html, application/json, x/{i}"})
        assert tie.headers["Content-Type"].startswith("application/json")
        assert tie.headers["X-Cache-Status"] == "BYPASS"
    again = get(session, url, headers={"Accept": "text/html"})
    assert again.headers["Content-Type"].startswith("text/html")
    assert again.headers["X-Cache-Status"] == "HIT"
    # A refused type (q=0) is the app's to judge, not cached either.
    refused = get(session, url, headers={"Accept": "text/html;q=0, */*"})
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.headers["X-Cache-Status"] == "BYPASS"


def test_https_redirect_option(app_server, tmp_path):
    server = start_nginx(tmp_path / "nginx", app_server.port, NGINX_HTTPS_REDIRECT="1")
    try:
        session = client("192.0.2.73")
        resp = get(session, server.url + f"{SYMBOLS}&format=json", allow_redirects=False)
        assert resp.status_code == 301
        # $host has no port: HTTPS is on its standard port 443.
        assert resp.headers["Location"] == f"https://127.0.0.1{SYMBOLS}&format=json"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        # Probes and ACME stay on plain HTTP.
        assert get(session, server.url + "/health").status_code == 200
        assert get(session, server.url + "/health/ready").status_code == 200
        acme = get(session, server.url + "/.well-known/acme-challenge/token",
                   allow_redirects=False)
        assert acme.status_code == 404
    finally:
        stop(server.proc, sig=signal.SIGQUIT)


def test_overlong_request_line_is_refused_by_nginx(nginx_server):
    """NGINX refuses a request line above 4 KB (large_client_header_buffers), as gunicorn
    would (limit_request_line 4094): neither lets it reach the app."""
    resp = get(client("192.0.2.74"), nginx_server.url + "/api/v1/symbols?quote=" + "A" * 5000)
    assert resp.status_code == 414
    ok = get(client("192.0.2.74"), nginx_server.url + "/api/v1/symbols?quote=" + "A" * 3000)
    assert ok.status_code in (200, 400)


# --- deploy/smoke-test.sh: what CI runs against the image and after a deploy -------------

def test_smoke_test_passes_through_nginx(nginx_server):
    out = subprocess.run(["bash", str(REPO / "deploy" / "smoke-test.sh"), nginx_server.url],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    checked = int(out.stdout.split("smoke-test: ", 1)[1].split()[0])
    assert checked >= 20, out.stdout


def test_smoke_test_fails_without_nginx_in_front(app_server):
    """Straight to gunicorn the headers only NGINX adds are missing: the smoke test notices."""
    out = subprocess.run(["bash", str(REPO / "deploy" / "smoke-test.sh"), app_server.url],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "SMOKE_PACE": "0"})
    assert out.returncode == 1, out.stderr
    assert "x-frame-options" in out.stderr.lower() or "x-cache-status" in out.stderr.lower()


# --- CORS and Parquet through NGINX ------------------------------------------------------

def test_cross_origin_requests_get_the_app_s_cors_headers_fresh_and_cached(nginx_server):
    session = client("192.0.2.60")
    url = nginx_server.url + "/api/v1/analysis/technical/BNBUSDT?interval=12h&format=csv"
    origin = {"Origin": "http://127.0.0.1:9"}
    first, second = get(session, url, headers=origin), get(session, url, headers=origin)
    assert [first.headers["X-Cache-Status"], second.headers["X-Cache-Status"]] == ["MISS", "HIT"]
    for resp in (first, second):
        # Exactly one value: two Access-Control-Allow-Origin headers make a browser refuse.
        assert resp.raw.headers.getlist("Access-Control-Allow-Origin") == ["*"]
        assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
    preflight = session.options(url, timeout=30, headers={
        **origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]


def test_nginx_s_own_429_is_readable_cross_origin(nginx_server):
    session = client("198.51.100.61")
    url = f"{nginx_server.url}{SYMBOLS}&format=json"
    answers = [get(session, url, headers={"Origin": "http://127.0.0.1:9"}) for _ in range(50)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    for resp in limited:
        assert resp.raw.headers.getlist("Access-Control-Allow-Origin") == ["*"]
    for resp in (r for r in answers if r.status_code == 200):
        assert resp.raw.headers.getlist("Access-Control-Allow-Origin") == ["*"]


def test_parquet_by_accept_is_cached_under_its_own_key(nginx_server):
    session = client("192.0.2.62")
    url = nginx_server.url + "/api/v1/market/liquidity/ETHUSDT?depth=20"
    parquet = {"Accept": "application/vnd.apache.parquet"}
    first, second = get(session, url, headers=parquet), get(session, url, headers=parquet)
    assert first.headers["Content-Type"] == "application/vnd.apache.parquet"
    assert [first.headers["X-Cache-Status"], second.headers["X-Cache-Status"]] == ["MISS", "HIT"]
    assert second.content == first.content and second.content[:4] == b"PAR1"
    as_json = get(session, url)
    assert as_json.headers["Content-Type"] == "application/json"
