"""Technical indicators as pure functions: numpy arrays (or pandas Series) in, float64 arrays out.

Grouped by family, in the style of the `ta` library:

  overlap     sma, ema, wma, dema, tema, kama, sar          (drawn on the price panel)
  momentum    rsi, macd, stoch, stochrsi, willr, cci, roc, mom, aroon, ultosc, trix,
              adx, plus_di, minus_di
  volatility  trange, atr, natr, bbands
  volume      obv, mfi, vwap
  ichimoku    ichimoku

Every function returns arrays as long as its inputs, NaN where the value is not defined yet,
and equals TA-Lib's function of the same name and parameters (TA-Lib's default "unstable
period" 0, i.e. its own seeding) wherever TA-Lib has one; vwap and ichimoku have no TA-Lib
counterpart and are documented in docs/indicators.md. Inputs must be NaN-free and oldest
first. Nothing here knows the web layer.
"""
from __future__ import annotations

from .ichimoku import ichimoku
from .momentum import (adx, aroon, cci, macd, minus_di, mom, plus_di, roc, rsi, stoch,
                       stochrsi, trix, ultosc, willr)
from .overlap import dema, ema, kama, sar, sma, tema, wma
from .volatility import atr, bbands, natr, trange
from .volume import mfi, obv, vwap

__all__ = ["adx", "aroon", "atr", "bbands", "cci", "dema", "ema", "ichimoku", "kama", "macd",
           "mfi", "minus_di", "mom", "natr", "obv", "plus_di", "roc", "rsi", "sar", "sma",
           "stoch", "stochrsi", "tema", "trange", "trix", "ultosc", "vwap", "willr", "wma"]
