"""Shared fixtures: the recorded Binance responses in tests/fixtures/binance, and real servers
on loopback."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Recorded Binance responses (see its README.md); part of the repository, so never skipped.
BINANCE_FIXTURES = ROOT / "tests" / "fixtures" / "binance"


@pytest.fixture(scope="session")
def binance_fixtures() -> Path:
    return BINANCE_FIXTURES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Start-up of gunicorn (importing pandas and matplotlib in each worker) takes 2-4 s on an idle
# machine and several times that on a loaded CI runner: the wait is generous, and a server that
# dies is reported at once.
START_TIMEOUT = 120.0


def wait_http(url: str, timeout: float = START_TIMEOUT,
              proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {last}")


def json_log_records(path: Path) -> list[dict]:
    """The JSON lines of a gunicorn log (the app's request log, gunicorn's JSON access log, the
    app's other JSON log records), in order; other lines are skipped."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class Gunicorn:
    """The real gunicorn with the repo's gunicorn.conf.py and wsgi:app on a free loopback port."""

    def __init__(self, env: dict | None = None, workers: int = 2, cwd: Path = ROOT,
                 log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "MARKET_SOURCE": "demo", "GUNICORN_WORKERS": str(workers),
                    "GUNICORN_BIND": f"127.0.0.1:{self.port}", "LOG_LEVEL": "WARNING",
                    **(env or {})}
        self.log_path = log
        out = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=cwd, env=full_env, stdout=out, stderr=out)
        try:
            wait_http(self.url + "/health", proc=self.proc)
        except Exception:
            self.stop()
            raise

    def json_records(self) -> list[dict]:
        return json_log_records(self.log_path)

    def stop(self) -> None:
        stop_process(self.proc, 15)


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, and SIGKILL when it has not exited within `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """One gunicorn (2 workers) on the demo market for the whole session."""
    server = Gunicorn(log=tmp_path_factory.mktemp("gunicorn") / "demo.log")
    yield server
    server.stop()


@pytest.fixture
def gunicorn_factory(tmp_path):
    started: list[Gunicorn] = []

    def start(**kwargs) -> Gunicorn:
        kwargs.setdefault("log", tmp_path / f"gunicorn-{len(started)}.log")
        server = Gunicorn(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- the demo market as an upstream on its own loopback port (reliability, scaling) -------
class Upstream:
    """The demo market as a separate loopback HTTP server, with its control endpoints."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_svc.upstream.demo", "--host", "127.0.0.1",
             "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the demo upstream did not start: {line!r}")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])

    def _call(self, method: str, path: str, doc: dict | None = None) -> dict:
        data = None if doc is None else json.dumps(doc).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        """{"requests": {path: count}, "total_weight": n, "weight_used_1m": n}."""
        return self._call("GET", "/__demo/stats")

    def requests(self, path: str | None = None):
        """{path: count}, or the count of one path."""
        counts = self.stats()["requests"]
        return counts if path is None else counts.get(path, 0)

    def inject(self, kind: str, **fault) -> dict:
        """kind: status|delay|malformed|truncated|empty|reset; status, retry_after, delay,
        count (-1: until reset), path (prefix), body."""
        return self._call("POST", "/__demo/faults", {"kind": kind, **fault})

    def reset(self) -> None:
        """Clear the faults and the counters."""
        self._call("POST", "/__demo/reset", {})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture(scope="session")
def upstream():
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_upstream(request):
    """Each test starts and ends with no fault and zero counters (when it uses the upstream)."""
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").reset()
    yield
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").reset()


def chromium_path() -> str:
    """Debian's Chromium for the browser tests, or a skip saying how to get it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (Debian's `chromium` package; `make test` installs "
                "it when run as root)")
