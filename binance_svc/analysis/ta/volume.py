"""Volume-based: On-Balance Volume, Money Flow Index, session VWAP."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._core import check_period, f64, nans, rolling_sum, safe_ratio

DAY_NS = 86_400_000_000_000


def obv(close, volume) -> np.ndarray:
    """On-Balance Volume: a running sum of +volume (close up), -volume (close down), 0
    (unchanged), that is 0 at the first candle.

    Only its changes mean anything: TA-Lib starts the same sum at the first candle's volume
    instead, so the two differ by that constant (catalogue: OBV is re-anchored at 0 on the
    first returned row).
    """
    c, v = f64(close), f64(volume)
    step = np.zeros(len(c))
    if len(c) > 1:
        step[1:] = np.sign(np.diff(c)) * v[1:]
    return np.cumsum(step)


def mfi(high, low, close, volume, period: int = 14) -> np.ndarray:
    """Money Flow Index (TA-Lib MFI), first defined at `period`.

    Typical price TP = (high + low + close) / 3; raw flow TP * volume counts as positive when
    TP rose, negative when it fell, neither when unchanged (to 1e-12 of the price);
    MFI = 100 positive / (positive + negative) over the last n candles. A window without any
    flow gives 50 (TA-Lib writes 0 whenever the total is below 1, a threshold in quote units
    that is not copied).
    """
    period = check_period(period)
    tp = (f64(high) + f64(low) + f64(close)) / 3.0
    n = len(tp)
    out = nans(n)
    if n <= period:
        return out
    flow = tp * f64(volume)
    change = np.r_[0.0, np.diff(tp)]
    # Decimal prices with the same sum can round to typical prices a few ulps apart (DOGE:
    # 0.06959 + 0.06904 + 0.06959 vs 0.0697 + 0.06905 + 0.06947); such a "change" is noise,
    # not a tick (a tick is at least 1e-8 of the price), so it counts as unchanged.
    change[np.abs(change) <= 1e-12 * np.abs(tp)] = 0.0
    positive = rolling_sum(np.where(change > 0, flow, 0.0), period)
    negative = rolling_sum(np.where(change < 0, flow, 0.0), period)
    out[period:] = safe_ratio(100.0 * positive, positive + negative, 50.0)[period:]
    return out


def vwap(open_time, volume, quote_volume) -> np.ndarray:
    """Volume-weighted average price of each UTC day's trades so far (session reset at 00:00).

    Binance's quote volume of a candle is the sum of price * quantity of its trades, so
    cumulative quote volume / cumulative volume is the exact VWAP of the session's trades,
    not the usual (high + low + close) / 3 approximation. NaN until the session's first trade,
    and on every candle of the first session when that session starts before the first
    candle (its earlier trades are unknown, so its VWAP would be wrong, not just early).
    """
    t = _epoch_ns(open_time)
    v, qv = f64(volume), f64(quote_volume)
    n = len(v)
    if n == 0:
        return nans(0)
    day = t // DAY_NS
    cum_v = pd.Series(v).groupby(day).cumsum().to_numpy()
    cum_qv = pd.Series(qv).groupby(day).cumsum().to_numpy()
    out = np.where(cum_v > 0, cum_qv / np.where(cum_v > 0, cum_v, 1.0), np.nan)
    if t[0] % DAY_NS != 0:
        out[day == day[0]] = np.nan
    return out


def _epoch_ns(open_time) -> np.ndarray:
    """Open times (tz-aware or naive UTC datetimes, or epoch milliseconds) as epoch ns."""
    values = pd.Series(open_time) if not isinstance(open_time, pd.Series) else open_time
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy(dtype="datetime64[ns]").astype("int64")
    return np.asarray(values, dtype="int64") * 1_000_000
