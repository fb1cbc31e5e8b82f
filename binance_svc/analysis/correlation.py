"""Return correlation and per-asset / portfolio risk (API.md, "Correlation").

Closes are joined on open time before taking returns, so every return spans the same
candles for every symbol (a gap in one symbol drops that time for all, never shifts rows).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .report import Report

# Crypto trades 24/7, so a year is 365 days of candles. API.md rounds 1w to 52.143; we use
# the exact 365/7 (52.142857...), which agrees to the stated precision.
PERIODS_PER_YEAR = {
    "1s": 365 * 86400, "1m": 365 * 1440, "3m": 365 * 480, "5m": 365 * 288,
    "15m": 365 * 96, "30m": 365 * 48, "1h": 365 * 24, "2h": 365 * 12, "4h": 365 * 6,
    "6h": 365 * 4, "8h": 365 * 3, "12h": 365 * 2, "1d": 365, "3d": 365 / 3,
    "1w": 365 / 7, "1M": 12,
}
ASSET_COLUMNS = ["symbol", "annualized_return", "annualized_volatility", "sharpe",
                 "max_drawdown", "beta"]


def correlation_report(klines_by_symbol: dict[str, pd.DataFrame], *, params: dict,
                       interval: str, limit: int, benchmark: str) -> Report:
    periods = PERIODS_PER_YEAR[interval]
    symbols = list(klines_by_symbol)
    warnings: list[str] = []
    closes = _aligned_closes(klines_by_symbol, limit, warnings)
    rets = np.log(closes).diff().iloc[1:].to_numpy()          # (observations, symbols)
    obs, k = rets.shape
    if benchmark not in symbols and symbols:
        warnings.append(f"Benchmark {benchmark} is not among the symbols; using {symbols[0]}.")
        benchmark = symbols[0]

    corr = np.full((k, k), np.nan)
    ret, vol, beta = (np.full(k, np.nan) for _ in range(3))
    cov = None
    if obs >= 2:
        cov = np.cov(rets, rowvar=False, ddof=1).reshape(k, k)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), np.nan)
            b = symbols.index(benchmark)
            beta = np.where(cov[b, b] > 0, cov[:, b] / cov[b, b], np.nan)
        if cov[b, b] > 0:
            beta[b] = 1.0                     # exactly, not 0.9999999999999998
        ret, vol = rets.mean(axis=0) * periods, sd * math.sqrt(periods)
        flat = [s for s, v in zip(symbols, sd) if v == 0]
        if flat:
            warnings.append(f"No price movement in {', '.join(flat)}: correlation, Sharpe "
                            "and beta with them are undefined (null).")
    else:
        warnings.append(f"Only {obs} aligned return(s); at least 2 are needed for "
                        "correlation and risk metrics.")
    np.fill_diagonal(corr, 1.0)
    if k < 2 and obs >= 2:
        warnings.append("Correlation needs at least two symbols.")

    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(vol > 0, ret / vol, np.nan)
    drawdown = ((closes / closes.cummax() - 1).min().to_numpy() if len(closes)
                else np.full(k, np.nan))
    matrix = pd.DataFrame(corr, columns=symbols)
    matrix.insert(0, "symbol", pd.Series(symbols, dtype="str"))
    assets = pd.DataFrame({"symbol": pd.Series(symbols, dtype="str"),
                           "annualized_return": ret, "annualized_volatility": vol,
                           "sharpe": sharpe, "max_drawdown": drawdown, "beta": beta},
                          columns=ASSET_COLUMNS)

    summary = {"portfolio_volatility": None, "diversification_ratio": None,
               **_pairs(corr, symbols), "observations": int(obs), "benchmark": benchmark}
    if cov is not None and k:
        w = np.full(k, 1.0 / k)
        pvol = math.sqrt(max(float(w @ cov @ w), 0.0) * periods)
        summary["portfolio_volatility"] = _num(pvol)
        summary["diversification_ratio"] = _num(w @ vol / pvol) if pvol > 0 else None
    return Report(analysis="correlation", params=params,
                  tables={"matrix": matrix, "assets": assets}, summary=summary,
                  warnings=warnings,
                  title=f"Correlation: {', '.join(symbols)} ({interval}, {obs} returns)")


def _aligned_closes(frames: dict[str, pd.DataFrame], limit: int, warnings: list) -> pd.DataFrame:
    """The last limit+1 closes common to every symbol, one column per symbol."""
    need = limit + 1
    series = {s: f.set_index("open_time")["close"] for s, f in frames.items()}
    if not series:
        warnings.append("No symbols given.")
        return pd.DataFrame(dtype="float64")
    closes = pd.concat(series, axis=1, join="inner").sort_index().tail(need)
    # The candle times some symbol has inside the window used (or the last `need` of them
    # when the join came up short); a symbol lacking one of them made the join skip it.
    union = series[next(iter(series))].index
    for ser in list(series.values())[1:]:
        union = union.union(ser.index)   # vectorised: a Python set of Timestamps is ~20x slower
    if len(closes) == need:
        window = union[(union >= closes.index[0]) & (union <= closes.index[-1])]
    else:
        window = union[-need:]
    gappy = [s for s, ser in series.items() if not window.isin(ser.index).all()]
    if len(closes) < need:
        named = [f"{s} ({len(ser)} candles)" for s, ser in series.items()
                 if len(ser) < need or s in gappy]
        who = f"; shorter or gappy history: {', '.join(named)}" if named else ""
        warnings.append(f"Only {max(len(closes) - 1, 0)} returns aligned on open time across "
                        f"all symbols, {limit} asked{who}.")
    elif gappy:
        warnings.append(f"Candles missing in {', '.join(gappy)}: those times are skipped for "
                        "every symbol, so some returns span more than one interval.")
    return closes


def _pairs(corr: np.ndarray, symbols: list[str]) -> dict:
    iu = np.triu_indices(len(symbols), k=1)
    vals = corr[iu]
    ok = np.isfinite(vals)
    if not ok.any():
        return {"mean_correlation": None, "most_correlated": None, "least_correlated": None}

    def pair(i: int) -> dict:
        a, b = iu[0][ok][i], iu[1][ok][i]
        return {"pair": [symbols[a], symbols[b]], "correlation": float(vals[ok][i])}
    return {"mean_correlation": float(vals[ok].mean()),
            "most_correlated": pair(int(np.argmax(vals[ok]))),
            "least_correlated": pair(int(np.argmin(vals[ok])))}


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
