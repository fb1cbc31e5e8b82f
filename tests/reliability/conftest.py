"""Fixtures of the reliability tests: the demo market on its own loopback port (an upstream that
counts requests and injects faults) and the real gunicorn, several workers, pointed at it.

Everything listens on 127.0.0.1 only. The upstream runs in a subprocess
(`python -m binance_svc.upstream.demo --port 0`) so that the load the tests generate in this
process cannot slow it down, and it is controlled over HTTP through its control endpoints
(/__demo/stats, /__demo/faults, /__demo/reset). Test modules never import this file: they get
what they need from fixtures (`upstream`, `start_service`, `get`, `strict_json`).
"""
from __future__ import annotations

import http.client
import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]

WATCHLIST = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
             "TRXUSDT", "LINKUSDT", "AVAXUSDT")
# Every variable the service reads, set, so that the shell the tests run in cannot change what
# they see: the documented defaults except BINANCE_TIMEOUT, generous here because a loaded CI
# machine can make the loopback upstream slow (the fault tests set 1 s). A test overrides what
# it needs.
SERVICE_ENV = {
    "MARKET_SOURCE": "demo",
    "BINANCE_TIMEOUT": "15",
    "WATCHLIST": ",".join(WATCHLIST),
    "CACHE_TYPE": "SimpleCache",
    "CACHE_REDIS_URL": "",
    "CACHE_TTL_TICKER": "10",
    "CACHE_TTL_DEPTH": "2",
    "CACHE_TTL_EXCHANGE_INFO": "3600",
    "CACHE_TTL_KLINES": "",
    "CACHE_STALE_TTL": "3600",
    "CACHE_THRESHOLD": "2000",
    "UPSTREAM_WEIGHT_SHARE": "0.5",
    "UPSTREAM_WEIGHT_LIMIT": "6000",
    "UPSTREAM_STATE_FILE": "",    # gunicorn's master makes a new one for each service
    "DEMO_SEED": "7",
    "DEMO_LATENCY_MS": "0",
    "LOG_LEVEL": "INFO",          # the request log is one of the things under test
    # gunicorn >= 25 opens a control socket at one fixed path per user; several servers (and
    # other test runs on the same machine) would fight over it.
    "GUNICORN_CMD_ARGS": "--no-control-socket",
}


# -- the service -------------------------------------------------------------------------------
def _root_gunicorn_class(config):
    """tests/conftest.py's Gunicorn (test code never imports a conftest; pytest holds it)."""
    target = (ROOT / "tests" / "conftest.py").resolve()
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == target:
            return plugin.Gunicorn
    raise RuntimeError("tests/conftest.py is not loaded")


class Response:
    def __init__(self, status: int, headers, body: bytes, elapsed: float):
        self.status = status
        self.headers = headers          # http.client.HTTPMessage: case-insensitive get()
        self.body = body
        self.elapsed = elapsed

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return strict_loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers.get('Content-Type')} {self.body[:200]!r}>"


def http_get(base_url: str, target: str, headers: dict | None = None,
             timeout: float = 30.0) -> Response:
    """One GET with the request target sent exactly as given (no re-quoting, no redirects)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, resp.headers, body, time.monotonic() - t0)
    finally:
        conn.close()


class Service:
    """A running gunicorn (several workers) with helpers the tests share."""

    def __init__(self, gunicorn, workers: int, env: dict):
        self.gunicorn = gunicorn
        self.url = gunicorn.url
        self.port = gunicorn.port
        self.workers = workers
        self.env = env
        self.log_path: Path = gunicorn.log_path

    def get(self, target: str, headers: dict | None = None, timeout: float = 30.0) -> Response:
        return http_get(self.url, target, headers, timeout)

    @property
    def master_pid(self) -> int:
        return self.gunicorn.proc.pid

    def worker_pids(self) -> list[int]:
        """The master's children, from /proc (Linux)."""
        pid = self.master_pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            return sorted(int(x) for x in text.split())
        except OSError:
            out = []
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    out.append(int(stat.parent.name))
            return sorted(out)

    def wait_workers(self, timeout: float = 60.0) -> set[int]:
        """Until every worker has answered /health (each has imported the app)."""
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while time.monotonic() < deadline:
            try:
                seen.add(self.get("/health", timeout=5).json()["pid"])
            except Exception:
                time.sleep(0.05)
            if len(seen) >= self.workers:
                return seen
        raise TimeoutError(f"only {len(seen)} of {self.workers} workers answered /health")

    def log_lines(self) -> list[dict]:
        """The JSON lines of the gunicorn log (the app's request log and any other JSON)."""
        return self.gunicorn.json_records()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.gunicorn.stop()


@pytest.fixture(scope="module")
def start_service(request, upstream, tmp_path_factory):
    """start_service(workers=3, **env) -> Service on the loopback upstream; stopped with the module."""
    gunicorn_class = _root_gunicorn_class(request.config)
    started: list[Service] = []
    logs = tmp_path_factory.mktemp("gunicorn-logs")

    def start(workers: int = 3, **env) -> Service:
        full_env = {**SERVICE_ENV, "DEMO_UPSTREAM_URL": upstream.url,
                    **{k: str(v) for k, v in env.items()}}
        log = logs / f"gunicorn-{len(started)}.log"
        service = Service(gunicorn_class(env=full_env, workers=workers, log=log), workers,
                          full_env)
        started.append(service)
        service.wait_workers()
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def get():
    return http_get


# -- checks shared by the modules --------------------------------------------------------------
def strict_loads(data: bytes | str):
    def refuse(name):
        raise ValueError(f"{name} in a JSON body")
    return json.loads(data, parse_constant=refuse)


@pytest.fixture(scope="session")
def strict_json():
    """json.loads that refuses NaN, Infinity and -Infinity."""
    return strict_loads


# A bare nan/inf token: a CSV cell, an XML element's text, an HTML cell's text.
NUMERIC_GARBAGE = re.compile(
    r"(?:^|[,>\s\"'])[+-]?(?:nan|inf|infinity)(?=$|[,<\s\"'])", re.IGNORECASE | re.MULTILINE)


@pytest.fixture(scope="session")
def numeric_garbage():
    """A regex finding NaN/Infinity tokens as whole cells in CSV/XML/HTML text."""
    return NUMERIC_GARBAGE

