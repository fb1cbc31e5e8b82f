"""Upstream economy: what a mixed burst costs Binance, and what the cache buys under latency.

    .venv/bin/python bench/economy.py                     # both parts
    .venv/bin/python bench/economy.py --part burst --requests 10000 --workers 4
    .venv/bin/python bench/economy.py --part latency --latency-ms 50 --duration 20

The upstream is the demo market served over loopback HTTP
(`python -m binance_svc.upstream.demo --port N [--latency-ms L]`); the service is the real
gunicorn with the repo's gunicorn.conf.py pointed at it (MARKET_SOURCE=demo
DEMO_UPSTREAM_URL=http://127.0.0.1:N), every time to live at its default. The demo's
GET /__demo/stats counts the upstream calls per path and their weight (reset before each run).

The workload: every resource in every format, for several symbols of the watch list (technical
and liquidity per symbol; statistics and correlation for the default watch list and for a
smaller list; /api/v1/symbols), shuffled with a fixed seed and cycled, sent by a bounded pool
of client threads, each with one keep-alive connection.

  burst    one upstream without latency, the service with its cache: N requests as fast as
           the pool goes; upstream calls, weight and requests/s.
  latency  the upstream answering after --latency-ms; the same workload for a fixed time (or
           a fixed number of requests) against the service with its cache (SimpleCache), then
           against the same service with CACHE_TYPE=NullCache (every request goes upstream:
           the design without a cache). UPSTREAM_WEIGHT_LIMIT is raised for both, so that the
           service's own weight budget never refuses a call and only latency and CPU are
           compared; the weight a minute each design would spend is printed beside Binance's
           6,000.

A benchmark prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import (Server, free_port, gunicorn, install_signal_handlers,  # noqa: E402
                        loadavg, machine)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
FORMATS = ("json", "csv", "html", "xml", "png")
BINANCE_LIMIT_1M = 6000


def workload(symbols=SYMBOLS, formats=FORMATS) -> list[str]:
    urls = []
    for fmt in formats:
        for s in symbols:
            urls.append(f"/api/v1/analysis/technical/{s}?format={fmt}")
            urls.append(f"/api/v1/market/liquidity/{s}?format={fmt}")
        urls.append(f"/api/v1/market/statistics?format={fmt}")
        urls.append(f"/api/v1/market/statistics?symbols={','.join(symbols)}&format={fmt}")
        urls.append(f"/api/v1/analysis/correlation?format={fmt}")
        urls.append(f"/api/v1/analysis/correlation?symbols={','.join(symbols)}&format={fmt}")
        if fmt != "png":
            urls.append(f"/api/v1/symbols?format={fmt}")
    return urls


# -- the client ---------------------------------------------------------------------------------
def run_load(port: int, urls: list[str], concurrency: int, requests: int | None,
             duration: float | None, limit: float, seed: int = 1) -> dict:
    """Send the shuffled, cycled `urls` until `requests` were sent or `duration` passed."""
    rng = random.Random(seed)
    order = urls[:]
    rng.shuffle(order)
    lock = threading.Lock()
    counter = [0]
    start = time.monotonic()
    stop_at = start + (duration if duration else limit)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    stale = [0]
    errors = [0]

    def next_index():
        with lock:
            i = counter[0]
            if (requests is not None and i >= requests) or time.monotonic() >= stop_at:
                return None
            counter[0] += 1
            return i

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        my_lat, my_status, my_stale, my_err = [], {}, 0, 0
        while (i := next_index()) is not None:
            url = order[i % len(order)]
            for attempt in (1, 2):   # a closed keep-alive connection: reconnect once
                t0 = time.perf_counter()
                try:
                    conn.request("GET", url)
                    resp = conn.getresponse()
                    resp.read()
                    if resp.getheader("Warning"):
                        my_stale += 1
                    my_status[resp.status] = my_status.get(resp.status, 0) + 1
                    my_lat.append(time.perf_counter() - t0)
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    if attempt == 2:
                        my_err += 1
        conn.close()
        with lock:
            lat.extend(my_lat)
            for k, v in my_status.items():
                statuses[k] = statuses.get(k, 0) + v
            stale[0] += my_stale
            errors[0] += my_err

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, stop_at - time.monotonic() + 90))
    elapsed = time.monotonic() - start
    lat.sort()
    done = len(lat)

    def pct(q):
        return lat[min(done - 1, int(q * done))] * 1000 if done else float("nan")

    return {"requests": done, "elapsed_s": elapsed, "rps": done / elapsed if elapsed else 0,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "statuses": statuses,
            "stale": stale[0], "errors": errors[0]}


# -- the upstream -------------------------------------------------------------------------------
def demo_upstream(port: int, latency_ms: int, log: Path) -> Server:
    argv = [sys.executable, "-m", "binance_svc.upstream.demo", "--host", "127.0.0.1",
            "--port", str(port), "--latency-ms", str(latency_ms)]
    return Server(argv, dict(os.environ), log, f"http://127.0.0.1:{port}/__demo/stats")


def demo_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__demo/stats", timeout=10) as r:
        return json.loads(r.read())


def demo_reset(port: int) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/__demo/reset", data=b"{}",
                                 method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def one_run(label: str, args, work: Path, latency_ms: int, cache_type: str,
            requests: int | None, duration: float | None, extra_env: dict,
            warmup: float = 0.0) -> dict:
    uport, sport = free_port(), free_port()
    upstream = service = None
    try:
        upstream = demo_upstream(uport, latency_ms, work / f"{label}-upstream.log")
        env = {"MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": f"http://127.0.0.1:{uport}",
               "GUNICORN_WORKERS": str(args.workers), "GUNICORN_THREADS": str(args.threads),
               "CACHE_TYPE": cache_type, "LOG_LEVEL": args.log_level, **extra_env}
        if args.max_requests is not None:
            env["GUNICORN_MAX_REQUESTS"] = str(args.max_requests)
        service = gunicorn("wsgi:app", sport, env, work / f"{label}-service.log")
        urls = workload(args.symbols, args.formats)
        if warmup:   # the same workload, not counted (and waited for to the last response)
            run_load(sport, urls, args.concurrency, None, warmup, args.limit, seed=2)
        demo_reset(uport)   # count from here
        load1 = loadavg()
        res = run_load(sport, urls, args.concurrency, requests, duration, args.limit)
        time.sleep(0.5)
        up = demo_stats(uport)
        res.update(label=label, cache_type=cache_type, latency_ms=latency_ms, load=load1,
                   warmup_s=warmup,
                   upstream_calls=sum(up["requests"].values()),
                   upstream_by_path=up["requests"], weight=up["total_weight"],
                   env={k: v for k, v in env.items() if k != "DEMO_UPSTREAM_URL"})
        res["weight_per_min"] = res["weight"] / res["elapsed_s"] * 60
        return res
    finally:
        for server in (service, upstream):
            if server is not None:
                server.stop()


def show(res: dict) -> None:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(res["statuses"].items()))
    print(f"## {res['label']}: CACHE_TYPE={res['cache_type']}, upstream latency "
          f"{res['latency_ms']} ms, warm-up {res['warmup_s']:g} s (not counted), "
          f"load before: {res['load']}")
    print(f"   requests {res['requests']:,} in {res['elapsed_s']:.1f} s = "
          f"{res['rps']:,.1f} req/s; latency p50 {res['p50_ms']:.1f} ms, "
          f"p99 {res['p99_ms']:.1f} ms; statuses {{{statuses}}}; stale {res['stale']}; "
          f"client errors {res['errors']}")
    per_k = res["upstream_calls"] / res["requests"] * 1000 if res["requests"] else 0
    print(f"   upstream calls {res['upstream_calls']:,} ({per_k:.1f} per 1,000 requests), "
          f"weight {res['weight']:,} ({res['weight_per_min']:,.0f} a minute; "
          f"Binance allows {BINANCE_LIMIT_1M:,})")
    print("   by path: " + ", ".join(f"{k} {v:,}" for k, v in
                                     sorted(res["upstream_by_path"].items())), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("burst", "latency", "both"), default="both")
    ap.add_argument("--requests", type=int, default=10_000, help="burst: requests")
    ap.add_argument("--latency-ms", type=int, default=50, help="latency: upstream latency")
    ap.add_argument("--duration", type=float, default=20.0,
                    help="latency: seconds per design (0: use --latency-requests)")
    ap.add_argument("--latency-requests", type=int, default=2000,
                    help="latency: requests per design when --duration is 0")
    ap.add_argument("--latency-warmup", type=float, default=20.0,
                    help="latency: seconds of the same workload before measuring (not counted)")
    ap.add_argument("--formats", default=",".join(FORMATS),
                    help="formats of the workload (default: all five)")
    ap.add_argument("--symbols", default=",".join(SYMBOLS),
                    help="symbols for technical, liquidity and the short lists")
    ap.add_argument("--workers", type=int, default=4, help="GUNICORN_WORKERS")
    ap.add_argument("--threads", type=int, default=4, help="GUNICORN_THREADS")
    ap.add_argument("--max-requests", type=int, default=None,
                    help="GUNICORN_MAX_REQUESTS (default: the repo's, 0)")
    ap.add_argument("--concurrency", type=int, default=16, help="client threads")
    ap.add_argument("--limit", type=float, default=1800.0, help="give up a run after this, s")
    ap.add_argument("--log-level", default="INFO")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the logs")
    args = ap.parse_args(argv)
    args.symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    args.formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    install_signal_handlers()

    urls = workload(args.symbols, args.formats)
    work = Path(tempfile.mkdtemp(prefix="bench-economy-"))
    info = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "workload_urls": len(urls), "runs": []}
    print(f"# machine: {info['machine']}  date: {info['date']}  load: {loadavg()}")
    print(f"# workload: {len(urls)} URLs (technical and liquidity x {','.join(args.symbols)}; "
          f"statistics and correlation for the watch list and for those; symbols; each in "
          f"{'/'.join(args.formats)}), shuffled (seed 1) and cycled; {args.concurrency} client threads "
          f"with keep-alive")
    print(f"# gunicorn: workers={args.workers} threads={args.threads} max_requests="
          f"{args.max_requests if args.max_requests is not None else 'repo default'}; "
          f"every CACHE_TTL_* at its default; logs in {work}", flush=True)
    try:
        if args.part in ("burst", "both"):
            res = one_run("burst", args, work, 0, "SimpleCache", args.requests, None, {})
            if res["requests"] < args.requests:
                print(f"   ! stopped at --limit {args.limit:g} s before {args.requests:,} "
                      "requests")
            show(res)
            info["runs"].append(res)
        if args.part in ("latency", "both"):
            duration = args.duration or None
            requests = None if duration else args.latency_requests
            extra = {"UPSTREAM_WEIGHT_LIMIT": "1000000"}
            rows = []
            for label, cache_type in (("with cache", "SimpleCache"),
                                      ("without cache", "NullCache")):
                res = one_run(label, args, work, args.latency_ms, cache_type, requests,
                              duration, extra, warmup=args.latency_warmup)
                show(res)
                info["runs"].append(res)
                rows.append(res)
            print()
            print(f"| design (upstream latency {args.latency_ms} ms) | requests | req/s | "
                  "p50 ms | p99 ms | upstream calls | calls / request | weight / minute |")
            print("|---|--:|--:|--:|--:|--:|--:|--:|")
            for r in rows:
                print(f"| {r['label']} ({r['cache_type']}) | {r['requests']:,} | "
                      f"{r['rps']:,.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                      f"{r['upstream_calls']:,} | "
                      f"{r['upstream_calls'] / max(1, r['requests']):.2f} | "
                      f"{r['weight_per_min']:,.0f} |")
            if rows[1]["rps"]:
                print(f"\n# the cache serves {rows[0]['rps'] / rows[1]['rps']:.1f}x the "
                      "requests/s of one-upstream-call-per-request")
        if args.json:
            Path(args.json).write_text(json.dumps(info, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
