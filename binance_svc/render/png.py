"""Report -> PNG bytes: the analysis' chart at the requested pixel size.

A fresh Figure with its own Agg canvas per call (never pyplot): no global state, safe in
threads, and nothing kept alive after the bytes are out. The same report at the same size
gives the same bytes (no timestamp or software tag in the PNG), so ETags stay stable.

Encoding: the canvas is drawn once and its pixels written as an 8-bit RGB PNG (the figure is
opaque, so the alpha channel would only cost bytes and zlib time), every row with PNG filter
type 0 ("none"), at zlib level 3. The PNG format is four chunks (IHDR, pHYs, IDAT, IEND), each
a length, a type, the data and its CRC-32, written by `_png_bytes` with zlib and struct from
the standard library. Why not Pillow: its PNG encoder tries every filter on every row and keeps
the best, which took ~15 of its ~40 ms at 1200 x 800; on charts (flat colour, sharp edges)
"none" compresses as well or better (technical 199 -> 177 kB, liquidity 108 -> 102 kB). Any
PNG decoder reads the result; a test decodes it with Pillow and compares every pixel.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import struct
import zlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from binance_svc.render import charts

DPI = 100            # figsize = pixels / 100, so the PNG is exactly width x height pixels
MAX_PIXELS = 5000    # a guard for callers that skipped validation; the API allows 300-3000
COMPRESS_LEVEL = 3   # zlib: 1-3 cost about the same, 4-6 ~50 % more time for 2-5 % fewer bytes


def chart_analyses() -> tuple[str, ...]:
    """The analyses that have a chart (any other analysis has no PNG)."""
    return tuple(charts.DRAWERS)


def render_png(report, ctx) -> bytes:
    """Draw `report` at ctx.width x ctx.height pixels and return the PNG bytes.

    Raises ValueError for an analysis without a chart (e.g. "symbols") or a nonsensical size.
    """
    draw = charts.DRAWERS.get(report.analysis)
    if draw is None:
        raise ValueError(f"no chart for analysis {report.analysis!r}; "
                         f"charts exist for {', '.join(charts.DRAWERS)}")
    width, height = int(ctx.width), int(ctx.height)
    if not (0 < width <= MAX_PIXELS and 0 < height <= MAX_PIXELS):
        raise ValueError(f"chart size {width}x{height} outside 1-{MAX_PIXELS} pixels")
    try:
        return _draw(draw, report, width, height)
    finally:
        if COLLECT_AFTER_RENDER:   # the figure is garbage now: free its cycles (worker.py)
            gc.collect()


# Set by worker.prepare() once the worker's start-up heap is frozen: a full collection then
# costs ~10 ms, and doing it after each chart keeps dead figures from piling up into one
# long pause. Off elsewhere (tests, benchmarks), where a full collection walks everything.
COLLECT_AFTER_RENDER = False


def _draw(draw, report, width: int, height: int) -> bytes:
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    try:
        draw(fig, report)
        canvas.draw()
        return _png_bytes(np.asarray(canvas.buffer_rgba()), DPI)
    finally:
        charts.release_renderer(fig, canvas)


_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def _png_bytes(rgba: np.ndarray, dpi: int) -> bytes:
    """An (height, width, 4) uint8 array -> PNG bytes: 8-bit RGB, filter "none", no metadata
    but the resolution (no Software tag, no time: the same pixels give the same bytes)."""
    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + width * 3), np.uint8)
    rows[:, 0] = 0                                     # each row's filter type byte: none
    rows[:, 1:].reshape(height, width, 3)[...] = rgba[:, :, :3]
    per_metre = int(dpi / 0.0254 + 0.5)
    return b"".join((
        _SIGNATURE,
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),  # RGB, 8 bit
        _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),           # per metre
        _chunk(b"IDAT", zlib.compress(rows, COMPRESS_LEVEL)),
        _chunk(b"IEND", b""),
    ))


def _keep_large_buffers_out_of_the_heap() -> bool:
    """Have glibc serve every allocation of 1 MB or more with its own mmap (M_MMAP_THRESHOLD).

    A chart needs a few MB of RGBA buffer (36 MB at 3000 x 3000) and the encoder an RGB copy to
    encode. By default glibc raises its mmap threshold after such a buffer is freed, so the
    next ones come from the heap, whose top then stays as high as the largest render so far:
    5,000 renders at distinct sizes grew a worker by 22 MB, 200 renders up to 3000 x 3000 by
    14 MB. With a fixed 1 MB threshold every large buffer goes back to the OS when freed (4 MB
    for the same 200 renders) and a 1200 x 800 render takes as long (bench/png_memory.py,
    docs/benchmarks.md). malloc_trim after each render did as well for memory but cost ~90 ms
    a render (the next one faults every page back in). Process-wide, set once when this
    module is imported (in each gunicorn worker); a no-op where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_MMAP_THRESHOLD = -3
    return bool(mallopt(M_MMAP_THRESHOLD, 1 << 20))


MALLOC_TUNED = _keep_large_buffers_out_of_the_heap()
