"""gunicorn sized by a real kernel cgroup, as Docker applies the compose limits.

The other sizing tests (test_deploy_static.py) read a fake cgroup tree. Here the real gunicorn
(`gunicorn.conf.py`, production app.env, demo market) starts inside a cgroup this test makes
with the limits of deploy/docker-compose.prod.yml, so the kernel's own files and
/proc/self/cgroup decide the worker count. Then every resource in every format is asked for
once per worker, and the workers must still be the ones that started: none was OOM-killed and
respawned inside the 640 MiB a colour gets on a t3.small.

Needs a writable cgroup hierarchy (v1 `cpu` and `memory`, or a v2 subtree with both
controllers); skips with the reason where there is none (e.g. an unprivileged container).
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy_support import (REPO, Cgroup, compose_limits, free_port, production_app_env,
                            start_gunicorn, stop, tail, wait_for_http)

def _workers(master: int) -> list[int]:
    kids = set()
    for task in Path(f"/proc/{master}/task").iterdir():
        kids.update(int(p) for p in (task / "children").read_text().split())
    return sorted(kids)


def _every_url() -> list[str]:
    from binance_svc.analyses import REGISTRY
    from binance_svc.render.formats import formats_for
    return [f"{a.example_path}?format={f}" for a in REGISTRY for f in formats_for(a)]


@pytest.fixture
def sized_gunicorn(tmp_path, request):
    cpus, memory_mib = request.param
    try:
        group = Cgroup(f"binance-svc-test-{os.getpid()}-{free_port()}", cpus, memory_mib)
    except OSError as exc:
        pytest.skip(f"no writable cgroup hierarchy to run gunicorn under real limits: {exc}")
    port, log = free_port(), tmp_path / "gunicorn.log"
    argv = group.join_argv([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                            "wsgi:app"])
    # No GUNICORN_WORKERS: sized from the cgroup.
    env = {**production_app_env(), "GUNICORN_WORKERS": ""}
    proc = start_gunicorn(REPO, port, log, env, argv=argv)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, timeout=90, log=log)
        yield proc, port, group, log
    finally:
        stop(proc)
        group.remove()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# (CPUs, MiB) -> workers, worked out by hand from docs/deploy.md "Sizing" with app.env's
# RESPONSE_CACHE_MB=32: min(2 x ceil(CPUs) + 1, (MiB - 64) // (256 + 32)).
COMPOSE = compose_limits()["app-blue"]


@pytest.mark.parametrize("sized_gunicorn,workers", [
    (COMPOSE, 2),          # the compose file's colour: 2 CPUs, 640 MiB -> min(5, 2)
    ((1.0, 384), 1),       # the t3.micro colour of the docs: min(3, 1)
    ((0.5, 2048), 3),      # half a CPU still rounds up to one: min(3, 6)
], indirect=["sized_gunicorn"], ids=["compose-t3.small", "t3.micro", "half-cpu"])
def test_workers_follow_the_real_cgroup_limits(sized_gunicorn, workers):
    proc, port, group, log = sized_gunicorn
    assert COMPOSE == (2.0, 640), "the compose limits moved: work the first case out again"
    started = _workers(proc.pid)
    assert len(started) == workers, tail(log)
    assert {proc.pid, *started} <= group.members()


@pytest.mark.parametrize("sized_gunicorn", [COMPOSE], indirect=True, ids=["compose-t3.small"])
def test_the_sized_workers_serve_everything_within_the_limit(sized_gunicorn):
    proc, port, group, log = sized_gunicorn
    before = _workers(proc.pid)
    urls = _every_url()
    assert len(urls) > 30
    # Every resource in every format, as many rounds as there are workers, over fresh
    # connections: the workers fill their caches and draw every chart.
    asked = [url for _ in before for url in urls]
    failed = [(url, s) for url in asked if (s := _get(f"http://127.0.0.1:{port}{url}")) != 200]
    assert failed == []
    assert _workers(proc.pid) == before, "a worker died and was replaced:\n" + tail(log)
    assert group.oom_kills() in (0, None)
