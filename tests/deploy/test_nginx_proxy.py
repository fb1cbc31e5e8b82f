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
import signal
import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import urllib3

from deploy_support import find_tool, start_nginx, stop

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


# --- the app's address changes (a redeploy) --------------------------------------------

class _FakeDNS(threading.Thread):
    """Answers A queries for one name from a mutable address: Docker's DNS in small."""

    def __init__(self, name: str, address: str):
        super().__init__(daemon=True)
        self.host, self.address = name.encode(), address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                continue
            labels, i = [], 12
            while query[i]:
                labels.append(query[i + 1:i + 1 + query[i]])
                i += 1 + query[i]
            question = query[12:i + 5]
            qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
            found = b".".join(labels).lower() == self.host and qtype == 1
            header = query[:2] + struct.pack("!HHHHH", 0x8180 if found else 0x8183, 1,
                                             1 if found else 0, 0, 0)
            answer = (struct.pack("!HHHIH", 0xC00C, 1, 1, 1, 4)
                      + socket.inet_aton(self.address)) if found else b""
            self.sock.sendto(header + question + answer, peer)

    def stop(self):
        self.stopped.set()
        self.join(timeout=5)
        self.sock.close()


def test_nginx_follows_the_app_to_a_new_address(app_server, tmp_path):
    """A redeploy gives the app container a new IP: NGINX looks the name up again (valid=10s)
    instead of sending traffic to the old address until it is restarted."""
    dns = _FakeDNS("app.test", "127.0.0.1")
    dns.start()

    class Second(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status":"ok","backend":"second"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    second = http.server.ThreadingHTTPServer(("127.0.0.2", app_server.port), Second)
    threading.Thread(target=second.serve_forever, daemon=True).start()
    server = start_nginx(tmp_path / "nginx", app_server.port,
                         NGINX_UPSTREAM=f"app.test:{app_server.port}",
                         NGINX_RESOLVER=f"127.0.0.1:{dns.port}")
    try:
        session = client("192.0.2.60")
        assert get(session, server.url + "/health").json()["source"] == "demo"
        dns.address = "127.0.0.2"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if get(session, server.url + "/health").json().get("backend") == "second":
                break
            time.sleep(1)
        else:
            raise AssertionError("NGINX kept the old address of the app")
    finally:
        stop(server.proc, sig=signal.SIGQUIT)
        second.shutdown()
        second.server_close()
        dns.stop()
