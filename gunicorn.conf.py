"""gunicorn settings; every value can be overridden from the environment.

The same file serves a laptop (`GUNICORN_BIND` defaults to 127.0.0.1:8000) and the image
(the Dockerfile sets `GUNICORN_BIND=0.0.0.0:8000`, `GUNICORN_WORKER_TMP_DIR=/dev/shm` and
`MPLCONFIGDIR=/tmp/matplotlib`, both on tmpfs because the root filesystem is read-only).

| variable                         | default                  | setting                 |
|----------------------------------|--------------------------|-------------------------|
| GUNICORN_BIND                    | 127.0.0.1:8000           | bind                    |
| GUNICORN_WORKERS                 | see "Workers" below      | workers                 |
| GUNICORN_THREADS                 | 4                        | threads (gthread)       |
| GUNICORN_TIMEOUT                 | 60                       | timeout (seconds)       |
| GUNICORN_GRACEFUL_TIMEOUT        | 20                       | graceful_timeout        |
| GUNICORN_KEEPALIVE               | 5                        | keepalive               |
| GUNICORN_MAX_REQUESTS            | 0 (never recycle)        | max_requests            |
| GUNICORN_MAX_REQUESTS_JITTER     | 200                      | max_requests_jitter     |
| GUNICORN_ACCESSLOG               | unset: no access log     | accesslog ("-" = stdout)|
| GUNICORN_WORKER_TMP_DIR          | unset: gunicorn default  | worker_tmp_dir          |
| GUNICORN_CONTROL_SOCKET          | unset: no control socket | control_socket          |
| FORWARDED_ALLOW_IPS              | 127.0.0.1                | forwarded_allow_ips     |
| LOG_LEVEL                        | info                     | loglevel                |
| UPSTREAM_STATE_FILE              | a new file per master    | (the app's, see below)  |

Workers: 2 x CPUs + 1 (gunicorn's rule for I/O-bound work), at most 8, and no more than the
memory limit holds after 64 MB for the master and the tmpfs mounts, at GUNICORN_WORKER_MB (256,
a worker's resident size with the data libraries loaded) plus RESPONSE_CACHE_MB (the app's
rendered-response budget, 64 by default) each. CPUs and memory are the container's, not the
host's: the cgroup's CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us) within the CPU affinity mask,
and its memory limit (memory.max, memory.limit_in_bytes). With the compose limits for a
t3.small (2 CPUs, 640 MiB) and app.env's RESPONSE_CACHE_MB=32 that is 2 workers; with no limits
on a 2-CPU host, 5. What a worker and a colour really use is measured in docs/benchmarks.md
("Memory", and "Whole stack memory").

Access log: the app writes one structured JSON line per request itself, so gunicorn's access
log is off by default (two lines per request would double the log volume and the bill).
`GUNICORN_ACCESSLOG=-` turns it on, one JSON object per line (see `JsonAccessLogger`), for
debugging the server layer, e.g. requests that never reach Flask.

Binance counts request weight per IP, so the workers must share the ban window and the minute's
weight: the master creates a small state file (in GUNICORN_WORKER_TMP_DIR when set, else the
temp directory) and names it in UPSTREAM_STATE_FILE, which the workers inherit; it is removed
when the master exits. Set UPSTREAM_STATE_FILE yourself to share one file between several
servers on a host; with CACHE_TYPE=RedisCache, Redis shares them across hosts instead.
"""
import datetime
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger


def _int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


CGROUP_ROOT = Path("/sys/fs/cgroup")
_MIB = 1024 * 1024


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup_dirs(root: Path, controller: str) -> list[Path]:
    """This process' cgroup directories for a controller, most specific first: in a container
    with its own cgroup namespace that is the root itself."""
    dirs = []
    for line in (_read(Path("/proc/self/cgroup")) or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and path not in ("", "/"):                      # v2
            dirs.append(root / path.lstrip("/"))
        elif controller in controllers.split(",") and path not in ("", "/"):  # v1
            dirs.append(root / controller / path.lstrip("/"))
    return dirs + [root, root / controller]


def container_cpus(root: Path = CGROUP_ROOT) -> float:
    """CPUs this process may use: the CPU quota of its cgroup, within its affinity mask."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = float(os.cpu_count() or 1)
    for directory in _own_cgroup_dirs(root, "cpu"):
        v2 = _read(directory / "cpu.max")                  # "150000 100000" or "max 100000"
        if v2:
            quota, _, period = v2.partition(" ")
            if quota != "max" and period:
                cpus = min(cpus, int(quota) / int(period))
            break
        v1 = _read(directory / "cpu.cfs_quota_us")
        if v1:
            period = _read(directory / "cpu.cfs_period_us") or "100000"
            if int(v1) > 0:
                cpus = min(cpus, int(v1) / int(period))
            break
    return cpus


def container_memory(root: Path = CGROUP_ROOT) -> int | None:
    """Bytes of the memory limit of this process' cgroup; None when there is none."""
    for directory in _own_cgroup_dirs(root, "memory"):
        value = _read(directory / "memory.max") or _read(directory / "memory.limit_in_bytes")
        if value is None:
            continue
        if value == "max" or int(value) >= 1 << 60:     # v1 writes "no limit" as ~2^63
            return None
        return int(value)
    return None


def default_workers(root: Path = CGROUP_ROOT) -> int:
    by_cpu = 2 * math.ceil(container_cpus(root)) + 1
    # Capped so a large host does not start dozens of workers, each with its own caches.
    workers = min(by_cpu, 8)
    memory = container_memory(root)
    if memory is not None:
        per_worker = (_int("GUNICORN_WORKER_MB", 256) + _int("RESPONSE_CACHE_MB", 64)) * _MIB
        workers = min(workers, (memory - 64 * _MIB) // per_worker)
    return max(int(workers), 1)


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = _int("GUNICORN_WORKERS", 0) or default_workers()
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# Above the worst case: BINANCE_TIMEOUT (5 s) x pages of klines for a 20-symbol correlation,
# plus rendering a PNG.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
# Longer than NGINX's upstream keepalive_timeout is not needed; NGINX reuses connections.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Workers are not recycled by default: each holds the in-process caches (upstream copies,
# rendered responses) and the ban window, and a recycled worker starts cold and calls Binance
# again (bench/load.py: 212 req/s with max_requests=2000 against ~900 without). 5,000 PNG
# renders grow a worker by a few MB (bench/png_memory.py), so there is no leak to guard against.
# Set GUNICORN_MAX_REQUESTS (with the jitter) if a future dependency leaks.
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Only the NGINX in front may set X-Forwarded-Proto / -For. In compose, the app is reachable
# only on the private network, where NGINX is the only client: FORWARDED_ALLOW_IPS=*.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The heartbeat file of each worker; on a read-only root it must be on tmpfs (/dev/shm).
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None
# gunicorn >= 25.1 opens a control socket for `gunicornc` at $HOME/.gunicorn/gunicorn.ctl by
# default: one path for every instance a user runs (the last to start takes it over, so a
# command meant for one server reaches another), and unwritable on a read-only root with no
# home. Off unless GUNICORN_CONTROL_SOCKET names a path. Older gunicorns ignore both names.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control_socket:
    control_socket = _control_socket
control_socket_disable = not _control_socket
# Do not let a header-flood or huge request line reach the app. 4094 is gunicorn's own default
# (and NGINX's large_client_header_buffers 4k in front); the longest valid URL is under 1 KB.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = 100


class JsonAccessLogger(Logger):
    """gunicorn's logger with the access log as one JSON object per line.

    json.dumps escapes whatever a client sends (quotes in a User-Agent cannot break a line),
    which a printf-style `access_log_format` cannot promise.
    """

    def _access_enabled(self):
        cfg = self.cfg
        return bool(
            cfg.accesslog or cfg.logconfig or cfg.logconfig_dict
            or getattr(cfg, "logconfig_json", None)
            or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)
        )

    def access(self, resp, req, environ, request_time):
        if not self._access_enabled():
            return
        try:
            status = resp.status
            if isinstance(status, str):
                status = status.split(None, 1)[0]
            headers = dict((k.lower(), v) for k, v in getattr(req, "headers", []) or [])
            record = {
                "time": datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "logger": "gunicorn.access",
                "remote_addr": environ.get("REMOTE_ADDR"),
                "forwarded_for": headers.get("x-forwarded-for"),
                "request_id": headers.get("x-request-id"),
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "query": environ.get("QUERY_STRING") or None,
                "protocol": environ.get("SERVER_PROTOCOL"),
                "status": int(status) if str(status).isdigit() else status,
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "user_agent": headers.get("user-agent"),
                "referer": headers.get("referer"),
                "pid": os.getpid(),
            }
            self.access_log.info(json.dumps(record, separators=(",", ":")))
        except Exception:  # a log line must never break a response
            self.exception("access log failed")


logger_class = JsonAccessLogger


def on_starting(server):
    _share_upstream_state(server)
    _seed_font_cache(server)


def _share_upstream_state(server):
    if os.environ.get("UPSTREAM_STATE_FILE", "").strip():
        return
    try:
        fd, path = tempfile.mkstemp(prefix="binance_svc-upstream-", suffix=".state",
                                    dir=worker_tmp_dir)
        os.close(fd)
    except OSError as exc:   # each worker then keeps its own count, as before
        server.log.warning("no shared upstream state file (workers count weight alone): %s",
                           exc)
        return
    os.environ["UPSTREAM_STATE_FILE"] = path
    server._binance_svc_state_file = path


def on_exit(server):
    path = getattr(server, "_binance_svc_state_file", None)
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _seed_font_cache(server):
    """Seed MPLCONFIGDIR (tmpfs, empty at start) with the font cache built into the image.

    matplotlib keeps its font list in MPLCONFIGDIR; on a read-only root that directory is a
    fresh tmpfs, so without this every worker would rebuild the list at its first chart.
    MPL_FONTCACHE_SEED names the directory the Dockerfile filled at build time.
    """
    seed = os.environ.get("MPL_FONTCACHE_SEED")
    target = os.environ.get("MPLCONFIGDIR")
    if not seed or not target or not os.path.isdir(seed):
        return
    try:
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(seed):
            if name.startswith("fontlist") and not os.path.exists(os.path.join(target, name)):
                shutil.copy2(os.path.join(seed, name), os.path.join(target, name))
    except OSError as exc:  # a missing cache only costs time
        server.log.warning("could not seed the matplotlib font cache: %s", exc)
