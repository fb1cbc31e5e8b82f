"""`docker` for the downtime test: the calls deploy.sh makes, carried out with real processes.

deploy.sh runs unchanged; where a host would run containers this runs the same programs on
loopback: `compose up app-<colour>` starts the real app under gunicorn on that colour's
address (APP_<COLOUR>_UPSTREAM), `--wait` polls /health as Docker's health check does,
`compose up nginx` starts the real nginx on the prefix the test rendered, `compose exec nginx
nginx ...` runs that nginx binary with the same arguments (`-t`, `-s reload`), and `compose
stop -t N app-<colour>` sends gunicorn SIGTERM (a graceful stop) with N seconds before SIGKILL,
as `docker stop` does. Registry calls succeed and are recorded; every image is "on disk" unless
listed in $HOST_DOCKER/missing-images.

An image listed in $HOST_DOCKER/never-ready starts a gunicorn whose upstream (Binance) refuses
connections: /health answers, /health/ready never does (503), the failed switch's case.

State lives in $HOST_DOCKER: nginx.json (the nginx command line, from the test), pid files,
calls (one line per call), logs.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

STATE = Path(os.environ["HOST_DOCKER"])
REPO = Path(__file__).resolve().parents[2]


def record(argv: list[str]) -> None:
    with open(STATE / "calls", "a") as f:
        f.write(" ".join(argv) + "\n")


def alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except OSError:
        return None
    return pid


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(color: str, wait_timeout: float | None) -> int:
    pid_file = STATE / f"app-{color}.pid"
    image = os.environ.get(f"APP_{color.upper()}_IMAGE", "")
    image_file = STATE / f"app-{color}.image"
    if alive(pid_file):
        if image_file.exists() and image_file.read_text() == image:
            return 0               # up to date, as compose leaves a running container alone
        stop_app(color, 15)
    address = os.environ[f"APP_{color.upper()}_UPSTREAM"]
    env = dict(os.environ)
    env.update({
        "MARKET_SOURCE": "demo",
        "GUNICORN_BIND": address,
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_GRACEFUL_TIMEOUT": "10",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(STATE / f"mpl-{color}"),
        "GUNICORN_WORKER_TMP_DIR": str(STATE),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LOG_LEVEL": "warning",
    })
    never_ready = STATE / "never-ready"
    if never_ready.exists() and image in never_ready.read_text().split():
        env.update({"MARKET_SOURCE": "binance", "BINANCE_TIMEOUT": "1",
                    "BINANCE_BASE_URL": f"http://127.0.0.1:{closed_port()}"})
    with open(STATE / f"app-{color}.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                 "wsgi:app"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    pid_file.write_text(str(proc.pid))
    image_file.write_text(image)
    if wait_timeout is None:
        return 0
    deadline = time.monotonic() + wait_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return 1
        try:
            with urllib.request.urlopen(f"http://{address}/health", timeout=2) as resp:
                if resp.status == 200:
                    return 0
        except OSError:
            pass
        time.sleep(0.3)
    return 1


def stop_app(color: str, timeout: float) -> int:
    pid = alive(STATE / f"app-{color}.pid")
    if pid is None:
        return 0
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive(STATE / f"app-{color}.pid") is None:
            return 0
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return 0


def nginx_argv() -> list[str]:
    return json.loads((STATE / "nginx.json").read_text())


def start_nginx() -> int:
    pid_file = STATE / "nginx.pid"
    if alive(pid_file):
        return 0
    argv = nginx_argv()
    if subprocess.run(argv + ["-t", "-q"], timeout=30).returncode != 0:
        return 1
    with open(STATE / "nginx.log", "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(str(proc.pid))
    time.sleep(0.5)
    return 0 if proc.poll() is None else 1


def compose(args: list[str]) -> int:
    i = 0
    while i < len(args) and args[i] in ("-p", "--env-file", "-f"):
        i += 2
    command, rest = args[i], args[i + 1:]
    services = [a for a in rest if a.startswith("app-") or a == "nginx"]
    if command == "up":
        wait = None
        if "--wait" in rest:
            wait = float(rest[rest.index("--wait-timeout") + 1]) if "--wait-timeout" in rest else 60
        for service in services:
            code = start_nginx() if service == "nginx" else start_app(service[4:], wait)
            if code:
                return code
        return 0
    if command == "stop":
        timeout = float(rest[rest.index("-t") + 1]) if "-t" in rest else 10
        for service in services:
            if service.startswith("app-"):
                stop_app(service[4:], timeout)
        return 0
    if command == "ps":
        for service in services:
            pid_file = STATE / (f"{service}.pid")
            if alive(pid_file):
                print(f"{service}-container")
        return 0
    if command == "exec":
        rest = [a for a in rest if a != "-T"]
        service, program, *program_args = rest
        if service != "nginx" or program != "nginx":
            print(f"host_docker: cannot exec {rest}", file=sys.stderr)
            return 1
        return subprocess.run(nginx_argv() + program_args, timeout=30).returncode
    if command == "logs":
        for service in services:
            log = STATE / f"{service}.log"
            if log.exists():
                sys.stderr.write("\n".join(log.read_text(errors="replace").splitlines()[-20:]))
        return 0
    print(f"host_docker: compose {command} is not emulated", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    record(argv)
    if argv[:1] == ["compose"]:
        return compose(argv[1:])
    if argv[:2] == ["image", "inspect"]:
        missing = STATE / "missing-images"
        return 1 if missing.exists() and argv[-1] in missing.read_text().split() else 0
    if argv[:1] in (["login"], ["logout"]):
        sys.stdin.read() if argv[0] == "login" else None
        return 0
    if argv[:1] == ["pull"] or argv[:1] == ["image"]:
        return 0
    print(f"host_docker: {argv} is not emulated", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
