#!/usr/bin/env python3
"""Memory of PNG rendering: N distinct PNG renders (default 5,000) in one gunicorn worker, and
that worker's RSS (VmRSS from /proc/<pid>/status) before, during and after.

Each request asks for a size not asked before (width cycling 300..3000, then the next height),
so every one is a real render, never a cached response. The worker is not recycled during the
run (GUNICORN_MAX_REQUESTS=0), or the figures would compare two processes. The demo market is
served in process (no upstream server); the chart is the technical analysis' (three panels).

    .venv/bin/python bench/png_memory.py                         # 5,000 renders, 1 worker
    .venv/bin/python bench/png_memory.py --renders 500 --concurrency 2
    .venv/bin/python bench/png_memory.py --response-cache-mb 1   # the renderer alone

The target (issue 5): 5,000 renders grow the worker's RSS by less than 20 MB after a warm-up.
Note what else holds memory: the rendered-response cache keeps the PNGs it rendered, up to
RESPONSE_CACHE_MB (64 MB by default) per worker, so with the default the RSS also grows by
what that cache holds (at most its budget); `--response-cache-mb 1` measures the renderer
alone. It asserts nothing; it prints the figures.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import children, free_port, machine_line as machine, rss_kb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]










def sizes(n: int, start: int = 0):
    """Distinct (width, height): widths 300..3000, then the next height."""
    for i in range(start, start + n):
        yield 300 + i % 2701, 300 + i // 2701


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--renders", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=100, help="renders before the baseline")
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    ap.add_argument("--every", type=int, default=250, help="sample the RSS every N renders")
    ap.add_argument("--path", default="/api/v1/analysis/technical/BTCUSDT?interval=1d",
                    help="the resource whose chart is drawn (interval=1d: data kept 300 s)")
    ap.add_argument("--response-cache-mb", type=int, default=None,
                    help="RESPONSE_CACHE_MB for the service (default: its own, 64)")
    args = ap.parse_args(argv)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": "",
           "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1",
           "GUNICORN_MAX_REQUESTS": "0", "LOG_LEVEL": "WARNING",
           "GUNICORN_CMD_ARGS": "--no-control-socket"}
    for name in ("CACHE_TYPE", "CACHE_REDIS_URL", "RESPONSE_CACHE_MB"):
        env.pop(name, None)
    if args.response_cache_mb is not None:
        env["RESPONSE_CACHE_MB"] = str(args.response_cache_mb)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log = Path(tempfile.mkstemp(prefix="binance-svc-png-", suffix=".log")[1])
    with open(log, "wb") as fh:
        master = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                   "wsgi:app"], cwd=ROOT, env=env, stdout=fh, stderr=fh)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/health", timeout=2).read()
                break
            except Exception:
                time.sleep(0.2)
        (worker,) = children(master.pid)
        sep = "&" if "?" in args.path else "?"
        failures = []
        lock = threading.Lock()

        def render(size) -> int:
            w, h = size
            url = f"{base}{args.path}{sep}format=png&width={w}&height={h}"
            try:
                with urllib.request.urlopen(url, timeout=120) as resp:
                    body = resp.read()
                    ok = resp.status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n"
            except (urllib.error.URLError, OSError) as exc:
                ok, body = False, str(exc).encode()
            if not ok:
                with lock:
                    failures.append((w, h, body[:200]))
            return len(body)

        print(f"machine: {machine()}")
        print(f"date:    {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
        print(f"command: bench/png_memory.py {' '.join(argv if argv is not None else sys.argv[1:])}")
        print(f"worker:  pid {worker}, RSS at start {rss_kb(worker) / 1024:.1f} MB")
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(render, sizes(args.warmup, start=0)))
        base_rss = rss_kb(worker)
        print(f"after {args.warmup} warm-up renders: RSS {base_rss / 1024:.1f} MB (baseline)")
        print(f"{'renders':>8} {'RSS MB':>8} {'growth MB':>10} {'renders/s':>10}")
        t0 = time.monotonic()
        done, peak, total_bytes = 0, base_rss, 0
        start = args.warmup
        interrupted = False
        try:
            with ThreadPoolExecutor(args.concurrency) as pool:
                while done < args.renders:
                    n = min(args.every, args.renders - done)
                    total_bytes += sum(pool.map(render, sizes(n, start=start + done)))
                    done += n
                    now = rss_kb(worker)
                    peak = max(peak, now)
                    print(f"{done:>8} {now / 1024:>8.1f} {(now - base_rss) / 1024:>+10.1f} "
                          f"{done / (time.monotonic() - t0):>10.2f}", flush=True)
        except (KeyboardInterrupt, SystemExit):     # Ctrl-C / SIGTERM: report what was done
            interrupted = True
        if not done:
            return 1
        end = rss_kb(worker)
        elapsed = time.monotonic() - t0
        print(f"result:  {done} renders in {elapsed:.0f} s ({done / elapsed:.2f}/s), "
              f"{total_bytes / done / 1024:.0f} KB per PNG, {len(failures)} failures; "
              f"RSS {base_rss / 1024:.1f} -> {end / 1024:.1f} MB "
              f"({(end - base_rss) / 1024:+.1f} MB), peak {peak / 1024:.1f} MB; "
              f"RESPONSE_CACHE_MB={args.response_cache_mb or 'default (64)'}"
              + (" (interrupted)" if interrupted else ""))
        if failures:
            print("first failures:", failures[:3])
        return 0
    finally:
        if master.poll() is None:
            master.terminate()
            try:
                master.wait(timeout=20)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait(timeout=5)
        log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
