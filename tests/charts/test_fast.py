"""charts.fast: the fast path must draw what plain matplotlib draws, within anti-aliasing.

Every comparison goes through the switch (CHARTS_FAST, or fast.use), so the plain side is what
a deployment with CHARTS_FAST=0 serves. If matplotlib changes what the fast path copies (tick
placement, text layout, legend anchoring), these comparisons fail before a user sees it.
"""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import FigureImage
from matplotlib.legend import Legend
from matplotlib.text import Text

from binance_svc.charts import canvas, fast, primitives
from binance_svc.charts.style import Style, rect
from chart_reports import BUILDERS, chart_pixels


def _figure(analysis, report, size, flag: bool) -> Figure:
    """The chart drawn on a Figure we keep, to look at its artists."""
    module = canvas.chart_module(analysis)
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    with fast.use(flag):
        module.draw(fig, module.layout(report, *size))
    fig.canvas.draw()
    return fig


# --------------------------------------------------------------------------------------------
# The switch
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [(None, True), ("1", True), ("0", False),
                                            ("false", False), ("off", False), ("yes", True)])
def test_the_switch_reads_the_environment(value, expected, monkeypatch):
    if value is None:
        monkeypatch.delenv(fast.ENV, raising=False)
    else:
        monkeypatch.setenv(fast.ENV, value)
    assert fast.enabled() is expected


def test_use_pins_the_switch_over_the_environment(monkeypatch):
    monkeypatch.setenv(fast.ENV, "0")
    with fast.use(True):
        assert fast.enabled()
        with fast.use(False):
            assert not fast.enabled()
        assert fast.enabled()
    assert not fast.enabled()


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_the_plain_path_is_plain_matplotlib(analysis):
    report = BUILDERS[analysis]()
    plain, quick = (_figure(analysis, report, (1200, 800), flag) for flag in (False, True))
    # plain: matplotlib's Ticks, Texts for every label, its Legend; nothing pasted
    assert any(len(ax.yaxis.get_major_ticks()) or len(ax.xaxis.get_major_ticks())
               for ax in plain.axes)
    assert not plain.findobj(FigureImage)
    assert not [c for ax in plain.axes for c in ax.collections
                if type(c) is PathCollection]
    assert len(plain.findobj(Text)) > len(quick.findobj(Text))
    if analysis != "correlation":       # the charts with a legend
        assert plain.findobj(Legend) and not quick.findobj(Legend)
        assert quick.findobj(FigureImage)


# --------------------------------------------------------------------------------------------
# Whole charts: fast and plain look the same
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("analysis", sorted(BUILDERS))
@pytest.mark.parametrize("size", [(1200, 800), (400, 300), (3000, 1500)])
def test_fast_and_plain_charts_look_the_same(analysis, size, monkeypatch):
    report = BUILDERS[analysis]()
    monkeypatch.setenv(fast.ENV, "1")
    quick = chart_pixels(analysis, report, size).astype(int)
    monkeypatch.setenv(fast.ENV, "0")
    plain = chart_pixels(analysis, report, size).astype(int)
    diff = np.abs(plain - quick).max(axis=2)
    # every mark, label, grid line, axis label, offset text and legend in the same place: a
    # label one pixel off, a missing grid line or a doubled "2026-Nov" differs by far more
    assert diff.max() <= 64, np.argwhere(diff > 64)[:10]
    assert (diff > 32).sum() <= 0.0005 * diff.size      # only the rasteriser differs


# --------------------------------------------------------------------------------------------
# Legends: drawn once per size and pasted as an image, they must look like matplotlib's,
# wherever they land within a pixel
# --------------------------------------------------------------------------------------------

def _legends(analysis, lay) -> list:
    """(pixel rect of the axes, Legend) of each legend the chart's layout asks for."""
    if analysis == "technical":
        return list(zip((lay.panels[0], lay.panels[3]), lay.legends))
    if analysis == "liquidity":
        return [(lay.depth, lay.legend)]
    return [(lay.axes, lay.legend)]


def _legend_pixels(analysis, size, flag: bool | None) -> np.ndarray:
    """The chart's legends alone, on its axes' rects; flag None: the axes without them."""
    lay = canvas.chart_module(analysis).layout(BUILDERS[analysis](), *size)
    st = Style.of(*size)
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    for box, lg in _legends(analysis, lay):
        ax = fig.add_axes(rect(st, *box))
        ax.set_axis_off()
        if flag is not None:
            with fast.use(flag):
                primitives.legend(ax, st, lg)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


@pytest.mark.parametrize("analysis", ["technical", "liquidity", "statistics"])
@pytest.mark.parametrize("size", [(1200, 800), (1000, 700), (1333, 777), (3000, 1500)])
def test_pasted_legends_look_like_matplotlibs(analysis, size):
    report = BUILDERS[analysis]()
    fast._LEGEND_IMAGES.clear()
    fast._LEGEND_SIZES.clear()
    with fast.use(True):
        drawn = chart_pixels(analysis, report, size)      # draws each legend once
        pasted = chart_pixels(analysis, report, size)     # pastes the kept images
    assert fast._LEGEND_IMAGES, "no legend was kept"
    assert np.array_equal(drawn, pasted)

    pasted = _legend_pixels(analysis, size, True)
    reference = _legend_pixels(analysis, size, False)
    without = _legend_pixels(analysis, size, None)
    # the legends are there at all: the reference differs from the axes without them
    assert (np.abs(reference - without).max(axis=2) > 64).sum() > 200
    diff = np.abs(reference - pasted).max(axis=2)
    # a label or a handle one pixel off, a missing entry or a frame in the wrong place
    # differs by 100-250; blending text over the frame on a transparent canvas first, and
    # then the whole over the chart, rounds differently by 2-8 (measured)
    assert diff.max() <= 24, np.argwhere(diff > 24)[:10]
    assert (diff > 8).sum() <= 0.0001 * diff.size


def test_legends_are_kept_per_sub_pixel_offset_and_bounded():
    report = BUILDERS["technical"]()
    fast._LEGEND_IMAGES.clear()
    with fast.use(True):
        for width in range(1100, 1100 + 2 * fast.MAX_LEGENDS, 3):
            chart_pixels("technical", report, (width, 800))
            assert len(fast._LEGEND_IMAGES) <= fast.MAX_LEGENDS
            assert len(fast._LEGEND_SIZES) <= fast.MAX_LEGENDS
    for image in fast._LEGEND_IMAGES.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4
        assert not image.flags.writeable
