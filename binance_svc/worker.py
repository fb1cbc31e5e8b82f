"""What a gunicorn worker does once, before it serves (wsgi.py calls `prepare`).

1. **Warm the charts.** matplotlib is imported on the first PNG, and that first render also
   loads fonts, builds glyph and text caches and initialises the date machinery: ~500-800 ms
   instead of ~200. Here every analysis of the registry that has a chart is built from the
   bundled demo market (no network) with its example parameters, through its own `build`, and
   drawn once small, so no client waits for that.
2. **Freeze the start-up heap.** The modules, the app and matplotlib are over a hundred
   thousand objects that live as long as the worker. `gc.freeze()` moves them out of the
   cyclic collector's sight, so a full collection no longer walks them.
3. **Collect each chart's garbage at once.** A figure and its artists are reference cycles:
   only the cyclic collector frees them. Left alone, dozens of dead figures piled up and a
   full collection then stopped the worker for 150-270 ms in the middle of some request (the
   tail of the PNG latency). With the heap frozen, collecting right after each render costs
   ~10 ms and pauses are bounded by one figure (bench/cold_latency.py --worker).

Never fatal: a failure to warm is logged and the worker serves anyway (colder).
"""
from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

WARM_SIZE = (400, 300)


def prepare(registry=None) -> dict:
    """Warm, freeze, and turn on collection after each render. Returns what it did."""
    from binance_svc.charts.policy import prepare_process
    from binance_svc.render import png

    started = time.perf_counter()
    try:
        warmed = _warm_charts(png.render_png, registry)
    except Exception:    # a worker that cannot warm up still serves
        log.warning("chart warm-up failed; the first chart will be slower", exc_info=True)
        warmed = []
    gc.collect()
    gc.freeze()
    prepare_process()
    done = {"warmed": warmed, "frozen_objects": gc.get_freeze_count(),
            "seconds": round(time.perf_counter() - started, 3)}
    log.info("worker prepared: %s", done)
    return done


# The demo market in process, with nothing shared: warm-up calls must not count against the
# host's weight budget (UPSTREAM_STATE_FILE) or touch Redis.
DEMO = {"MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": "", "DEMO_LATENCY_MS": "0",
        "CACHE_TYPE": "SimpleCache", "UPSTREAM_STATE_FILE": ""}


def _warm_charts(render_png, registry=None) -> list[str]:
    """Build each analysis that has a chart from the demo market and draw it once, small."""
    from binance_svc import create_app
    from binance_svc.render.formats import RenderContext
    from binance_svc.report import utcnow
    from binance_svc.web.params import parse_params

    services = create_app(DEMO, registry=registry).extensions["binance_svc"]
    warmed = []
    for analysis in services.registry:
        if not analysis.chart or not analysis.warm:
            continue
        now = utcnow()
        path_args = {p.name: p.example for p in analysis.path_params}
        params = parse_params(analysis, {}, path_args, services.settings, now)
        report = analysis.build(services.market, params, now)
        render_png(report, RenderContext(width=WARM_SIZE[0], height=WARM_SIZE[1],
                                         chart=analysis.chart))
        warmed.append(analysis.name)
    return warmed
