"""Technical indicators as small pure functions over a price Series.

Conventions follow StockCharts ChartSchool and TA-Lib (docs/api.md, "What each analysis computes"),
so a user can check any number against either. Every function returns values aligned to the
input index, NaN while the indicator warms up, and never raises for a series shorter than its
period (the result is then all NaN). Inputs must be NaN-free.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def sma(close: pd.Series, period: int) -> pd.Series:
    """Mean of the last `period` closes; first defined at position period - 1."""
    _check_period(period)
    return close.astype("float64").rolling(period).mean()


def ema(close: pd.Series, period: int) -> pd.Series:
    """EMA with alpha 2/(n+1), seeded with the SMA of the first n closes (position n - 1)."""
    _check_period(period)
    values = close.to_numpy(dtype="float64")
    return pd.Series(_seeded_smoothing(values, period, 2.0 / (period + 1)), index=close.index)


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's RSI; first defined at position `period` (it needs `period` price changes).

    Average loss 0 gives 100; no movement at all (both averages 0) gives 50.
    """
    _check_period(period)
    values = close.to_numpy(dtype="float64")
    out = np.full(len(values), np.nan)
    if len(values) > period:
        change = np.diff(values)
        # Wilder's smoothing is an EMA with alpha 1/n, seeded with the simple mean.
        gain = _seeded_smoothing(np.clip(change, 0.0, None), period, 1.0 / period)
        loss = _seeded_smoothing(np.clip(-change, 0.0, None), period, 1.0 / period)
        total = gain + loss
        with np.errstate(invalid="ignore", divide="ignore"):
            # 100 * g / (g + l) is 100 - 100 / (1 + RS) without dividing by a zero loss.
            out[1:] = np.where(total > 0, 100.0 * (gain / total),
                               np.where(total == 0, 50.0, np.nan))
    return pd.Series(out, index=close.index)


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line, its signal (EMA of the line, seeded with the SMA of its first `signal`
    defined values) and histogram. Each EMA is seeded from the first closes, as docs/api.md says
    (TA-Lib's MACD instead seeds the fast EMA later, to line it up with the slow one)."""
    for p in (fast, slow, signal):
        _check_period(p)
    line = (ema(close, fast) - ema(close, slow)).to_numpy()
    sig = np.full(len(line), np.nan)
    first = max(fast, slow) - 1
    if len(line) > first:
        sig[first:] = _seeded_smoothing(line[first:], signal, 2.0 / (signal + 1))
    return pd.DataFrame({"macd": line, "macd_signal": sig, "macd_hist": line - sig},
                        index=close.index)


def bollinger(close: pd.Series, period: int = 20, k: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands around the SMA at k population standard deviations (ddof 0).

    %B = (close - lower) / (upper - lower), 0.5 when the bands meet (flat prices);
    bandwidth = (upper - lower) / middle.
    """
    _check_period(period)
    values = close.to_numpy(dtype="float64")
    std = _rolling_pstd(values, period)
    # A flat window has std exactly 0 (see _rolling_pstd); its middle is then the price itself,
    # so the bands meet exactly and %B is defined instead of being rounding noise.
    middle = np.where(std == 0, values, sma(close, period).to_numpy())
    upper = middle + k * std
    lower = middle - k * std
    width = upper - lower
    undefined = np.isnan(width)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent_b = np.where(width > 0, (values - lower) / width, np.where(undefined, np.nan, 0.5))
        bandwidth = np.where(width > 0, width / middle, np.where(undefined, np.nan, 0.0))
    return pd.DataFrame({"bb_middle": middle, "bb_upper": upper, "bb_lower": lower,
                         "bb_percent_b": percent_b, "bb_bandwidth": bandwidth},
                        index=close.index)


def _seeded_smoothing(values: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """y[t] = y[t-1] + alpha * (x[t] - y[t-1]) from y[n-1] = mean(x[:n]); NaN before.

    pandas' ewm(adjust=False) runs exactly this recursion in compiled code once the first
    value is replaced by the seed (10,000 values take well under a millisecond), and leaves a
    value unchanged when the input equals it.
    """
    out = np.full(len(values), np.nan)
    if len(values) < period:
        return out
    tail = values[period - 1:].copy()
    # Averaging deviations from the first value keeps a flat series exactly flat (a plain
    # mean of n equal floats can be off by one ulp), so flat prices give MACD exactly 0.
    tail[0] = values[0] + (values[:period] - values[0]).mean()
    out[period - 1:] = pd.Series(tail).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def _rolling_pstd(values: np.ndarray, period: int) -> np.ndarray:
    """Population standard deviation of each window of `period` values; NaN before.

    Deviations are taken from a member of the window (its last value) rather than from a
    running sum: a flat window then gives exactly 0, and a quiet window after a volatile one
    keeps full precision (pandas' rolling std drifts by ~1e-5 there at BTC price levels).
    """
    out = np.full(len(values), np.nan)
    if len(values) >= period:
        dev = sliding_window_view(values, period)
        dev = dev - dev[:, -1:]
        mean_dev = dev.sum(axis=1) / period
        var = np.einsum("ij,ij->i", dev, dev) / period - mean_dev * mean_dev
        out[period - 1:] = np.sqrt(np.clip(var, 0.0, None))
    return out


def _check_period(period: int) -> None:
    if not isinstance(period, (int, np.integer)) or isinstance(period, bool) or period < 1:
        raise ValueError(f"period must be a positive integer, not {period!r}")
