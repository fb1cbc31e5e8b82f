"""Fixtures of the scale-out tests: a real redis-server, the demo market as a separate loopback
upstream that counts requests and injects faults, and the real gunicorn (4 workers, the repo's
gunicorn.conf.py), one or two instances ("hosts") sharing one Redis.

Everything listens on 127.0.0.1 only and everything a test starts it stops. The Redis server is
Debian's `redis-server` (`make test` installs it through scripts/install-system-deps.sh); where it
cannot be found the tests that need it skip and say so. It runs with `--save '' --appendonly no`:
nothing is written to disk. Test modules never import this file; they use its fixtures.
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4

# Every variable the service reads, pinned at its documented default so that the shell the tests
# run in cannot change what they see; a test overrides what it needs.
SERVICE_ENV = {
    "MARKET_SOURCE": "demo",
    "BINANCE_TIMEOUT": "5",
    "WATCHLIST": "BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,XRPUSDT,ADAUSDT,DOGEUSDT,TRXUSDT,LINKUSDT,"
                 "AVAXUSDT",
    "CACHE_TYPE": "SimpleCache",
    "CACHE_REDIS_URL": "",
    "REDIS_TIMEOUT": "0.25",
    "CACHE_TTL_TICKER": "10",
    "CACHE_TTL_DEPTH": "2",
    "CACHE_TTL_EXCHANGE_INFO": "3600",
    "CACHE_TTL_KLINES": "",
    "CACHE_STALE_TTL": "3600",
    "CACHE_THRESHOLD": "2000",
    "UPSTREAM_WEIGHT_SHARE": "0.5",
    "UPSTREAM_WEIGHT_LIMIT": "6000",
    "DEMO_SEED": "7",
    "DEMO_LATENCY_MS": "0",
    "LOG_LEVEL": "INFO",
    "GUNICORN_THREADS": "4",
    # gunicorn's own access log, one JSON line per request with the worker's pid: how the tests
    # see that a burst was spread over every worker.
    "GUNICORN_ACCESSLOG": "-",
    # gunicorn >= 25 opens a control socket at one fixed path per user; several servers (and
    # other test runs on the same machine) would fight over it.
    "GUNICORN_CMD_ARGS": "--no-control-socket",
}


def _root_conftest(config):
    """tests/conftest.py as loaded by pytest (test code never imports a conftest)."""
    target = (ROOT / "tests" / "conftest.py").resolve()
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == target:
            return plugin
    raise RuntimeError("tests/conftest.py is not loaded")


# -- redis-server ------------------------------------------------------------------------------
def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in ("/usr/bin/redis-server", "/usr/sbin/redis-server",
                      "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class RedisServer:
    """A throwaway redis-server on a free loopback port: no persistence, stopped by the test."""

    def __init__(self, binary: str, port: int, workdir: Path):
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.workdir = workdir
        self.log_path = workdir / f"redis-{port}.log"
        self.proc: subprocess.Popen | None = None
        self.paused = False
        self.start()

    def start(self) -> None:
        """Start (or start again, on the same port, empty)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.workdir), "--logfile", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see "
                                   f"{self.log_path}")
            try:
                if self.client().ping():
                    return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def client(self, timeout: float = 2.0):
        import redis
        # from_url: without the retries (and back-off sleeps) redis.Redis() adds by default.
        return redis.Redis.from_url(self.url, socket_timeout=timeout,
                                    socket_connect_timeout=timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, as an operator would stop it; SIGKILL if it does not go."""
        if not self.running:
            return
        self.resume()
        try:
            self.client().shutdown(nosave=True)
        except Exception:   # redis-py reports the connection the server closed as an error
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel does that) but nothing is
        answered, which is what a hung or overloaded Redis looks like to its clients."""
        if self.running and not self.paused:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.running and self.paused:
            self.proc.send_signal(signal.SIGCONT)
            self.paused = False


@pytest.fixture(scope="session")
def redis_binary() -> str:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server not found (Debian package redis-server; `make test` installs "
                    "it as root through scripts/install-system-deps.sh)")
    return binary


@pytest.fixture(scope="module")
def redis_server(request, redis_binary):
    """One redis-server for the module (its hosts share it)."""
    root = _root_conftest(request.config)
    workdir = Path(tempfile.mkdtemp(prefix="redis-"))
    server = RedisServer(redis_binary, root.free_port(), workdir)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


# -- the service -------------------------------------------------------------------------------
class Response:
    def __init__(self, status: int, headers, body: bytes, started: float, elapsed: float):
        self.status = status
        self.headers = headers          # http.client.HTTPMessage: case-insensitive get()
        self.body = body
        self.started = started          # time.monotonic() when the request was sent
        self.elapsed = elapsed          # seconds until the whole body was read

    def json(self):
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except Exception:
            return None

    def __repr__(self):
        return f"<Response {self.status} {self.elapsed:.3f}s {self.body[:160]!r}>"


def http_get(base_url: str, target: str, timeout: float = 60.0) -> Response:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, resp.headers, body, t0, time.monotonic() - t0)
    finally:
        conn.close()


class Service:
    """One gunicorn ("host"): 4 workers of the real app, on the loopback upstream."""

    def __init__(self, gunicorn, workers: int, env: dict, name: str):
        self.gunicorn = gunicorn
        self.url = gunicorn.url
        self.workers = workers
        self.env = env
        self.name = name
        self.log_path: Path = gunicorn.log_path

    def get(self, target: str, timeout: float = 60.0) -> Response:
        return http_get(self.url, target, timeout)

    def burst(self, targets: list[str], concurrency: int | None = None) -> list[Response]:
        """Every target at once (one thread each unless `concurrency` caps it)."""
        with ThreadPoolExecutor(concurrency or len(targets)) as pool:
            return list(pool.map(self.get, targets))

    def wait_workers(self, timeout: float = 120.0) -> set[int]:
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

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict]:
        return self.gunicorn.json_records()

    def access_pids(self, path_prefix: str, since_line: int = 0, status: int | None = None):
        """The worker pids of gunicorn's access-log lines for paths under `path_prefix`, from
        the JSON record `since_line` on (a `log_mark()`)."""
        pids = set()
        for record in self.log_records()[since_line:]:
            if record.get("logger") != "gunicorn.access":
                continue
            if not str(record.get("path", "")).startswith(path_prefix):
                continue
            if status is not None and record.get("status") != status:
                continue
            pids.add(record["pid"])
        return pids

    def redis_warnings(self, since_line: int = 0) -> list[str]:
        """The app's "redis unavailable" warnings (the coordinator's fall-backs) since a mark."""
        return [f"{r.get('ts')} {r.get('message')}" for r in self.log_records()[since_line:]
                if r.get("level") == "warning" and "redis unavailable" in str(r.get("message"))]

    def log_mark(self) -> int:
        return len(self.log_records())

    def stop(self) -> None:
        self.gunicorn.stop()


class Gunicorn:
    """The real gunicorn with the repo's gunicorn.conf.py and wsgi:app on a free loopback port:
    tests/conftest.py's Gunicorn, with a longer start-up allowance (4 workers importing pandas
    and matplotlib at once on a 2-CPU runner that is busy with other work can take over 30 s)."""

    START_TIMEOUT = 120.0

    def __init__(self, root, env: dict, workers: int, log: Path):
        self._root = root
        self.port = root.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "GUNICORN_WORKERS": str(workers),
                    "GUNICORN_BIND": f"127.0.0.1:{self.port}", **env}
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=self._log)
        try:
            root.wait_http(self.url + "/health", timeout=self.START_TIMEOUT, proc=self.proc)
        except Exception:
            self.stop()
            raise

    def workers(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            return [int(pid) for pid in text.split()]
        except OSError:
            return []

    def json_records(self) -> list[dict]:
        return self._root.json_log_records(self.log_path)

    def stop(self) -> None:
        """gunicorn's quick shutdown (SIGINT). A worker that has logged "Worker exiting" can
        take several more seconds to end on a busy machine (its interpreter tears down pandas
        and matplotlib); after 3 s the test's own workers are killed, then the master reaps
        them and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                for pid in self.workers():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="module")
def start_hosts(request, upstream, tmp_path_factory):
    """start_hosts(env_a, env_b, ...) -> [Service, ...]: gunicorns with 4 workers each, started
    in parallel, on the loopback upstream; `redis=url` in an env dict selects RedisCache.
    Stopped with the module."""
    root = _root_conftest(request.config)
    started: list[Service] = []
    logs = tmp_path_factory.mktemp("gunicorn-logs")
    lock = threading.Lock()
    numbers = itertools.count()

    def start_one(spec: dict) -> Service:
        spec = dict(spec)
        redis_url = spec.pop("redis", None)
        workers = int(spec.pop("workers", WORKERS))
        name = spec.pop("name", None)
        env = {**SERVICE_ENV, "DEMO_UPSTREAM_URL": upstream.url,
               **{k: str(v) for k, v in spec.items()}}
        if redis_url:
            env.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=redis_url)
        name = name or f"host{next(numbers)}"
        gunicorn = Gunicorn(root, env, workers, logs / f"{name}.log")
        service = Service(gunicorn, workers, env, name)
        with lock:
            started.append(service)
        service.wait_workers()
        return service

    def start(*specs: dict) -> list[Service]:
        with ThreadPoolExecutor(len(specs)) as pool:
            return list(pool.map(start_one, specs))

    yield start
    with ThreadPoolExecutor(max(1, len(started))) as pool:
        list(pool.map(lambda s: s.stop(), started))

