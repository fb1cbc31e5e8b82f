"""Each chart's layout(report, width, height) is pure: no Figure, no canvas, no artist; the
same inputs give the same layout; the report is left as it was; and draw() of it is the chart."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.artist import Artist
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from binance_svc.charts import canvas
from chart_reports import BUILDERS, chart_pixels, empty_report

SIZES = [(1200, 800), (400, 300), (3000, 1500)]


def _values(obj):
    """Every value inside a layout, recursively through dataclasses and tuples."""
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from _values(getattr(obj, f.name))
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _values(v)
    else:
        yield obj


def _same(a, b) -> bool:
    va, vb = list(_values(a)), list(_values(b))
    return len(va) == len(vb) and all(
        np.array_equal(x, y, equal_nan=True) if isinstance(x, np.ndarray) else
        (x == y or (isinstance(x, float) and np.isnan(x) and np.isnan(y))) for x, y in zip(va, vb))


@pytest.fixture
def no_figures(monkeypatch):
    """Any Figure or canvas made while this is on fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("layout() made a Figure or a canvas")
    monkeypatch.setattr(Figure, "__init__", refuse)
    monkeypatch.setattr(FigureCanvasBase, "__init__", refuse)


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("empty", [False, True], ids=["full", "empty"])
def test_layout_needs_no_figure_and_holds_no_artist(analysis, size, empty, no_figures):
    report = empty_report(analysis) if empty else BUILDERS[analysis]()
    lay = canvas.chart_module(analysis).layout(report, *size)
    assert dataclasses.is_dataclass(lay)
    for value in _values(lay):
        assert not isinstance(value, (Artist, Figure, FigureCanvasBase)), value


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_layout_is_a_function_of_its_inputs(analysis):
    report = BUILDERS[analysis]()
    before = {name: frame.copy() for name, frame in report.tables.items()}
    module = canvas.chart_module(analysis)
    first, second = module.layout(report, 1200, 800), module.layout(report, 1200, 800)
    assert _same(first, second)
    assert not _same(first, module.layout(report, 1000, 800))     # the size matters
    for name, frame in report.tables.items():
        pd.testing.assert_frame_equal(frame, before[name])


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_draw_of_the_layout_is_the_chart(analysis):
    report = BUILDERS[analysis]()
    module = canvas.chart_module(analysis)
    lay = module.layout(report, 900, 600)          # made before, and apart from, any figure
    fig = Figure(figsize=(9, 6), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    module.draw(fig, lay)
    fig.canvas.draw()
    drawn = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    assert np.array_equal(drawn, chart_pixels(analysis, report, (900, 600)))
