"""Upstream calls of a cold burst, with 1, 2 and 4 gunicorn workers, with and without Redis.

    .venv/bin/python bench/scaling.py                                # the table in docs/scaling.md
    .venv/bin/python bench/scaling.py --workers 1,2,4,8 --requests 96 --latency-ms 100
    .venv/bin/python bench/scaling.py --target '/api/v1/analysis/technical/BTCUSDT?interval=4h'

For each number of workers and each cache mode, a fresh gunicorn (the repo's gunicorn.conf.py,
4 threads a worker) starts with empty caches, on the demo market served over loopback HTTP
(`python -m binance_svc.upstream.demo --port N --latency-ms L`, whose GET /__demo/stats counts
the calls per path and their weight); `--requests` clients then ask for the same cold analysis
at once, each on its own connection, cycling through the json, csv, xml and html formats. The
figure is the number of upstream calls that burst made, per upstream path.

  in-process  CACHE_TYPE=SimpleCache (the default): each worker coalesces its own threads, so a
              burst costs up to one call per worker for each upstream call the analysis needs.
  redis       CACHE_TYPE=RedisCache on a throwaway redis-server (--save '' --appendonly no) on
              a free loopback port, flushed before each run: one call in all.

The upstream answers after --latency-ms (default 100 ms, about what Binance takes from a cloud
host), so that the burst overlaps the first fetch in every worker as it does in production.
REDIS_TIMEOUT is raised to 2 s (--redis-timeout) so that a late Redis answer on a busy machine
does not send a worker to its in-process fallback in the middle of the burst; any such
fall-back is counted and printed.

Everything listens on 127.0.0.1 and is stopped (by pid) at the end, also on Ctrl-C or SIGTERM.
A benchmark prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlsplit
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, loadavg, machine_line as machine, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("json", "csv", "xml", "html")
DEFAULT_TARGET = "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,BNBUSDT&interval=1w"




def get(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server")
         if os.access(p, os.X_OK)), None)


class Upstream:
    def __init__(self, latency_ms: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "binance_svc.upstream.demo", "--host", "127.0.0.1",
             "--port", "0", "--latency-ms", str(latency_ms)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            stop(self.proc)
            raise RuntimeError(f"the demo upstream did not start: {self.url!r}")

    def _call(self, method: str, path: str) -> dict:
        req = urllib.request.Request(self.url + path, data=b"{}" if method == "POST" else None,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self._call("GET", "/__demo/stats")

    def reset(self) -> None:
        self._call("POST", "/__demo/reset")


class Redis:
    def __init__(self, binary: str, workdir: Path):
        import redis

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir),
             "--logfile", str(workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        wait_until(self.client.ping, 10, "redis-server", self.proc)
        self.version = self.client.info("server").get("redis_version", "?")

    def flush(self) -> None:
        self.client.flushall()


class Service:
    """A fresh gunicorn: `workers` workers of wsgi:app on the upstream, empty caches."""

    def __init__(self, workers: int, upstream: Upstream, redis_url: str | None,
                 redis_timeout: float, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = log
        env = {**os.environ, "MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": upstream.url,
               "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers),
               "GUNICORN_THREADS": "4", "GUNICORN_ACCESSLOG": "-", "LOG_LEVEL": "INFO",
               "GUNICORN_CMD_ARGS": "--no-control-socket",
               "CACHE_TYPE": "RedisCache" if redis_url else "SimpleCache",
               "CACHE_REDIS_URL": redis_url or "", "REDIS_TIMEOUT": str(redis_timeout)}
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=self._log)
        pids: set[int] = set()

        def every_worker_up():
            status, body = get(self.url + "/health", timeout=5)
            pids.add(json.loads(body)["pid"])
            return len(pids) >= workers
        wait_until(every_worker_up, 180, "gunicorn", self.proc)

    def records(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def stop(self) -> None:
        stop(self.proc, signal.SIGINT)          # gunicorn's quick shutdown
        self._log.close()


def burst(service: Service, target: str, n: int) -> dict:
    formats = itertools.cycle(FORMATS)
    sep = "&" if "?" in target else "?"
    urls = [f"{service.url}{target}{sep}format={next(formats)}" for _ in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(lambda u: get(u)[0], urls))
    elapsed = time.monotonic() - t0
    path = target.split("?")[0]
    records = service.records()
    pids = {r["pid"] for r in records if r.get("logger") == "gunicorn.access"
            and r.get("path") == path}
    fallbacks = [r for r in records if r.get("level") == "warning"
                 and "redis unavailable" in str(r.get("message"))]
    return {"statuses": statuses, "elapsed": elapsed, "workers_answering": len(pids),
            "fallbacks": len(fallbacks)}






def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", default="1,2,4", help="comma-separated (default 1,2,4)")
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--target", default=DEFAULT_TARGET, help="the cold analysis (no format)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each configuration")
    parser.add_argument("--redis-timeout", type=float, default=2.0)
    parser.add_argument("--json", metavar="FILE", help="also write the figures there")
    args = parser.parse_args(argv)
    workers_list = [int(w) for w in args.workers.split(",")]

    binary = find_redis_server()
    if binary is None:
        print("redis-server not found (Debian package redis-server): cannot measure Redis",
              file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    workdir = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    upstream = redis = service = None
    rows = []
    try:
        upstream = Upstream(args.latency_ms)
        redis = Redis(binary, workdir)
        print(f"# Cold burst: upstream calls, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
        print(f"machine: {machine()}; load average at start {loadavg()}")
        print(f"python {platform.python_version()}, redis-server {redis.version}; upstream "
              f"latency {args.latency_ms} ms; {args.requests} concurrent requests for "
              f"{args.target} (formats {', '.join(FORMATS)} in turn)")
        print("command: " + " ".join([".venv/bin/python", "bench/scaling.py",
                                      *(sys.argv[1:] if argv is None else argv)]))
        print()
        print("| workers | cache | upstream calls | exchangeInfo | klines | weight | "
              "workers answering | 200s | burst s | Redis fall-backs |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for workers, mode, run in itertools.product(workers_list, ("in-process", "redis"),
                                                     range(args.repeats)):
            if mode == "redis":
                redis.flush()
            log = workdir / f"gunicorn-{workers}-{mode}-{run}.log"
            service = Service(workers, upstream, redis.url if mode == "redis" else None,
                              args.redis_timeout, log)
            upstream.reset()
            result = burst(service, args.target, args.requests)
            stats = upstream.stats()
            service.stop()
            service = None
            counts = stats["requests"]
            row = {"workers": workers, "cache": mode, "run": run,
                   "calls": sum(counts.values()), "by_path": counts,
                   "weight": stats["total_weight"],
                   "ok": result["statuses"].count(200), "requests": args.requests,
                   "elapsed_s": round(result["elapsed"], 2),
                   "workers_answering": result["workers_answering"],
                   "fallbacks": result["fallbacks"]}
            rows.append(row)
            print(f"| {workers} | {mode} | {row['calls']} | "
                  f"{counts.get('/api/v3/exchangeInfo', 0)} | {counts.get('/api/v3/klines', 0)} | "
                  f"{row['weight']} | {row['workers_answering']} | {row['ok']}/{args.requests} | "
                  f"{row['elapsed_s']} | {row['fallbacks']} |", flush=True)
        print(f"\nload average at end {loadavg()}")
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows},
                                                  indent=2))
    finally:
        if service is not None:
            service.stop()
        if redis is not None:
            stop(redis.proc)
        if upstream is not None:
            stop(upstream.proc)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
