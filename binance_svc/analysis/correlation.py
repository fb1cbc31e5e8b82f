"""Return correlation and per-asset / portfolio risk (docs/api.md, "Correlation").

Closes are joined on open time before taking returns, so every return spans the same
candles for every symbol (a gap in one symbol drops that time for all, never shifts rows).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report import Report
from ..spec import NUMBER, STRING, columns, names

# Crypto trades 24/7, so a year is 365 days of candles. docs/api.md rounds 1w to 52.143; we use
# the exact 365/7 (52.142857...), which agrees to the stated precision.
PERIODS_PER_YEAR = {
    "1s": 365 * 86400, "1m": 365 * 1440, "3m": 365 * 480, "5m": 365 * 288,
    "15m": 365 * 96, "30m": 365 * 48, "1h": 365 * 24, "2h": 365 * 12, "4h": 365 * 6,
    "6h": 365 * 4, "8h": 365 * 3, "12h": 365 * 2, "1d": 365, "3d": 365 / 3,
    "1w": 365 / 7, "1M": 12,
}
MATRIX_COLUMNS = columns(("symbol", STRING, "The row's symbol; one column per symbol follows"))
ASSET_TABLE_COLUMNS = columns(
    ("symbol", STRING, "The symbol"),
    ("annualized_return", NUMBER, "Mean log return × periods per year"),
    ("annualized_volatility", NUMBER, "Sample std of log returns × √(periods per year)"),
    ("sharpe", NUMBER, "annualized_return / annualized_volatility (risk-free rate 0)"),
    ("max_drawdown", NUMBER, "Worst close / running peak − 1 (≤ 0)"),
    ("beta", NUMBER, "cov(returns, benchmark) / var(benchmark)"),
)
ASSET_COLUMNS = names(ASSET_TABLE_COLUMNS)


def correlation_report(klines_by_symbol: dict[str, pd.DataFrame], *, params: dict,
                       interval: str, limit: int, benchmark: str) -> Report:
    periods = PERIODS_PER_YEAR[interval]
    symbols = list(klines_by_symbol)
    warnings: list[str] = []
    closes = _aligned_closes(klines_by_symbol, limit, warnings)  # (rows, symbols)
    rets = np.diff(np.log(closes), axis=0)                      # (observations, symbols)
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
    drawdown = _max_drawdown(closes) if len(closes) else np.full(k, np.nan)
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


def _aligned_closes(frames: dict[str, pd.DataFrame], limit: int, warnings: list) -> np.ndarray:
    """The last limit+1 closes common to every symbol, shape (rows, symbols).

    Done on each symbol's open times as int64 nanoseconds with numpy set operations: the
    pandas way (set_index per symbol, concat(join="inner"), Index.union, isin) was most of
    the analysis time. Usually every symbol has the very same candle times, which one
    array_equal per symbol tells; only otherwise are intersect1d, union1d and isin paid for.
    Open times are unique in klines frames; a frame not in time order is sorted first.
    """
    need = limit + 1
    if not frames:
        warnings.append("No symbols given.")
        return np.empty((0, 0))
    times, closes = {}, {}
    for s, f in frames.items():
        t = f["open_time"].to_numpy(dtype="datetime64[ns]").view("int64")
        c = f["close"].to_numpy(dtype="float64")
        if not (t[1:] > t[:-1]).all():
            order = np.argsort(t, kind="stable")
            t, c = t[order], c[order]
        times[s], closes[s] = t, c
    first = next(iter(times.values()))
    same = all(np.array_equal(t, first) for t in times.values())
    common = first
    if not same:
        for t in times.values():
            common = np.intersect1d(common, t, assume_unique=True)
    common = common[max(len(common) - need, 0):]                  # DataFrame.tail(need)
    # One row per symbol, transposed: column-major like the block of the pandas frame this
    # replaces, so sums and BLAS products run in the same order, to the same last bit.
    out = np.array([c[len(c) - len(common):] if same
                    else c[np.searchsorted(times[s], common)]
                    for s, c in closes.items()]).T
    gappy = [] if same else _gappy(times, common, need)
    if len(common) < need:
        named = [f"{s} ({len(t)} candles)" for s, t in times.items()
                 if len(t) < need or s in gappy]
        who = f"; shorter or gappy history: {', '.join(named)}" if named else ""
        warnings.append(f"Only {max(len(common) - 1, 0)} returns aligned on open time across "
                        f"all symbols, {limit} asked{who}.")
    elif gappy:
        warnings.append(f"Candles missing in {', '.join(gappy)}: those times are skipped for "
                        "every symbol, so some returns span more than one interval.")
    return out


def _gappy(times: dict[str, np.ndarray], common: np.ndarray, need: int) -> list[str]:
    """The symbols lacking a candle time some other symbol has inside the window used (or
    among the last `need` times when the join came up short): the join skipped those times."""
    union = next(iter(times.values()))
    for t in times.values():
        union = np.union1d(union, t)
    if len(common) == need:
        window = union[(union >= common[0]) & (union <= common[-1])]
    else:
        window = union[-need:]
    return [s for s, t in times.items() if not np.isin(window, t, assume_unique=True).all()]


def _max_drawdown(closes: np.ndarray) -> np.ndarray:
    """Per column, the deepest fall from a running peak (<= 0); NaN closes are skipped.

    fmax/fmin ignore NaN as pandas' cummax().min() does, to the same numbers.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.fmin.reduce(closes / np.fmax.accumulate(closes, axis=0) - 1, axis=0)


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
