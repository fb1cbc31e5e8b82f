"""Helpers for the deploy tests: ports, processes, the Dockerfile and the NGINX templates.

Kept apart from conftest.py so the tests can import the functions by name
(tests/deploy has no __init__.py; pytest puts this directory on sys.path).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


# --- processes and ports ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0,
                  log: Path | None = None) -> None:
    """Poll url until it answers (any HTTP status) or fail with the process' log."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"process exited with {proc.returncode} before {url} answered:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s ({last}):\n{tail(log)}")


def tail(path: Path | None, lines: int = 60) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop a process started with start_new_session=True, and its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def start_gunicorn(cwd: Path, port: int, log: Path, env_overrides: dict | None = None,
                   argv: list[str] | None = None) -> subprocess.Popen:
    """The real app under gunicorn on 127.0.0.1:port with the demo market."""
    env = dict(os.environ)
    env.update({
        "MARKET_SOURCE": "demo",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "4",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(env_overrides or {})
    if argv is None:
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    out = open(log, "ab")
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        out.close()


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path
    root: Path | None = None
    tls_url: str | None = None

    def logs(self) -> str:
        return tail(self.log, 200)


# --- tools -----------------------------------------------------------------------------

def find_tool(name: str, install: str | None = None, pip_package: str | None = None,
              alternatives: tuple[str, ...] = ()) -> str:
    """Path of a command-line tool, installing it once if we can; skip with the reason."""
    def look():
        for candidate in (name, *alternatives):
            found = (shutil.which(candidate) or shutil.which(candidate, path=str(VENV_BIN))
                     or next((p for p in (f"/usr/sbin/{candidate}", f"/usr/bin/{candidate}")
                              if os.access(p, os.X_OK)), None))
            if found:
                return found
        return None

    found = look()
    if found:
        return found
    if name in _INSTALL_TRIED:
        pytest.skip(_INSTALL_TRIED[name])
    tried = []
    if pip_package:
        tried.append(f"pip install {pip_package}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", pip_package],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300,
                       check=False)
    if install:
        tried.append("scripts/install-system-deps.sh")
        subprocess.run(["bash", str(REPO / "scripts" / "install-system-deps.sh")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900,
                       check=False)
    found = look()
    if found:
        return found
    _INSTALL_TRIED[name] = (f"{name} is not installed and could not be installed "
                            f"({', '.join(tried) or 'no installer'} did not provide it)")
    pytest.skip(_INSTALL_TRIED[name])


_INSTALL_TRIED: dict[str, str] = {}  # one attempt per tool and test session


# --- the Dockerfile --------------------------------------------------------------------

def dockerfile_instructions(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def parse_env(args: str) -> dict[str, str]:
    """ENV key=value pairs (the legacy `ENV key value` form too)."""
    parts = shlex.split(args, posix=True)
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return dict(part.split("=", 1) for part in parts)


def image_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in final_stage(instructions):
        if word == "ENV":
            env.update(parse_env(args))
    return env


def exec_form(args: str) -> list[str]:
    """The JSON array of CMD/ENTRYPOINT/HEALTHCHECK CMD; a shell-form string fails."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


# --- NGINX -----------------------------------------------------------------------------

NGINX_DIR = REPO / "nginx"
_VAR = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")


def envsubst(text: str, env: dict[str, str]) -> str:
    """What the nginx image's entrypoint does (20-envsubst-on-templates.sh):
    `envsubst "${VAR} ..."` over the variables that are set, and no others. GNU envsubst
    where it is installed (gettext-base), else the same substitution in Python."""
    tool = shutil.which("envsubst")
    if tool:
        shell_format = " ".join("${%s}" % name for name in env)
        out = subprocess.run([tool, shell_format], input=text, text=True, capture_output=True,
                             env={"PATH": os.environ.get("PATH", ""), **env}, timeout=30,
                             check=True)
        return out.stdout
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def render_nginx(root: Path, env: dict[str, str], tls: bool = False) -> Path:
    """Lay out an NGINX prefix in root as the image would: nginx.conf, mime.types,
    snippets/, and conf.d/ rendered from templates/ (plus tls/ when asked).

    nginx.conf writes only under /tmp (pid, temp paths); those paths are moved under
    root/run. Returns the path of nginx.conf."""
    root.mkdir(parents=True, exist_ok=True)
    run = root / "run"
    run.mkdir(exist_ok=True)
    main = (NGINX_DIR / "nginx.conf").read_text()
    assert "/tmp/" in main
    main = main.replace("/tmp/", f"{run}/")
    (root / "nginx.conf").write_text(main)
    mime = Path("/etc/nginx/mime.types")
    if mime.exists():
        shutil.copy(mime, root / "mime.types")
    else:  # a minimal one; the app sets Content-Type anyway
        (root / "mime.types").write_text("types { text/html html; application/json json; }\n")
    shutil.copytree(NGINX_DIR / "snippets", root / "snippets", dirs_exist_ok=True)
    confd = root / "conf.d"
    confd.mkdir(exist_ok=True)
    templates = sorted((NGINX_DIR / "templates").glob("*.template"))
    if tls:
        templates += sorted((NGINX_DIR / "tls").glob("*.template"))
    for template in templates:
        rendered = envsubst(template.read_text(), env)
        left = _VAR.findall(rendered)
        assert not left, f"{template.name}: no value for {sorted(set(left))}"
        (confd / template.name[: -len(".template")]).write_text(rendered)
    return root / "nginx.conf"


def nginx_argv(nginx: str, conf: Path) -> list[str]:
    # As root the workers would switch to "nobody", who cannot enter pytest's 0700 temp
    # directories; `user root` keeps them where the test can clean up.
    prefix = conf.parent
    extra = "user root;" if os.geteuid() == 0 else ""
    # -e stderr: not the compiled-in error log, which a non-root user cannot open.
    return [nginx, "-e", "stderr", "-p", f"{prefix}/", "-c", str(conf),
            "-g", f"daemon off; {extra}".strip()]


NGINX_ENV_DEFAULTS = {
    "NGINX_REAL_IP_FROM": "127.0.0.1",
    "NGINX_RATE": "10r/s",
    "NGINX_BURST": "20",
    "NGINX_CACHE_MAX_SIZE": "64m",
    "NGINX_HTTPS_REDIRECT": "0",
}


def write_upstream(root: Path, address: str, color: str = "blue") -> Path:
    """live/upstream.conf as deploy.sh writes it (write_upstream there); the downtime test
    lets deploy.sh itself write it."""
    live = root / "live"
    live.mkdir(parents=True, exist_ok=True)
    path = live / "upstream.conf"
    path.write_text(f"upstream binance_svc {{\n    server {address};\n"
                    f"    include snippets/upstream-keepalive.conf;\n}}\n"
                    f"map $host $binance_svc_color {{\n    default {color};\n}}\n")
    return path


def start_nginx(root: Path, upstream_port: int, tls_cert: tuple[Path, Path] | None = None,
                **env) -> Server:
    nginx = find_tool("nginx", install="nginx")
    port = free_port()
    values = dict(NGINX_ENV_DEFAULTS)
    values.update({
        "NGINX_LISTEN_PORT": str(port),
        "NGINX_CACHE_DIR": str(root / "cache"),
    })
    tls_port = None
    if tls_cert:
        tls_port = free_port()
        values.update({
            "NGINX_TLS_PORT": str(tls_port),
            "NGINX_SERVER_NAME": "localhost",
            "NGINX_TLS_CERT": str(tls_cert[0]),
            "NGINX_TLS_KEY": str(tls_cert[1]),
        })
    values.update(env)
    conf = render_nginx(root, values, tls=bool(tls_cert))
    if not (root / "live" / "upstream.conf").exists():
        write_upstream(root, f"127.0.0.1:{upstream_port}")
    check = subprocess.run(nginx_argv(nginx, conf) + ["-t", "-q"], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t failed:\n{check.stderr}"
    log = root / "nginx.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(nginx_argv(nginx, conf), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    wait_for_http(f"http://127.0.0.1:{port}/health", proc, timeout=30, log=log)
    return Server(f"http://127.0.0.1:{port}", port, proc, log, root,
                  f"https://127.0.0.1:{tls_port}" if tls_port else None)


# --- the production settings ------------------------------------------------------------

def compose_limits() -> dict[str, tuple[float, int]]:
    """(CPUs, memory MiB) of each service of deploy/docker-compose.prod.yml."""
    services = yaml.safe_load((REPO / "deploy" / "docker-compose.prod.yml").read_text())["services"]
    out = {}
    for name, svc in services.items():
        limits = svc["deploy"]["resources"]["limits"]
        number, unit = re.fullmatch(r"(\d+)([mg])", str(limits["memory"])).groups()
        out[name] = (float(limits["cpus"]), int(number) * (1024 if unit == "g" else 1))
    return out


def production_app_env() -> dict[str, str]:
    """deploy/app.env.example's settings (the host's app.env), on the demo market."""
    lines = (REPO / "deploy" / "app.env.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {**env, "MARKET_SOURCE": "demo"}


# --- cgroups -----------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str) -> Path | None:
    """This process' cgroup directory for a v1 controller, or the v2 one ("" controller)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller == "" and controllers == "":
            return CGROUP_ROOT / path.lstrip("/")
        if controller and controller in controllers.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/")
    return None


class Cgroup:
    """A child cgroup of this process' own, with a CPU quota and a memory limit, as Docker
    makes one per container (v1 cpu + memory, or v2 where both controllers are delegated).
    Raises OSError where none can be made; remove() deletes it once its processes are gone."""

    def __init__(self, name: str, cpus: float, memory_mib: int):
        self.dirs: list[Path] = []
        period = 100_000
        v1_cpu, v1_mem = _own_cgroup("cpu"), _own_cgroup("memory")
        try:
            if v1_cpu and v1_mem and (v1_cpu / "cpu.cfs_quota_us").exists():
                cpu, mem = v1_cpu / name, v1_mem / name
                for d in (cpu, mem):
                    d.mkdir()
                    self.dirs.append(d)
                (cpu / "cpu.cfs_period_us").write_text(str(period))
                (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
                (mem / "memory.limit_in_bytes").write_text(str(memory_mib * 1024 * 1024))
                self.memory_dir, self.version = mem, 1
            else:
                base = _own_cgroup("")
                if base is None:
                    raise OSError("no cgroup for this process")
                child = base / name
                child.mkdir()
                self.dirs.append(child)
                if not (child / "cpu.max").exists() or not (child / "memory.max").exists():
                    raise OSError("cpu and memory controllers are not delegated to "
                                  f"{base} (cgroup.subtree_control)")
                (child / "cpu.max").write_text(f"{int(cpus * period)} {period}")
                (child / "memory.max").write_text(str(memory_mib * 1024 * 1024))
                self.memory_dir, self.version = child, 2
        except OSError:
            self.remove()
            raise

    def procs(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs]

    def join_argv(self, argv: list[str]) -> list[str]:
        """argv run inside the group: a shell joins it, then execs argv, so the program and
        every process it forks are in the group from the start, as in a container."""
        return ["sh", "-c", 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; '
                'n=$((n - 1)); done; exec "$@"', "join", str(len(self.dirs)),
                *map(str, self.procs()), *argv]

    def peak_bytes(self) -> int | None:
        """The most memory the kernel charged to the group (what a container limit meters:
        anonymous memory, page cache, tmpfs), as `docker stats` would have shown at its peak."""
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((self.memory_dir / name).read_text())
            except (OSError, ValueError):
                continue
        return None

    def members(self) -> set[int]:
        return {int(p) for p in self.procs()[-1].read_text().split()}

    def oom_kills(self) -> int | None:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            text = (self.memory_dir / name).read_text()
        except OSError:
            return None
        m = re.search(r"^oom_kill (\d+)$", text, re.M)
        return int(m.group(1)) if m else None

    def limit_hits(self) -> int | None:
        """How often usage reached the limit (the kernel then reclaimed page cache, or OOM)."""
        try:
            if self.version == 1:
                return int((self.memory_dir / "memory.failcnt").read_text())
            m = re.search(r"^max (\d+)$", (self.memory_dir / "memory.events").read_text(), re.M)
            return int(m.group(1)) if m else None
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:          # still busy: processes are exiting
                    time.sleep(0.1)
