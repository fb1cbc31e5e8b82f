"""Technical analysis of a watch list: each symbol's report (analysis/technical.py) stacked
into one long table, `symbol` first, so `pandas.read_csv(url)` gets a tidy frame of a whole
watch list (one row per symbol and candle)."""
from __future__ import annotations

import pandas as pd

from ..report import Report
from ..spec import STRING, columns

SYMBOL_COLUMN = columns(("symbol", STRING, "The symbol of the row's candle"))


def watchlist_report(reports: dict[str, Report], *, params: dict) -> Report:
    """`reports`: symbol -> its technical Report, in the order asked."""
    frames = [r.frame.assign(symbol=symbol) for symbol, r in reports.items()]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(table.columns):
        table = table[["symbol", *[c for c in table.columns if c != "symbol"]]]
    by_symbol = {symbol: {"last_close": r.summary.get("last_close"),
                          "signals": r.summary.get("signals"),
                          "candles": r.summary.get("candles")}
                 for symbol, r in reports.items()}
    warnings: list[str] = []
    for r in reports.values():
        warnings += [w for w in r.warnings if w not in warnings]
    interval = params.get("interval", "")
    return Report(analysis="watchlist", params=params, tables={"candles": table},
                  summary={"symbols": len(reports), "by_symbol": by_symbol},
                  warnings=warnings,
                  title=f"Technical analysis — {len(reports)} symbols {interval}".rstrip())
