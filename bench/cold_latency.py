"""Cold latency: parse + analysis + render of each analysis, with upstream answering at once.

The raw Binance-shaped JSON is generated once by the demo market (so no upstream time is
counted); each run then does what a cache miss does: raw JSON -> frames -> Report -> bytes.
Prints median and p95 per analysis and format, plus a breakdown.

    .venv/bin/python bench/cold_latency.py [--runs 30] [--png-runs 10] [--worker]

--worker first does what a gunicorn worker does before it serves (binance_svc/worker.py: warm
the charts, freeze the start-up heap, collect each chart's garbage right after it), and prints
the cyclic collector's pauses: without it, dead figures pile up until one full collection
stops the process for 150-270 ms.

It also prints a host reference before and after (the median of five runs of a fixed
pure-Python loop): on a shared virtual machine the same code runs up to 2x slower from one
hour to the next, and this figure says which kind of hour a run had.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time
from datetime import datetime, timezone

from binance_svc.analysis.correlation import correlation_report
from binance_svc.analysis.liquidity import liquidity_report
from binance_svc.report import Provenance
from binance_svc.analysis.statistics import statistics_report
from binance_svc.analysis.technical import technical_report
from binance_svc.render.formats import RenderContext, render
from binance_svc.settings import DEFAULT_WATCHLIST
from binance_svc.upstream.demo import DemoMarket
from binance_svc.upstream.frames import depth_frames, klines_frame, tickers_frame

PROV = Provenance(source="demo", fetched_at=datetime.now(timezone.utc),
                  expires_at=datetime.now(timezone.utc))


def raw_inputs(market: DemoMarket) -> dict:
    return {
        "technical": market.klines("BTCUSDT", "1h", 1000),
        "correlation": {s: market.klines(s, "1d", 1000) for s in DEFAULT_WATCHLIST},
        "liquidity": market.depth("BTCUSDT", 5000),
        "statistics": [market.ticker(s) for s in DEFAULT_WATCHLIST],
    }


def technical(raw):
    frame = klines_frame(raw["technical"])
    return technical_report(frame, params={"symbol": "BTCUSDT", "interval": "1h",
                                           "limit": 800}, limit=800, interval="1h")


def correlation(raw):
    frames = {s: klines_frame(r) for s, r in raw["correlation"].items()}
    return correlation_report(frames, params={"symbols": list(frames)}, interval="1d",
                              limit=999, benchmark="BTCUSDT")


def liquidity(raw):
    bids, asks = depth_frames(raw["liquidity"])
    return liquidity_report(bids, asks, params={"symbol": "BTCUSDT", "depth": 5000},
                            notionals=[1e4, 1e5, 1e6])


def stats(raw):
    return statistics_report(tickers_frame(raw["statistics"]), params={},
                             symbols=list(DEFAULT_WATCHLIST))


BUILDERS = {"technical": technical, "correlation": correlation, "liquidity": liquidity,
            "statistics": stats}


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def host_reference() -> float:
    """Median ms of a fixed pure-Python loop: the host's speed at the moment, not ours."""
    def loop():
        total = 0
        for i in range(1_000_000):
            total += i
        return total
    return statistics.median(timed(loop, 5))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--png-runs", type=int, default=10)
    parser.add_argument("--worker", action="store_true",
                        help="prepare as a gunicorn worker does (binance_svc.worker.prepare)")
    args = parser.parse_args()
    raw = raw_inputs(DemoMarket(7))
    ctx = RenderContext(links={f: f"/x?format={f}" for f in ("json", "csv", "html", "xml", "png")})
    if args.worker:
        from binance_svc.worker import prepare
        print("worker prepared:", prepare())
    else:
        render(BUILDERS["statistics"](raw).with_provenance(PROV), "png", ctx)  # import matplotlib
    pauses = []
    started = {}

    def on_gc(phase, info):
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            pauses.append((time.perf_counter() - started.pop("t")) * 1000)

    reference = host_reference()
    print(f"host reference (1e6-step Python loop): {reference:.1f} ms")
    gc.callbacks.append(on_gc)
    print(f"{'analysis':12} {'step':22} {'median ms':>10} {'p95 ms':>8}")
    for name, build in BUILDERS.items():
        report = build(raw).with_provenance(PROV)
        rows = [("analysis (parse+compute)", timed(lambda: build(raw), args.runs))]
        for fmt in ("json", "csv", "xml", "html", "png"):
            runs = args.png_runs if fmt == "png" else args.runs
            rows.append((f"render {fmt}", timed(lambda: render(report, fmt, ctx), runs)))
        rows.append(("analysis + json", timed(
            lambda: render(build(raw).with_provenance(PROV), "json", ctx), args.runs)))
        rows.append(("analysis + png", timed(
            lambda: render(build(raw).with_provenance(PROV), "png", ctx), args.png_runs)))
        for step, values in rows:
            print(f"{name:12} {step:22} {statistics.median(values):10.1f} {p95(values):8.1f}")
    gc.callbacks.remove(on_gc)
    print(f"cyclic GC: {len(pauses)} collections, {sum(pauses):.0f} ms in all, "
          f"longest {max(pauses, default=0):.1f} ms")
    print(f"host reference after: {host_reference():.1f} ms (before: {reference:.1f} ms)")


if __name__ == "__main__":
    main()
