"""Reports built by hand for the chart tests (the analyses are tested on their own): a seeded
random walk with indicators roughly computed by pandas, a 3-symbol correlation, a 20-level book
and a 10-symbol watch list; and the checks the chart tests share.
"""
from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from PIL import Image

from binance_svc.report import Report
from binance_svc.charts import canvas

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



MORE_SYMBOLS = ["DOTUSDT", "LTCUSDT", "BCHUSDT", "NEARUSDT", "UNIUSDT", "ATOMUSDT",
                "ETCUSDT", "XLMUSDT", "FILUSDT", "APTUSDT"]


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


def chart_pixels(analysis, report, size) -> np.ndarray:
    """The RGB pixels of a chart, drawn as render_png draws it (opaque: alpha is 255)."""
    with canvas.drawn(analysis, report, *size) as rgba:
        assert (rgba[..., 3] == 255).all()
        return rgba[..., :3].copy()


# --------------------------------------------------------------------------------------------
# Technical reports with indicators= (built by the analysis itself, from the demo market)
# --------------------------------------------------------------------------------------------

TEN_INDICATORS = ("sma:20,sma:200,ema:9,rsi:14,macd:12:26:9,bbands:20:2,atr:14,stoch:14:3:3,"
                  "adx:14,obv")
DEMO_CLOCK = 1_790_000_000       # 2026-09-21 14:13 UTC: the demo market at a fixed moment


def requested_report(indicators: str, n: int = 200, *, interval: str = "1h",
                     symbol: str = "BTCUSDT"):
    """The technical report of `indicators=` over n candles of the demo market, with the
    warm-up the service would fetch, as the service builds it (params as the web layer
    parses them: the canonical items)."""
    from binance_svc.analysis import catalogue
    from binance_svc.analysis.technical import technical_report as analysis_report
    from binance_svc.upstream.demo import DemoMarket
    from binance_svc.upstream.frames import klines_frame

    requests = catalogue.parse_indicators(indicators)
    warmup = catalogue.max_warmup(requests, interval)
    market = DemoMarket(7, clock=lambda: DEMO_CLOCK)
    klines = klines_frame(market.klines(symbol, interval, n + warmup))
    params = {"symbol": symbol, "interval": interval, "limit": n,
              "indicators": [r.spec for r in requests]}
    report = analysis_report(klines, params=params, limit=n, interval=interval,
                             requests=requests)
    report.source = "demo"
    report.data_as_of = report.generated_at = datetime.fromtimestamp(DEMO_CLOCK, timezone.utc)
    return report
