"""The entry point: a chart by name, drawn on a fresh Figure with its own Agg canvas.

A fresh Figure per call (never pyplot): no global state, safe in threads. The chart module is
`binance_svc.charts.<chart>`, imported by name, so adding a chart adds a module and touches
nothing here.
"""
from __future__ import annotations

import contextlib
import importlib
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from binance_svc.charts import fast
from binance_svc.charts.style import DPI

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NOT_CHARTS = {"canvas", "fast", "policy", "primitives", "style"}


def _draws(module) -> bool:
    return callable(getattr(module, "layout", None)) and callable(getattr(module, "draw", None))


def chart_module(chart):
    """The module drawing `chart`, or None when there is no such chart. `chart` is a module
    name under binance_svc/charts/, or an object with `layout` and `draw` itself (an analysis
    registered from outside the package brings its own)."""
    if not isinstance(chart, str):
        return chart if _draws(chart) else None
    if not _NAME.fullmatch(chart) or chart in _NOT_CHARTS:
        return None
    try:
        module = importlib.import_module(f"{__package__}.{chart}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{chart}":
            raise     # the chart exists but something it imports does not
        return None
    return module if _draws(module) else None


def _module(chart: str):
    module = chart_module(chart)
    if module is None:
        raise ValueError(f"no chart for analysis {chart!r}")
    return module


@contextlib.contextmanager
def drawn(chart: str, report, width: int, height: int):
    """Draw `report` as `chart` at width x height pixels and yield the canvas' (height,
    width, 4) RGBA pixels, valid inside the `with` only (on the fast path the renderer and
    its buffer are freed as it ends). Raises ValueError for an unknown chart."""
    module = _module(chart)
    with fast.use(fast.enabled()):    # one answer for the whole render
        layout = module.layout(report, width, height)
        fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        canvas = FigureCanvasAgg(fig)
        try:
            module.draw(fig, layout)
            canvas.draw()
            yield np.asarray(canvas.buffer_rgba())
        finally:
            if fast.enabled():
                fast.release_renderer(fig, canvas)


def render(chart: str, report, width: int, height: int) -> np.ndarray:
    """`report` drawn as `chart`: an (height, width, 3) uint8 RGB array (the figure is
    opaque). Raises ValueError for an unknown chart."""
    with drawn(chart, report, width, height) as rgba:
        return rgba[..., :3].copy()
