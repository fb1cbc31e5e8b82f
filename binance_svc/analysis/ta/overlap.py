"""Trend / overlap studies: moving averages and Parabolic SAR, drawn on the price panel."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._core import check_period, f64, nans, rolling_mean, seeded_ema


def sma(close, period: int = 30) -> np.ndarray:
    """Mean of the last `period` closes; first defined at period - 1 (TA-Lib SMA)."""
    period = check_period(period)
    return rolling_mean(f64(close), period)


def ema(close, period: int = 30) -> np.ndarray:
    """EMA, alpha 2/(n+1), seeded with the SMA of the first n closes at n - 1 (TA-Lib EMA)."""
    period = check_period(period)
    return seeded_ema(f64(close), period)


def wma(close, period: int = 30) -> np.ndarray:
    """Linearly weighted mean, weight n on the newest close down to 1 (TA-Lib WMA)."""
    period = check_period(period)
    x = f64(close)
    out = nans(len(x))
    if len(x) >= period:
        weights = np.arange(period, 0, -1, dtype="float64")   # convolve flips the kernel
        out[period - 1:] = np.convolve(x, weights, mode="valid") / (period * (period + 1) / 2)
    return out


def dema(close, period: int = 30) -> np.ndarray:
    """2 EMA - EMA(EMA), each EMA seeded as TA-Lib's; first defined at 2 (n - 1)."""
    period = check_period(period)
    e1 = seeded_ema(f64(close), period)
    e2 = seeded_ema(e1, period)
    return 2.0 * e1 - e2


def tema(close, period: int = 30) -> np.ndarray:
    """3 EMA - 3 EMA(EMA) + EMA(EMA(EMA)); first defined at 3 (n - 1) (TA-Lib TEMA)."""
    period = check_period(period)
    e1 = seeded_ema(f64(close), period)
    e2 = seeded_ema(e1, period)
    e3 = seeded_ema(e2, period)
    return 3.0 * e1 - 3.0 * e2 + e3


# KAMA's smoothing constant moves between these two EMA factors (periods 2 and 30), as in
# Kaufman's definition and TA-Lib, which fixes them.
KAMA_FAST = 2.0 / (2 + 1)
KAMA_SLOW = 2.0 / (30 + 1)


def kama(close, period: int = 30) -> np.ndarray:
    """Kaufman's adaptive moving average (TA-Lib KAMA); first defined at `period`.

    ER = |x[t] - x[t-n]| / sum of |x[i] - x[i-1]| over the same n changes (1 when that sum is
    0), sc = (ER * (fast - slow) + slow)^2, KAMA[t] = KAMA[t-1] + sc * (x[t] - KAMA[t-1]),
    started from the previous close as TA-Lib does. TA-Lib also treats a sum of changes
    below 1e-8 as zero; that absolute threshold is not copied (it would misread any asset
    priced below a cent).
    """
    period = check_period(period)
    x = f64(close)
    out = nans(len(x))
    n = len(x)
    if period == 1:
        return x.copy()
    if n <= period:
        return out
    # Each window's total is summed afresh (n <= a few hundred): a running or cumulative sum
    # would carry the rounding of every earlier change into a ratio of small differences.
    volatility = sliding_window_view(np.abs(np.diff(x)), period).sum(axis=1)
    t = np.arange(period, n)          # window t - n .. t
    change = x[t] - x[t - period]
    with np.errstate(invalid="ignore", divide="ignore"):
        er = np.where(volatility > 0, np.abs(change / volatility), 1.0)
    er[volatility <= change] = 1.0
    sc = (er * (KAMA_FAST - KAMA_SLOW) + KAMA_SLOW) ** 2
    prev = float(x[period - 1])
    values = out[period:]
    for i, (price, factor) in enumerate(zip(x[period:].tolist(), sc.tolist())):
        prev = (price - prev) * factor + prev
        values[i] = prev
    return out


def sar(high, low, acceleration: float = 0.02, maximum: float = 0.2) -> np.ndarray:
    """Wilder's Parabolic SAR, TA-Lib's SAR step for step; first defined at index 1.

    The first direction is short when the second candle's low falls further than its high
    rises (TA-Lib's one-bar -DM test), long otherwise; a reversal puts the SAR at the extreme
    point of the trend that ended, kept outside the last two candles' range.
    """
    h, lo = f64(high), f64(low)
    n = len(h)
    out = nans(n)
    if n < 2:
        return out
    af0 = min(float(acceleration), float(maximum))
    amax = float(maximum)
    hs, ls = h.tolist(), lo.tolist()
    diff_plus, diff_minus = hs[1] - hs[0], ls[0] - ls[1]
    is_long = not (diff_minus > 0 and diff_plus < diff_minus)
    if is_long:
        ep, s = hs[1], ls[0]
    else:
        ep, s = ls[1], hs[0]
    af = af0
    new_low, new_high = ls[1], hs[1]
    result = [0.0] * (n - 1)
    for i in range(1, n):
        prev_low, prev_high = new_low, new_high
        new_low, new_high = ls[i], hs[i]
        if is_long:
            if new_low <= s:
                is_long = False
                s = max(ep, prev_high, new_high)
                result[i - 1] = s
                af = af0
                ep = new_low
                s = max(s + af * (ep - s), prev_high, new_high)
            else:
                result[i - 1] = s
                if new_high > ep:
                    ep = new_high
                    af = min(af + af0, amax)
                s = min(s + af * (ep - s), prev_low, new_low)
        elif new_high >= s:
            is_long = True
            s = min(ep, prev_low, new_low)
            result[i - 1] = s
            af = af0
            ep = new_high
            s = min(s + af * (ep - s), prev_low, new_low)
        else:
            result[i - 1] = s
            if new_low < ep:
                ep = new_low
                af = min(af + af0, amax)
            s = max(s + af * (ep - s), prev_high, new_high)
    out[1:] = result
    return out
