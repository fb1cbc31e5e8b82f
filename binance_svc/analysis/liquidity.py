"""Order-book spread, depth bands, imbalance and slippage (docs/api.md, "Liquidity")."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report import Report
from ..spec import NUMBER, STRING, columns, names

LEVEL_COLUMNS = columns(
    ("side", STRING, "bid or ask"),
    ("price", NUMBER, "Price of the level", "quote asset"),
    ("quantity", NUMBER, "Quantity offered at the level", "base asset"),
    ("notional", NUMBER, "price × quantity", "quote asset"),
    ("cum_quantity", NUMBER, "Quantity of this level and every better one on its side",
     "base asset"),
    ("cum_notional", NUMBER, "Notional of this level and every better one on its side",
     "quote asset"),
    ("distance_bps", NUMBER, "(price − mid) / mid × 10⁴; negative for bids", "bps"),
)
COLUMNS = names(LEVEL_COLUMNS)
BANDS_BPS = (10, 50, 100, 200)
_EPS_BPS = 1e-9   # bands are inclusive; absorb float rounding of a level exactly on the edge


def liquidity_report(bids: pd.DataFrame, asks: pd.DataFrame, *, params: dict,
                     notionals: list[float]) -> Report:
    warnings: list[str] = []
    best_bid = _num(bids["price"].iloc[0]) if len(bids) else None
    best_ask = _num(asks["price"].iloc[0]) if len(asks) else None
    mid = spread = spread_bps = None
    if best_bid is None or best_ask is None:
        empty = [s for s, f in (("bid", bids), ("ask", asks)) if not len(f)]
        warnings.append(f"The order book has no {' and no '.join(empty)} levels: "
                        "mid, spread and impact are undefined.")
    elif best_ask < best_bid:
        warnings.append(f"The order book is crossed (best ask {best_ask} < best bid "
                        f"{best_bid}): mid, spread and impact are undefined.")
    else:
        mid = (best_bid + best_ask) / 2
        spread = best_ask - best_bid
        spread_bps = spread / mid * 1e4 if mid > 0 else None

    bid_side, ask_side = _side(bids, mid), _side(asks, mid)
    # One frame from ready arrays: per-side frames and pd.concat cost ~10x more here.
    levels = pd.DataFrame({
        "side": pd.Series(["bid"] * len(bids) + ["ask"] * len(asks), dtype="str"),
        **{c: np.concatenate([bid_side[c], ask_side[c]]) for c in COLUMNS[1:]},
    })
    summary = {"best_bid": best_bid, "best_ask": best_ask, "mid": mid, "spread": spread,
               "spread_bps": spread_bps, "bands": _bands(bid_side, ask_side, mid),
               "slippage": [], "levels": {"bids": len(bids), "asks": len(asks)}}
    for side, book in (("buy", asks), ("sell", bids)):
        walks = _walk(book, np.asarray(notionals, dtype="float64"), mid)
        summary["slippage"] += [{"notional": float(n), "side": side, **w}
                                for n, w in zip(notionals, walks)]
    short = [f"{s['side']} {s['notional']:,.0f}" for s in summary["slippage"] if not s["filled"]]
    if short:
        warnings.append(f"The fetched book is too thin to fill {', '.join(short)}; figures "
                        "are for what it did fill (see filled_notional); a larger depth may help.")
    symbol = params.get("symbol")
    return Report(analysis="liquidity", params=params, tables={"levels": levels},
                  summary=summary, warnings=warnings,
                  title=f"Order-book liquidity: {symbol}" if symbol else "Order-book liquidity")


def _side(book: pd.DataFrame, mid: float | None) -> dict[str, np.ndarray]:
    """One side's level columns (all but `side`) as arrays, best level first."""
    price, qty = book["price"].to_numpy(float), book["quantity"].to_numpy(float)
    notional = price * qty
    return {
        "price": price, "quantity": qty, "notional": notional,
        "cum_quantity": np.cumsum(qty), "cum_notional": np.cumsum(notional),
        "distance_bps": (price - mid) / mid * 1e4 if mid else np.full(len(book), np.nan),
    }


def _bands(bid_side: dict, ask_side: dict, mid: float | None) -> list[dict]:
    if not mid:
        return [{"bps": bps, "bid_notional": None, "ask_notional": None, "imbalance": None}
                for bps in BANDS_BPS]
    bid_away, ask_away = np.abs(bid_side["distance_bps"]), np.abs(ask_side["distance_bps"])
    out = []
    for bps in BANDS_BPS:
        # nansum of the selected levels in book order: what Series.sum() computed before.
        bid = float(np.nansum(bid_side["notional"][bid_away <= bps + _EPS_BPS]))
        ask = float(np.nansum(ask_side["notional"][ask_away <= bps + _EPS_BPS]))
        out.append({"bps": bps, "bid_notional": bid, "ask_notional": ask,
                    "imbalance": (bid - ask) / (bid + ask) if bid + ask > 0 else None})
    return out


def _walk(book: pd.DataFrame, targets: np.ndarray, mid: float | None) -> list[dict]:
    """Spend each target of quote currency down one side, best level first."""
    price, qty = book["price"].to_numpy(float), book["quantity"].to_numpy(float)
    cum_n, cum_q = np.cumsum(price * qty), np.cumsum(qty)
    total_n = cum_n[-1] if len(cum_n) else 0.0
    spent = np.minimum(targets, total_n)
    # k: the level where the cumulative notional first reaches what is spent; the fill there
    # is partial, every level before it is taken whole.
    k = np.minimum(np.searchsorted(cum_n, spent, side="left"), max(len(cum_n) - 1, 0))
    if len(cum_n):
        prev_n = np.where(k > 0, cum_n[k - 1], 0.0)
        prev_q = np.where(k > 0, cum_q[k - 1], 0.0)
        base = prev_q + (spent - prev_n) / price[k]
    else:
        base = np.zeros_like(targets)
    out = []
    for t, s, b in zip(targets, spent, base):
        avg = s / b if b > 0 else None
        out.append({"avg_price": _num(avg) if avg is not None else None,
                    "impact_bps": _num(abs(avg - mid) / mid * 1e4) if avg and mid else None,
                    "filled": bool(s >= t), "filled_notional": float(s)})
    return out


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
