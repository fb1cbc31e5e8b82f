"""One drawing function per analysis, each drawing a Report on a matplotlib Figure.

Never pyplot: the caller owns the Figure (see png.py), so nothing here touches global state and
charts render concurrently in threads. Styles are passed to each artist rather than set through
rcParams (which are process-global). Sizes scale with the figure, so a chart designed at
1200 x 800 stays legible from 300 x 300 to 3000 x 3000 pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, FuncFormatter, MaxNLocator

UTC = timezone.utc

UP = "#26a69a"        # rising candle, bid side, bullish
DOWN = "#ef5350"      # falling candle, ask side, bearish
FLAT = "#9e9e9e"      # neutral sentiment
INK = "#263238"       # titles, mid line
MUTED = "#607d8b"     # subtitles, guides
GRID = "#e6e9ec"
SMA20 = "#ff9800"
SMA50 = "#3f51b5"
BAND = "#5c6bc0"      # Bollinger band
MACD = "#1e88e5"
SIGNAL = "#fb8c00"
RSI = "#7e57c2"
NAN_CELL = "#d0d0d0"

DESIGN_W, DESIGN_H = 1200, 800   # the size the font sizes below are chosen for


# --------------------------------------------------------------------------------------------
# Style: every size in one place, scaled with the figure
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Style:
    scale: float
    width_px: float
    height_px: float

    @classmethod
    def of(cls, fig: Figure) -> "Style":
        w, h = fig.get_size_inches() * fig.dpi
        wr, hr = w / DESIGN_W, h / DESIGN_H
        # geometric mean of the two ratios, but never much more than the smaller one (a very
        # wide, short chart must not get tall text), clamped so text stays readable when small
        scale = min(math.sqrt(wr * hr), 1.3 * min(wr, hr))
        return cls(scale=max(0.62, min(scale, 3.0)), width_px=w, height_px=h)

    def pt(self, size: float) -> float:
        return size * self.scale

    @property
    def title(self) -> float:
        return self.pt(15)

    @property
    def subtitle(self) -> float:
        return self.pt(10.5)

    @property
    def label(self) -> float:
        return self.pt(10)

    @property
    def tick(self) -> float:
        return self.pt(9)

    @property
    def small(self) -> float:
        return self.pt(8.5)

    @property
    def line(self) -> float:
        return self.pt(1.2)

    @property
    def thin(self) -> float:
        return self.pt(0.7)

    @property
    def small_chart(self) -> bool:
        """True when there is too little room for legends and long labels."""
        return self.width_px < 700 or self.height_px < 450


def style_axes(ax, st: Style, *, grid_axis: str = "y") -> None:
    ax.tick_params(labelsize=st.tick, length=st.pt(3), width=st.thin, colors=INK,
                   pad=st.pt(2.5))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_linewidth(st.thin)
        ax.spines[side].set_color("#b0bec5")
    if grid_axis:
        ax.grid(True, axis=grid_axis, color=GRID, linewidth=st.thin)
        ax.set_axisbelow(True)


def set_layout(fig: Figure, st: Style) -> None:
    pad = 6 / 72 * st.scale   # inches
    fig.set_layout_engine("constrained", w_pad=pad, h_pad=pad, hspace=0.0, wspace=0.03)


# --------------------------------------------------------------------------------------------
# Titles, tags, number formats
# --------------------------------------------------------------------------------------------

def as_of_text(report) -> str:
    when = report.data_as_of or report.generated_at
    if when is None:
        return ""
    if isinstance(when, datetime) and when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"data as of {pd.Timestamp(when).strftime('%Y-%m-%d %H:%M')} UTC"


def provenance_tag(report) -> str:
    tags = []
    if getattr(report, "source", "binance") == "demo":
        tags.append("DEMO DATA")
    if getattr(report, "stale", False):
        tags.append("STALE")
    return " \u00b7 ".join(tags)


def draw_header(fig: Figure, ax, st: Style, title: str, subtitle: str, tag: str) -> None:
    """Title above the figure, subtitle on the first panel's left, provenance tag on its right."""
    fig.suptitle(title, fontsize=st.title, fontweight="bold", color=INK, x=0.01,
                 ha="left", parse_math=False)
    ax.set_title(subtitle, loc="left", fontsize=st.subtitle, color=MUTED, pad=st.pt(6),
                 parse_math=False)
    if tag:
        ax.set_title(tag, loc="right", fontsize=st.subtitle, fontweight="bold", color="white",
                     pad=st.pt(6), parse_math=False,
                     bbox={"boxstyle": "round,pad=0.3", "facecolor": "#e65100",
                           "edgecolor": "none"})


def join(*parts: str) -> str:
    return " \u00b7 ".join(p for p in parts if p)


def minus(text: str) -> str:
    """A typographic minus, as matplotlib's own tick labels use."""
    return text.replace("-", "\u2212")


def compact(value: float, decimals: int = 1) -> str:
    """1234567 -> '1.2M': volumes and notionals of any magnitude in a few characters."""
    if value is None or not np.isfinite(value):
        return "n/a"
    mag = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if mag >= div:
            return minus(f"{value / div:.{decimals}f}".rstrip("0").rstrip(".") + suffix)
    if mag >= 1 or mag == 0:
        return minus(f"{value:.{decimals}f}".rstrip("0").rstrip("."))
    return minus(f"{value:.3g}")


def price_text(value: float) -> str:
    """A price with as many decimals as its size needs: 97,123.45 / 0.5321 / 0.00001234."""
    if value is None or not np.isfinite(value):
        return "n/a"
    mag = abs(value)
    if mag >= 1000:
        decimals = 2
    elif mag >= 1:
        decimals = 4
    elif mag == 0:
        decimals = 0
    else:
        decimals = min(10, 3 - int(math.floor(math.log10(mag))))
    return minus(f"{value:,.{decimals}f}")


class PriceFormatter(Formatter):
    """Tick labels with the decimals the tick step needs, thousands separated, no offset."""

    def __call__(self, x, pos=None):
        locs = [v for v in getattr(self, "locs", []) if np.isfinite(v)]
        step = np.min(np.diff(sorted(locs))) if len(locs) > 1 else abs(x) or 1.0
        decimals = max(0, min(10, -int(math.floor(math.log10(step))) + 1)) if step > 0 else 2
        text = f"{x:,.{decimals}f}"
        if decimals and "." in text:   # drop the decimal the step shows is unneeded (97,500.0)
            head, tail = text.split(".")
            if all(f"{v:.{decimals}f}".endswith("0") for v in locs):
                tail = tail[:-1]
            text = f"{head}.{tail}" if tail else head
        return minus(text)


def compact_formatter() -> FuncFormatter:
    return FuncFormatter(lambda v, pos: compact(v))


def no_data(fig: Figure, report, st: Style, title: str) -> None:
    """A readable figure for an empty report instead of an exception."""
    set_layout(fig, st)
    ax = fig.add_subplot()
    ax.set_axis_off()
    draw_header(fig, ax, st, title, as_of_text(report), provenance_tag(report))
    ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center",
            fontsize=st.pt(28), color=MUTED, fontweight="bold")
    ax.text(0.5, 0.38, "the analysis returned no rows for these parameters",
            transform=ax.transAxes, ha="center", va="center", fontsize=st.label, color=MUTED)


def num(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, NaN where undefined or missing (renderers never trust dtypes)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64",
                                                                    na_value=np.nan)


def rectangles(x: np.ndarray, bottom: np.ndarray, top: np.ndarray, width) -> np.ndarray:
    """(n, 4, 2) vertices of n bars centred on x: one PolyCollection instead of n patches."""
    half = np.broadcast_to(np.asarray(width, dtype=float) / 2, x.shape)
    left, right = x - half, x + half
    return np.stack([np.column_stack([left, bottom]), np.column_stack([left, top]),
                     np.column_stack([right, top]), np.column_stack([right, bottom])], axis=1)


def add_bars(ax, x, bottom, top, width, colors, *, alpha=1.0, edge=0.0):
    ok = np.isfinite(x) & np.isfinite(bottom) & np.isfinite(top)
    colors = np.asarray(colors, dtype=object)[ok] if not isinstance(colors, str) else colors
    verts = rectangles(x[ok], bottom[ok], top[ok], width)
    pc = PolyCollection(verts, facecolors=colors, edgecolors=colors, linewidths=edge,
                        alpha=alpha, antialiaseds=edge > 0)
    ax.add_collection(pc, autolim=True)
    return pc


# --------------------------------------------------------------------------------------------
# Technical: candles + SMA + Bollinger, volume, RSI, MACD
# --------------------------------------------------------------------------------------------

def to_date_nums(series: pd.Series) -> np.ndarray:
    values = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[ms]")
    return mdates.date2num(values)


def candle_span(frame: pd.DataFrame, x_open: np.ndarray) -> float:
    """The interval length in days: from close_time - open_time, else the spacing of opens."""
    if "close_time" in frame and len(frame):
        close = to_date_nums(frame["close_time"])
        spans = close - x_open
        spans = spans[np.isfinite(spans) & (spans > 0)]
        if len(spans):
            return float(np.median(spans)) + 1 / 86_400_000   # close_time is open + span - 1 ms
    if len(x_open) > 1:
        d = np.diff(x_open)
        d = d[d > 0]
        if len(d):
            return float(np.median(d))
    return 1 / 24


def draw_technical(fig: Figure, report) -> None:
    st = Style.of(fig)
    params = report.params or {}
    symbol, interval = params.get("symbol", ""), params.get("interval", "")
    title = report.title or join(f"Technical analysis: {symbol}".strip(), interval)
    if interval and interval not in title:
        title = f"{title} {interval}"
    df = report.frame
    if df.empty or "open_time" not in df:
        return no_data(fig, report, st, title)

    set_layout(fig, st)
    x_open = to_date_nums(df["open_time"])
    span = candle_span(df, x_open)
    x = x_open + span / 2                         # a candle is drawn across its interval
    o, h, l, c = (num(df, k) for k in ("open", "high", "low", "close"))
    up = c >= o
    colors = np.where(up, UP, DOWN)

    gs = fig.add_gridspec(4, 1, height_ratios=[5, 1.2, 1.5, 1.5])
    ax_p = fig.add_subplot(gs[0])
    ax_v = fig.add_subplot(gs[1], sharex=ax_p)
    ax_r = fig.add_subplot(gs[2], sharex=ax_p)
    ax_m = fig.add_subplot(gs[3], sharex=ax_p)
    for ax in (ax_p, ax_v, ax_r, ax_m):
        style_axes(ax, st, grid_axis="both")
    for ax in (ax_p, ax_v, ax_r):
        ax.tick_params(labelbottom=False)

    # pixels one candle gets, to size wicks and bodies so 20 and 1,000 candles both look right
    n = len(df)
    plot_px = st.width_px * 0.86
    slot_px = plot_px / max(n, 1)
    wick_lw = max(0.5, min(slot_px * 0.12, 1.6 * st.scale)) * 72 / 100
    body_w = span * (0.72 if slot_px >= 4 else 0.85)

    # price panel
    lower, upper = num(df, "bb_lower"), num(df, "bb_upper")
    ax_p.fill_between(x, lower, upper, color=BAND, alpha=0.08, linewidth=0,
                      label="Bollinger (20, 2)")
    ax_p.plot(x, upper, color=BAND, linewidth=st.thin, alpha=0.55)
    ax_p.plot(x, lower, color=BAND, linewidth=st.thin, alpha=0.55)
    ok = np.isfinite(l) & np.isfinite(h)
    ax_p.vlines(x[ok], l[ok], h[ok], colors=colors[ok], linewidth=wick_lw)
    bottom, top = np.fmin(o, c), np.fmax(o, c)
    add_bars(ax_p, x, bottom, top, body_w, colors, edge=max(0.3, st.pt(0.35)))
    ax_p.plot(x, num(df, "sma_20"), color=SMA20, linewidth=st.line, label="SMA 20")
    ax_p.plot(x, num(df, "sma_50"), color=SMA50, linewidth=st.line, label="SMA 50")
    ax_p.yaxis.set_major_formatter(PriceFormatter())
    ax_p.yaxis.set_major_locator(MaxNLocator(nbins=max(3, int(6 * min(st.scale, 1.5)))))
    ax_p.set_ylabel("Price", fontsize=st.label, color=INK)
    finite_lo = np.nanmin(np.concatenate([l, lower])) if np.isfinite(l).any() else 0.0
    finite_hi = np.nanmax(np.concatenate([h, upper])) if np.isfinite(h).any() else 1.0
    pad = (finite_hi - finite_lo) * 0.05 or abs(finite_hi) * 0.01 or 1.0
    ax_p.set_ylim(finite_lo - pad, finite_hi + pad)

    last = c[np.isfinite(c)]
    if len(last):
        ax_p.axhline(last[-1], color=UP if up[np.isfinite(c)][-1] else DOWN,
                     linewidth=st.thin, linestyle=":", alpha=0.9)
        ax_p.annotate(price_text(last[-1]), xy=(1.0, last[-1]),
                      xycoords=ax_p.get_yaxis_transform(), xytext=(st.pt(3), 0),
                      textcoords="offset points", va="center", ha="left", fontsize=st.small,
                      color="white", fontweight="bold",
                      bbox={"boxstyle": "square,pad=0.25", "edgecolor": "none",
                            "facecolor": UP if up[np.isfinite(c)][-1] else DOWN})
    if not st.small_chart:
        ax_p.legend(loc="upper left", fontsize=st.small, frameon=True, framealpha=0.85,
                    edgecolor="none", ncols=3, handlelength=1.6, borderaxespad=st.pt(0.3))

    # volume panel
    vol = num(df, "volume")
    add_bars(ax_v, x, np.zeros(n), vol, body_w, colors, alpha=0.55)
    ax_v.set_ylim(0, (np.nanmax(vol) if np.isfinite(vol).any() else 1.0) * 1.1 or 1.0)
    ax_v.yaxis.set_major_formatter(compact_formatter())
    ax_v.yaxis.set_major_locator(MaxNLocator(nbins=2, min_n_ticks=2))
    ax_v.set_ylabel("Volume", fontsize=st.label, color=INK)

    # RSI panel
    ax_r.axhspan(30, 70, color=RSI, alpha=0.06, linewidth=0)
    for level in (30, 70):
        ax_r.axhline(level, color=RSI, linewidth=st.thin, linestyle="--", alpha=0.6)
    ax_r.plot(x, num(df, "rsi_14"), color=RSI, linewidth=st.line)
    ax_r.set_ylim(0, 100)
    ax_r.set_yticks([30, 50, 70])
    ax_r.set_ylabel("RSI 14", fontsize=st.label, color=INK)

    # MACD panel
    hist = num(df, "macd_hist")
    add_bars(ax_m, x, np.zeros(n), hist, body_w, np.where(hist >= 0, UP, DOWN), alpha=0.55)
    ax_m.axhline(0, color=MUTED, linewidth=st.thin)
    ax_m.plot(x, num(df, "macd"), color=MACD, linewidth=st.line, label="MACD 12, 26")
    ax_m.plot(x, num(df, "macd_signal"), color=SIGNAL, linewidth=st.line, label="Signal 9")
    ax_m.yaxis.set_major_locator(MaxNLocator(nbins=3, symmetric=True, min_n_ticks=3))
    ax_m.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: compact(v, 2)))
    ax_m.set_ylabel("MACD", fontsize=st.label, color=INK)
    if not st.small_chart:
        ax_m.legend(loc="upper left", fontsize=st.small, frameon=True, framealpha=0.85,
                    edgecolor="none", ncols=2, handlelength=1.6, borderaxespad=st.pt(0.3))
    for ax in (ax_v, ax_r, ax_m):
        ax.yaxis.set_label_coords(-0.055 * DESIGN_W / st.width_px * st.scale, 0.5)
    ax_p.yaxis.set_label_coords(-0.055 * DESIGN_W / st.width_px * st.scale, 0.5)

    # shared time axis, UTC
    locator = mdates.AutoDateLocator(tz=UTC, minticks=3,
                                     maxticks=max(4, int(st.width_px / (110 * st.scale))))
    ax_m.xaxis.set_major_locator(locator)
    ax_m.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax_m.xaxis.get_offset_text().set_fontsize(st.tick)
    ax_m.set_xlabel("UTC", fontsize=st.label, color=INK)
    ax_p.set_xlim(x[0] - span, x[-1] + span)

    signals = (report.summary or {}).get("signals") or {}
    signal_text = join(*(f"{k} {str(v).replace('_', ' ')}" for k, v in signals.items()
                         if v is not None)) if not st.small_chart else ""
    subtitle = join(f"{n} candles" + (f" of {interval}" if interval else ""),
                    as_of_text(report), signal_text)
    draw_header(fig, ax_p, st, title, subtitle, provenance_tag(report))


# --------------------------------------------------------------------------------------------
# Correlation: annotated heatmap + volatility bars
# --------------------------------------------------------------------------------------------

def draw_correlation(fig: Figure, report) -> None:
    st = Style.of(fig)
    params = report.params or {}
    interval = params.get("interval", "")
    title = report.title or "Return correlation"
    matrix = report.tables.get("matrix", report.frame)
    if matrix.empty or matrix.shape[1] < 2:
        return no_data(fig, report, st, title)

    set_layout(fig, st)
    rows = [str(s) for s in matrix.iloc[:, 0]]
    cols = [str(s) for s in matrix.columns[1:]]
    values = matrix.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    n_rows, n_cols = values.shape

    assets = report.tables.get("assets")
    show_vol = (assets is not None and not assets.empty and "annualized_volatility" in assets
                and st.width_px >= 500)
    if show_vol:
        gs = fig.add_gridspec(1, 2, width_ratios=[3.2, 1])
        ax = fig.add_subplot(gs[0])
        ax_b = fig.add_subplot(gs[1])
    else:
        ax, ax_b = fig.add_subplot(), None

    cmap = colormaps["RdBu_r"].with_extremes(bad=NAN_CELL)
    norm = Normalize(vmin=-1.0, vmax=1.0)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm,
                      interpolation="nearest", aspect="equal")
    ax.set_xticks(np.arange(n_cols), cols)
    ax.set_yticks(np.arange(n_rows), rows)
    ax.tick_params(length=0, labelsize=st.tick, colors=INK)
    for spine in ax.spines.values():
        spine.set_visible(False)
    # thin white lines between cells
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=st.pt(1.5))
    ax.tick_params(which="minor", length=0)
    longest = max(len(c) for c in cols)
    cell_px = min(st.width_px * (0.55 if show_vol else 0.75) / n_cols,
                  st.height_px * 0.72 / n_rows)
    if cell_px * 0.9 < longest * st.tick * 0.6 * 100 / 72:
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_ha("right")
            label.set_rotation_mode("anchor")

    # annotations sized to the cell, coloured for contrast with it
    font_pt = min(st.pt(11), cell_px * 0.26 * 72 / 100)
    if font_pt >= 4:
        rgba = cmap(norm(np.nan_to_num(values)))
        luminance = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        for i in range(n_rows):
            for j in range(n_cols):
                v = values[i, j]
                text = "n/a" if not np.isfinite(v) else minus(f"{v:.2f}")
                color = INK if not np.isfinite(v) or luminance[i, j] > 0.55 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=font_pt, color=color)

    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, shrink=0.9)
    bar.outline.set_visible(False)
    bar.ax.tick_params(labelsize=st.tick, width=st.thin, length=st.pt(3))
    bar.set_label("Pearson correlation of log returns", fontsize=st.label, color=INK)
    bar.set_ticks([-1, -0.5, 0, 0.5, 1])

    if ax_b is not None:
        order = {s: i for i, s in enumerate(rows)}
        a = assets.assign(_pos=assets["symbol"].astype(str).map(order)).sort_values(
            "_pos", na_position="last")
        vol = num(a, "annualized_volatility") * 100
        y = np.arange(len(a))
        ax_b.barh(y, np.nan_to_num(vol), color=MUTED, alpha=0.75, height=0.62)
        ax_b.set_yticks(y, [str(s) for s in a["symbol"]])
        ax_b.invert_yaxis()
        style_axes(ax_b, st, grid_axis="x")
        ax_b.tick_params(axis="y", length=0)
        top = np.nanmax(vol) if np.isfinite(vol).any() else 1.0
        ax_b.set_xlim(0, top * 1.32 or 1.0)
        ax_b.xaxis.set_major_locator(MaxNLocator(nbins=3))
        ax_b.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: f"{v:.0f}%"))
        if len(a) <= 25:
            for yi, v in zip(y, vol):
                ax_b.text(v if np.isfinite(v) else 0, yi, f" {v:.0f}%" if np.isfinite(v)
                          else " n/a", va="center", ha="left", fontsize=st.small, color=INK)
        ax_b.set_title("Annualized volatility", fontsize=st.label, color=INK, loc="left",
                       pad=st.pt(6))

    summary = report.summary or {}
    obs = summary.get("observations")
    mean_corr = summary.get("mean_correlation")
    subtitle = join(f"{interval} log returns" if interval else "log returns",
                    f"{obs} observations" if obs is not None else "",
                    minus(f"mean correlation {mean_corr:.2f}")
                    if isinstance(mean_corr, (int, float)) and np.isfinite(mean_corr) else "",
                    as_of_text(report))
    draw_header(fig, ax, st, title, subtitle, provenance_tag(report))


# --------------------------------------------------------------------------------------------
# Liquidity: cumulative depth around mid + band imbalance
# --------------------------------------------------------------------------------------------

def depth_steps(price: np.ndarray, cum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step vertices of a cumulative depth curve; levels best first, starting from zero."""
    xs = np.repeat(price, 2)
    ys = np.concatenate([[0.0], np.repeat(cum, 2)[:-1]])
    return xs, ys


def draw_liquidity(fig: Figure, report) -> None:
    st = Style.of(fig)
    params = report.params or {}
    symbol = params.get("symbol", "")
    title = report.title or f"Order-book liquidity: {symbol}".strip()
    df = report.frame
    if df.empty or "side" not in df:
        return no_data(fig, report, st, title)

    set_layout(fig, st)
    summary = report.summary or {}
    side = df["side"].astype(str).str.lower()
    bids = df[side == "bid"].sort_values("price", ascending=False)
    asks = df[side == "ask"].sort_values("price", ascending=True)
    bid_p, bid_c = num(bids, "price"), num(bids, "cum_notional")
    ask_p, ask_c = num(asks, "price"), num(asks, "cum_notional")
    best_bid = summary.get("best_bid", bid_p[0] if len(bid_p) else np.nan)
    best_ask = summary.get("best_ask", ask_p[0] if len(ask_p) else np.nan)
    mid = summary.get("mid")
    if mid is None or not np.isfinite(mid):
        mid = np.nanmean([best_bid, best_ask])

    bands = [b for b in (summary.get("bands") or []) if isinstance(b, dict)]
    show_bands = bool(bands) and st.width_px >= 500
    if show_bands:
        gs = fig.add_gridspec(1, 2, width_ratios=[3, 1])
        ax = fig.add_subplot(gs[0])
        ax_i = fig.add_subplot(gs[1])
    else:
        ax, ax_i = fig.add_subplot(), None
    style_axes(ax, st, grid_axis="both")

    # plotted range: within 200 bps of mid or the fetched book, whichever is smaller
    extent = np.nanmax(np.abs(np.concatenate([bid_p, ask_p]) - mid)) if len(df) else 0
    half = min(mid * 0.02, extent) if np.isfinite(extent) and extent > 0 else mid * 0.001
    half *= 1.04
    lo, hi = mid - half, mid + half

    for p, cum, color, name in ((bid_p, bid_c, UP, "Bids"), (ask_p, ask_c, DOWN, "Asks")):
        if not len(p):
            continue
        xs, ys = depth_steps(p, cum)
        # carry the last level to the edge of the plot, if the book reaches that far
        ax.fill_between(xs, ys, color=color, alpha=0.22, linewidth=0)
        ax.plot(xs, ys, color=color, linewidth=st.line, label=f"{name}, cumulative")

    visible = np.concatenate([bid_c[(bid_p >= lo)], ask_c[(ask_p <= hi)]])
    top = np.nanmax(visible) if len(visible) and np.isfinite(visible).any() else 1.0
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, top * 1.12 or 1.0)

    # depth bands, nested and shaded, only those inside the plotted range
    band_bps = [b.get("bps") for b in bands] or [10, 50, 100, 200]
    for bps in sorted((b for b in band_bps if isinstance(b, (int, float))), reverse=True):
        b_lo, b_hi = mid * (1 - bps / 1e4), mid * (1 + bps / 1e4)
        if b_lo < lo or b_hi > hi:
            continue
        ax.axvspan(b_lo, b_hi, color=MUTED, alpha=0.07, linewidth=0)
        for edge in (b_lo, b_hi):
            ax.axvline(edge, color=MUTED, linewidth=st.thin, linestyle=(0, (2, 3)), alpha=0.7)
        ax.text(b_hi, 0.985, f" \u00b1{bps:g} bps", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=st.small, color=MUTED)

    ax.axvline(mid, color=INK, linewidth=st.line, linestyle="--", label="Mid")
    ax.text(mid, 0.92, f"mid {price_text(mid)}", transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=st.small, color=INK, fontweight="bold",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.9})
    ax.xaxis.set_major_formatter(PriceFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=max(3, int(6 * min(st.scale, 1.3)))))
    ax.yaxis.set_major_formatter(compact_formatter())
    ax.set_xlabel("Price", fontsize=st.label, color=INK)
    ax.set_ylabel("Cumulative depth (quote)", fontsize=st.label, color=INK)
    if not st.small_chart:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.84), fontsize=st.small,
                  frameon=True, framealpha=0.9, edgecolor="none", ncols=3, handlelength=1.6)

    if ax_i is not None:
        style_axes(ax_i, st, grid_axis="y")
        labels = [f"{b.get('bps', '?'):g}" if isinstance(b.get("bps"), (int, float))
                  else str(b.get("bps")) for b in bands]
        imb = np.array([b.get("imbalance") if isinstance(b.get("imbalance"), (int, float))
                        else np.nan for b in bands], dtype=float)
        xi = np.arange(len(bands))
        ax_i.bar(xi, np.nan_to_num(imb), color=np.where(imb >= 0, UP, DOWN), width=0.6)
        ax_i.axhline(0, color=MUTED, linewidth=st.thin)
        ax_i.set_ylim(-1.15, 1.15)
        ax_i.set_yticks([-1, -0.5, 0, 0.5, 1])
        ax_i.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: minus(f"{v:g}")))
        ax_i.set_xticks(xi, labels)
        ax_i.set_xlabel("Band (\u00b1 bps from mid)", fontsize=st.label, color=INK)
        for xv, v in zip(xi, imb):
            text = "n/a" if not np.isfinite(v) else minus(f"{v:+.2f}")
            ax_i.text(xv, v if np.isfinite(v) else 0, text, ha="center",
                      va="bottom" if not np.isfinite(v) or v >= 0 else "top",
                      fontsize=st.small, color=INK)
        ax_i.text(0.02, 0.99, "bid-heavy", transform=ax_i.transAxes, ha="left", va="top",
                  fontsize=st.small, color=UP)
        ax_i.text(0.02, 0.01, "ask-heavy", transform=ax_i.transAxes, ha="left", va="bottom",
                  fontsize=st.small, color=DOWN)
        ax_i.set_title("Depth imbalance", fontsize=st.label, color=INK, loc="left",
                       pad=st.pt(6))

    spread = summary.get("spread_bps")
    subtitle = join(f"{len(bids)} bids, {len(asks)} asks",
                    f"spread {spread:.2f} bps" if isinstance(spread, (int, float))
                    and np.isfinite(spread) else "",
                    as_of_text(report))
    draw_header(fig, ax, st, title, subtitle, provenance_tag(report))


# --------------------------------------------------------------------------------------------
# Market statistics: 24 h change per symbol
# --------------------------------------------------------------------------------------------

SENTIMENT_COLORS = {"bullish": UP, "bearish": DOWN, "neutral": FLAT}


def draw_statistics(fig: Figure, report) -> None:
    st = Style.of(fig)
    title = report.title or "Market statistics: 24 h change"
    df = report.frame
    if df.empty or "symbol" not in df:
        return no_data(fig, report, st, title)

    set_layout(fig, st)
    pct_all = num(df, "price_change_pct")
    order = np.argsort(np.nan_to_num(pct_all, nan=-np.inf), kind="stable")
    t = df.iloc[order]
    pct = pct_all[order]
    sentiment = (t["sentiment"].astype(str).str.lower() if "sentiment" in t
                 else pd.Series(np.where(pct >= 2, "bullish",
                                         np.where(pct <= -2, "bearish", "neutral"))))
    colors = [SENTIMENT_COLORS.get(s, FLAT) for s in sentiment]
    y = np.arange(len(t))

    ax = fig.add_subplot()
    style_axes(ax, st, grid_axis="x")
    ax.barh(y, np.nan_to_num(pct), color=colors, height=0.66)
    ax.set_yticks(y, [str(s) for s in t["symbol"]])
    ax.tick_params(axis="y", length=0)
    ax.axvline(0, color=INK, linewidth=st.thin)
    for guide in (-2, 2):
        ax.axvline(guide, color=MUTED, linewidth=st.thin, linestyle="--", alpha=0.8)

    finite = pct[np.isfinite(pct)]
    span_lo = min(-2.5, finite.min() if len(finite) else 0)
    span_hi = max(2.5, finite.max() if len(finite) else 0)
    width = span_hi - span_lo
    ax.set_xlim(span_lo - width * 0.16, span_hi + width * 0.16)
    ax.set_ylim(-0.6, len(t) - 0.4)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: minus(f"{v:+g}%")
                                               if v else "0%"))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=max(4, int(8 * min(st.scale, 1.4)))))
    ax.set_xlabel("24 h price change", fontsize=st.label, color=INK)
    ax.text(2, 1.0, " +2%", transform=ax.get_xaxis_transform(), ha="left", va="bottom",
            fontsize=st.small, color=MUTED)
    ax.text(-2, 1.0, "\u22122% ", transform=ax.get_xaxis_transform(), ha="right", va="bottom",
            fontsize=st.small, color=MUTED)

    label_pt = min(st.small, st.height_px * 0.7 / max(len(t), 1) * 0.5 * 72 / 100)
    for yi, v in zip(y, pct):
        text = "n/a" if not np.isfinite(v) else minus(f"{v:+.2f}%")
        v = 0.0 if not np.isfinite(v) else v
        ax.text(v, yi, f" {text} " , va="center", ha="left" if v >= 0 else "right",
                fontsize=label_pt, color=INK)

    if not st.small_chart:
        handles = [Patch(color=UP, label="bullish (\u2265 +2%)"),
                   Patch(color=FLAT, label="neutral"),
                   Patch(color=DOWN, label="bearish (\u2264 \u22122%)")]
        ax.legend(handles=handles, loc="lower right", fontsize=st.small, frameon=True,
                  framealpha=0.9, edgecolor="none")

    s = report.summary or {}
    parts = []
    if s.get("sentiment"):
        parts.append(f"sentiment {s['sentiment']}")
    if isinstance(s.get("breadth"), (int, float)):
        counts = [f"{s[k]} {w}" for k, w in (("advancers", "up"), ("decliners", "down"),
                                              ("unchanged", "flat")) if s.get(k) is not None]
        parts.append(minus(f"breadth {s['breadth']:+.2f}")
                     + (f" ({', '.join(counts)})" if counts else ""))
    if isinstance(s.get("weighted_change_pct"), (int, float)) and not st.small_chart:
        parts.append(minus(f"volume-weighted {s['weighted_change_pct']:+.2f}%"))
    subtitle = join(*parts, as_of_text(report))
    draw_header(fig, ax, st, title, subtitle, provenance_tag(report))


DRAWERS: dict[str, Callable[[Figure, object], None]] = {
    "technical": draw_technical,
    "correlation": draw_correlation,
    "liquidity": draw_liquidity,
    "statistics": draw_statistics,
}
