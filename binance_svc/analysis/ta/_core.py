"""Building blocks shared by the indicator families: smoothing recursions and windows.

The recursions run in compiled code (pandas' ewm with adjust=False is exactly
y[t] = y[t-1] + alpha * (x[t] - y[t-1])), so only the genuinely path-dependent indicators
(KAMA's adaptive factor, Parabolic SAR) loop in Python.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..indicators import _seeded_smoothing


def f64(values) -> np.ndarray:
    """Any 1-d array-like (Series, list, ndarray) as a float64 ndarray."""
    out = np.asarray(values, dtype="float64")
    if out.ndim != 1:
        raise ValueError("indicator inputs must be one-dimensional")
    return out


def nans(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def check_period(period, minimum: int = 1) -> int:
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < minimum:
        raise ValueError(f"period must be an integer >= {minimum}, not {period!r}")
    return int(period)


def seeded_ema(values: np.ndarray, period: int, alpha: float | None = None) -> np.ndarray:
    """EMA seeded with the mean of the first `period` defined values (TA-Lib's EMA seed).

    `values` may start with NaN (the output of an earlier stage); the smoothing starts at the
    first defined value, so DEMA/TEMA/TRIX cascade exactly as TA-Lib's do.
    """
    alpha = 2.0 / (period + 1) if alpha is None else alpha
    out = nans(len(values))
    defined = np.flatnonzero(~np.isnan(values))
    if len(defined):
        first = defined[0]
        out[first:] = _seeded_smoothing(values[first:], period, alpha)
    return out


def smooth_from(values: np.ndarray, start: int, seed: float, alpha: float) -> np.ndarray:
    """y[start] = seed, then y[t] = y[t-1] + alpha * (values[t] - y[t-1]); NaN before start."""
    out = nans(len(values))
    if start < len(values):
        tail = values[start:].copy()
        tail[0] = seed
        out[start:] = pd.Series(tail).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def rolling_max(values: np.ndarray, period: int) -> np.ndarray:
    return pd.Series(values).rolling(period).max().to_numpy()


def rolling_min(values: np.ndarray, period: int) -> np.ndarray:
    return pd.Series(values).rolling(period).min().to_numpy()


def rolling_sum(values: np.ndarray, period: int) -> np.ndarray:
    return pd.Series(values).rolling(period).sum().to_numpy()


def rolling_mean(values: np.ndarray, period: int) -> np.ndarray:
    return pd.Series(values).rolling(period).mean().to_numpy()


def shift(values: np.ndarray, by: int) -> np.ndarray:
    """values moved `by` rows later (by > 0) or earlier (by < 0), NaN where nothing moved in."""
    out = nans(len(values))
    if by == 0:
        out[:] = values
    elif by > 0:
        out[by:] = values[:-by] if by < len(values) else out[by:]
    elif -by < len(values):
        out[:by] = values[-by:]
    return out


def safe_ratio(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    """num / den, `when_zero` where den is exactly 0, NaN where either is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den != 0, num / den, when_zero)
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out
