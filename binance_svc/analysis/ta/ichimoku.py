"""Ichimoku Kinko Hyo: conversion and base lines, the cloud, the lagging span."""
from __future__ import annotations

from ._core import check_period, f64, rolling_max, rolling_min, shift


def ichimoku(high, low, close, tenkan: int = 9, kijun: int = 26, senkou: int = 52):
    """(tenkan, kijun, senkou_a, senkou_b, chikou), each on the row of the candle it is
    plotted at (Hosoda's definition, as StockCharts' ChartSchool gives it):

      tenkan   (highest high + lowest low) / 2 over the last `tenkan` candles
      kijun    the same over the last `kijun` candles
      senkou_a (tenkan + kijun) / 2, plotted `kijun` candles ahead: row t holds the value
               computed at t - kijun
      senkou_b (highest high + lowest low) / 2 over `senkou` candles, also `kijun` ahead
      chikou   the close plotted `kijun` candles back: row t holds close[t + kijun], so the
               last `kijun` rows are NaN (they are in the future)

    The cloud's part beyond the last candle has no row of its own and is not returned.
    """
    tenkan, kijun, senkou = (check_period(p) for p in (tenkan, kijun, senkou))
    h, lo, c = f64(high), f64(low), f64(close)
    conversion = (rolling_max(h, tenkan) + rolling_min(lo, tenkan)) / 2.0
    base = (rolling_max(h, kijun) + rolling_min(lo, kijun)) / 2.0
    span_b = (rolling_max(h, senkou) + rolling_min(lo, senkou)) / 2.0
    return (conversion, base, shift((conversion + base) / 2.0, kijun), shift(span_b, kijun),
            shift(c, -kijun))
