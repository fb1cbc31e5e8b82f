"""Paired A/B of the charts' legends: pasted images (`charts.fast.legend`) against
matplotlib's Legend drawn on every render (`charts.primitives.mpl_legend`), alternating in one
process, so that the host's drift (it swings by half within a minute) hits both sides alike.

    .venv/bin/python bench/legend_ab.py [--runs 21] [--size 1200x800]

Prints, per chart with legends, the median render time of each side and their ratio.
"""
from __future__ import annotations

import argparse
import statistics
import time

from cold_latency import BUILDERS, PROV, raw_inputs

from binance_svc.charts import fast, primitives
from binance_svc.render.formats import RenderContext, render
from binance_svc.upstream.demo import DemoMarket
from binance_svc.worker import prepare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--size", default="1200x800")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print("worker prepared:", prepare())
    raw = raw_inputs(DemoMarket(7))
    ctx = RenderContext(links={}, width=width, height=height)
    sides = {"pasted": fast.legend, "matplotlib": primitives.mpl_legend}
    try:
        for name in ("technical", "liquidity", "statistics"):
            report = BUILDERS[name](raw).with_provenance(PROV)
            times: dict[str, list[float]] = {side: [] for side in sides}
            for _ in range(args.runs):
                for side, legend in sides.items():
                    fast.legend = legend
                    t0 = time.perf_counter()
                    render(report, "png", ctx)
                    times[side].append((time.perf_counter() - t0) * 1000)
            pasted, mpl = (statistics.median(times[side]) for side in sides)
            print(f"{name:11} matplotlib's legend {mpl:6.1f} ms   pasted {pasted:6.1f} ms   "
                  f"ratio {pasted / mpl:.2f}")
    finally:
        fast.legend = sides["pasted"]


if __name__ == "__main__":
    main()
