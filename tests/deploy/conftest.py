"""Fixtures for the deploy tests: the real app under gunicorn, and NGINX in front of it.

Every server is started on a free 127.0.0.1 port in its own process group and stopped by the
fixture's teardown, whatever the tests did.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib (no sys.path changes): make deploy_support,
# the helpers beside this file, importable from the test modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_support import (REPO, Server, free_port, start_gunicorn,  # noqa: E402
                            start_nginx, stop, wait_for_http)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The real app (wsgi:app, MARKET_SOURCE=demo) under gunicorn with 2 workers."""
    if not (REPO / "wsgi.py").exists():
        pytest.fail("wsgi.py is missing: the deploy tests run the real app")
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    log = tmp / "gunicorn.log"
    proc = start_gunicorn(REPO, port, log, {
        "MPLCONFIGDIR": str(tmp / "mpl"),
        "GUNICORN_WORKER_TMP_DIR": str(tmp),
    })
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, timeout=90, log=log)
        yield Server(f"http://127.0.0.1:{port}", port, proc, log)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def nginx_server(app_server, tmp_path_factory):
    """Debian's nginx with the repo's configuration in front of app_server."""
    server = start_nginx(tmp_path_factory.mktemp("nginx"), app_server.port)
    try:
        yield server
    finally:
        # SIGQUIT: graceful shutdown of master and workers; stop() escalates to SIGKILL.
        stop(server.proc, sig=signal.SIGQUIT)
