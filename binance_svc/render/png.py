"""Report -> PNG bytes: the analysis' chart at the requested pixel size.

A fresh Figure with its own Agg canvas per call (never pyplot): no global state, safe in
threads, and nothing kept alive after the bytes are out. The same report at the same size
gives the same bytes (no timestamp or software tag in the PNG), so ETags stay stable.

Encoding: the canvas is drawn once and its pixels written by Pillow as RGB (the figure is
opaque, so the alpha channel only costs bytes and zlib time) at zlib level 3. Against
savefig's RGBA at level 6 that halves the encoding time (about 45 -> 22 ms at 1200 x 800)
and the file is still about 5 % smaller.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import io

from PIL import Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

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

    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    try:
        draw(fig, report)
        canvas.draw()
        image = Image.frombuffer("RGBA", canvas.get_width_height(physical=True),
                                 canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
        buf = io.BytesIO()
        # no pnginfo: Pillow writes no text chunks (no Software tag, no time)
        image.save(buf, format="png", dpi=(DPI, DPI), compress_level=COMPRESS_LEVEL)
        return buf.getvalue()
    finally:
        _release_renderer(fig, canvas)


def _release_renderer(fig: Figure, canvas: FigureCanvasAgg) -> None:
    """Free the pixel buffer (36 MB at 3000 x 3000) now, not whenever the cyclic GC reaches
    the figure: the canvas and every drawn Text (its private `_renderer`) hold the renderer.
    The artists themselves, a few hundred kB, go with the figure's reference cycles."""
    canvas.renderer = None
    for text in fig.findobj(Text):
        if getattr(text, "_renderer", None) is not None:
            text._renderer = None


def _keep_large_buffers_out_of_the_heap() -> bool:
    """Have glibc serve every allocation of 1 MB or more with its own mmap (M_MMAP_THRESHOLD).

    A chart needs a few MB of RGBA buffer (36 MB at 3000 x 3000) and Pillow an RGB copy to
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
