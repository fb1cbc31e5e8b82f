"""PNG charts: exact size, not blank, deterministic, empty tables, thread safety.

Reports are built by hand here (the analyses are tested on their own): a seeded random walk
with indicators roughly computed by pandas, a 3-symbol correlation, a 20-level book and a
10-symbol watch list.
"""
from __future__ import annotations

import gc
import io
import math
import struct
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from PIL import Image

from binance_svc.analysis.report import Report
from binance_svc.render import charts
from binance_svc.render.png import render_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
AS_OF = datetime(2026, 11, 23, 19, 0, 3, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Ctx:
    """Stands in for render.formats.RenderContext: only width and height matter here."""

    width: int = 1200
    height: int = 800


# --------------------------------------------------------------------------------------------
# Report builders
# --------------------------------------------------------------------------------------------

def technical_report(n: int = 200, *, interval: str = "1h", seed: int = 7,
                     source: str = "binance", stale: bool = False) -> Report:
    rng = np.random.default_rng(seed)
    step = pd.Timedelta({"1m": "1min", "1h": "1h", "4h": "4h", "1d": "1D"}[interval])
    total = n + 60
    open_time = pd.date_range(end=pd.Timestamp("2026-11-23 18:00", tz="UTC"), periods=total,
                              freq=step)
    sigma = 0.006 * math.sqrt(step / pd.Timedelta("1h"))   # about 0.6 % an hour
    close = 97_000 * np.exp(np.cumsum(rng.normal(0.0, sigma, total)))
    open_ = np.concatenate([[close[0] * (1 - 0.002)], close[:-1]])
    spread = np.abs(rng.normal(0, 0.004, total)) * close
    high = np.maximum(open_, close) + spread * rng.uniform(0.1, 1.0, total)
    low = np.minimum(open_, close) - spread * rng.uniform(0.1, 1.0, total)
    volume = rng.lognormal(3.0, 0.5, total)
    c = pd.Series(close)
    ema12 = c.ewm(span=12, adjust=False).mean()
    ema26 = c.ewm(span=26, adjust=False).mean()
    macd = ema12 - ema26
    signal = macd.ewm(span=9, adjust=False).mean()
    delta = c.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    rsi = 100 - 100 / (1 + gain / loss)
    mid = c.rolling(20).mean()
    sd = c.rolling(20).std(ddof=0)
    frame = pd.DataFrame({
        "open_time": open_time,
        "close_time": open_time + step - pd.Timedelta(milliseconds=1),
        "open": open_, "high": high, "low": low, "close": close,
        "volume": volume, "quote_volume": volume * close,
        "trades": rng.integers(1000, 9000, total),
        "sma_20": mid, "sma_50": c.rolling(50).mean(),
        "ema_12": ema12, "ema_26": ema26, "rsi_14": rsi,
        "macd": macd, "macd_signal": signal, "macd_hist": macd - signal,
        "bb_middle": mid, "bb_upper": mid + 2 * sd, "bb_lower": mid - 2 * sd,
        "bb_percent_b": (c - (mid - 2 * sd)) / (4 * sd), "bb_bandwidth": 4 * sd / mid,
    })
    # like the service, a long window comes with its warm-up fetched before it (every row has
    # every indicator); a short one shows the NaN warm-up of a young market
    frame = frame.iloc[-n:] if n >= 100 else frame.iloc[:n]
    frame = frame.reset_index(drop=True)
    return Report(
        analysis="technical",
        params={"symbol": "BTCUSDT", "interval": interval, "limit": n},
        tables={"candles": frame},
        summary={"last_close": float(close[-1]),
                 "signals": {"rsi": "neutral", "macd": "bullish", "bollinger": "inside",
                             "trend": "up"}},
        source=source, stale=stale, data_as_of=AS_OF, generated_at=AS_OF,
        title=f"Technical analysis: BTCUSDT {interval}",
    )


def correlation_report(symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"), *, nan_pair=False) -> Report:
    rng = np.random.default_rng(3)
    market = rng.normal(0, 0.03, 90)
    returns = pd.DataFrame({s: market * (0.6 + 0.1 * i) + rng.normal(0, 0.02 + 0.004 * i, 90)
                            for i, s in enumerate(symbols)})
    corr = returns.corr()
    if nan_pair:
        corr.iloc[0, -1] = corr.iloc[-1, 0] = np.nan
    matrix = corr.reset_index(names="symbol")
    ann = 365
    assets = pd.DataFrame({
        "symbol": list(symbols),
        "annualized_return": returns.mean().to_numpy() * ann,
        "annualized_volatility": returns.std().to_numpy() * np.sqrt(ann),
        "sharpe": (returns.mean() / returns.std()).to_numpy() * np.sqrt(ann),
        "max_drawdown": [-0.31, -0.42, -0.55][: len(symbols)] + [-0.5] * (len(symbols) - 3),
        "beta": (returns.cov().iloc[:, 0] / returns.iloc[:, 0].var()).to_numpy(),
    })
    off = corr.to_numpy()[~np.eye(len(symbols), dtype=bool)]
    return Report(
        analysis="correlation",
        params={"symbols": list(symbols), "interval": "1d", "limit": 90,
                "benchmark": symbols[0]},
        tables={"matrix": matrix, "assets": assets},
        summary={"portfolio_volatility": 0.52, "diversification_ratio": 1.12,
                 "mean_correlation": float(np.nanmean(off)), "observations": 90,
                 "most_correlated": {"pair": list(symbols[:2]), "correlation": 0.8},
                 "least_correlated": {"pair": [symbols[0], symbols[-1]], "correlation": 0.6}},
        data_as_of=AS_OF, generated_at=AS_OF,
        title="Correlation: " + ", ".join(symbols) + " (1d)",
    )


def liquidity_report(levels: int = 20, *, mid: float = 3_000.0, tick: float = 0.5) -> Report:
    rng = np.random.default_rng(11)
    rows = []
    for side, sign in (("bid", -1), ("ask", 1)):
        # best first: the bids walk down from mid, the asks up, a few ticks at a time
        offsets = tick / 2 + tick * np.concatenate([[0], rng.integers(1, 4, levels - 1)]).cumsum()
        price = np.round(mid + sign * offsets, 8)
        qty = rng.lognormal(1.0, 0.8, levels)
        notional = price * qty
        rows.append(pd.DataFrame({
            "side": side, "price": price, "quantity": qty, "notional": notional,
            "cum_quantity": qty.cumsum(), "cum_notional": notional.cumsum(),
            "distance_bps": np.abs(price - mid) / mid * 1e4,
        }))
    levels_df = pd.concat(rows, ignore_index=True)
    best_bid = float(levels_df.loc[levels_df.side == "bid", "price"].max())
    best_ask = float(levels_df.loc[levels_df.side == "ask", "price"].min())
    mid = (best_bid + best_ask) / 2
    bands = []
    for bps in (10, 50, 100, 200):
        near = levels_df[levels_df.distance_bps <= bps]
        b = float(near.loc[near.side == "bid", "notional"].sum())
        a = float(near.loc[near.side == "ask", "notional"].sum())
        bands.append({"bps": bps, "bid_notional": b, "ask_notional": a,
                      "imbalance": (b - a) / (b + a) if b + a else None})
    return Report(
        analysis="liquidity",
        params={"symbol": "ETHUSDT", "depth": levels, "notional": [10_000, 100_000]},
        tables={"levels": levels_df},
        summary={"best_bid": best_bid, "best_ask": best_ask, "mid": mid,
                 "spread": best_ask - best_bid, "spread_bps": (best_ask - best_bid) / mid * 1e4,
                 "bands": bands, "slippage": []},
        data_as_of=AS_OF, generated_at=AS_OF, title="Liquidity: ETHUSDT",
    )


WATCHLIST = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
             "TRXUSDT", "LINKUSDT", "AVAXUSDT"]


PRICES = {"BTCUSDT": 97_000, "ETHUSDT": 3_400, "BNBUSDT": 650, "SOLUSDT": 240, "XRPUSDT": 1.4,
          "ADAUSDT": 0.9, "DOGEUSDT": 0.38, "TRXUSDT": 0.2, "LINKUSDT": 19, "AVAXUSDT": 42}


def statistics_report(symbols=WATCHLIST) -> Report:
    rng = np.random.default_rng(5)
    n = len(symbols)
    last = np.array([PRICES.get(s, 1.0) for s in symbols]) * rng.uniform(0.97, 1.03, n)
    pct = rng.normal(0.5, 3.5, n)
    open_ = last / (1 + pct / 100)
    high = np.maximum(last, open_) * (1 + rng.uniform(0.005, 0.03, n))
    low = np.minimum(last, open_) * (1 - rng.uniform(0.005, 0.03, n))
    volume = rng.lognormal(20, 1.0, n) / last          # quote volumes around 0.5 billion
    frame = pd.DataFrame({
        "symbol": list(symbols), "last_price": last, "open_price": open_, "high": high,
        "low": low, "price_change": last - open_, "price_change_pct": pct,
        "weighted_avg_price": (high + low + last) / 3, "volume": volume,
        "quote_volume": volume * last, "trades": rng.integers(10_000, 900_000, n),
        "range_pct": (high - low) / low * 100,
        "close_position": (last - low) / (high - low),
        "sentiment": np.where(pct >= 2, "bullish", np.where(pct <= -2, "bearish", "neutral")),
    })
    adv, dec = int((pct > 0).sum()), int((pct < 0).sum())
    weighted = float(np.average(pct, weights=frame.quote_volume))
    return Report(
        analysis="statistics",
        params={"symbols": list(symbols)},
        tables={"tickers": frame},
        summary={"advancers": adv, "decliners": dec, "unchanged": n - adv - dec,
                 "breadth": (adv - dec) / n, "mean_change_pct": float(pct.mean()),
                 "weighted_change_pct": weighted,
                 "top_gainer": symbols[int(pct.argmax())],
                 "top_loser": symbols[int(pct.argmin())],
                 "sentiment": "bullish" if weighted >= 2 else
                 "bearish" if weighted <= -2 else "neutral"},
        data_as_of=AS_OF, generated_at=AS_OF, title="Market statistics (24 h)",
    )


BUILDERS = {
    "technical": technical_report,
    "correlation": correlation_report,
    "liquidity": liquidity_report,
    "statistics": statistics_report,
}


def empty_report(analysis: str) -> Report:
    full = BUILDERS[analysis]()
    full.tables = {name: frame.iloc[0:0] for name, frame in full.tables.items()}
    full.summary = {}
    return full


# --------------------------------------------------------------------------------------------
# PNG checks
# --------------------------------------------------------------------------------------------

def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pixel_std(data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as image:
        return float(np.asarray(image.convert("L"), dtype=float).std())


def assert_chart(data: bytes, width: int, height: int) -> None:
    assert png_size(data) == (width, height)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    assert pixel_std(data) > 8.0, "chart looks blank"


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
    assert charts.provenance_tag(report) == ""
    report.source = "demo"
    assert charts.provenance_tag(report) == "DEMO DATA"
    report.stale = True
    assert "STALE" in charts.provenance_tag(report)


def test_unknown_analysis_is_a_value_error():
    report = Report(analysis="symbols", params={}, tables={"symbols": pd.DataFrame(
        {"symbol": ["BTCUSDT"], "base_asset": ["BTC"], "quote_asset": ["USDT"],
         "status": ["TRADING"]})})
    with pytest.raises(ValueError, match="symbols"):
        render_png(report, Ctx())


MORE_SYMBOLS = ["DOTUSDT", "LTCUSDT", "BCHUSDT", "NEARUSDT", "UNIUSDT", "ATOMUSDT",
                "ETCUSDT", "XLMUSDT", "FILUSDT", "APTUSDT"]


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


# --------------------------------------------------------------------------------------------
# The PNG writer (render/png.py writes the file itself, without Pillow's encoder)
# --------------------------------------------------------------------------------------------

def _chart_pixels(analysis, report, size) -> np.ndarray:
    """The RGB pixels of a chart, drawn here as render_png draws it (opaque: alpha is 255)."""
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    charts.DRAWERS[analysis](fig, report)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    assert (rgba[..., 3] == 255).all()
    return rgba[..., :3].copy()


@pytest.mark.parametrize("analysis,size", [("technical", (1200, 800)),
                                           ("correlation", (301, 799)),
                                           ("liquidity", (1199, 333)),
                                           ("statistics", (640, 480))])
def test_pillow_decodes_every_pixel_the_canvas_drew(analysis, size):
    """Our PNG writer against an independent decoder: size, mode, resolution and pixels."""
    report = BUILDERS[analysis]()
    data = render_png(report, Ctx(*size))
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB" and image.size == size
        assert tuple(round(v) for v in image.info["dpi"]) == (100, 100)
        assert set(image.info) == {"dpi"}                   # no text chunks, no time
        pixels = np.asarray(image)
    assert np.array_equal(pixels, _chart_pixels(analysis, report, size))


def test_the_chunk_checksums_are_right():
    """Pillow's verify() checks each chunk's CRC-32: ours pass, a flipped byte does not."""
    from binance_svc.render.png import _png_bytes

    data = _png_bytes(np.full((4, 5, 4), 200, np.uint8), 100)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    damaged = bytearray(data)
    damaged[damaged.index(b"IDAT") + 6] ^= 0xFF
    with pytest.raises(SyntaxError, match="checksum"):
        with Image.open(io.BytesIO(bytes(damaged))) as image:
            image.verify()


# --------------------------------------------------------------------------------------------
# _flat_ticks: the charts' ticks, tick labels, grid lines, axis labels and offset texts, drawn
# without matplotlib's Tick objects, must look like matplotlib's own
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("analysis", ["technical", "liquidity", "statistics", "correlation"])
@pytest.mark.parametrize("size", [(1200, 800), (400, 300), (3000, 1500)])
def test_flat_ticks_look_like_matplotlibs(analysis, size, monkeypatch):
    report = BUILDERS[analysis]()
    flat = _chart_pixels(analysis, report, size).astype(int)
    # the reference: matplotlib draws the ticks itself
    monkeypatch.setattr(charts, "_flat_ticks", lambda *args, **kwargs: None)
    reference = _chart_pixels(analysis, report, size).astype(int)
    diff = np.abs(reference - flat).max(axis=2)
    # every mark, label, grid line, axis label and offset text in the same place: a label one
    # pixel off, a missing grid line or a doubled "2026-Nov" differs by far more than this
    assert diff.max() <= 64, np.argwhere(diff > 64)[:10]
    assert (diff > 32).sum() <= 0.0005 * diff.size      # only the rasteriser differs


@pytest.mark.parametrize("analysis", sorted(BUILDERS))
def test_flat_ticks_leave_no_tick_objects_to_draw(analysis):
    fig = Figure(figsize=(12, 8), dpi=100)
    canvas = FigureCanvasAgg(fig)
    charts.DRAWERS[analysis](fig, BUILDERS[analysis]())
    canvas.draw()
    # the colour bar of the correlation heatmap keeps its own five ticks
    axes = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is None]
    assert axes
    for ax in axes:
        assert len(ax.xaxis.get_major_ticks()) == len(ax.yaxis.get_major_ticks()) == 0


# --------------------------------------------------------------------------------------------
# _legend: matplotlib's legend drawn once per size and pasted as an image must look like the
# legend matplotlib draws on the axes, wherever it lands within a pixel
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("analysis", ["technical", "liquidity", "statistics"])
@pytest.mark.parametrize("size", [(1200, 800), (1000, 700), (1333, 777), (3000, 1500)])
def test_pasted_legends_look_like_matplotlibs(analysis, size, monkeypatch):
    report = BUILDERS[analysis]()
    charts._LEGEND_IMAGES.clear()
    charts._LEGEND_SIZES.clear()
    drawn = _chart_pixels(analysis, report, size).astype(int)     # draws each legend once
    pasted = _chart_pixels(analysis, report, size).astype(int)    # pastes the kept images
    assert charts._LEGEND_IMAGES, "no legend was kept"
    assert np.array_equal(drawn, pasted)
    monkeypatch.setattr(charts, "_legend", charts._mpl_legend)
    reference = _chart_pixels(analysis, report, size).astype(int)
    monkeypatch.setattr(charts, "_legend", lambda *args, **kwargs: None)
    without = _chart_pixels(analysis, report, size).astype(int)
    # the legends are there at all: the reference differs from a chart without them
    assert (np.abs(reference - without).max(axis=2) > 64).sum() > 200
    diff = np.abs(reference - pasted).max(axis=2)
    # a label or a handle one pixel off, a missing entry or a frame in the wrong place
    # differs by 100-250; blending text over the frame on a transparent canvas first, and
    # then the whole over the chart, rounds differently by 2-8 (measured)
    assert diff.max() <= 24, np.argwhere(diff > 24)[:10]
    assert (diff > 8).sum() <= 0.0001 * diff.size


def test_legends_are_kept_per_sub_pixel_offset_and_bounded():
    report = BUILDERS["technical"]()
    charts._LEGEND_IMAGES.clear()
    for width in range(1100, 1100 + 2 * charts._MAX_LEGENDS, 3):
        _chart_pixels("technical", report, (width, 800))
        assert len(charts._LEGEND_IMAGES) <= charts._MAX_LEGENDS
        assert len(charts._LEGEND_SIZES) <= charts._MAX_LEGENDS
    for image in charts._LEGEND_IMAGES.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4
        assert not image.flags.writeable
