"""Volatility: true range, ATR, NATR and Bollinger Bands."""
from __future__ import annotations

import numpy as np

from ..indicators import _rolling_pstd
from ._core import check_period, f64, nans, rolling_mean, smooth_from


def trange(high, low, close) -> np.ndarray:
    """max(high, previous close) - min(low, previous close); first defined at index 1."""
    h, lo, c = f64(high), f64(low), f64(close)
    out = nans(len(c))
    if len(c) > 1:
        prev = c[:-1]
        out[1:] = np.maximum(h[1:], prev) - np.minimum(lo[1:], prev)
    return out


def atr(high, low, close, period: int = 14) -> np.ndarray:
    """Wilder's average true range (TA-Lib ATR): the mean of the first n true ranges at index
    n, then ATR[t] = (ATR[t-1] * (n - 1) + TR[t]) / n."""
    period = check_period(period)
    tr = trange(high, low, close)
    if period == 1:
        return tr
    if len(tr) <= period:
        return nans(len(tr))
    return smooth_from(tr, period, float(np.mean(tr[1:period + 1])), 1.0 / period)


def natr(high, low, close, period: int = 14) -> np.ndarray:
    """ATR as a percentage of the close (TA-Lib NATR); 0 where the close is 0."""
    a = atr(high, low, close, period)
    c = f64(close)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c != 0, a / c * 100.0, np.where(np.isnan(a), np.nan, 0.0))


def bbands(close, period: int = 20, k: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): SMA +/- k population standard deviations (TA-Lib BBANDS with
    nbdevup = nbdevdn = k and an SMA; same deviations as indicators.bollinger)."""
    period = check_period(period)
    x = f64(close)
    std = _rolling_pstd(x, period)
    middle = np.where(std == 0, x, rolling_mean(x, period))
    return middle + k * std, middle, middle - k * std
