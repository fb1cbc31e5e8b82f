"""What N open pages cost Binance: each page polls its JSON the way render/static/report.js
does (wait for the answer's Cache-Control max-age, then GET with If-None-Match; a 304 changes
nothing), against the real gunicorn on the demo market served over loopback HTTP, which counts
every upstream call. Prints requests, 200s and 304s, and the upstream calls against what the
times to live alone allow.

    .venv/bin/python bench/polling.py [--pages 100] [--duration 60]

Loopback only; stops by itself after --duration seconds.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import tempfile
import threading
import time
from pathlib import Path

from _common import free_port, loadavg, machine_line
from economy import demo_reset, demo_stats, demo_upstream
from throughput import gunicorn

URL = "/api/v1/market/statistics?format=json"
MAX_AGE = re.compile(r"max-age=(\d+)")


def page(port: int, stop_at: float, counts: dict, lock: threading.Lock) -> None:
    """One open page: poll when the data's max-age runs out (at least 1 s), as report.js."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    etag, mine = None, {}
    time.sleep(random.uniform(0, 2))        # pages were opened at different moments
    while time.monotonic() < stop_at:
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        resp = None
        for attempt in range(2):
            try:
                conn.request("GET", URL, headers=headers)
                resp = conn.getresponse()
                resp.read()
                break
            except (OSError, http.client.HTTPException):
                # The server closed the idle keep-alive connection while the page waited (as
                # a browser does, open a new one and send the request again).
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                resp = None
        if resp is None:
            mine["error"] = mine.get("error", 0) + 1
            time.sleep(1)
            continue
        mine[resp.status] = mine.get(resp.status, 0) + 1
        etag = resp.getheader("ETag") or etag
        match = MAX_AGE.search(resp.getheader("Cache-Control") or "")
        time.sleep(max(1, int(match.group(1)) if match else 1))
    conn.close()
    with lock:
        for k, v in mine.items():
            counts[k] = counts.get(k, 0) + v


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="polling-"))
    uport, sport = free_port(), free_port()
    upstream = service = None
    try:
        upstream = demo_upstream(uport, 0, work / "upstream.log")
        env = {"MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": f"http://127.0.0.1:{uport}",
               "GUNICORN_WORKERS": str(args.workers), "LOG_LEVEL": "WARNING"}
        service = gunicorn("wsgi:app", sport, env, work / "service.log")
        demo_reset(uport)
        counts: dict = {}
        lock = threading.Lock()
        stop_at = time.monotonic() + args.duration
        threads = [threading.Thread(target=page, args=(sport, stop_at, counts, lock),
                                    daemon=True) for _ in range(args.pages)]
        load = loadavg()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.duration + 60)
        up = demo_stats(uport)
    finally:
        for server in (service, upstream):
            if server is not None:
                server.stop()
    ticker = sum(v for k, v in up["requests"].items() if "ticker" in k)
    ttl = 10      # CACHE_TTL_TICKER's default
    bound = args.workers * (int(args.duration // ttl) + 1)
    print(machine_line())
    print(f"load average before: {load}")
    print(f"{args.pages} pages polling {URL} for {args.duration:g} s, {args.workers} workers")
    print(f"  answers: {json.dumps({str(k): v for k, v in sorted(counts.items(), key=str)})}")
    print(f"  upstream calls: {json.dumps(up['requests'])}, weight {up['total_weight']}")
    print(f"  24 h ticker calls {ticker}; the time to live alone allows at most {bound} "
          f"({args.workers} workers x one per {ttl} s)")


if __name__ == "__main__":
    main()
