"""The demo market's price model: each coin's log price is a sum of random-phase sines with a
Brownian (1/f^2) spectrum from eight years down to seconds, a continuous function of time, so
every interval, every page and every restart of the same seed agree. A common market factor makes
the coins correlate; cross pairs (ETHBTC) are ratios of their legs."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAY = 86_400
INTERVAL_S = {"1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
              "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": DAY,
              "3d": 3 * DAY, "1w": 7 * DAY, "1M": 30 * DAY}


@dataclass(frozen=True)
class Coin:
    base: str
    quote: str
    price: float          # level the sines oscillate around
    beta: float           # exposure to the market factor
    idio: float           # daily volatility of its own part
    tick: float
    volume: float         # base volume per day
    listed: str = "2017-08-17"


COINS = {
    "BTCUSDT": Coin("BTC", "USDT", 92_000, 1.0, 0.012, 0.01, 18_000, "2017-08-17"),
    "ETHUSDT": Coin("ETH", "USDT", 3_300, 1.25, 0.018, 0.01, 420_000, "2017-08-17"),
    "BNBUSDT": Coin("BNB", "USDT", 880, 0.9, 0.016, 0.01, 300_000, "2017-11-06"),
    "SOLUSDT": Coin("SOL", "USDT", 185, 1.45, 0.028, 0.01, 2_500_000, "2020-08-11"),
    "XRPUSDT": Coin("XRP", "USDT", 2.2, 1.2, 0.03, 0.0001, 180_000_000, "2018-05-04"),
    "ADAUSDT": Coin("ADA", "USDT", 0.72, 1.3, 0.03, 0.0001, 250_000_000, "2018-04-17"),
    "DOGEUSDT": Coin("DOGE", "USDT", 0.21, 1.5, 0.04, 0.00001, 1_800_000_000, "2019-07-05"),
    "TRXUSDT": Coin("TRX", "USDT", 0.29, 0.55, 0.015, 0.00001, 600_000_000, "2018-06-11"),
    "LINKUSDT": Coin("LINK", "USDT", 19.5, 1.35, 0.03, 0.001, 9_000_000, "2019-01-16"),
    "AVAXUSDT": Coin("AVAX", "USDT", 31, 1.4, 0.032, 0.001, 5_000_000, "2020-09-22"),
    "DOTUSDT": Coin("DOT", "USDT", 5.8, 1.3, 0.03, 0.001, 12_000_000, "2020-08-18"),
    "LTCUSDT": Coin("LTC", "USDT", 98, 1.05, 0.022, 0.01, 700_000, "2017-12-13"),
}
CROSSES = {"ETHBTC": ("ETHUSDT", "BTCUSDT", 0.00001), "BNBBTC": ("BNBUSDT", "BTCUSDT", 0.000001),
           "SOLBTC": ("SOLUSDT", "BTCUSDT", 0.0000001)}
MARKET_DAILY_VOL = 0.025
class _Noise:
    """A Brownian-like path as a sum of sines: f(t) with Var[f(t+d) - f(t)] ~ vol^2 * d/DAY."""

    FREQS = np.geomspace(1 / (8 * 365 * DAY), 1 / 4.0, 120)

    def __init__(self, seed: int, daily_vol: float):
        rng = np.random.default_rng(seed)
        f = self.FREQS
        raw = f ** -0.5 * rng.uniform(0.6, 1.4, f.size)
        var_day = np.sum(raw ** 2 * (1 - np.cos(2 * np.pi * f * DAY)))
        self.amp = raw * daily_vol / math.sqrt(var_day)
        self.freq = f
        self.phase_cycles = rng.uniform(0, 1, f.size)

    def __call__(self, t: np.ndarray, min_period: float = 0.0) -> np.ndarray:
        t = np.asarray(t, dtype="float64")
        flat = t.reshape(-1)
        out = np.empty(flat.size)
        # Components much faster than the sampling only add noise between samples: skip them.
        keep = self.freq * min_period < 1.0
        freq, phase, amp = self.freq[keep], self.phase_cycles[keep], self.amp[keep]
        # Chunks of times keep the (times x components) matrix small.
        for i in range(0, flat.size, 4096):
            chunk = flat[i:i + 4096]
            # Reduce to [0, 1) cycles before sin: sin of arguments ~1e9 rad is many times slower.
            cycles = np.multiply.outer(chunk, freq) + phase
            cycles -= np.floor(cycles)
            out[i:i + 4096] = np.einsum("ij,j->i", np.sin(2 * np.pi * cycles), amp)
        return out.reshape(t.shape)


def _unit_hash(*parts) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) from integer arrays (cheap, vectorised)."""
    x = np.zeros(np.broadcast(*parts).shape, dtype="uint64")
    for p in parts:
        x = (x ^ np.asarray(p, dtype="uint64")) * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype("float64") / float(1 << 53)


NEW_COIN = Coin("NEW", "USDT", 1.8, 1.6, 0.05, 0.0001, 40_000_000, "2026-01-01")
