"""What a gunicorn worker does once, before it serves (wsgi.py calls `prepare`).

1. **Warm the charts.** matplotlib is imported on the first PNG, and that first render also
   loads fonts, builds glyph and text caches and initialises the date machinery: ~500-800 ms
   instead of ~200. Here each analysis draws one small chart from the bundled demo market (no
   network), so no client waits for that.
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


def prepare() -> dict:
    """Warm, freeze, and turn on collection after each render. Returns what it did."""
    from binance_svc.charts.policy import prepare_process
    from binance_svc.render import png

    started = time.perf_counter()
    try:
        warmed = _warm_charts(png.render_png)
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


class _Size:
    width, height = WARM_SIZE


def _warm_charts(render_png) -> list[str]:
    """Draw every analysis' chart once, small, from the demo market."""
    from binance_svc.analysis.correlation import correlation_report
    from binance_svc.analysis.liquidity import liquidity_report
    from binance_svc.analysis.report import Provenance, utcnow
    from binance_svc.analysis.statistics import statistics_report
    from binance_svc.analysis.technical import technical_report
    from binance_svc.upstream.demo import DemoMarket
    from binance_svc.upstream.frames import depth_frames, klines_frame, tickers_frame

    market = DemoMarket(7)
    symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
    now = utcnow()
    prov = Provenance(source="demo", fetched_at=now, expires_at=now)
    klines = {s: klines_frame(market.klines(s, "1d", 120)) for s in symbols}
    bids, asks = depth_frames(market.depth("BTCUSDT", 100))
    reports = [
        technical_report(klines["BTCUSDT"], params={"symbol": "BTCUSDT", "interval": "1d",
                                                    "limit": 60}, limit=60, interval="1d"),
        correlation_report(klines, params={"symbols": symbols}, interval="1d", limit=119,
                           benchmark="BTCUSDT"),
        liquidity_report(bids, asks, params={"symbol": "BTCUSDT", "depth": 100},
                         notionals=[1e4, 1e5]),
        statistics_report(tickers_frame([market.ticker(s) for s in symbols]), params={},
                          symbols=symbols),
    ]
    warmed = []
    for report in reports:
        render_png(report.with_provenance(prov), _Size())
        warmed.append(report.analysis)
    return warmed
