"""The PNG writer of render/png.py (it writes the file itself, without Pillow's encoder),
checked against an independent decoder. The charts themselves are tested in tests/charts."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from binance_svc.analysis.correlation import correlation_report
from binance_svc.analysis.liquidity import liquidity_report
from binance_svc.analysis.statistics import statistics_report
from binance_svc.analysis.technical import technical_report
from binance_svc.charts import canvas
from binance_svc.render.png import _png_bytes, render_png
from binance_svc.upstream.demo import DemoMarket
from binance_svc.upstream.frames import depth_frames, klines_frame, tickers_frame

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]


class Ctx:
    def __init__(self, width, height):
        self.width, self.height = width, height


def _reports():
    market = DemoMarket(7)
    klines = {s: klines_frame(market.klines(s, "1d", 120)) for s in SYMBOLS}
    bids, asks = depth_frames(market.depth("BTCUSDT", 100))
    return {
        "correlation": correlation_report(klines, params={"symbols": SYMBOLS}, interval="1d",
                                          limit=119, benchmark="BTCUSDT"),
        "liquidity": liquidity_report(bids, asks, params={"symbol": "BTCUSDT", "depth": 100},
                                      notionals=[1e4, 1e5]),
        "technical": technical_report(klines_frame(market.klines("BTCUSDT", "1d", 120)),
                                      params={"symbol": "BTCUSDT", "interval": "1d",
                                              "limit": 60}, limit=60, interval="1d"),
        "statistics": statistics_report(tickers_frame([market.ticker(s) for s in SYMBOLS]),
                                        params={}, symbols=SYMBOLS),
    }


@pytest.mark.parametrize("analysis,size", [("technical", (1200, 800)),
                                           ("correlation", (301, 799)),
                                           ("liquidity", (1199, 333)),
                                           ("statistics", (640, 480))])
def test_pillow_decodes_every_pixel_the_canvas_drew(analysis, size):
    """Our PNG writer against an independent decoder: size, mode, resolution and pixels."""
    report = _reports()[analysis]
    data = render_png(report, Ctx(*size))
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB" and image.size == size
        assert tuple(round(v) for v in image.info["dpi"]) == (100, 100)
        assert set(image.info) == {"dpi"}                   # no text chunks, no time
        pixels = np.asarray(image)
    assert np.array_equal(pixels, canvas.render(analysis, report, *size))


def test_the_chunk_checksums_are_right():
    """Pillow's verify() checks each chunk's CRC-32: ours pass, a flipped byte does not."""
    data = _png_bytes(np.full((4, 5, 4), 200, np.uint8), 100)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    damaged = bytearray(data)
    damaged[damaged.index(b"IDAT") + 6] ^= 0xFF
    with pytest.raises(SyntaxError, match="checksum"):
        with Image.open(io.BytesIO(bytes(damaged))) as image:
            image.verify()
