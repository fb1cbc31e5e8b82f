"""Warm-up: the first row after an indicator's warm-up equals the value from a long history.

For each request, a long synthetic history is computed once in full; then only the last
`warmup` candles before a late row T (and the rows after it) are computed, as the service
will fetch them. Row T must agree with the long history to 1e-7 of the column's typical size
(the rules keep every seed's weight at or below 1e-8, and a seed is off by at most the
column's range). A quarter of the warm-up must not be enough for the recursive ones, which
shows the comparison can fail.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis.catalogue import (CATALOGUE, SEED_WEIGHT, compute_requests,
                                            parse_indicators, seed_decay)
from binance_svc.analysis.ta import sar

from .series import synthetic

N = 5_000
TAIL = 40          # rows compared after T
TOL = 1e-7


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return synthetic(N, seed=5)


def from_row(history: pd.DataFrame, spec: str, warmup: int) -> tuple[dict, dict, int]:
    """(long-history columns, columns computed from `warmup` rows before T, T)."""
    (req,) = parse_indicators(spec)
    t = N - TAIL
    full = compute_requests(history, [req], anchor=t)
    short = compute_requests(history.iloc[t - warmup:], [req], anchor=warmup)
    return full, short, t


RECURSIVE = ["ema", "dema", "tema", "trix", "macd", "rsi", "stochrsi", "atr", "natr", "adx",
             "plus_di", "minus_di", "ema:200", "tema:200", "trix:150", "macd:50:200:20",
             "rsi:100", "adx:50"]
FINITE = ["sma", "sma:1000", "wma:300", "bbands", "stoch", "willr", "mfi", "ultosc", "aroon",
          "cci", "roc", "mom", "ichimoku", "vwap", "kama", "kama:10", "sar", "sar:0.05:0.5",
          "obv"]


def test_every_indicator_is_checked():
    assert {s.split(":")[0] for s in RECURSIVE + FINITE} == set(CATALOGUE)


@pytest.mark.parametrize("spec", RECURSIVE + FINITE)
def test_first_row_after_warmup_matches_long_history(history, spec):
    (req,) = parse_indicators(spec)
    warmup = req.warmup("1h")
    assert warmup + TAIL < N - 500, "the long history must be much longer than the warm-up"
    full, short, t = from_row(history, spec, warmup)
    for column in req.columns:
        long_part, short_part = full[column][t:], short[column][warmup:]
        if column.startswith("ichimoku_chikou"):     # the future of the last rows is unknown
            kijun = req.params[1]
            long_part, short_part = long_part[:-kijun], short_part[:-kijun]
        assert not np.isnan(short_part[0]), f"{column}: undefined after the warm-up"
        scale = np.nanmedian(np.abs(full[column]))
        np.testing.assert_allclose(short_part, long_part, rtol=0, atol=TOL * scale,
                                   err_msg=column)


@pytest.mark.parametrize("spec", RECURSIVE)
def test_a_quarter_of_the_warmup_is_not_enough(history, spec):
    (req,) = parse_indicators(spec)
    short_warmup = req.warmup("1h") // 4
    full, short, t = from_row(history, spec, short_warmup)
    worst = max(np.max(np.abs(short[c][short_warmup:] - full[c][t:]))
                / np.nanmedian(np.abs(full[c])) for c in req.columns)
    assert worst > TOL


def test_obv_is_zero_on_the_anchor_row(history):
    full, short, t = from_row(history, "obv", 0)
    assert full["obv"][t] == 0 and short["obv"][0] == 0
    np.testing.assert_allclose(short["obv"], full["obv"][t:], rtol=0, atol=1e-9)


@pytest.mark.parametrize("alpha,stages", [(2 / 13, 1), (1 / 14, 1), (2 / 27, 2), (1 / 14, 2),
                                          (2 / 21, 3), (0.5, 3)])
def test_seed_decay_is_the_weight_left_in_a_cascade(alpha, stages):
    """Run the cascade itself: every stage starts at 1 (the seeds), the input is 0, so the
    last stage's value after k steps is exactly the weight the seeds keep."""
    k = seed_decay(alpha, stages)

    def left_after(steps: int) -> float:
        state = [1.0] * stages
        for _ in range(steps):
            feed = 0.0
            for i in range(stages):
                state[i] += alpha * (feed - state[i])
                feed = state[i]
        return state[-1]

    assert left_after(k) <= SEED_WEIGHT < left_after(k - 1)


def test_sar_warmup_on_recorded_btc_from_every_start():
    """SAR's rule is empirical: started at any of the first 269 candles of the recorded
    month, it equals the full month's SAR (exactly) from its warm-up on."""
    path = Path(__file__).resolve().parents[1] / "fixtures" / "binance" / \
        "klines_api_1h_2023-06" / "klines_BTCUSDT_1h_2023-06_720.json.gz"
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "binance" / \
        "klines_api_1h_2023-06" / "klines_BTCUSDT_1h_2023-06_720.json"
    if path.exists():
        with gzip.open(path, "rt") as fh:
            rows = json.load(fh)
    elif shared.exists():
        rows = json.loads(shared.read_text())
    else:
        pytest.skip("recorded BTCUSDT klines not found")
    high = np.array([float(r[2]) for r in rows])
    low = np.array([float(r[3]) for r in rows])
    (req,) = parse_indicators("sar")
    warmup = req.warmup()
    full = sar(high, low)
    starts = range(0, len(rows) - warmup - 1)
    assert len(starts) > 250
    for s in starts:
        part = sar(high[s:], low[s:])
        np.testing.assert_array_equal(part[warmup:], full[s + warmup:], err_msg=f"start {s}")


@pytest.mark.parametrize("interval,expected", [("1h", 23), ("15m", 95), ("1m", 1439),
                                               ("12h", 1), ("1d", 0), ("1w", 0), ("1M", 0)])
def test_vwap_warmup_is_the_rest_of_a_day(interval, expected):
    assert CATALOGUE["vwap"].warmup((), interval) == expected


def test_vwap_from_any_start_hour_agrees_after_its_warmup(history):
    (req,) = parse_indicators("vwap")
    warmup = req.warmup("1h")
    full = compute_requests(history, [req])["vwap"]
    for s in range(48):                  # every start hour of two days
        part = compute_requests(history.iloc[s:], [req])["vwap"]
        assert not np.isnan(part[warmup:]).any()
        np.testing.assert_array_equal(part[warmup:], full[s + warmup:])
