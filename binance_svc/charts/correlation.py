"""Correlation chart: an annotated heatmap, its colour bar, and the assets' annualized
volatility as bars aligned with the heatmap's rows."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

from binance_svc.charts import primitives as P
from binance_svc.charts.style import (INK, MUTED, NAN_CELL, PX_PER_PT, Measure, Style,
                                      as_of_text, finite_range, minus, num, provenance_tag,
                                      rect)


@dataclass(frozen=True)
class Bars:
    """The volatility bars, one per asset, in the heatmap's row order where they align."""
    rect: tuple                   # pixels
    symbols: tuple
    vol_pct: np.ndarray
    bar_height: float             # in rows
    x_max: float


@dataclass(frozen=True)
class Layout:
    style: Style
    header: P.Header
    rows: tuple
    cols: tuple
    values: np.ndarray            # n_rows x n_cols, NaN where undefined
    heat: tuple                   # pixel rect of the heatmap
    colorbar: tuple               # pixel rect of its colour bar
    cell: float                   # pixels
    label_pt: float               # symbols
    rotate: bool                  # column symbols at 45 degrees
    font_pt: float                # cell values
    cell_texts: tuple             # row by row, "" when the cells are too small for text
    cell_colors: tuple
    bars: Bars | None


def _cmap():
    return colormaps["RdBu_r"].with_extremes(bad=NAN_CELL)


def _norm() -> Normalize:
    # one per figure: a mappable connects itself to its norm's callbacks
    return Normalize(vmin=-1.0, vmax=1.0)


def layout(report, width: int, height: int):
    st = Style.of(width, height)
    measure = Measure()
    params = report.params or {}
    interval = params.get("interval", "")
    title = report.title or "Return correlation"
    matrix = report.tables.get("matrix", report.frame)
    if matrix.empty or matrix.shape[1] < 2:
        return P.no_data(report, st, measure, title)

    rows = [str(s) for s in matrix.iloc[:, 0]]
    cols = [str(s) for s in matrix.columns[1:]]
    values = matrix.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    n_rows, n_cols = values.shape

    summary = report.summary or {}
    obs = summary.get("observations")
    mean_corr = summary.get("mean_correlation")
    assets = report.tables.get("assets")
    show_vol = (assets is not None and not assets.empty and "annualized_volatility" in assets
                and st.width_px >= 500)
    header = P.header(st, measure, title, [
        f"{interval} log returns" if interval else "log returns",
        f"{obs} observations" if obs is not None else "",
        "mean correlation " + minus(f"{mean_corr:.2f}")
        if isinstance(mean_corr, (int, float)) and np.isfinite(mean_corr) else "",
        as_of_text(report)], provenance_tag(report),
        extra_gap=Measure.line(st.label) if show_vol else 0.0)
    top = header.height

    # geometry, in pixels: [row labels][heatmap][colorbar]   [row labels][volatility bars]
    row_label_w = max(measure.width(r, st.tick) for r in rows) + st.px(5)
    col_label_w = max(measure.width(c, st.tick) for c in cols)
    cbar_w, cbar_gap = st.px(12), st.px(8)
    cbar_label_w = measure.width("\u22120.5", st.tick) + Measure.line(st.label) + st.px(10)
    bars_w = 0.0
    if show_vol:
        vol_row_w = max(measure.width(str(s), st.tick) for s in assets["symbol"]) + st.px(5)
        bars_w = vol_row_w + max(st.px(110), 0.2 * st.width_px)
    avail_w = (st.width_px - 2 * st.pad - row_label_w - cbar_gap - cbar_w - cbar_label_w
               - (bars_w + st.px(20) if show_vol else 0))
    avail_h_flat = st.height_px - top - st.pad - Measure.line(st.tick) - st.px(6)
    cell = min(avail_w / n_cols, avail_h_flat / n_rows)
    rotate = cell * 0.92 < col_label_w
    if rotate:   # 45 degree labels: their height is their width over root two
        avail_h = (st.height_px - top - st.pad - st.px(6)
                   - (col_label_w + Measure.line(st.tick)) / math.sqrt(2))
        cell = min(cell, avail_h / n_rows)
    cell = max(cell, 1.0)
    heat_w, heat_h = cell * n_cols, cell * n_rows
    block_w = row_label_w + heat_w + cbar_gap + cbar_w + cbar_label_w + (
        bars_w + st.px(20) if show_vol else 0)
    x0 = st.pad + max(0.0, (st.width_px - 2 * st.pad - block_w) / 2)
    heat_left = x0 + row_label_w
    below = (col_label_w + Measure.line(st.tick)) / math.sqrt(2) if rotate else \
        Measure.line(st.tick)
    spare_h = st.height_px - top - st.pad - st.px(6) - below - heat_h
    heat_bottom = st.height_px - top - heat_h - max(0.0, spare_h) / 2   # centred vertically

    # symbols in a smaller font when the cells are too small for the usual one (the layout
    # above measured them at the usual size, so they only get more room)
    label_pt = min(st.tick, cell * 0.85 / 1.2 / PX_PER_PT)

    # each cell annotated, sized to the cell, in a colour readable on it
    font_pt = min(st.pt(13), cell * 0.27 / PX_PER_PT)
    texts, colors = [], []
    if font_pt >= 4.5:
        rgba = _cmap()(_norm()(np.nan_to_num(values)))
        luminance = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        for v, lum in zip(values.ravel(), luminance.ravel()):
            texts.append("n/a" if not np.isfinite(v) else minus(f"{v:.2f}"))
            colors.append(INK if not np.isfinite(v) or lum > 0.5 else "white")

    bars = None
    if show_vol:
        order = {s: i for i, s in enumerate(rows)}
        a = assets.assign(_row=assets["symbol"].astype(str).map(order))
        a = a.sort_values("_row", na_position="last").reset_index(drop=True)
        # rows of the heatmap line up with the bars when every asset is a row of the matrix
        aligned = a["_row"].notna().all() and len(a) == n_rows
        vol = num(a, "annualized_volatility") * 100
        bars_left = heat_left + heat_w + cbar_gap + cbar_w + cbar_label_w + st.px(20) + vol_row_w
        hi = finite_range(vol, default=(0.0, 1.0))[1]
        bars = Bars(rect=(bars_left, heat_bottom, bars_w - vol_row_w, heat_h),
                    symbols=tuple(str(s) for s in a["symbol"]), vol_pct=vol,
                    bar_height=min(0.6 if aligned else 0.7, st.px(26) / cell),
                    x_max=hi * 1.35 or 1.0)

    return Layout(style=st, header=header, rows=tuple(rows), cols=tuple(cols), values=values,
                  heat=(heat_left, heat_bottom, heat_w, heat_h),
                  colorbar=(heat_left + heat_w + cbar_gap, heat_bottom, cbar_w, heat_h),
                  cell=cell, label_pt=label_pt, rotate=rotate, font_pt=font_pt,
                  cell_texts=tuple(texts), cell_colors=tuple(colors), bars=bars)


def draw(fig: Figure, lay) -> None:
    if isinstance(lay, P.NoData):
        return P.draw_no_data(fig, lay)
    st = lay.style
    P.draw_header(fig, st, lay.header)
    n_rows, n_cols = lay.values.shape
    ax = fig.add_axes(rect(st, *lay.heat))
    cmap = _cmap()
    image = ax.pcolormesh(np.arange(n_cols + 1) - 0.5, np.arange(n_rows + 1) - 0.5,
                          np.ma.masked_invalid(lay.values), cmap=cmap, norm=_norm(),
                          edgecolors="white",
                          linewidth=max(0.3, min(st.pt(1.2), lay.cell * 0.05)))
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    # symbols placed as tick labels would be, but without Tick objects (two lines, a grid
    # line and two Texts each, dearer to build than the label is to draw)
    ax.set_xticks([])
    ax.set_yticks([])
    P.add_labels(ax, np.zeros(n_rows), np.arange(n_rows), list(lay.rows), lay.label_pt, INK,
                 transform=offset_copy(ax.get_yaxis_transform(), fig=fig, x=-st.tick_pad,
                                       units="points"),
                 ha="right", va="center_baseline")
    P.add_labels(ax, np.arange(n_cols), np.zeros(n_cols), list(lay.cols), lay.label_pt, INK,
                 transform=offset_copy(ax.get_xaxis_transform(), fig=fig, y=-st.tick_pad,
                                       units="points"),
                 ha="right" if lay.rotate else "center", va="top",
                 angle=45 if lay.rotate else 0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if lay.cell_texts:
        cols_idx, rows_idx = np.meshgrid(np.arange(n_cols), np.arange(n_rows))
        P.add_labels(ax, cols_idx.ravel(), rows_idx.ravel(), list(lay.cell_texts),
                     lay.font_pt, list(lay.cell_colors))

    cax = fig.add_axes(rect(st, *lay.colorbar))
    bar = fig.colorbar(image, cax=cax, ticks=[-1, -0.5, 0, 0.5, 1])
    bar.outline.set_visible(False)
    bar.ax.tick_params(labelsize=st.tick, width=st.thin, length=st.tick_len, colors=INK,
                       pad=st.tick_pad)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, pos: minus(f"{v:g}")))
    bar.set_label("Pearson correlation", fontsize=st.label, color=INK)

    b = lay.bars
    if b is None:
        return
    ax_b = fig.add_axes(rect(st, *b.rect))
    P.style_axes(ax_b, st, grid_axis="x")
    y = np.arange(len(b.symbols))
    ax_b.barh(y, np.nan_to_num(b.vol_pct), color=MUTED, alpha=0.75, height=b.bar_height)
    ax_b.set_yticks([])
    P.add_labels(ax_b, np.zeros(len(y)), y, list(b.symbols), lay.label_pt, INK,
                 transform=offset_copy(ax_b.get_yaxis_transform(), fig=fig,
                                       x=-st.tick_pad, units="points"),
                 ha="right", va="center_baseline")
    ax_b.set_ylim(len(y) - 0.5, -0.5)
    ax_b.spines["left"].set_visible(False)
    ax_b.set_xlim(0, b.x_max)
    ax_b.xaxis.set_major_locator(MaxNLocator(nbins=3))
    ax_b.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: f"{v:.0f}%"))
    value_pt = min(st.small, lay.label_pt)
    P.add_labels(ax_b, np.nan_to_num(b.vol_pct), y,
                 [f" {v:.0f}%" if np.isfinite(v) else " n/a" for v in b.vol_pct], value_pt,
                 INK, ha="left", va="center")
    ax_b.set_title("Annualized volatility", fontsize=st.label, color=INK, loc="left",
                   pad=st.pt(5))
    P.finish_ticks(ax_b, st, grid="x")
