"""Momentum and trend strength: oscillators, MACD, rates of change, directional movement."""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from .. import indicators
from ._core import (check_period, f64, nans, rolling_max, rolling_mean, rolling_min,
                    rolling_sum, safe_ratio, seeded_ema, smooth_from)
from .volatility import trange


def rsi(close, period: int = 14) -> np.ndarray:
    """Wilder's RSI (TA-Lib RSI), first defined at `period`; 50 where nothing moved at all
    (TA-Lib writes 0 there)."""
    return indicators.rsi(_series(close), check_period(period)).to_numpy()


def macd(close, fast: int = 12, slow: int = 26, signal: int = 9):
    """(macd, signal, hist) as indicators.macd computes them (both EMAs seeded from the first
    closes). TA-Lib's MACD seeds the fast EMA later; the two agree once the warm-up has made
    the seeds negligible (catalogue warm-up rule)."""
    m = indicators.macd(_series(close), check_period(fast), check_period(slow),
                        check_period(signal))
    return m["macd"].to_numpy(), m["macd_signal"].to_numpy(), m["macd_hist"].to_numpy()


def stoch(high, low, close, fastk: int = 5, slowk: int = 3, slowd: int = 3):
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): (%K, %D).

    fast %K = 100 (close - lowest low) / (highest high - lowest low) over `fastk` candles, 0
    when that range is 0 (as TA-Lib); %K = SMA(fast %K, slowk); %D = SMA(%K, slowd).
    """
    k = _fast_k(f64(high), f64(low), f64(close), check_period(fastk))
    slow_k = rolling_mean(k, check_period(slowk))
    return slow_k, rolling_mean(slow_k, check_period(slowd))


def stochrsi(close, period: int = 14, fastk: int = 5, fastd: int = 3):
    """Stochastic of the RSI (TA-Lib STOCHRSI with an SMA %D): (%K, %D)."""
    r = rsi(close, period)
    k = _fast_k(r, r, r, check_period(fastk))
    return k, rolling_mean(k, check_period(fastd))


def _fast_k(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    hh, ll = rolling_max(high, period), rolling_min(low, period)
    # TA-Lib's exact arithmetic, (c - L) / ((H - L) / 100), so values agree to the last bits.
    return safe_ratio(close - ll, (hh - ll) / 100.0, 0.0)


def willr(high, low, close, period: int = 14) -> np.ndarray:
    """Williams %R (TA-Lib WILLR): -100 (highest high - close) / (highest high - lowest low),
    from -100 to 0; 0 when the range is 0."""
    period = check_period(period)
    hh, ll = rolling_max(f64(high), period), rolling_min(f64(low), period)
    return safe_ratio(hh - f64(close), (hh - ll) / -100.0, 0.0)


def cci(high, low, close, period: int = 14) -> np.ndarray:
    """Commodity Channel Index (TA-Lib CCI): (TP - SMA(TP)) / (0.015 * mean deviation), with
    TP = (high + low + close) / 3; 0 when either the deviation or the distance is 0."""
    period = check_period(period)
    tp = (f64(high) + f64(low) + f64(close)) / 3.0
    out = nans(len(tp))
    if len(tp) >= period:
        window = sliding_window_view(tp, period)
        mean = window.mean(axis=1)
        mad = np.abs(window - mean[:, None]).mean(axis=1)
        dist = tp[period - 1:] - mean
        with np.errstate(invalid="ignore", divide="ignore"):
            out[period - 1:] = np.where((dist != 0) & (mad != 0), dist / (0.015 * mad), 0.0)
    return out


def roc(close, period: int = 10) -> np.ndarray:
    """Rate of change in percent (TA-Lib ROC): (close / close n candles ago - 1) * 100."""
    period = check_period(period)
    x = f64(close)
    out = nans(len(x))
    if len(x) > period:
        out[period:] = safe_ratio(x[period:], x[:-period], 1.0) * 100.0 - 100.0
    return out


def mom(close, period: int = 10) -> np.ndarray:
    """Momentum (TA-Lib MOM): close - close n candles ago."""
    period = check_period(period)
    x = f64(close)
    out = nans(len(x))
    if len(x) > period:
        out[period:] = x[period:] - x[:-period]
    return out


def aroon(high, low, period: int = 14):
    """(aroon_up, aroon_down) (TA-Lib AROON): 100 (n - candles since the highest high
    [lowest low] of the last n + 1 candles) / n; a tie counts the most recent extreme."""
    period = check_period(period)
    h, lo = f64(high), f64(low)
    up, down = nans(len(h)), nans(len(h))
    if len(h) > period:
        # Reversed windows: argmax/argmin return the first hit, i.e. the newest extreme.
        since_high = np.argmax(sliding_window_view(h, period + 1)[:, ::-1], axis=1)
        since_low = np.argmin(sliding_window_view(lo, period + 1)[:, ::-1], axis=1)
        factor = 100.0 / period
        up[period:] = factor * (period - since_high)
        down[period:] = factor * (period - since_low)
    return up, down


def ultosc(high, low, close, period1: int = 7, period2: int = 14, period3: int = 28):
    """Ultimate Oscillator (TA-Lib ULTOSC): 100 (4 A1 + 2 A2 + A3) / 7 where each A is
    sum(close - true low) / sum(true range) over its period; TA-Lib sorts the periods, so the
    weight 4 always goes to the shortest. An average over a zero range counts 0."""
    periods = sorted(check_period(p) for p in (period1, period2, period3))
    h, lo, c = f64(high), f64(low), f64(close)
    n = len(c)
    out = nans(n)
    longest = periods[-1]
    if n <= longest:
        return out
    prev = np.r_[np.nan, c[:-1]]
    true_low = np.minimum(lo, prev)
    buying = c - true_low
    tr = np.maximum(h, prev) - true_low
    total = np.zeros(n - longest)
    for weight, p in zip((4.0, 2.0, 1.0), periods):
        avg = safe_ratio(rolling_sum(buying, p), rolling_sum(tr, p), 0.0)
        total += weight * avg[longest:]
    out[longest:] = 100.0 * (total / 7.0)
    return out


def trix(close, period: int = 30) -> np.ndarray:
    """TRIX (TA-Lib TRIX): one-candle rate of change, in percent, of a triple EMA."""
    period = check_period(period)
    e3 = seeded_ema(seeded_ema(seeded_ema(f64(close), period), period), period)
    out = nans(len(e3))
    if len(e3) > 1:
        out[1:] = safe_ratio(e3[1:], e3[:-1], 1.0) * 100.0 - 100.0
    return out


def _directional(high, low, close, period: int):
    """Wilder-smoothed +DM, -DM and TR, as TA-Lib's PLUS_DI / MINUS_DI / ADX seed them.

    TA-Lib sums the first n - 1 values (candles 1 .. n-1), then at each later candle
    S = S - S/n + x. Divided by n that is an EMA with alpha 1/n seeded at index n - 1 with
    sum / n; only ratios of these sums are used, so the scale does not matter.
    """
    h, lo, c = f64(high), f64(low), f64(close)
    n = len(c)
    up = np.r_[np.nan, h[1:] - h[:-1]]
    down = np.r_[np.nan, lo[:-1] - lo[1:]]
    plus_dm = np.where((up > 0) & (up > down), up, 0.0)
    minus_dm = np.where((down > 0) & (down > up), down, 0.0)
    tr = trange(h, lo, c)
    if n <= period:
        return nans(n), nans(n), nans(n)
    alpha = 1.0 / period
    return tuple(smooth_from(x, period - 1, float(np.sum(x[1:period])) / period, alpha)
                 for x in (plus_dm, minus_dm, tr))


def plus_di(high, low, close, period: int = 14) -> np.ndarray:
    """+DI (TA-Lib PLUS_DI): 100 smoothed +DM / smoothed TR, first defined at `period`;
    0 when the true range is 0."""
    pdm, _, tr = _directional(high, low, close, check_period(period, 2))
    out = safe_ratio(100.0 * pdm, tr, 0.0)
    out[:period] = np.nan
    return out


def minus_di(high, low, close, period: int = 14) -> np.ndarray:
    """-DI (TA-Lib MINUS_DI), as plus_di with -DM."""
    _, mdm, tr = _directional(high, low, close, check_period(period, 2))
    out = safe_ratio(100.0 * mdm, tr, 0.0)
    out[:period] = np.nan
    return out


def adx(high, low, close, period: int = 14) -> np.ndarray:
    """Wilder's ADX (TA-Lib ADX): DX = 100 |+DI - -DI| / (+DI + -DI) from index n, ADX the
    mean of the first n DX at 2n - 1, then Wilder-smoothed. A DX over zero movement (both DI
    0) counts 0, where TA-Lib keeps the previous ADX."""
    period = check_period(period, 2)
    pdi = plus_di(high, low, close, period)
    mdi = minus_di(high, low, close, period)
    dx = safe_ratio(100.0 * np.abs(pdi - mdi), pdi + mdi, 0.0)
    n = len(dx)
    first = 2 * period - 1
    if n <= first:
        return nans(n)
    return smooth_from(dx, first, float(np.mean(dx[period:first + 1])), 1.0 / period)


def _series(values) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(f64(values))
