"""Shared fixtures: the recorded Binance data in ../shared, and real servers on loopback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "binance"


@pytest.fixture(scope="session")
def binance_fixtures() -> Path:
    """../shared/fixtures/binance, or a skip where the clone has no ../shared beside it."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"recorded Binance data not found at {SHARED_FIXTURES} "
                    "(../shared is only beside the repo in CI and developer checkouts)")
    return SHARED_FIXTURES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
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

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


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
