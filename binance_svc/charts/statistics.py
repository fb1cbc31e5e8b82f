"""Market statistics chart: each symbol's 24 h change as a bar coloured by its sentiment, with
last price and quote volume in columns on the right."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

from binance_svc.analysis.statistics import SENTIMENT_PCT, sentiment
from binance_svc.charts import primitives as P
from binance_svc.charts.style import (DOWN, FLAT, INK, MUTED, PX_PER_PT, UP, Measure, Style,
                                      as_of_text, compact, finite_range, minus, num,
                                      price_text, provenance_tag, rect, xtick_space)

SENTIMENT_COLORS = {"bullish": UP, "bearish": DOWN, "neutral": FLAT}


@dataclass(frozen=True)
class Column:
    """A right-aligned column of text, its right edge `x_offset` pixels right of the axes."""
    head: str
    cells: tuple
    x_offset: float


@dataclass(frozen=True)
class Layout:
    style: Style
    header: P.Header
    axes: tuple                   # pixel rect
    symbols: tuple                # bottom row first: ascending change
    change_pct: np.ndarray
    colors: tuple
    bar_height: float             # in rows
    symbol_pt: float
    columns: tuple
    x_lim: tuple[float, float]
    x_nbins: int
    value_labels: tuple           # each change as text, same order as symbols
    value_pt: float
    threshold: float              # the sentiment rule's ± percent, drawn as guides
    legend: P.Legend | None


def layout(report, width: int, height: int):
    st = Style.of(width, height)
    measure = Measure()
    title = report.title or "Market statistics: 24 h change"
    df = report.frame
    if df.empty or "symbol" not in df:
        return P.no_data(report, st, measure, title)

    pct_all = num(df, "price_change_pct")
    order = np.argsort(np.nan_to_num(pct_all, nan=-np.inf), kind="stable")
    t = df.iloc[order].reset_index(drop=True)
    pct = pct_all[order]
    if "sentiment" in t:
        moods = t["sentiment"].astype(str).str.lower().tolist()
    else:
        moods = [sentiment(v) for v in pct]
    colors = [SENTIMENT_COLORS.get(s, FLAT) for s in moods]
    symbols = [str(s) for s in t["symbol"]]

    s = report.summary or {}
    parts = []
    if s.get("sentiment"):
        parts.append(f"market sentiment {s['sentiment']}")
    if isinstance(s.get("breadth"), (int, float)):
        counts = [f"{s[k]} {w}" for k, w in (("advancers", "up"), ("decliners", "down"),
                                             ("unchanged", "unchanged"))
                  if s.get(k) is not None]
        parts.append("breadth " + minus(f"{s['breadth']:+.2f}")
                     + (f" ({', '.join(counts)})" if counts else ""))
    if isinstance(s.get("weighted_change_pct"), (int, float)) and not st.small_chart:
        parts.append("volume-weighted change " + minus(f"{s['weighted_change_pct']:+.2f}%"))
    header = P.header(st, measure, title, [*parts, as_of_text(report)], provenance_tag(report),
                      extra_gap=Measure.line(st.small))
    top = header.height

    left = st.pad + max(measure.width(sym, st.tick) for sym in symbols) + st.px(8)
    bottom = st.pad + xtick_space(st) + Measure.line(st.label)

    # a column of last price and quote volume on the right, when there is room for it
    measured = []
    if st.width_px >= 600:
        for key, head, fmt in (("last_price", "last", price_text),
                               ("quote_volume", "quote vol.", compact)):
            if key in t:
                cells = [fmt(v) for v in num(t, key)]
                width = max(measure.width(head, st.small, True),
                            *(measure.width(c, st.tick) for c in cells))
                measured.append((head, cells, width))
    col_gap = st.px(14)
    right = st.pad + sum(w + col_gap for _, _, w in measured)
    columns = []
    x_px = st.width_px - right
    for head, cells, width in measured:
        x_px += col_gap + width        # right-aligned columns
        columns.append(Column(head, tuple(cells), x_px - (st.width_px - right)))

    row_px = (st.height_px - top - bottom) / max(len(t), 1)
    lo, hi = finite_range(pct, default=(0.0, 0.0))
    # the guides at the threshold stay inside the axes with a quarter of it to spare
    lo, hi = min(-SENTIMENT_PCT * 1.25, lo), max(SENTIMENT_PCT * 1.25, hi)
    # room beyond the longest bars for their labels: a share of the axes width each side
    ax_w = st.width_px - left - right
    labels = ["n/a" if not np.isfinite(v) else minus(f"{v:+.2f}%") for v in pct]
    label_pt = min(st.small, (st.height_px - top - bottom) / max(len(t), 1) * 0.55 / PX_PER_PT)
    room = [st.px(10) + max((measure.width(txt, label_pt) for txt, v in zip(labels, pct)
                             if (np.nan_to_num(v) >= 0) == positive), default=0.0)
            for positive in (False, True)]
    share_lo, share_hi = (min(r / max(ax_w, 1.0), 0.35) for r in room)
    span = (hi - lo) / max(1 - share_lo - share_hi, 0.3)

    legend = None
    if not st.small_chart:
        rule = f"{SENTIMENT_PCT:g}%"
        entries = tuple(("patch", color, color, None, label)
                        for color, label in ((UP, f"bullish (\u2265 +{rule})"),
                                             (FLAT, "neutral"),
                                             (DOWN, f"bearish (\u2264 \u2212{rule})")))
        # the lowest rows are the worst changes: their bars leave the right side free,
        # unless every symbol rose, which frees the left side
        corner = "lower right" if not len(pct) or np.nan_to_num(pct[0]) < 0 else "lower left"
        legend = P.Legend(entries, loc=corner, framealpha=0.9)

    return Layout(
        style=st, header=header, axes=(left, bottom, ax_w, st.height_px - top - bottom),
        symbols=tuple(symbols), change_pct=pct, colors=tuple(colors),
        bar_height=min(0.66, st.px(34) / row_px),
        symbol_pt=min(st.tick, row_px * 0.85 / 1.2 / PX_PER_PT), columns=tuple(columns),
        x_lim=(lo - span * share_lo, hi + span * share_hi),
        x_nbins=max(4, min(8, int(st.width_px / 150))), value_labels=tuple(labels),
        value_pt=label_pt, threshold=SENTIMENT_PCT, legend=legend)


def draw(fig: Figure, lay) -> None:
    if isinstance(lay, P.NoData):
        return P.draw_no_data(fig, lay)
    st = lay.style
    P.draw_header(fig, st, lay.header)
    ax = fig.add_axes(rect(st, *lay.axes))
    y = np.arange(len(lay.symbols))
    for col in lay.columns:
        trans = offset_copy(ax.get_yaxis_transform(), fig=fig, x=col.x_offset, units="dots")
        head_trans = offset_copy(ax.transAxes, fig=fig, x=col.x_offset, y=st.px(2),
                                 units="dots")
        ax.text(1.0, 1.0, col.head, transform=head_trans, ha="right", va="bottom",
                fontsize=st.small, color=MUTED, fontweight="bold", clip_on=False)
        P.add_labels(ax, np.ones(len(col.cells)), y, list(col.cells), st.tick, INK,
                     transform=trans, ha="right", va="center")
    P.style_axes(ax, st, grid_axis="x")
    pct = lay.change_pct
    ax.barh(y, np.nan_to_num(pct), color=list(lay.colors), height=lay.bar_height)
    # symbols where y tick labels would be, as one labels artist: no Tick objects to build
    ax.set_yticks([])
    P.add_labels(ax, np.zeros(len(y)), y, list(lay.symbols), lay.symbol_pt, INK,
                 transform=offset_copy(ax.get_yaxis_transform(), fig=fig, x=-st.tick_pad,
                                       units="points"),
                 ha="right", va="center_baseline")
    ax.spines["left"].set_visible(False)
    ax.axvline(0, color=INK, linewidth=st.thin)
    for guide in (-lay.threshold, lay.threshold):
        ax.axvline(guide, color=MUTED, linewidth=st.thin, linestyle="--", alpha=0.8)
    ax.set_xlim(*lay.x_lim)
    ax.set_ylim(-0.6, len(y) - 0.4)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: minus(f"{v:+g}%") if v
                                               else "0%"))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=lay.x_nbins, steps=[1, 2, 5, 10]))
    ax.set_xlabel("24 h price change", fontsize=st.label, color=INK, labelpad=st.pt(2))
    rule = f"{lay.threshold:g}%"
    for guide, text, ha in ((lay.threshold, f" +{rule}", "left"),
                            (-lay.threshold, f"\u2212{rule} ", "right")):
        P.add_labels(ax, [guide], [1.0], [text], st.small, MUTED,
                     transform=ax.get_xaxis_transform(), ha=ha, va="bottom")

    # each change past the end of its bar: right of it when up, left of it when down
    ends = np.nan_to_num(pct)
    for up, sign, ha in ((True, 1, "left"), (False, -1, "right")):
        side = (ends >= 0) == up
        P.add_labels(ax, ends[side], y[side],
                     [lab for lab, s in zip(lay.value_labels, side) if s], lay.value_pt, INK,
                     transform=offset_copy(ax.transData, fig=fig, x=sign * st.pt(3),
                                           units="points"),
                     ha=ha, va="center")
    if lay.legend:
        P.legend(ax, st, lay.legend)
    P.finish_ticks(ax, st, grid="x")
