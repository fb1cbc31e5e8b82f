"""The technical chart follows `indicators=`: overlays on the price panel, a panel per
indicator family below it, legends naming the parameters, guides at the thresholds of
analysis/signals.py; readable (nothing overlapping, nothing silently left out) at small, default
and large sizes; the fast path draws what plain matplotlib draws."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure

from binance_svc.analysis import signals
from binance_svc.charts import fast, primitives, technical
from binance_svc.charts.style import Measure, Style
from binance_svc.render.png import render_png
from chart_reports import (TEN_INDICATORS, Ctx, assert_chart, chart_pixels, requested_report,
                           technical_report)

SIZES = [(600, 400), (1200, 800), (2400, 1200)]
TEN_PANELS = {     # panel -> the legend entries it shows, in order
    "price": ["SMA(20)", "SMA(200)", "EMA(9)", "BBANDS(20, 2)"],
    "oscillator:(0.0, 100.0)": ["RSI(14)", "STOCH(14, 3, 3) %K", "%D"],
    "macd": ["MACD(12, 26, 9)", "signal"],
    "other:atr": ["ATR(14)"],
    "adx": ["ADX(14)"],
    "volume": ["OBV"],
}


@pytest.fixture(scope="module")
def ten():
    return requested_report(TEN_INDICATORS)


def _labels(lg) -> list[str]:
    return [] if lg is None else [entry[-1] for entry in lg.entries]


@pytest.mark.parametrize("size", SIZES)
def test_every_indicator_is_in_a_legend_or_named_as_left_out(ten, size):
    lay = technical.layout(ten, *size)
    shown = {p.key: _labels(lg) for p, lg in zip(lay.contents, lay.panel_legends)}
    assert list(shown) == list(TEN_PANELS)[:len(shown)]      # in the order of the request
    for key, labels in shown.items():
        assert labels == TEN_PANELS[key], key
    assert 4 <= len(lay.panels) <= technical.MAX_PANELS
    left_out = [p for p in TEN_PANELS if p not in shown]
    assert len(lay.omitted) == len(left_out)
    header = " ".join(lay.header.lines)
    for title in lay.omitted:
        assert title in header
    if size != (600, 400):
        assert not lay.omitted


@pytest.mark.parametrize("size", SIZES)
def test_nothing_overlaps(ten, size):
    lay = technical.layout(ten, *size)
    st, measure = lay.style, Measure()
    pad = primitives.LEGEND_PAD * Measure.line(st.small) / 1.2
    tops = [b + h for _, b, _, h in lay.panels]
    assert max(tops) <= st.height_px - lay.header.height + 0.01     # under the header
    for (left, bottom, width, height), lower in zip(lay.panels, lay.panels[1:]):
        assert lower[1] + lower[3] < bottom                           # stacked, apart
    for i, (p, lg, (left, bottom, width, height)) in enumerate(
            zip(lay.contents, lay.panel_legends, lay.panels)):
        assert left > 0 and left + width < st.width_px and bottom > 0
        if lg is None:
            continue
        w, h = primitives.legend_size(measure, st, lg.entries, lg.ncols, 1.6)
        assert w + pad <= width                                       # as wide as its panel
        if lg.anchor is not None:      # in the strip above: below the panel over it
            ceiling = lay.panels[i - 1][1] if i else st.height_px - lay.header.height
            assert bottom + height + pad + h <= ceiling
        else:                          # inside: above every value drawn
            lo, hi = p.lim
            legend_floor = hi - (h + pad) / height * (hi - lo)
            values = [s.y for s in p.over] + [s.y2 for s in p.under if s.y2 is not None]
            if p.key == "price":
                values.append(lay.high)
            assert max(np.nanmax(v) for v in values) < legend_floor


def test_guides_are_the_thresholds_of_the_signals(ten):
    lay = technical.layout(ten, 1200, 800)
    guides = {p.key: sorted(g[0] for g in p.guides) for p in lay.contents}
    assert guides["oscillator:(0.0, 100.0)"] == sorted({*signals.LEVELS["rsi"],
                                                        *signals.LEVELS["stoch"]})
    assert guides["adx"] == [signals.ADX_TREND]
    assert guides["macd"] == [0.0]
    ticks = dict(zip((p.key for p in lay.contents), lay.ticks))
    assert set(signals.LEVELS["rsi"]) <= set(ticks["oscillator:(0.0, 100.0)"])
    assert signals.ADX_TREND in ticks["adx"]


def test_overlays_of_every_kind():
    report = requested_report("ichimoku,vwap,sar,kama,willr")
    lay = technical.layout(report, 1200, 800)
    price = lay.contents[0]
    kinds = [s.kind for s in price.under + price.over]
    assert kinds.count("cloud") == 1 and kinds.count("dots") == 1 and "updown" in kinds
    assert _labels(lay.panel_legends[0]) == ["ICHIMOKU(9, 26, 52)", "tenkan", "kijun",
                                             "chikou", "VWAP", "SAR(0.02, 0.2)", "KAMA(30)"]
    vwap = next(s for s in price.over if s.x is not None)
    days = np.floor(technical._to_date_nums(report.frame["open_time"]))
    # a break (NaN) wherever a UTC day starts, so no line joins two sessions
    assert np.isnan(vwap.y).sum() >= np.isnan(report.frame["vwap"]).sum() + \
        np.count_nonzero(np.diff(days))
    assert [p.key for p in lay.contents] == ["price", "oscillator:(-100.0, 0.0)"]
    assert sorted(g[0] for g in lay.contents[1].guides) == sorted(signals.LEVELS["willr"])


def test_the_default_set_keeps_its_four_panels():
    lay = technical.layout(technical_report(), 1200, 800)
    assert [p.key for p in lay.contents] == ["price", "volume", "rsi", "macd"]
    assert [_labels(lg) for lg in lay.legends] == [
        ["Bollinger (20, 2)", "SMA 20", "SMA 50"], ["MACD (12, 26)", "Signal (9)"]]


def test_layout_needs_no_figure(ten, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("layout() made a Figure or a canvas")
    monkeypatch.setattr(Figure, "__init__", refuse)
    monkeypatch.setattr(FigureCanvasBase, "__init__", refuse)
    for size in SIZES:
        technical.layout(ten, *size)


@pytest.mark.parametrize("size", SIZES)
def test_ten_indicators_render_at_the_exact_size(ten, size):
    assert_chart(render_png(ten, Ctx(*size)), *size)


@pytest.mark.parametrize("indicators", [TEN_INDICATORS, "ichimoku,vwap,sar,kama", "rsi"])
@pytest.mark.parametrize("size", SIZES)
def test_fast_and_plain_look_the_same(indicators, size, monkeypatch):
    report = requested_report(indicators)
    monkeypatch.setenv(fast.ENV, "1")
    quick = chart_pixels("technical", report, size).astype(int)
    monkeypatch.setenv(fast.ENV, "0")
    plain = chart_pixels("technical", report, size).astype(int)
    diff = np.abs(plain - quick).max(axis=2)
    # the tolerances of test_fast.py: a label, tick or legend one pixel off differs by more
    assert diff.max() <= 64, np.argwhere(diff > 64)[:10]
    assert (diff > 32).sum() <= 0.0005 * diff.size
