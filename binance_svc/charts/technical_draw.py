"""Drawing the technical chart from its layout (charts/technical.py computes the layout; the
series come from charts/technical_panels.py): candles, the panels' series, guides and legends,
one UTC time axis. `axis()` is shared with the layout, which measures the tick labels it will
draw."""
from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from binance_svc.charts import primitives as P
from binance_svc.charts import technical_panels as T
from binance_svc.charts.style import DOWN, GRID, INK, UP, UTC, PriceFormatter, compact, rect

if TYPE_CHECKING:
    from binance_svc.charts.technical import Layout


def _price_locator(nbins: int) -> MaxNLocator:
    return MaxNLocator(nbins=nbins)


def _vol_locator() -> MaxNLocator:
    return MaxNLocator(nbins=2, min_n_ticks=2)


def _macd_locator() -> MaxNLocator:
    return MaxNLocator(nbins=4, min_n_ticks=3)


def _compact_fmt() -> FuncFormatter:
    return FuncFormatter(lambda v, pos: compact(v))


def _macd_fmt() -> FuncFormatter:
    return FuncFormatter(lambda v, pos: compact(v, 2))


def axis(kind: str, nbins: int):
    """The y locator and formatter of a panel's axis kind ("fixed" sets its ticks itself)."""
    if kind == "price":
        return _price_locator(nbins), PriceFormatter()
    if kind == "volume":
        return _vol_locator(), _compact_fmt()
    if kind == "auto":
        return MaxNLocator(nbins=nbins, min_n_ticks=2), _macd_fmt()
    return _macd_locator(), _macd_fmt()



def _draw_series(ax, s: T.Series, lay: Layout) -> None:
    x = lay.x if s.x is None else s.x
    if s.kind == "line":
        kwargs = {} if s.alpha is None else {"alpha": s.alpha}
        if s.style != "-":
            kwargs["linestyle"] = s.style
        ax.plot(x, s.y, color=s.color, linewidth=s.width, **kwargs)
    elif s.kind == "dots":
        ax.plot(x, s.y, linestyle="none", marker="o", markersize=s.size,
                markeredgewidth=0, color=s.color)
    elif s.kind == "band":
        P.add_band(ax, x, s.y, s.y2, s.color, s.alpha)
        ax.plot(x, s.y2, color=s.color, linewidth=s.width, alpha=0.5)
        ax.plot(x, s.y, color=s.color, linewidth=s.width, alpha=0.5)
    elif s.kind == "cloud":
        ok = np.isfinite(s.y) & np.isfinite(s.y2)
        for color, side in ((UP, s.y >= s.y2), (DOWN, s.y < s.y2)):
            ax.fill_between(x, s.y, s.y2, where=ok & side, interpolate=True, color=color,
                            alpha=s.alpha, linewidth=0)
        ax.plot(x, s.y, color=UP, linewidth=s.width, alpha=0.7)
        ax.plot(x, s.y2, color=DOWN, linewidth=s.width, alpha=0.7)
    elif s.kind == "updown":
        up = lay.up
        for mask, color in ((up, UP), (~up, DOWN)):
            P.add_bars(ax, x[mask], s.y[mask], s.y2[mask], lay.body_w, color, alpha=s.alpha)
    elif s.kind == "hist":
        pos = s.y >= 0
        P.add_bars(ax, x[pos], np.zeros(int(pos.sum())), s.y[pos], lay.body_w, UP,
                   alpha=s.alpha)
        P.add_bars(ax, x[~pos], np.zeros(int((~pos).sum())), s.y[~pos], lay.body_w, DOWN,
                   alpha=s.alpha)
    else:
        raise ValueError(f"unknown series kind {s.kind!r}")


def _draw_candles(ax, lay: Layout) -> None:
    x, up, o, c = lay.x, lay.up, lay.open, lay.close
    for mask, color in ((up, UP), (~up, DOWN)):
        P.add_segments(ax, x[mask], lay.low[mask], lay.high[mask], color, lay.wick_lw)
        P.add_bars(ax, x[mask], np.fmin(o, c)[mask], np.fmax(o, c)[mask], lay.body_w, color,
                   edge=lay.body_edge)


def _draw_last(ax, lay: Layout) -> None:
    st = lay.style
    value, label, rising = lay.last
    ax.axhline(value, color=UP if rising else DOWN, linewidth=st.thin, linestyle=":")
    ax.annotate(label, xy=(1.0, value),
                xycoords=ax.get_yaxis_transform(), xytext=(st.pt(4), 0),
                textcoords="offset points", va="center", ha="left", fontsize=st.small,
                color="white", fontweight="bold", annotation_clip=False,
                bbox={"boxstyle": "square,pad=0.25", "edgecolor": "none",
                      "facecolor": UP if rising else DOWN})


def draw(fig: Figure, lay) -> None:
    if isinstance(lay, P.NoData):
        return P.draw_no_data(fig, lay)
    st = lay.style
    P.draw_header(fig, st, lay.header)
    axes = [fig.add_axes(rect(st, *panel)) for panel in lay.panels]
    for ax in axes:
        P.style_axes(ax, st, grid_axis="y")

    for ax, p, ticks, lg, bins in zip(axes, lay.contents, lay.ticks, lay.panel_legends,
                                      lay.nbins):
        if p.shade is not None:
            low, high, color, alpha = p.shade
            ax.axhspan(low, high, color=color, alpha=alpha, linewidth=0)
        for s in p.under:
            _draw_series(ax, s, lay)
        for level, color, style, alpha in p.guides:
            kwargs = {} if alpha is None else {"alpha": alpha}
            if style != "-":
                kwargs["linestyle"] = style
            ax.axhline(level, color=color, linewidth=st.thin, **kwargs)
        if p.key == "price":
            _draw_candles(ax, lay)
        for s in p.over:
            _draw_series(ax, s, lay)
        ax.set_ylim(*p.lim)
        if p.axis == "fixed":
            ax.set_yticks(list(ticks))
        else:
            locator, formatter = axis(p.axis, bins)
            ax.yaxis.set_major_locator(locator)
            ax.yaxis.set_major_formatter(formatter)
        if p.key == "price" and lay.last:
            _draw_last(ax, lay)
        if lg is not None:
            P.legend(ax, st, lg)

    for ax, name in zip(axes, lay.ylabels):
        if name:
            ax.set_ylabel(name, fontsize=st.label, color=INK)
            ax.yaxis.set_label_coords(lay.ylabel_x, 0.5)

    # one time axis, UTC, at the bottom; the panels above get its grid lines but no ticks
    # (not sharex: ticks on hidden axes cost as much to build as visible ones)
    ax_b = axes[-1]
    locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=lay.date_maxticks)
    ax_b.xaxis.set_major_locator(locator)
    ax_b.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax_b.xaxis.get_offset_text().set_fontsize(st.tick)
    ax_b.set_xlabel("UTC", fontsize=st.label, color=INK, labelpad=st.pt(2))
    ax_b.grid(True, axis="x", color=GRID, linewidth=st.thin)
    for ax in axes:
        ax.set_xlim(*lay.x_lim)
    grid_x = [v for v in locator() if lay.x_lim[0] <= v <= lay.x_lim[1]]
    for ax in axes[:-1]:
        ax.xaxis.set_major_locator(NullLocator())
        ax.vlines(grid_x, 0, 1, transform=ax.get_xaxis_transform(), colors=GRID,
                  linewidth=st.thin, zorder=0.5)
    for ax in axes:
        P.finish_ticks(ax, st, grid="both" if ax is ax_b else "y")
