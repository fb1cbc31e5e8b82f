import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis.correlation import ASSET_COLUMNS, PERIODS_PER_YEAR, correlation_report
from binance_svc.upstream.frames import empty_klines, klines_frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "binance"   # see its README.md
JUNE = FIXTURES / "klines_api_1h_2023-06"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]
HOURS_PER_YEAR = 8760


def assert_finite(obj, path="summary"):
    if path == "summary":       # plain JSON types too: no numpy scalars, no NaN
        json.dumps(obj, allow_nan=False)
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_finite(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            assert_finite(v, f"{path}[{i}]")
    elif isinstance(obj, float):
        assert math.isfinite(obj), f"{path} is {obj}"


@pytest.fixture(scope="module")
def june():
    paths = {s: JUNE / f"klines_{s}_1h_2023-06_720.json.gz" for s in SYMBOLS}
    return {s: klines_frame(json.loads(gzip.decompress(p.read_bytes()))) for s, p in paths.items()}


def max_drawdown_by_hand(closes):
    peak, worst = closes[0], 0.0
    for c in closes:
        peak = max(peak, c)
        worst = min(worst, c / peak - 1)
    return worst


def expected(closes: np.ndarray):
    """Everything the report should say, from (n+1, k) closes, with plain numpy."""
    r = np.diff(np.log(closes), axis=0)
    cov = np.cov(r, rowvar=False, ddof=1)
    w = np.full(closes.shape[1], 1 / closes.shape[1])
    vol = r.std(axis=0, ddof=1) * math.sqrt(HOURS_PER_YEAR)
    pvol = math.sqrt(w @ cov @ w * HOURS_PER_YEAR)
    return {"corr": np.corrcoef(r, rowvar=False), "ret": r.mean(axis=0) * HOURS_PER_YEAR,
            "vol": vol, "beta": cov[:, 0] / np.var(r[:, 0], ddof=1), "pvol": pvol,
            "div": w @ vol / pvol, "dd": [max_drawdown_by_hand(c) for c in closes.T],
            "obs": len(r)}


@pytest.mark.parametrize("limit", [90, 719])
def test_against_numpy_on_june_2023(june, limit):
    report = correlation_report(june, params={"limit": limit}, interval="1h", limit=limit,
                                benchmark="BTCUSDT")
    closes = np.column_stack([june[s]["close"].to_numpy()[-(limit + 1):] for s in SYMBOLS])
    exp = expected(closes)
    matrix, assets = report.tables["matrix"], report.tables["assets"]
    assert list(report.tables) == ["matrix", "assets"]
    assert list(matrix.columns) == ["symbol", *SYMBOLS]
    assert matrix["symbol"].tolist() == SYMBOLS
    m = matrix[SYMBOLS].to_numpy()
    np.testing.assert_allclose(m, exp["corr"], rtol=1e-12)
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(np.diag(m), 1.0)
    assert list(assets.columns) == ASSET_COLUMNS
    np.testing.assert_allclose(assets["annualized_return"], exp["ret"], rtol=1e-12)
    np.testing.assert_allclose(assets["annualized_volatility"], exp["vol"], rtol=1e-12)
    np.testing.assert_allclose(assets["sharpe"], exp["ret"] / exp["vol"], rtol=1e-12)
    np.testing.assert_allclose(assets["max_drawdown"], exp["dd"], rtol=1e-12)
    assert (assets["max_drawdown"] <= 0).all()
    np.testing.assert_allclose(assets["beta"], exp["beta"], rtol=1e-12)
    assert assets["beta"].iloc[0] == 1.0                      # the benchmark itself
    s = report.summary
    assert s["observations"] == exp["obs"] == limit
    assert s["benchmark"] == "BTCUSDT"
    assert s["portfolio_volatility"] == pytest.approx(exp["pvol"], rel=1e-12)
    assert s["diversification_ratio"] == pytest.approx(exp["div"], rel=1e-12)
    assert s["diversification_ratio"] >= 1                   # diversification never hurts
    off = exp["corr"][np.triu_indices(3, k=1)]
    assert s["mean_correlation"] == pytest.approx(off.mean(), rel=1e-12)
    assert s["most_correlated"]["correlation"] == pytest.approx(off.max(), rel=1e-12)
    assert s["least_correlated"]["correlation"] == pytest.approx(off.min(), rel=1e-12)
    assert len(s["most_correlated"]["pair"]) == 2
    assert report.warnings == []
    assert_finite(s)


def test_benchmark_other_than_first(june):
    report = correlation_report(june, params={}, interval="1h", limit=200,
                                benchmark="ETHUSDT")
    beta = report.tables["assets"].set_index("symbol")["beta"]
    assert beta["ETHUSDT"] == 1.0
    r = np.diff(np.log(np.column_stack([june[s]["close"].to_numpy()[-201:] for s in SYMBOLS])),
                axis=0)
    assert beta["DOGEUSDT"] == pytest.approx(np.cov(r[:, 2], r[:, 1])[0, 1]
                                             / np.var(r[:, 1], ddof=1), rel=1e-12)


def test_aligned_on_open_time_not_position(june):
    # ETH loses its 14:00 candle of June 17 (row 400): the join drops that hour for everyone,
    # so the next return spans two hours for BTC too. Aligning by position would pair ETH's
    # candles with BTC's an hour earlier from there on.
    gap = 400
    frames = {"BTCUSDT": june["BTCUSDT"],
              "ETHUSDT": june["ETHUSDT"].drop(index=gap).reset_index(drop=True)}
    report = correlation_report(frames, params={}, interval="1h", limit=719,
                                benchmark="BTCUSDT")
    closes = np.column_stack([np.delete(june[s]["close"].to_numpy(), gap)
                              for s in ["BTCUSDT", "ETHUSDT"]])
    r = np.diff(np.log(closes), axis=0)
    assert report.summary["observations"] == 718
    assert report.tables["matrix"].iloc[0, 2] == pytest.approx(np.corrcoef(r.T)[0, 1],
                                                               rel=1e-12)
    by_position = np.diff(np.log(np.column_stack([
        june["BTCUSDT"]["close"].to_numpy()[-719:],
        frames["ETHUSDT"]["close"].to_numpy()])), axis=0)
    assert abs(report.tables["matrix"].iloc[0, 2] - np.corrcoef(by_position.T)[0, 1]) > 0.01
    warning = " ".join(report.warnings)
    assert "ETHUSDT" in warning and "BTCUSDT" not in warning


def test_gap_inside_a_long_enough_history_is_warned(june):
    # Enough candles for 200 returns even without ETH's row 600, but the window now spans
    # 201 hours: the reader is told which symbol has the gap.
    frames = {"BTCUSDT": june["BTCUSDT"],
              "ETHUSDT": june["ETHUSDT"].drop(index=600).reset_index(drop=True)}
    report = correlation_report(frames, params={}, interval="1h", limit=200,
                                benchmark="BTCUSDT")
    assert report.summary["observations"] == 200
    assert len(report.warnings) == 1 and report.warnings[0].startswith("Candles missing in ETHUSDT")
    # A later last candle in one symbol is not a gap: the window ends at the common time.
    frames = {"BTCUSDT": june["BTCUSDT"], "ETHUSDT": june["ETHUSDT"].iloc[:-1]}
    report = correlation_report(frames, params={}, interval="1h", limit=200,
                                benchmark="BTCUSDT")
    assert report.warnings == []


def test_a_frame_out_of_time_order_gives_the_same_report(june):
    # Closes are aligned on numpy arrays of open times: a frame not sorted by open time is
    # sorted first, as the pandas join it replaced did, with and without a gap.
    for eth in (june["ETHUSDT"], june["ETHUSDT"].drop(index=600)):
        frames = {"BTCUSDT": june["BTCUSDT"], "ETHUSDT": eth.reset_index(drop=True)}
        shuffled = {**frames, "ETHUSDT": eth.sample(frac=1, random_state=0)}
        a, b = (correlation_report(f, params={}, interval="1h", limit=200, benchmark="BTCUSDT")
                for f in (frames, shuffled))
        for name in a.tables:
            pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)
        assert a.summary == b.summary and a.warnings == b.warnings


def test_younger_symbol_is_named(june):
    young = {"BTCUSDT": june["BTCUSDT"], "ETHUSDT": june["ETHUSDT"],
             "DOGEUSDT": june["DOGEUSDT"].iloc[-51:].reset_index(drop=True)}
    report = correlation_report(young, params={}, interval="1h", limit=90,
                                benchmark="BTCUSDT")
    assert report.summary["observations"] == 50
    warning = " ".join(report.warnings)
    assert "DOGEUSDT (51 candles)" in warning and "ETHUSDT" not in warning
    assert_finite(report.summary)


def test_flat_symbol_has_undefined_correlation(june):
    flat = june["ETHUSDT"].assign(close=1800.0)
    report = correlation_report({"BTCUSDT": june["BTCUSDT"], "ETHUSDT": flat},
                                params={}, interval="1h", limit=90, benchmark="BTCUSDT")
    m = report.tables["matrix"][["BTCUSDT", "ETHUSDT"]].to_numpy()
    assert np.isnan(m[0, 1]) and np.isnan(m[1, 0])
    np.testing.assert_array_equal(np.diag(m), 1.0)
    eth = report.tables["assets"].set_index("symbol").loc["ETHUSDT"]
    assert eth["annualized_volatility"] == 0 and np.isnan(eth["sharpe"])
    assert eth["beta"] == 0 and eth["max_drawdown"] == 0
    s = report.summary
    assert s["mean_correlation"] is None and s["most_correlated"] is None
    assert any("ETHUSDT" in w and "No price movement" in w for w in report.warnings)
    assert_finite(s)


def test_everything_flat():
    t = pd.date_range("2023-06-01", periods=30, freq="D", tz="UTC")
    frames = {s: empty_klines().reindex(range(30)).assign(open_time=t, close=100.0)
              for s in ["AAAUSDT", "BBBUSDT"]}
    report = correlation_report(frames, params={}, interval="1d", limit=20,
                                benchmark="AAAUSDT")
    s = report.summary
    assert s["portfolio_volatility"] == 0.0 and s["diversification_ratio"] is None
    assert report.tables["assets"]["beta"].isna().all()
    assert_finite(s)


def test_one_symbol(june):
    report = correlation_report({"BTCUSDT": june["BTCUSDT"]}, params={}, interval="1h",
                                limit=90, benchmark="BTCUSDT")
    assert report.tables["matrix"]["BTCUSDT"].tolist() == [1.0]
    s = report.summary
    assert s["mean_correlation"] is None and s["least_correlated"] is None
    assert s["diversification_ratio"] == pytest.approx(1.0)
    assert s["portfolio_volatility"] == pytest.approx(
        report.tables["assets"]["annualized_volatility"].iloc[0])
    assert report.warnings
    assert_finite(s)


@pytest.mark.parametrize("rows", [0, 1, 2])
def test_too_few_observations(june, rows):
    frames = {s: june[s].iloc[:rows].reset_index(drop=True) for s in SYMBOLS[:2]}
    report = correlation_report(frames, params={}, interval="1h", limit=90,
                                benchmark="BTCUSDT")
    s = report.summary
    assert s["observations"] == max(rows - 1, 0)
    assert s["portfolio_volatility"] is None and s["mean_correlation"] is None
    assert report.tables["assets"]["symbol"].tolist() == SYMBOLS[:2]
    assert any("at least 2" in w for w in report.warnings)
    assert_finite(s)


def test_empty_frames_and_no_symbols():
    report = correlation_report({"AAAUSDT": empty_klines(), "BBBUSDT": empty_klines()},
                                params={}, interval="1d", limit=90, benchmark="AAAUSDT")
    assert report.summary["observations"] == 0
    assert_finite(report.summary)
    report = correlation_report({}, params={}, interval="1d", limit=90, benchmark="AAAUSDT")
    assert report.tables["matrix"].empty and report.warnings
    assert_finite(report.summary)


def test_periods_per_year():
    assert PERIODS_PER_YEAR["1h"] == 8760 and PERIODS_PER_YEAR["1d"] == 365
    assert PERIODS_PER_YEAR["1m"] == 525_600 and PERIODS_PER_YEAR["1s"] == 31_536_000
    assert PERIODS_PER_YEAR["1M"] == 12
    assert round(PERIODS_PER_YEAR["1w"], 3) == 52.143     # docs/api.md's figure, rounded
    assert set(PERIODS_PER_YEAR) == set("1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w 1M"
                                        .split())
