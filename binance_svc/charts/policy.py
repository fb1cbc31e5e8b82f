"""Process-wide settings for a process that renders charts for a living (a gunicorn worker).

Nothing happens at import: `prepare_process()` is called once by binance_svc.worker.prepare,
after the start-up heap is frozen. Tests and benchmarks that do not call it get the defaults of
the interpreter and the C library.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

_collect_after_render = False


def prepare_process() -> dict:
    """Keep large buffers out of glibc's heap, and collect each chart's garbage after its
    render. Returns what it set."""
    global _collect_after_render
    _collect_after_render = True
    return {"malloc_mmap_threshold": _keep_large_buffers_out_of_the_heap(),
            "collect_after_render": True}


def after_render() -> None:
    """Called as each render returns. In a prepared process the figure just drawn is
    garbage now: a full collection frees its reference cycles. With the start-up heap frozen
    (gc.freeze) it costs ~10 ms, and doing it after each chart keeps dead figures from piling
    up into one long pause (150-270 ms). Elsewhere a full collection walks everything: off."""
    if _collect_after_render:
        gc.collect()


def _keep_large_buffers_out_of_the_heap() -> bool:
    """Have glibc serve every allocation of 1 MB or more with its own mmap (M_MMAP_THRESHOLD).

    A chart needs a few MB of RGBA buffer (36 MB at 3000 x 3000) and the encoder an RGB copy to
    encode. By default glibc raises its mmap threshold after such a buffer is freed, so the
    next ones come from the heap, whose top then stays as high as the largest render so far:
    5,000 renders at distinct sizes grew a worker by 22 MB, 200 renders up to 3000 x 3000 by
    14 MB. With a fixed 1 MB threshold every large buffer goes back to the OS when freed (4 MB
    for the same 200 renders) and a 1200 x 800 render takes as long (bench/png_memory.py,
    docs/benchmarks.md). malloc_trim after each render did as well for memory but cost ~90 ms
    a render (the next one faults every page back in). Process-wide; False where the C
    library is not glibc (nothing set).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_MMAP_THRESHOLD = -3
    return bool(mallopt(M_MMAP_THRESHOLD, 1 << 20))
