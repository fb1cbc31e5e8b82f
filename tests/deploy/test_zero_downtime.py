"""Blue/green deploys without downtime, for real: deploy/deploy.sh switches the real NGINX
between two real gunicorns (the app on the demo market) while a load generator sends requests
through NGINX, and not one request may fail or be refused.

Only Docker is replaced (host_docker.py: the same `docker` commands deploy.sh runs, carried
out with local processes on 127.0.0.1). The NGINX configuration is the repository's, rendered
as the image's entrypoint renders it; upstream.conf is written by deploy.sh; the switch is
deploy.sh's own `nginx -t` and `nginx -s reload`; the old app is stopped with SIGTERM as
`docker stop` does.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy_support import (REPO, find_tool, free_port, nginx_argv, render_nginx, wait_for_http)

pytestmark = pytest.mark.slow

A, B, NEVER_READY = (f"sha-{c * 40}" for c in "abe")

LOAD_THREADS = 3
LOAD_MAX_REQUESTS = 8000      # per run of the load generator, all threads together
LOAD_MAX_SECONDS = 90
LOAD_PAUSE = 0.01             # per thread between requests: at most ~300 requests/s


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Load:
    """Requests through NGINX from a few threads until stopped, or at most LOAD_MAX_REQUESTS
    or LOAD_MAX_SECONDS, on loopback only.

    Two kinds of client: one opens a new connection for every request (curl in a loop: a
    refused or reset connection is a failure, nothing is retried), the others keep their
    connection open (browsers, pandas, requests.Session). A kept-alive client does what RFC
    9112 section 9.3.1 asks of it and browsers and curl do: when the server closes a
    *reused* idle connection before any byte of the answer, it sends the idempotent GET again
    on a new connection. That happens at every `nginx -s reload`, deploy or not: the old NGINX
    workers close their idle client connections, and a request can cross the close. Those
    retries are counted (`retried`), never hidden; a failure on a new connection (refused,
    reset, an error status) counts as failed."""
    host: str
    port: int
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    retried: Counter = field(default_factory=Counter)
    masters: list = field(default_factory=list)      # (time, master pid) of /health answers
    failures: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        self.last = 0.0      # when the last request was answered
        self._threads = [threading.Thread(target=self._run, args=(i == 0,), daemon=True)
                         for i in range(LOAD_THREADS)]

    def _next(self) -> int | None:
        with self._lock:
            if self._count >= LOAD_MAX_REQUESTS:
                return None
            self._count += 1
            return self._count

    def _get(self, conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
        conn.request("GET", path, headers={"Accept-Encoding": "identity"})
        resp = conn.getresponse()
        return resp.status, resp.read()

    def _run(self, fresh_connections: bool) -> None:
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        conn, used = None, False
        while not self._stop.is_set() and time.monotonic() < deadline:
            n = self._next()
            if n is None:
                break
            # Mostly uncached: /health always reaches gunicorn, and each technical URL is new.
            path = ("/health" if n % 2 else
                    f"/api/v1/analysis/technical/BTCUSDT?format=json&limit={20 + n % 900}"
                    f"&interval={('1h', '4h', '1d')[n % 3]}")
            if conn is None or fresh_connections:
                if conn is not None:
                    conn.close()
                conn, used = http.client.HTTPConnection(self.host, self.port, timeout=30), False
            try:
                try:
                    status, body = self._get(conn, path)
                except (ConnectionResetError, BrokenPipeError,
                        http.client.RemoteDisconnected) as exc:
                    if fresh_connections or not used:
                        raise
                    with self._lock:
                        self.retried[type(exc).__name__] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                    status, body = self._get(conn, path)
                used = True
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.errors[type(exc).__name__] += 1
                    self.failures.append((round(time.monotonic(), 3), path, repr(exc)[:200]))
                conn.close()
                conn = None
                continue
            with self._lock:
                self.statuses[status] += 1
                if status != 200:
                    self.failures.append((round(time.monotonic(), 3), path, status,
                                          body[:200]))
            if path == "/health" and status == 200:
                master = _ppid(json.loads(body)["pid"])
                with self._lock:
                    self.masters.append((time.monotonic(), master))
            with self._lock:
                self.last = time.monotonic()
            time.sleep(LOAD_PAUSE)
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=LOAD_MAX_SECONDS)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def summary(self) -> str:
        return (f"{self.total} requests, statuses {dict(self.statuses)}, failed "
                f"{dict(self.errors)}, retried after an idle keep-alive close "
                f"{dict(self.retried)}")


class Host:
    """A deploy root as on EC2 ($DEPLOY_ROOT, binance-svc.env) driving local processes."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.root = tmp / "opt"
        self.state = tmp / "docker"
        self.bin = tmp / "bin"
        for d in (self.root, self.state, self.bin):
            d.mkdir()
        docker = self.bin / "docker"
        docker.write_text(f"#!/bin/sh\nexec {sys.executable} "
                          f"{Path(__file__).with_name('host_docker.py')} \"$@\"\n")
        docker.chmod(0o755)

        nginx = find_tool("nginx", install="nginx")
        self.port = free_port()
        self.nginx_root = tmp / "nginx"
        conf = render_nginx(self.nginx_root, {
            "NGINX_LISTEN_PORT": str(self.port),
            "NGINX_CACHE_DIR": str(self.nginx_root / "cache"),
            "NGINX_CACHE_MAX_SIZE": "64m",
            "NGINX_REAL_IP_FROM": "127.0.0.1",
            # The load comes from one address; the rate limit is not under test here.
            "NGINX_RATE": "10000r/s",
            "NGINX_BURST": "10000",
            "NGINX_HTTPS_REDIRECT": "0",
        })
        (self.state / "nginx.json").write_text(json.dumps(nginx_argv(nginx, conf)))
        self.blue, self.green = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        (self.root / "binance-svc.env").write_text("\n".join([
            "GHCR_OWNER=someone", "GHCR_USER=", f"HTTP_PORT={self.port}", "IMAGE_TAG=latest",
            f"APP_BLUE_UPSTREAM={self.blue}", f"APP_GREEN_UPSTREAM={self.green}",
            f"NGINX_LIVE_DIR={self.nginx_root / 'live'}", f"NGINX_DIR={self.tmp / 'nginx-src'}",
            "DEPLOY_WAIT_TIMEOUT=90", "READY_TIMEOUT=8", "DRAIN_SECONDS=2", "STOP_TIMEOUT=20",
            "KEEP_IMAGES=3", ""]))

    def deploy(self, *args) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               "HOME": str(self.tmp), "DEPLOY_ROOT": str(self.root),
               "HOST_DOCKER": str(self.state)}
        return subprocess.run(["bash", str(REPO / "deploy" / "deploy.sh"), *args], env=env,
                              capture_output=True, text=True, timeout=240)

    def master(self, color: str) -> int | None:
        path = self.state / f"app-{color}.pid"
        return int(path.read_text()) if path.exists() else None

    def running(self, color: str) -> bool:
        pid = self.master(color)
        if pid is None:
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    def live(self) -> str:
        return (self.root / "state" / "live-color").read_text().strip()

    def stop_all(self) -> None:
        for name in ("app-blue", "app-green", "nginx"):
            path = self.state / f"{name}.pid"
            if path.exists():
                try:
                    pid = int(path.read_text())
                    os.killpg(pid, 9)
                except (OSError, ValueError):
                    pass

    def logs(self) -> str:
        out = []
        for name in ("calls", "app-blue.log", "app-green.log", "nginx.log"):
            path = self.state / name
            if path.exists():
                lines = [line for line in path.read_text(errors="replace").splitlines()
                         if not line.startswith('{"time"')]   # not NGINX's access log
                out.append(f"--- {name}\n" + "\n".join(lines[-30:]))
        return "\n".join(out)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    find_tool("curl", install="curl")
    h = Host(tmp_path_factory.mktemp("bluegreen"))
    try:
        first = h.deploy(A)  # an empty host: blue starts, then NGINX in front of it
        assert first.returncode == 0, first.stderr + h.logs()
        assert h.live() == "blue" and h.running("blue")
        wait_for_http(f"http://127.0.0.1:{h.port}/health", timeout=30)
        yield h
    finally:
        h.stop_all()


def _report(load: Load, out: subprocess.CompletedProcess, host: Host) -> str:
    return (f"{load.summary()}\nfirst failures {load.failures[:5]}\n--- deploy.sh\n{out.stderr[-3000:]}\n"
            f"{host.logs()}")


def test_downtime_switch_serves_every_request(host):
    """deploy.sh B while requests flow: the idle colour starts, gets ready, NGINX switches to
    it by reload, the old one drains and stops; every request answers 200."""
    old = host.live()
    new = "green" if old == "blue" else "blue"
    old_master = host.master(old)
    nginx_master = (host.state / "nginx.pid").read_text()
    calls_before = len((host.state / "calls").read_text().splitlines())
    with Load("127.0.0.1", host.port) as load:
        time.sleep(1.0)                      # traffic on the old colour first
        started = time.monotonic()
        out = host.deploy(B)
        finished = time.monotonic()
        time.sleep(1.0)                      # and on the new one after
    assert out.returncode == 0, _report(load, out, host)
    assert load.errors == Counter() and set(load.statuses) == {200}, _report(load, out, host)
    assert "ConnectionRefusedError" not in load.errors
    # The load ran through the whole deploy, and both colours answered it.
    during = [m for t, m in load.masters if started <= t <= finished]
    assert load.total >= 100 and len(during) >= 20, _report(load, out, host)
    assert load.last > finished, "the load generator stopped before the deploy ended"
    new_master = host.master(new)
    answered = {m for _, m in load.masters}
    assert {old_master, new_master} <= answered, (answered, old_master, new_master)
    # After the deploy only the new colour answers, and the old one is stopped.
    assert [m for t, m in load.masters if t > finished + 0.5] and all(
        m == new_master for t, m in load.masters if t > finished + 0.5)
    assert host.live() == new and host.running(new) and not host.running(old)
    upstream = (host.nginx_root / "live" / "upstream.conf").read_text()
    assert getattr(host, new) in upstream and getattr(host, old) not in upstream
    calls = (host.state / "calls").read_text()
    assert "nginx -s reload" in calls and "pull" not in calls  # the image was on disk
    # The same NGINX master throughout: reloaded, never restarted or recreated.
    assert (host.state / "nginx.pid").read_text() == nginx_master
    assert not any(" up " in c and c.endswith(" nginx")
                   for c in calls.splitlines()[calls_before:])
    print(f"switch {old}->{new} in {finished - started:.1f}s: {load.summary()}")


def test_downtime_failed_switch_leaves_the_old_colour_serving(host):
    """deploy.sh of an image that never becomes ready: deploy.sh gives up before touching
    NGINX, stops the new colour and exits 1; the live colour serves every request."""
    live = host.live()
    idle = "green" if live == "blue" else "blue"
    live_master = host.master(live)
    upstream_before = (host.nginx_root / "live" / "upstream.conf").read_text()
    reloads_before = (host.state / "calls").read_text().count("nginx -s reload")
    # host_docker.py: this image's /health/ready never answers 200.
    (host.state / "never-ready").write_text(f"ghcr.io/someone/binance-svc:{NEVER_READY}\n")
    with Load("127.0.0.1", host.port) as load:
        time.sleep(0.5)
        out = host.deploy(NEVER_READY)
        finished = time.monotonic()
        time.sleep(0.5)
    assert out.returncode == 1, _report(load, out, host)
    assert "not ready" in out.stderr
    assert load.errors == Counter() and set(load.statuses) == {200}, _report(load, out, host)
    assert load.total >= 50, _report(load, out, host)
    assert load.last > finished, "the load generator stopped before the deploy ended"
    assert {m for _, m in load.masters} == {live_master}
    assert host.live() == live and host.running(live) and not host.running(idle)
    assert (host.nginx_root / "live" / "upstream.conf").read_text() == upstream_before
    assert (host.state / "calls").read_text().count("nginx -s reload") == reloads_before
    state = host.root / "state"
    assert NEVER_READY not in (state / "last-good-tag").read_text()
    print(f"failed switch: {load.summary()}")
