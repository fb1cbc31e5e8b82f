"""binance_svc.worker.prepare: what each gunicorn worker does before it serves (wsgi.py).

Each check runs in a fresh interpreter: warming, gc.freeze() and the collection after each
render are process-wide, and the point is what a new worker sees.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import gc, json, sys
    from matplotlib.figure import Figure
    prepared = None
    if sys.argv[1] == "prepared":
        from binance_svc.worker import prepare
        prepared = prepare()
    from binance_svc.render.png import render_png
    from binance_svc.worker import _warm_charts
    gc.disable()     # no automatic collection: only what render_png does frees a figure

    def figures():
        return sum(isinstance(o, Figure) for o in gc.get_objects())

    pngs = []
    _warm_charts(lambda report, ctx: pngs.append(render_png(report, ctx)))
    print(json.dumps({"prepared": prepared, "figures_left": figures(),
                      "pngs": [p[:8].hex() for p in pngs],
                      "frozen": gc.get_freeze_count()}))
""")


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_prepared_worker_has_warmed_every_chart_and_frozen_its_heap():
    result = _probe("prepared")
    prepared = result["prepared"]
    # Every analysis of the registry with a chart, in the registry's order.
    assert prepared["warmed"] == ["statistics", "technical", "watchlist", "correlation",
                                  "liquidity"]
    assert prepared["frozen_objects"] > 10_000 and result["frozen"] > 10_000
    assert result["pngs"] == ["89504e470d0a1a0a"] * 5        # it still renders PNGs


def test_after_each_chart_a_prepared_worker_keeps_no_dead_figure():
    # A figure is reference cycles: without the collector all five charts' figures stay;
    # a prepared worker collects each one as its render returns.
    assert _probe("plain")["figures_left"] == 5
    assert _probe("prepared")["figures_left"] == 0
