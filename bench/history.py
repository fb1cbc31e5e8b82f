#!/usr/bin/env python3
"""History past 1,000 candles: what aligned, shared klines pages cost, and what a long answer
costs to build.

Through the real app (create_app with MARKET_SOURCE=demo, the demo market in process, Flask's
test client), for the technical analysis of BTCUSDT 1h with limit = 1,000 / 2,500 / 10,000:

- upstream klines calls and weight, counted by the app's Spot client: cold (a new app), then
  warm: the same history asked again as another window (limit - 1, so the rendered response is
  not what answers), once with the live page still cached and once with it expired
  (CACHE_TTL_KLINES=1h=0 keeps it 0 s in a second app, standing for a request after its
  60 s);
- for 10,000 candles, each format (CSV, JSON, PNG) cold in a process of its own: the time of
  the request, and the process's peak RSS (VmHWM) over its RSS before the request; and
  `klines`, the pages alone (Market.klines of 10,200 candles, its frame's size in memory).
  Imports, fonts and renderers are loaded first by a 10-candle request of another symbol, so
  the figure is the long answer's own.

    .venv/bin/python bench/history.py
    .venv/bin/python bench/history.py --limits 1000,2500 --formats csv

The demo market computes its candles in process: a cold figure includes generating them (about
what parsing Binance's JSON costs). It asserts nothing; it prints the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SYMBOL, INTERVAL = "BTCUSDT", "1h"


def technical_url(limit: int, fmt: str = "json", symbol: str = SYMBOL) -> str:
    return f"/api/v1/analysis/technical/{symbol}?interval={INTERVAL}&limit={limit}&format={fmt}"


def make_app(**config):
    from binance_svc import create_app
    return create_app({"MARKET_SOURCE": "demo", "LOG_LEVEL": "WARNING", **config})


def upstream_count(app) -> tuple[int, int]:
    state = app.extensions["binance_svc"].client.state
    return state.calls, state.weight_spent


def get(client, url: str):
    resp = client.get(url)
    if resp.status_code != 200:
        raise SystemExit(f"{url}: HTTP {resp.status_code}: {resp.data[:300]!r}")
    return resp


def klines_calls(app, client, url: str) -> tuple[int, int]:
    """(calls, weight) of one request, exchangeInfo left out (it is fetched once an hour)."""
    client.get("/api/v1/symbols?format=json")          # exchangeInfo, before counting
    calls, weight = upstream_count(app)
    get(client, url)
    after_calls, after_weight = upstream_count(app)
    return after_calls - calls, after_weight - weight


def costs(limit: int) -> dict:
    out = {}
    for name, config in (("live page cached", {}),
                         ("live page expired", {"CACHE_TTL_KLINES": f"{INTERVAL}=0"})):
        app = make_app(**config)
        client = app.test_client()
        cold = klines_calls(app, client, technical_url(limit))
        warm = klines_calls(app, client, technical_url(limit - 1))
        out[name] = (cold, warm)
    return out


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def one_cold(limit: int, fmt: str) -> dict:
    """In a fresh process: one cold request of `limit` candles in `fmt`."""
    app = make_app()
    client = app.test_client()
    warm_fmt = "json" if fmt == "klines" else fmt
    get(client, technical_url(10, warm_fmt, symbol="ETHUSDT"))   # imports, fonts, renderers
    rss_before = status_kb("VmRSS")
    # VmHWM is the peak since the process started: reset it where the kernel allows.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    hwm_before = status_kb("VmHWM")
    calls_before = upstream_count(app)
    t0 = time.perf_counter()
    if fmt == "klines":      # the pages alone: Market.klines as the technical view calls it
        from binance_svc.analysis.technical import WARMUP_CANDLES
        frame, _ = app.extensions["binance_svc"].market.klines(
            SYMBOL, INTERVAL, limit + WARMUP_CANDLES, trim=False)
        size = int(frame.memory_usage(deep=True).sum())
    else:
        size = len(get(client, technical_url(limit, fmt)).data)
    elapsed = time.perf_counter() - t0
    return {"format": fmt, "limit": limit, "seconds": round(elapsed, 3),
            "bytes": size, "rss_before_mb": round(rss_before / 1024, 1),
            "peak_over_before_mb": round((status_kb("VmHWM") - rss_before) / 1024, 1),
            "hwm_reset": hwm_before < rss_before + 1024,
            "calls": upstream_count(app)[0] - calls_before[0]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limits", default="1000,2500,10000")
    parser.add_argument("--formats", default="klines,csv,json,png")
    parser.add_argument("--cold-limit", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per format")
    parser.add_argument("--child", nargs=2, metavar=("LIMIT", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_cold(int(args.child[0]), args.child[1])))
        return

    print(f"machine: {machine_line()}")
    print(f"technical {SYMBOL} {INTERVAL} on the demo market in process; klines calls "
          "(weight) per request, exchangeInfo not counted")
    print(f"{'limit':>6} | {'live page':<18} | {'cold':>10} | {'warm, limit-1':>14}")
    for limit in (int(x) for x in args.limits.split(",")):
        for name, (cold, warm) in costs(limit).items():
            print(f"{limit:>6} | {name:<18} | {cold[0]:>3} ({cold[1]:>3}) | "
                  f"{warm[0]:>6} ({warm[1]:>3})")

    print(f"\ncold {args.cold_limit:,}-candle answer, each in a fresh process "
          "(peak RSS over the RSS before the request)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for fmt in args.formats.split(","):
        runs = []
        for _ in range(args.repeat):
            run = subprocess.run([sys.executable, __file__, "--child", str(args.cold_limit), fmt],
                                 capture_output=True, text=True, env=env, cwd=ROOT)
            if run.returncode:
                print(f"{fmt}: failed: {run.stderr.strip().splitlines()[-1:]}")
                break
            runs.append(json.loads(run.stdout.strip().splitlines()[-1]))
        if not runs:
            continue
        doc = sorted(runs, key=lambda d: d["seconds"])[len(runs) // 2]      # the median run
        times = ", ".join(f"{d['seconds'] * 1000:.0f}" for d in runs)
        print(f"{fmt:>6}: median {doc['seconds'] * 1000:5.0f} ms (runs: {times} ms), "
              f"{doc['bytes'] / 1e6:5.2f} MB, peak +{doc['peak_over_before_mb']} MB over "
              f"{doc['rss_before_mb']} MB ({doc['calls']} upstream calls"
              f"{'' if doc['hwm_reset'] else ', VmHWM not reset'})")


if __name__ == "__main__":
    main()
