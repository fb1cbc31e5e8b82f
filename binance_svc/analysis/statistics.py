"""24 h market statistics and a sentiment label for a watch list (docs/api.md, "Market statistics")."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report import Report
from ..spec import INTEGER, NUMBER, STRING, columns, names

TICKER_COLUMNS = columns(
    ("symbol", STRING, "The symbol"),
    ("last_price", NUMBER, "Last trade price", "quote asset"),
    ("open_price", NUMBER, "Price 24 h ago", "quote asset"),
    ("high", NUMBER, "Highest price in 24 h", "quote asset"),
    ("low", NUMBER, "Lowest price in 24 h", "quote asset"),
    ("price_change", NUMBER, "last_price − open_price", "quote asset"),
    ("price_change_pct", NUMBER, "price_change / open_price × 100", "%"),
    ("weighted_avg_price", NUMBER, "Volume-weighted average price of 24 h", "quote asset"),
    ("volume", NUMBER, "Volume traded in 24 h", "base asset"),
    ("quote_volume", NUMBER, "Volume traded in 24 h", "quote asset"),
    ("trades", INTEGER, "Number of trades in 24 h"),
    ("range_pct", NUMBER, "(high − low) / low × 100", "%"),
    ("close_position", NUMBER, "(last − low) / (high − low), 0 to 1"),
    ("sentiment", STRING, "bullish (≥ +2 %), bearish (≤ −2 %) or neutral"),
)
COLUMNS = names(TICKER_COLUMNS)
SENTIMENT_PCT = 2.0   # the ±2 % rule, inclusive at the bounds


def sentiment(change_pct: float | None) -> str | None:
    if change_pct is None or not math.isfinite(change_pct):
        return None
    if change_pct >= SENTIMENT_PCT:
        return "bullish"
    if change_pct <= -SENTIMENT_PCT:
        return "bearish"
    return "neutral"


def statistics_report(tickers: pd.DataFrame, *, params: dict, symbols: list[str]) -> Report:
    warnings: list[str] = []
    order = list(symbols) if symbols else list(tickers["symbol"])
    listed = set(tickers["symbol"])
    missing = [s for s in order if s not in listed]
    if missing:
        warnings.append(f"Binance returned no 24 h ticker for {', '.join(missing)}; "
                        "left out of the table.")
    # Rows follow the caller's order, not Binance's: the watch list is what the user asked for.
    df = (tickers.drop_duplicates("symbol").set_index("symbol")
          .reindex([s for s in order if s not in missing]).reset_index())

    high, low, last = df["high"], df["low"], df["last_price"]
    with np.errstate(divide="ignore", invalid="ignore"):
        df["range_pct"] = ((high - low) / low * 100).where(low != 0)
        # A market that did not move sits in the middle of its (empty) range; clip because
        # Binance's rolling high/low can lag the last trade by a tick.
        pos = ((last - low) / (high - low)).clip(0.0, 1.0)
    df["close_position"] = pos.where(high != low, 0.5)
    df["sentiment"] = pd.Series([sentiment(x) for x in df["price_change_pct"]],
                                index=df.index, dtype="str")
    df = df[COLUMNS]

    dead = df.loc[(df["volume"] == 0) | (df["trades"] == 0), "symbol"].tolist()
    if dead:
        warnings.append(f"No trades in the last 24 h for {', '.join(dead)}: "
                        "their figures are stale prices.")

    pct, qv = df["price_change_pct"], df["quote_volume"]
    n = len(df)
    adv, dec = int((pct > 0).sum()), int((pct < 0).sum())
    mean = _num(pct.mean()) if n else None
    # Weighted by quote volume: base volumes of different coins are not comparable.
    if n and qv.sum() > 0:
        weighted = _num((pct * qv).sum() / qv.sum())
    else:
        weighted = mean
        if n:
            warnings.append("Total quote volume is 0, so weighted_change_pct is the plain mean.")
    summary = {
        "symbols": n,
        "advancers": adv,
        "decliners": dec,
        "unchanged": n - adv - dec,
        "breadth": (adv - dec) / n if n else None,
        "mean_change_pct": mean,
        "weighted_change_pct": weighted,
        "top_gainer": str(df.loc[pct.idxmax(), "symbol"]) if pct.notna().any() else None,
        "top_loser": str(df.loc[pct.idxmin(), "symbol"]) if pct.notna().any() else None,
        "sentiment": sentiment(weighted),
    }
    if n == 0:
        warnings.append("No tickers to summarise.")
    return Report(analysis="statistics", params=params, tables={"tickers": df},
                  summary=summary, warnings=warnings,
                  title=f"24 h market statistics: {n} symbol{'s' if n != 1 else ''}")


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
