"""Parquet against CSV and JSON: bytes, cold render time, and a client's parse time.

A technical report of N demo candles (1,000 and 10,000) is rendered as JSON, CSV and Parquet
(zstd, snappy and uncompressed), then parsed back the way a client would: `pd.read_csv(...,
parse_dates=...)`, `pd.read_parquet(...)` and `json.loads` + `pd.DataFrame`. Everything runs
in one process, the formats alternating, so a slow minute of a shared host hits them alike.
Prints medians of --runs.

    .venv/bin/python bench/parquet.py [--runs 15]
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from datetime import datetime, timedelta, timezone
from unittest import mock

import pandas as pd

from binance_svc.analysis.technical import WARMUP_CANDLES, technical_report
from binance_svc.render import parquet
from binance_svc.render.formats import RenderContext, render
from binance_svc.report import Provenance
from binance_svc.upstream.demo import DemoMarket
from binance_svc.upstream.frames import klines_frame

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
PROV = Provenance(source="demo", fetched_at=NOW, expires_at=NOW)
CODECS = ("zstd", "snappy", "none")


def report(candles: int):
    """N hourly candles with every indicator: the demo market's pages joined, oldest first."""
    market = DemoMarket(7)
    raw, end = [], NOW
    need = candles + WARMUP_CANDLES
    while len(raw) < need:
        page = market.klines("BTCUSDT", "1h", min(1000, need - len(raw)),
                             end_ms=int(end.timestamp() * 1000))
        raw = page + raw
        end = datetime.fromtimestamp(page[0][0] / 1000, timezone.utc) - timedelta(hours=1)
    frame = klines_frame(raw)
    params = {"symbol": "BTCUSDT", "interval": "1h", "limit": candles}
    return technical_report(frame, params=params, limit=candles, interval="1h",
                            now=NOW).with_provenance(PROV)


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, out


def parquet_with(codec: str):
    def go(rep):
        with mock.patch.object(parquet, "COMPRESSION", codec):
            return render(rep, "parquet", RenderContext())
    return go


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    ctx = RenderContext()
    dates = ["open_time", "close_time"]
    readers = {
        "json": lambda b: pd.DataFrame(json.loads(b)["rows"]),
        "csv": lambda b: pd.read_csv(io.BytesIO(b), parse_dates=dates),
    }
    print(f"{'candles':>8} {'format':<15} {'bytes':>11} {'render ms':>10} {'client parse ms':>16}")
    for n in (1000, 10_000):
        rep = report(n)
        assert len(rep.frame) == n
        writers = {"json": lambda r: render(r, "json", ctx), "csv": lambda r: render(r, "csv", ctx)}
        writers.update({f"parquet/{c}": parquet_with(c) for c in CODECS})
        for name, write in writers.items():
            ms, body = timed(lambda: write(rep), args.runs)
            read = readers.get(name, lambda b: pd.read_parquet(io.BytesIO(b)))
            parse_ms, frame = timed(lambda: read(body), args.runs)
            assert len(frame) == n
            print(f"{n:>8} {name:<15} {len(body):>11,} {ms:>10.1f} {parse_ms:>16.1f}")


if __name__ == "__main__":
    main()
