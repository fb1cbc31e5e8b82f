"""Charts through render_png: exact size, not blank, deterministic, empty tables, thread safety.

The reports are built by hand in chart_reports.py.
"""
from __future__ import annotations

import gc
import io
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from PIL import Image

from binance_svc.report import Report
from binance_svc.charts import canvas, fast, style
from binance_svc.render.png import render_png
from chart_reports import (BUILDERS, MORE_SYMBOLS, WATCHLIST, Ctx, assert_chart,
                           correlation_report, empty_report, liquidity_report,
                           statistics_report, technical_report)


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_default_size_is_a_real_chart(analysis):
    assert_chart(render_png(BUILDERS[analysis](), Ctx()), 1200, 800)


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
@pytest.mark.parametrize("width,height", [(300, 300), (3000, 1500), (301, 799), (1199, 333)])
def test_requested_size_is_exact(analysis, width, height):
    assert_chart(render_png(BUILDERS[analysis](), Ctx(width, height)), width, height)


def test_every_pixel_size_in_the_api_range_is_exact():
    # figsize = px / 100 must not lose a pixel to float rounding anywhere in 300-3000
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    for px in range(300, 3001):
        fig = Figure(figsize=(px / 100, 300 / 100), dpi=100)
        assert FigureCanvasAgg(fig).get_width_height(physical=True) == (px, 300)


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_same_report_gives_same_bytes(analysis):
    report = BUILDERS[analysis]()
    assert render_png(report, Ctx()) == render_png(report, Ctx())


def test_png_carries_no_software_or_time_metadata():
    data = render_png(statistics_report(), Ctx())
    with Image.open(io.BytesIO(data)) as image:
        assert "Software" not in image.info
        assert not any("time" in key.lower() for key in image.info)


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_empty_tables_render_no_data(analysis):
    assert_chart(render_png(empty_report(analysis), Ctx()), 1200, 800)


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_demo_and_stale_reports_render_with_a_tag(analysis):
    report = BUILDERS[analysis]()
    plain = render_png(report, Ctx())
    report.source, report.stale = "demo", True
    tagged = render_png(report, Ctx())
    assert_chart(tagged, 1200, 800)
    assert tagged != plain


def test_tag_text_follows_provenance():
    report = technical_report()
    assert style.provenance_tag(report) == ""
    report.source = "demo"
    assert style.provenance_tag(report) == "DEMO DATA"
    report.stale = True
    assert "STALE" in style.provenance_tag(report)


def test_unknown_analysis_is_a_value_error():
    report = Report(analysis="symbols", params={}, tables={"symbols": pd.DataFrame(
        {"symbol": ["BTCUSDT"], "base_asset": ["BTC"], "quote_asset": ["USDT"],
         "status": ["TRADING"]})})
    with pytest.raises(ValueError, match="symbols"):
        render_png(report, Ctx())


@pytest.mark.parametrize("build", [
    pytest.param(lambda: technical_report(1), id="one-candle"),
    pytest.param(lambda: technical_report(1000, interval="1m"), id="1000-candles"),
    pytest.param(lambda: technical_report(30, interval="1d"), id="warm-up-nan"),
    pytest.param(lambda: correlation_report(tuple(WATCHLIST + MORE_SYMBOLS)), id="20-symbols"),
    pytest.param(lambda: correlation_report(nan_pair=True), id="nan-cell"),
    pytest.param(lambda: liquidity_report(500, mid=97_000, tick=0.01), id="deep-tight-book"),
    pytest.param(lambda: liquidity_report(5, mid=0.25, tick=0.001), id="thin-wide-book"),
    pytest.param(lambda: statistics_report(["BTCUSDT"]), id="one-ticker"),
    pytest.param(lambda: statistics_report(WATCHLIST + MORE_SYMBOLS), id="20-tickers"),
])
def test_edge_cases_render(build):
    assert_chart(render_png(build(), Ctx()), 1200, 800)


def test_technical_indicators_all_nan_still_render():
    report = technical_report(40)
    frame = report.frame
    for col in frame.columns[9:]:
        frame[col] = np.nan
    assert_chart(render_png(report, Ctx()), 1200, 800)


def test_concurrent_renders_in_threads_are_valid():
    reports = [BUILDERS[a]() for a in sorted(BUILDERS)] * 2
    expected = [render_png(r, Ctx(900, 600)) for r in reports]
    results: list[bytes | None] = [None] * len(reports)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(reports))

    def work(i):
        try:
            barrier.wait()
            results[i] = render_png(reports[i], Ctx(900, 600))
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(reports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(threads) == 8
    for data, same in zip(results, expected):
        assert_chart(data, 900, 600)
        assert data == same


def test_any_context_with_width_and_height_will_do():
    ctx = SimpleNamespace(width=640, height=480, fmt="png", download=False)
    assert_chart(render_png(statistics_report(), ctx), 640, 480)


@pytest.mark.parametrize("width,height", [(0, 800), (1200, -1), (100_000, 800)])
def test_nonsensical_size_is_a_value_error(width, height):
    with pytest.raises(ValueError):
        render_png(statistics_report(), Ctx(width, height))


def test_pixel_buffer_is_freed_when_render_returns():
    # not left for the cyclic GC: at 3000 x 3000 each buffer is 36 MB
    report = technical_report()
    gc.collect()
    gc.disable()
    try:
        render_png(report, Ctx(3000, 3000))
        alive = sum(isinstance(o, RendererAgg) for o in gc.get_objects())
    finally:
        gc.enable()
    assert alive == 0


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_flat_ticks_leave_no_tick_objects_to_draw(analysis):
    report = BUILDERS[analysis]()
    module = canvas.chart_module(analysis)
    fig = Figure(figsize=(12, 8), dpi=100)
    canvas_ = FigureCanvasAgg(fig)
    with fast.use(True):
        module.draw(fig, module.layout(report, 1200, 800))
    canvas_.draw()
    # the colour bar of the correlation heatmap keeps its own five ticks
    axes = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is None]
    assert axes
    for ax in axes:
        assert len(ax.xaxis.get_major_ticks()) == len(ax.yaxis.get_major_ticks()) == 0


def test_the_context_can_name_the_chart():
    report = statistics_report()
    expected = render_png(report, Ctx())
    report.analysis = "market-overview"        # not a chart: ctx.chart decides
    assert render_png(report, SimpleNamespace(width=1200, height=800,
                                              chart="statistics")) == expected
    with pytest.raises(ValueError, match="nothing"):
        render_png(report, SimpleNamespace(width=1200, height=800, chart="nothing"))


@pytest.mark.parametrize("name", ["style", "fast", "canvas", "policy", "primitives",
                                  "../png", "Statistics", ""])
def test_only_chart_modules_are_charts(name):
    assert canvas.chart_module(name) is None
    with pytest.raises(ValueError):
        canvas.render(name, statistics_report(), 400, 300)


def test_render_gives_the_pixels_of_the_png():
    report = technical_report()
    with Image.open(io.BytesIO(render_png(report, Ctx(640, 480)))) as image:
        decoded = np.asarray(image.convert("RGB"))
    pixels = canvas.render("technical", report, 640, 480)
    assert pixels.shape == (480, 640, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, decoded)
