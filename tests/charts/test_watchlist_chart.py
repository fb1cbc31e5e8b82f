"""The watch list's small multiples: one panel per symbol in the order asked, each on its own
price scale, the request's single-line overlays in every panel, at any size."""
from __future__ import annotations

import numpy as np
import pytest

from binance_svc import create_app
from binance_svc.charts import canvas, watchlist

SYMBOLS = ["BTCUSDT", "ETHUSDT", "DOGEUSDT", "SOLUSDT", "XRPUSDT"]


@pytest.fixture(scope="module")
def report():
    app = create_app({"MARKET_SOURCE": "demo", "LOG_LEVEL": "WARNING", "DEMO_UPSTREAM_URL": "",
                      "CACHE_TYPE": "SimpleCache"})
    services = app.extensions["binance_svc"]
    analysis = services.registry["watchlist"]
    from binance_svc.report import utcnow
    from binance_svc.web.params import parse_params
    now = utcnow()
    params = parse_params(analysis, {"symbols": ",".join(SYMBOLS),
                                     "indicators": "sma:20,ema:50,bbands,rsi,vwap",
                                     "end": "2026-11-01T00:00:00Z"}, {}, services.settings, now)
    return analysis.build(services.market, params, now)


def test_one_panel_per_symbol_in_order_each_on_its_own_scale(report):
    lay = watchlist.layout(report, 1200, 800)
    assert [p.symbol for p in lay.panels] == SYMBOLS
    btc, doge = lay.panels[0], lay.panels[2]
    assert btc.y_lim[0] > 1000 and doge.y_lim[1] < 10      # BTC and DOGE never share a scale
    for p in lay.panels:
        closes = report.frame[report.frame["symbol"] == p.symbol]["close"].to_numpy()
        np.testing.assert_array_equal(p.close, closes)
        assert p.y_lim[0] <= np.nanmin(closes) and np.nanmax(closes) <= p.y_lim[1]


def test_overlays_are_the_single_line_ones_asked_for(report):
    lay = watchlist.layout(report, 1200, 800)
    # bbands has three lines and RSI is not on the price scale: neither is drawn here.
    assert [label for label, _ in lay.legend] == ["close", "SMA(20)", "EMA(50)", "VWAP"]
    assert all(len(p.overlays) == 3 for p in lay.panels)


@pytest.mark.parametrize("size", [(600, 400), (1200, 800), (2400, 1200)])
def test_panels_fit_the_picture_without_overlapping(report, size):
    lay = watchlist.layout(report, *size)
    rects = [p.rect for p in lay.panels]
    for left, bottom, w, h in rects:
        assert left >= 0 and bottom >= 0 and left + w <= size[0] and bottom + h <= size[1]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            apart = (a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or
                     a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1])
            assert apart, (a, b)
    pixels = canvas.render("watchlist", report, *size)
    assert pixels.shape == (size[1], size[0], 3)
    assert pixels.std() > 5
