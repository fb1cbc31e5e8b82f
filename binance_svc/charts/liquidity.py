"""Order-book liquidity chart: cumulative depth around the mid with the depth bands, and each
band's bid/ask imbalance."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

from binance_svc.analysis.liquidity import BANDS_BPS
from binance_svc.charts import primitives as P
from binance_svc.charts.style import (DOWN, INK, MUTED, PX_PER_PT, UP, Measure,
                                      PriceFormatter, Style, as_of_text, compact, finite_range,
                                      minus, num, price_text, provenance_tag, rect, xtick_space,
                                      ytick_space)


@dataclass(frozen=True)
class Side:
    """One side's cumulative depth as step vertices, best level first."""
    xs: np.ndarray
    ys: np.ndarray
    color: str


@dataclass(frozen=True)
class Band:
    lo: float
    hi: float
    label: str | None             # None where it would run into another band's label
    label_inside: bool            # left of the band's edge, not right of it


@dataclass(frozen=True)
class Imbalance:
    rect: tuple                   # pixels
    labels: tuple                 # each band's bps
    values: np.ndarray            # imbalance, NaN where undefined


@dataclass(frozen=True)
class Layout:
    style: Style
    header: P.Header
    depth: tuple                  # pixel rect of the depth axes
    sides: tuple                  # Side, bids then asks
    mid: float
    x_lim: tuple[float, float]
    depth_top: float
    bands: tuple                  # Band, widest first
    x_nbins: int
    ylabel_x: float
    legend: P.Legend | None
    imbalance: Imbalance | None


def _depth_steps(price: np.ndarray, cum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step vertices of a cumulative depth curve, levels best first, rising from zero at the
    best level: the depth at a price is everything between it and the mid."""
    xs = np.repeat(price, 2)
    ys = np.concatenate([[0.0], np.repeat(cum, 2)[:-1]])
    return xs, ys


def _y_locator() -> MaxNLocator:
    return MaxNLocator(nbins=5)


def layout(report, width: int, height: int):
    st = Style.of(width, height)
    measure = Measure()
    params = report.params or {}
    symbol = params.get("symbol", "")
    title = report.title or f"Order-book liquidity: {symbol}".strip()
    df = report.frame
    if df.empty or "side" not in df:
        return P.no_data(report, st, measure, title)

    summary = report.summary or {}
    side = df["side"].astype(str).str.lower()
    bids = df[side == "bid"].sort_values("price", ascending=False)
    asks = df[side == "ask"].sort_values("price", ascending=True)
    bid_p, bid_c = num(bids, "price"), num(bids, "cum_notional")
    ask_p, ask_c = num(asks, "price"), num(asks, "cum_notional")

    def _value(key, fallback):
        v = summary.get(key)
        return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else fallback

    best_bid = _value("best_bid", bid_p[0] if len(bid_p) else np.nan)
    best_ask = _value("best_ask", ask_p[0] if len(ask_p) else np.nan)
    mid = _value("mid", float(np.nanmean([best_bid, best_ask])))
    if not np.isfinite(mid) or mid <= 0:      # no usable price on either side
        return P.no_data(report, st, measure, title)

    spread = summary.get("spread_bps")
    spread_text = ""
    if isinstance(spread, (int, float)) and np.isfinite(spread):
        spread_text = f"spread {spread:.2f} bps" if spread >= 0.1 else f"spread {spread:.2g} bps"
    bands = [b for b in (summary.get("bands") or []) if isinstance(b, dict)]
    show_bands = bool(bands) and st.width_px >= 500
    header = P.header(st, measure, title, [
        f"{len(bids)} bid and {len(asks)} ask levels",
        f"best bid {price_text(best_bid)}, best ask {price_text(best_ask)}",
        spread_text, as_of_text(report)], provenance_tag(report),
        extra_gap=Measure.line(st.label) if show_bands else 0.0)
    top = header.height

    # plotted range: within 200 bps of mid or the fetched book, whichever is smaller
    prices = np.concatenate([bid_p, ask_p])
    extent = float(np.nanmax(np.abs(prices - mid))) if np.isfinite(prices).any() else 0.0
    half = min(mid * 0.02, extent) if extent > 0 else abs(mid) * 0.001 or 1.0
    half *= 1.04
    lo, hi = mid - half, mid + half
    visible = np.concatenate([bid_c[bid_p >= lo], ask_c[ask_p <= hi]])
    depth_top = (finite_range(visible, default=(0.0, 1.0))[1] * 1.15) or 1.0

    y_labels = _y_locator().tick_values(0, depth_top)
    left_w = ytick_space(measure, st, [compact(v) for v in y_labels if v <= depth_top])
    left = st.pad + Measure.line(st.label) + st.label_pad * PX_PER_PT + left_w
    bottom = st.pad + xtick_space(st) + Measure.line(st.label)
    imb_w = max(st.px(140), 0.2 * st.width_px) if show_bands else 0.0
    imb_left_w = ytick_space(measure, st, ["\u22120.5"]) + st.px(16)
    depth_w = st.width_px - left - st.pad - (imb_w + imb_left_w if show_bands else 0)
    plot_h = st.height_px - top - bottom

    sides, entries = [], []     # the legend's entries, in drawing order
    for p, cum, color, name in ((bid_p, bid_c, UP, "Bids"), (ask_p, ask_c, DOWN, "Asks")):
        ok = np.isfinite(p) & np.isfinite(cum)
        if not ok.any():
            continue
        sides.append(Side(*_depth_steps(p[ok], cum[ok]), color))
        entries.append(("line", color, st.line, "-", f"{name} (cumulative)"))
    entries.append(("line", INK, st.thin * 1.4, "--", "Mid"))

    # depth bands, nested and shaded, only those inside the plotted range
    band_bps = [b.get("bps") for b in bands if isinstance(b.get("bps"), (int, float))]
    drawn, labelled_px = [], []
    for bps in sorted(band_bps or BANDS_BPS, reverse=True):
        b_lo, b_hi = mid * (1 - bps / 1e4), mid * (1 + bps / 1e4)
        if b_lo < lo or b_hi > hi:
            continue
        # label the band's upper edge, right of it when there is room, and only where it
        # does not run into a label already placed (pixels from mid)
        edge_px = (b_hi - mid) / half * depth_w / 2
        text = f" \u00b1{bps:g} bps "
        text_w = measure.width(text, st.small)
        inside = edge_px + text_w > depth_w / 2
        span_px = (edge_px - text_w, edge_px) if inside else (edge_px, edge_px + text_w)
        label = None
        if all(span_px[1] <= a or span_px[0] >= b for a, b in labelled_px):
            labelled_px.append(span_px)
            label = text
        drawn.append(Band(b_lo, b_hi, label, inside))

    imbalance = None
    if show_bands:
        imbalance = Imbalance(
            rect=(st.width_px - st.pad - imb_w, bottom, imb_w, plot_h),
            labels=tuple(f"{b['bps']:g}" if isinstance(b.get("bps"), (int, float))
                         else str(b.get("bps")) for b in bands),
            values=np.array([b.get("imbalance") if isinstance(b.get("imbalance"), (int, float))
                             else np.nan for b in bands], dtype=float))

    return Layout(
        style=st, header=header, depth=(left, bottom, depth_w, plot_h), sides=tuple(sides),
        mid=mid, x_lim=(lo, hi), depth_top=depth_top, bands=tuple(drawn),
        x_nbins=max(3, min(7, int(depth_w / 140))),
        ylabel_x=-(left_w + st.label_pad * PX_PER_PT) / depth_w,
        legend=None if st.small_chart else P.Legend(
            tuple(entries), loc="upper center", anchor=(0.5, 0.86), framealpha=0.9, ncols=3,
            handlelength=1.6),
        imbalance=imbalance)


def draw(fig: Figure, lay) -> None:
    if isinstance(lay, P.NoData):
        return P.draw_no_data(fig, lay)
    st = lay.style
    P.draw_header(fig, st, lay.header)
    ax = fig.add_axes(rect(st, *lay.depth))
    P.style_axes(ax, st, grid_axis="both")
    for s in lay.sides:
        ax.fill_between(s.xs, s.ys, color=s.color, alpha=0.22, linewidth=0)
        ax.plot(s.xs, s.ys, color=s.color, linewidth=st.line)
    ax.set_xlim(*lay.x_lim)
    ax.set_ylim(0, lay.depth_top)

    for band in lay.bands:
        ax.axvspan(band.lo, band.hi, color=MUTED, alpha=0.06, linewidth=0)
        for edge in (band.lo, band.hi):
            ax.axvline(edge, color=MUTED, linewidth=st.thin, linestyle=(0, (2, 3)), alpha=0.6)
        if band.label:
            P.add_labels(ax, [band.hi], [0.99], [band.label], st.small, MUTED,
                         transform=ax.get_xaxis_transform(),
                         ha="right" if band.label_inside else "left", va="top")

    mid = lay.mid
    ax.axvline(mid, color=INK, linewidth=st.thin * 1.4, linestyle="--")
    ax.text(mid, 0.93, f"mid {price_text(mid)}", transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=st.small, color=INK, fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.9})
    ax.xaxis.set_major_formatter(PriceFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=lay.x_nbins))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: compact(v)))
    ax.yaxis.set_major_locator(_y_locator())
    ax.set_xlabel("Price", fontsize=st.label, color=INK, labelpad=st.pt(2))
    ax.set_ylabel("Cumulative depth (quote)", fontsize=st.label, color=INK)
    ax.yaxis.set_label_coords(lay.ylabel_x, 0.5)
    if lay.legend:
        P.legend(ax, st, lay.legend)
    P.finish_ticks(ax, st, grid="both")

    imb = lay.imbalance
    if imb is None:
        return
    ax_i = fig.add_axes(rect(st, *imb.rect))
    P.style_axes(ax_i, st, grid_axis="y")
    values = np.nan_to_num(imb.values)
    xi = np.arange(len(imb.labels))
    ax_i.bar(xi, values, color=[UP if v >= 0 else DOWN for v in values], width=0.6)
    ax_i.axhline(0, color=MUTED, linewidth=st.thin)
    ax_i.set_ylim(-1.15, 1.15)
    ax_i.set_yticks([-1, -0.5, 0, 0.5, 1])
    ax_i.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: minus(f"{v:g}")))
    ax_i.set_xticks(xi, list(imb.labels))
    ax_i.set_xlim(-0.6, len(imb.labels) - 0.4)
    ax_i.set_xlabel("\u00b1 bps from mid", fontsize=st.label, color=INK, labelpad=st.pt(2))
    texts = ["n/a" if not np.isfinite(v) else minus(f"{v:+.2f}") for v in imb.values]
    above = ~(values < 0)
    for side, sign, va in ((above, 1, "bottom"), (~above, -1, "top")):
        P.add_labels(ax_i, xi[side], values[side], [t for t, s in zip(texts, side) if s],
                     st.small, INK,
                     transform=offset_copy(ax_i.transData, fig=fig, y=sign * st.pt(2),
                                           units="points"),
                     va=va)
    for y_ax, text, color, va in ((0.985, "bid-heavy", UP, "top"),
                                  (0.015, "ask-heavy", DOWN, "bottom")):
        P.add_labels(ax_i, [0.03], [y_ax], [text], st.small, color,
                     transform=ax_i.transAxes, ha="left", va=va, bold=True)
    ax_i.set_title("Depth imbalance", fontsize=st.label, color=INK, loc="left",
                   pad=st.pt(5))
    P.finish_ticks(ax_i, st, grid="y")
