#!/usr/bin/env python3
"""Sustained load on loopback: wrk (or a Python client) over every resource and format, cached.

Starts the demo market on its own loopback port (so upstream calls and weight are counted),
the real gunicorn (`gunicorn.conf.py`, `wsgi:app`) pointed at it, warms every URL in every
worker, then runs `wrk -c 64` for `--duration` seconds (default 60) cycling over all the URLs.
Prints requests/s, latency, errors (non-2xx and socket errors), the upstream calls and weight
during the run, and each worker's RSS before and after (VmRSS from /proc/<pid>/status), plus
how many workers gunicorn recycled (max_requests) during the run. It asserts nothing.

    .venv/bin/python bench/load.py                       # 60 s, 64 connections, wrk
    .venv/bin/python bench/load.py --duration 10 --client python
    .venv/bin/python bench/load.py --max-requests 0      # no worker recycling
    .venv/bin/python bench/load.py --help

Everything listens on 127.0.0.1; every process it starts is stopped by its pid at the end
(also on Ctrl-C / SIGTERM).
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import children, free_port, machine_line as machine, rss_kb, wait_http  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("json", "csv", "html", "xml", "png")


def urls() -> list[str]:
    out = []
    for f in FORMATS:
        out += [f"/api/v1/market/statistics?format={f}",
                f"/api/v1/analysis/technical/BTCUSDT?format={f}",
                f"/api/v1/analysis/technical/ETHUSDT?interval=1d&format={f}",
                f"/api/v1/analysis/correlation?format={f}",
                f"/api/v1/market/liquidity/BTCUSDT?format={f}"]
        if f != "png":
            out.append(f"/api/v1/symbols?format={f}")
    out.append("/api/v1/analysis/correlation?format=csv&table=assets")
    return out






def get(base: str, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()








class Procs:
    """Processes this script started; stopped by pid."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, *args, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(*args, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


LUA = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"bytes\\": %%d, "
    .. "\\"status_errors\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, \\"write\\": %%d, "
    .. "\\"timeout\\": %%d, \\"p50_ms\\": %%.2f, \\"p99_ms\\": %%.2f, \\"max_ms\\": %%.2f}\\n",
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def run_wrk(base: str, paths: list[str], duration: int, connections: int, threads: int,
            workdir: Path) -> dict:
    script = workdir / "cycle.lua"
    script.write_text(LUA % ", ".join(json.dumps(p) for p in paths))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
           "-s", str(script), base + paths[0]]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    match = re.search(r"^RESULT (\{.*\})$", out.stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk said:\n{out.stdout}\n{out.stderr}")
    doc = json.loads(match.group(1))
    doc["rps"] = doc["requests"] / (doc["duration_us"] / 1e6)
    doc["errors"] = sum(doc[k] for k in ("status_errors", "connect", "read", "write", "timeout"))
    doc["client"] = " ".join(cmd)
    return doc


def run_python(base_port: int, paths: list[str], duration: int, connections: int) -> dict:
    """Keep-alive http.client connections, one thread each (slower than wrk: the GIL)."""
    lock = threading.Lock()
    cycle = itertools.cycle(paths)
    latencies: list[float] = []
    state = {"requests": 0, "status_errors": 0, "socket_errors": 0, "bytes": 0}
    deadline = time.monotonic() + duration

    def loop():
        conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
        local = []
        while time.monotonic() < deadline:
            with lock:
                path = next(cycle)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                ok = 200 <= resp.status < 400
                if resp.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
                with lock:
                    state["socket_errors"] += 1
                continue
            local.append(time.perf_counter() - t0)
            with lock:
                state["requests"] += 1
                state["bytes"] += len(body)
                state["status_errors"] += 0 if ok else 1
        conn.close()
        with lock:
            latencies.extend(local)

    t0 = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa
    return {**state, "rps": state["requests"] / elapsed, "duration_us": elapsed * 1e6,
            "errors": state["status_errors"] + state["socket_errors"],
            "p50_ms": pick(0.5) if latencies else 0, "p99_ms": pick(0.99) if latencies else 0,
            "max_ms": latencies[-1] * 1000 if latencies else 0,
            "client": f"python http.client, {connections} keep-alive connections"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--workers", type=int, default=None,
                    help="gunicorn workers (default: gunicorn.conf.py's, 2 x CPUs + 1, max 8)")
    ap.add_argument("--max-requests", type=int, default=None,
                    help="GUNICORN_MAX_REQUESTS (default: gunicorn.conf.py's, 0)")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--ttl", type=int, default=3600,
                    help="every CACHE_TTL_* in seconds, so the run is served from the caches "
                         "(default 3600); 0 keeps the service's own (depth 2 s, ticker 10 s, "
                         "klines 10-300 s): then the run includes refetches and re-renders")
    ap.add_argument("--log-level", default="WARNING",
                    help="service LOG_LEVEL (INFO writes a JSON line per request; default off)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="binance-svc-load-"))
    try:
        up = procs.start([sys.executable, "-m", "binance_svc.upstream.demo", "--port", "0"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        up_url = up.stdout.readline().strip()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": up_url,
               "GUNICORN_BIND": f"127.0.0.1:{port}", "LOG_LEVEL": args.log_level,
               "GUNICORN_CMD_ARGS": "--no-control-socket"}
        for name in ("CACHE_TYPE", "CACHE_REDIS_URL", "WATCHLIST"):
            env.pop(name, None)
        for name in ("CACHE_TTL_TICKER", "CACHE_TTL_DEPTH", "CACHE_TTL_KLINES",
                     "CACHE_TTL_EXCHANGE_INFO"):
            env.pop(name, None)
        if args.ttl:
            env.update({"CACHE_TTL_TICKER": str(args.ttl), "CACHE_TTL_DEPTH": str(args.ttl),
                        "CACHE_TTL_EXCHANGE_INFO": str(max(args.ttl, 3600)),
                        "CACHE_TTL_KLINES": ",".join(f"{i}={args.ttl}" for i in (
                            "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h",
                            "12h", "1d", "3d", "1w", "1M"))})
        if args.workers:
            env["GUNICORN_WORKERS"] = str(args.workers)
        if args.max_requests is not None:
            env["GUNICORN_MAX_REQUESTS"] = str(args.max_requests)
        log = workdir / "gunicorn.log"
        with open(log, "wb") as fh:
            master = procs.start([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                  "wsgi:app"], cwd=ROOT, env=env, stdout=fh, stderr=fh)
        wait_http(base + "/health")
        time.sleep(2)                                   # let every worker boot
        paths = urls()
        # Warm every URL in every worker: concurrent rounds over fresh connections.
        for _ in range(3):
            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(lambda p: get(base, p)[0], paths * 6))
        bad = [s for s in statuses if s != 200]
        workers_before = children(master.pid)
        rss_before = {pid: rss_kb(pid) for pid in workers_before}
        with urllib.request.urlopen(up_url + "/__demo/stats") as resp:
            up_before = json.loads(resp.read())
        started = datetime.now(timezone.utc)
        # Every worker process seen during the run (gunicorn replaces a worker after
        # max_requests; its INFO log line is not written at LOG_LEVEL=WARNING) and its RSS.
        seen: dict[int, int] = {}
        stop_sampling = threading.Event()

        def sample():
            while not stop_sampling.wait(0.5):
                for pid in children(master.pid):
                    kb = rss_kb(pid)
                    if kb:
                        seen[pid] = max(seen.get(pid, 0), kb)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        if client == "wrk":
            result = run_wrk(base, paths, args.duration, args.connections, args.threads,
                             workdir)
        else:
            result = run_python(port, paths, args.duration, args.connections)
        stop_sampling.set()
        sampler.join()
        workers_after = children(master.pid)
        rss_after = {pid: rss_kb(pid) for pid in workers_after}
        replaced = len((set(seen) | set(workers_after)) - set(workers_before))
        with urllib.request.urlopen(up_url + "/__demo/stats") as resp:
            up_after = json.loads(resp.read())
        recycled = replaced
        calls = {k: v - up_before["requests"].get(k, 0)
                 for k, v in up_after["requests"].items()
                 if v - up_before["requests"].get(k, 0)}
        weight = up_after["total_weight"] - up_before["total_weight"]

        figures = {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "command": "bench/load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "client": result["client"], "urls": len(paths), "duration_s": args.duration,
            "connections": args.connections, "ttl": args.ttl or "service defaults",
            "requests": result["requests"],
            "requests_per_s": round(result["rps"], 1), "errors": result["errors"],
            "error_detail": {k: result.get(k) for k in ("status_errors", "connect", "read",
                                                        "write", "timeout", "socket_errors")
                             if result.get(k) is not None},
            "warmup_non_200": len(bad),
            "latency_ms": {"p50": round(result["p50_ms"], 1), "p99": round(result["p99_ms"], 1),
                           "max": round(result["max_ms"], 1)},
            "workers_recycled": recycled, "rss_kb_peak": seen,
            "rss_kb_before": rss_before, "rss_kb_after": rss_after,
            "upstream_calls": calls, "upstream_weight": weight,
            "upstream_weight_per_minute": round(weight / (args.duration / 60), 1),
        }
        print(f"machine:  {figures['machine']}")
        print(f"date:     {figures['date']}")
        print(f"client:   {figures['client']}")
        print(f"load:     {len(paths)} URLs (5 resources x formats), {args.connections} "
              f"connections, {args.duration} s, "
              + (f"every time to live {args.ttl} s (cached)" if args.ttl
                 else "the service's own times to live"))
        print(f"result:   {result['requests']} requests, {result['rps']:.1f} requests/s, "
              f"{result['errors']} errors {figures['error_detail']}, "
              f"{len(bad)} non-200 in the warm-up")
        print(f"latency:  p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
              f"max {result['max_ms']:.1f} ms")
        print(f"upstream: {calls} weight {weight} "
              f"({figures['upstream_weight_per_minute']}/min)")
        print(f"workers:  {len(workers_before)} before, {len(workers_after)} after, "
              f"{recycled} new worker processes during the run (max_requests recycling)")
        if seen:
            peaks = sorted(kb / 1024 for kb in seen.values())
            print(f"  peak RSS of the {len(seen)} worker processes seen: "
                  f"{peaks[0]:.1f}-{peaks[-1]:.1f} MB")
        for pid in sorted(set(workers_before) | set(workers_after)):
            b, a = rss_before.get(pid), rss_after.get(pid)
            mb = lambda kb: "-" if kb is None else f"{kb / 1024:.1f} MB"   # noqa: E731
            delta = f"{(a - b) / 1024:+.1f} MB" if a and b else "(started or ended during run)"
            print(f"  worker {pid}: RSS before {mb(b)}, after {mb(a)}, {delta}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0
    finally:
        procs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
