"""Tradable symbols, for discovery and validation (docs/api.md, "Symbols")."""
from __future__ import annotations

import pandas as pd

from ..report import Report
from ..spec import STRING, columns, names

SYMBOL_COLUMNS = columns(
    ("symbol", STRING, "The symbol, e.g. BTCUSDT"),
    ("base_asset", STRING, "The asset bought and sold, e.g. BTC"),
    ("quote_asset", STRING, "The asset prices are in, e.g. USDT"),
    ("status", STRING, "Binance's trading status, e.g. TRADING or BREAK"),
)
COLUMNS = names(SYMBOL_COLUMNS)


def symbols_report(symbols: pd.DataFrame, *, params: dict, quote: str | None = None,
                   status: str | None = "TRADING") -> Report:
    """`status=None` keeps every status (BREAK, HALT, ...), not only TRADING."""
    df = symbols[COLUMNS]
    if quote:
        df = df[df["quote_asset"].str.upper() == quote.upper()]
    if status is not None:
        df = df[df["status"].str.upper() == status.upper()]
    df = df.sort_values("symbol", kind="stable").reset_index(drop=True)
    warnings = []
    if df.empty:
        filters = [f"{k} {v.upper()}" for k, v in (("quote", quote), ("status", status)) if v]
        warnings.append(f"No symbols match {' and '.join(filters)}." if filters
                        else "Binance listed no symbols.")
    summary = {"count": len(df),
               "quote_assets": sorted(map(str, df["quote_asset"].unique())),
               "status": status}
    title = f"Symbols quoted in {quote.upper()}" if quote else "Symbols"
    return Report(analysis="symbols", params=params, tables={"symbols": df},
                  summary=summary, warnings=warnings, title=title)
