"""A synthetic market for the indicator tests: a geometric random walk with wicks and lognormal
volume, hourly from a midnight (seeded, so every run sees the same series)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic(n: int = 3000, seed: int = 13) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    volume = rng.lognormal(3, 1, n)
    times = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame({"open_time": times, "open": open_, "high": high, "low": low,
                         "close": close, "volume": volume,
                         "quote_volume": volume * (high + low + close) / 3})
