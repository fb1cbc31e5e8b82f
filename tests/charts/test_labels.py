"""primitives.add_labels: on the fast path many labels drawn as glyph outlines must look like the
Texts they replace (fast.add_labels); on the plain path they are those Texts.

The charts draw heatmap cells, row symbols and bar values this way for speed; if matplotlib ever
changes how a Text is placed or rasterised, these comparisons fail before a user sees it.
"""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import offset_copy

from binance_svc.charts import fast, primitives

LABELS = ["0.74", "\u22120.12", "1.00", "n/a", "BTCUSDT", " 102%", "\u00b150 bps", "+4.88%"]


def _pixels(draw) -> np.ndarray:
    fig = Figure(figsize=(4, 3), dpi=100, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes([0.25, 0.2, 0.5, 0.6])
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(len(LABELS) / 2 - 0.5, -0.5)
    ax.set_axis_off()
    draw(fig, ax)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


@pytest.mark.parametrize("ha,va,angle,bold,size", [
    ("center", "center", 0, False, 13.0),
    ("right", "center_baseline", 0, False, 9.0),
    ("left", "center", 0, True, 8.5),
    ("center", "top", 0, False, 11.3),
    ("left", "bottom", 0, False, 7.1),
    ("right", "top", 45, False, 9.0),
])
def test_labels_match_texts(ha, va, angle, bold, size):
    xs = np.arange(len(LABELS)) % 2
    ys = np.arange(len(LABELS)) // 2
    colors = ["#263238", "#ef5350"] * (len(LABELS) // 2)

    def with_texts(fig, ax):
        trans = offset_copy(ax.transData, fig=fig, x=2.5, units="points")
        for x, y, text, color in zip(xs, ys, LABELS, colors):
            ax.text(x, y, text, transform=trans, ha=ha, va=va, rotation=angle,
                    rotation_mode="anchor", fontsize=size, color=color,
                    fontweight="bold" if bold else "normal")

    def with_labels(fig, ax):
        trans = offset_copy(ax.transData, fig=fig, x=2.5, units="points")
        primitives.add_labels(ax, xs, ys, LABELS, size, colors, transform=trans, ha=ha,
                              va=va, angle=angle, bold=bold)

    texts = _pixels(with_texts)
    with fast.use(True):
        labels = _pixels(with_labels)
    with fast.use(False):
        assert np.array_equal(_pixels(with_labels), texts)   # plain: the very same Texts
    diff = np.abs(texts - labels).max(axis=2)
    ink = np.abs(texts - 255).max(axis=2) > 0
    assert ink.sum() > 500                      # the labels were drawn at all
    assert diff.max() <= 64                     # same glyphs at the same place ...
    assert (diff > 32).sum() <= 0.01 * ink.sum()   # ... only the rasteriser differs


def test_labels_are_one_artist_and_no_text():
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    with fast.use(True):
        primitives.add_labels(ax, range(len(LABELS)), range(len(LABELS)), LABELS, 9.0, "black")
    assert len(ax.collections) == 1
    assert not [t for t in ax.findobj(Text) if t.get_text() in LABELS]


def test_text_the_font_cannot_draw_falls_back_to_a_text():
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    with fast.use(True):
        primitives.add_labels(ax, [0, 1], [0, 1], ["BTCUSDT", "\u6bd4\u7279\u5e01"], 9.0, "black")
    assert len(ax.collections) == 1
    assert [t.get_text() for t in ax.texts] == ["\u6bd4\u7279\u5e01"]

