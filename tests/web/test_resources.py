"""The five resources answer correct JSON on the demo market (docs/api.md: "The JSON envelope",
"Parameters", "What each analysis computes").

Every body is read with a json.loads that refuses NaN/Infinity. Numbers are checked against
computations made here from the rows the service returned (or, for EMA/RSI/MACD, against
TA-Lib on those rows' closes), never against the service's own code.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

ENVELOPE_KEYS = ["analysis", "params", "source", "data_as_of", "generated_at", "stale",
                 "warnings", "summary", "columns", "rows"]
TECHNICAL_COLUMNS = ["open_time", "close_time", "open", "high", "low", "close", "volume",
                     "quote_volume", "trades", "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14",
                     "macd", "macd_signal", "macd_hist", "bb_middle", "bb_upper", "bb_lower",
                     "bb_percent_b", "bb_bandwidth"]
INDICATORS = TECHNICAL_COLUMNS[9:]
STATISTICS_COLUMNS = ["symbol", "last_price", "open_price", "high", "low", "price_change",
                      "price_change_pct", "weighted_avg_price", "volume", "quote_volume",
                      "trades", "range_pct", "close_position", "sentiment"]
ASSET_COLUMNS = ["symbol", "annualized_return", "annualized_volatility", "sharpe",
                 "max_drawdown", "beta"]
LIQUIDITY_COLUMNS = ["side", "price", "quantity", "notional", "cum_quantity", "cum_notional",
                     "distance_bps"]
SYMBOLS_COLUMNS = ["symbol", "base_asset", "quote_asset", "status"]
WATCHLIST = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
             "TRXUSDT", "LINKUSDT", "AVAXUSDT"]
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")

# name -> (URL with lower-case symbols, the params the envelope must echo, the main columns)
RESOURCES = {
    "technical": ("/api/v1/analysis/technical/btcusdt?limit=50",
                  {"symbol": "BTCUSDT", "interval": "1h", "limit": 50, "closed": True},
                  TECHNICAL_COLUMNS),
    "statistics": ("/api/v1/market/statistics?symbols=ethusdt,btcusdt,SolUsdt",
                   {"symbols": ["ETHUSDT", "BTCUSDT", "SOLUSDT"]}, STATISTICS_COLUMNS),
    "correlation": ("/api/v1/analysis/correlation?symbols=btcusdt,ethusdt,solusdt"
                    "&benchmark=ethusdt&limit=30",
                    {"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "interval": "1d", "limit": 30,
                     "benchmark": "ETHUSDT", "closed": True},
                    ["symbol", "BTCUSDT", "ETHUSDT", "SOLUSDT"]),
    "liquidity": ("/api/v1/market/liquidity/ethusdt?depth=100&notional=5000,20000",
                  {"symbol": "ETHUSDT", "depth": 100, "notional": [5000.0, 20000.0]},
                  LIQUIDITY_COLUMNS),
    "symbols": ("/api/v1/symbols?quote=btc", {"quote": "BTC"}, SYMBOLS_COLUMNS),
}
SUMMARY_KEYS = {
    "technical": {"last_close", "last", "signals"},
    "statistics": {"advancers", "decliners", "unchanged", "breadth", "mean_change_pct",
                   "weighted_change_pct", "top_gainer", "top_loser", "sentiment"},
    "correlation": {"portfolio_volatility", "diversification_ratio", "mean_correlation",
                    "most_correlated", "least_correlated", "observations"},
    "liquidity": {"best_bid", "best_ask", "mid", "spread", "spread_bps", "bands", "slippage"},
    "symbols": set(),
}


def _get(client, strict_json, url, **kwargs) -> dict:
    resp = client.get(url, **kwargs)
    assert resp.status_code == 200, resp.data[:500]
    assert resp.headers["Content-Type"] == "application/json"
    return strict_json(resp.data)


def _time(text: str) -> datetime:
    assert ISO_Z.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _walk_numbers(value, path="$"):
    """Every number in a JSON document, with where it is."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk_numbers(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_numbers(v, f"{path}[{i}]")


# -- the envelope, for every resource ---------------------------------------------------------
@pytest.mark.parametrize("name", list(RESOURCES))
def test_envelope_keys_source_and_demo_warning(module_client, strict_json, name):
    url, _, _ = RESOURCES[name]
    body = _get(module_client, strict_json, url)
    keys = list(body)
    assert keys[:len(ENVELOPE_KEYS)] == ENVELOPE_KEYS
    assert set(keys) - set(ENVELOPE_KEYS) == ({"tables"} if name == "correlation" else set())
    assert body["analysis"] == name
    assert body["source"] == "demo"
    assert body["stale"] is False
    assert isinstance(body["warnings"], list)
    assert any("demo" in w.lower() for w in body["warnings"]), body["warnings"]
    assert all(isinstance(w, str) and w for w in body["warnings"])


@pytest.mark.parametrize("name", list(RESOURCES))
def test_times_are_utc_with_z(module_client, strict_json, name):
    url, _, _ = RESOURCES[name]
    body = _get(module_client, strict_json, url)
    now = datetime.now(timezone.utc)
    as_of, generated = _time(body["data_as_of"]), _time(body["generated_at"])
    assert abs((now - generated).total_seconds()) < 120
    assert as_of <= generated + timedelta(seconds=1)
    for row in body["rows"]:
        for col in ("open_time", "close_time"):
            if col in row:
                _time(row[col])


@pytest.mark.parametrize("name", list(RESOURCES))
def test_columns_in_contract_order_and_rows_match_them(module_client, strict_json, name):
    url, _, columns = RESOURCES[name]
    body = _get(module_client, strict_json, url)
    assert body["columns"] == columns
    assert body["rows"], "the demo market has data for every resource"
    for row in body["rows"]:
        assert list(row) == columns


@pytest.mark.parametrize("name", list(RESOURCES))
def test_params_are_echoed_normalised(module_client, strict_json, name):
    url, expected, _ = RESOURCES[name]
    params = _get(module_client, strict_json, url)["params"]
    for key, value in expected.items():
        assert params[key] == value, (key, params)
        assert type(params[key]) is type(value), (key, params[key])


@pytest.mark.parametrize("name", list(RESOURCES))
def test_summary_has_the_contract_keys_and_numbers_are_finite(module_client, strict_json, name):
    url, _, _ = RESOURCES[name]
    body = _get(module_client, strict_json, url)
    assert SUMMARY_KEYS[name] <= set(body["summary"]), set(body["summary"])
    for where, number in _walk_numbers(body):
        assert math.isfinite(number), where


# -- technical --------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 37, 200])
def test_technical_limit_is_honoured_with_consecutive_closed_candles(module_client, strict_json,
                                                                      limit):
    body = _get(module_client, strict_json, f"/api/v1/analysis/technical/BTCUSDT?limit={limit}")
    rows = body["rows"]
    assert len(rows) == limit
    opens = [_time(r["open_time"]) for r in rows]
    assert all(b - a == timedelta(hours=1) for a, b in zip(opens, opens[1:]))
    now = datetime.now(timezone.utc)
    last_close = _time(rows[-1]["close_time"])
    assert last_close < now                                   # closed=true: no forming candle
    assert now - last_close < timedelta(hours=2)    # ... but a recent one (data are cached)
    assert body["summary"]["last_close"] == rows[-1]["close"]


def test_technical_every_row_has_every_indicator(module_client, strict_json):
    rows = _get(module_client, strict_json, "/api/v1/analysis/technical/BTCUSDT")["rows"]
    assert len(rows) == 200
    missing = [(r["open_time"], c) for r in rows for c in INDICATORS if r[c] is None]
    assert not missing, missing[:5]


def test_technical_1000_candles_page_upstream_and_keep_indicators(module_client, strict_json):
    rows = _get(module_client, strict_json,
                "/api/v1/analysis/technical/BTCUSDT?limit=1000")["rows"]
    assert len(rows) == 1000
    opens = [_time(r["open_time"]) for r in rows]
    assert len(set(opens)) == 1000
    assert all(b - a == timedelta(hours=1) for a, b in zip(opens, opens[1:]))
    assert all(r[c] is not None for r in rows for c in INDICATORS)


def test_technical_sma_and_bollinger_recomputed_from_the_rows(module_client, strict_json):
    rows = _get(module_client, strict_json,
                "/api/v1/analysis/technical/ETHUSDT?limit=300")["rows"]
    close = np.array([r["close"] for r in rows])
    for i in range(49, len(rows)):
        w20, w50 = close[i - 19:i + 1], close[i - 49:i + 1]
        mid, sd = w20.mean(), w20.std(ddof=0)
        row = rows[i]
        assert row["sma_20"] == pytest.approx(mid, rel=1e-12)
        assert row["sma_50"] == pytest.approx(w50.mean(), rel=1e-12)
        assert row["bb_middle"] == pytest.approx(mid, rel=1e-12)
        assert row["bb_upper"] == pytest.approx(mid + 2 * sd, rel=1e-12)
        assert row["bb_lower"] == pytest.approx(mid - 2 * sd, rel=1e-12)
        assert row["bb_percent_b"] == pytest.approx((close[i] - (mid - 2 * sd)) / (4 * sd),
                                                    rel=1e-9, abs=1e-12)
        assert row["bb_bandwidth"] == pytest.approx(4 * sd / mid, rel=1e-9)


def test_technical_ema_rsi_macd_agree_with_talib_after_warmup(module_client, strict_json):
    talib = pytest.importorskip("talib")
    rows = _get(module_client, strict_json,
                "/api/v1/analysis/technical/BTCUSDT?limit=1000")["rows"]
    close = np.array([r["close"] for r in rows], dtype="float64")
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    refs = {"ema_12": talib.EMA(close, 12), "ema_26": talib.EMA(close, 26),
            "rsi_14": talib.RSI(close, 14), "macd": macd, "macd_signal": signal,
            "macd_hist": hist}
    # TA-Lib starts its recursions at the first returned row, the service 200 candles
    # earlier; after 300 more rows the seeds are forgotten (0.86^300, (13/14)^300 ~ 1e-10).
    scale = close.mean()
    for name, ref in refs.items():
        got = np.array([r[name] for r in rows], dtype="float64")
        tol = 1e-8 if name == "rsi_14" else 1e-9 * scale
        np.testing.assert_allclose(got[300:], ref[300:], rtol=1e-8, atol=tol, err_msg=name)


def test_technical_summary_is_the_last_row_and_signals_follow_the_rules(module_client,
                                                                         strict_json):
    body = _get(module_client, strict_json, "/api/v1/analysis/technical/SOLUSDT?limit=60")
    last, prev = body["rows"][-1], body["rows"][-2]
    summary = body["summary"]
    assert summary["last_close"] == last["close"]
    assert summary["last"] == {c: last[c] for c in INDICATORS}
    rsi = last["rsi_14"]
    expected = {
        "rsi": "overbought" if rsi > 70 else "oversold" if rsi < 30 else "neutral",
        "bollinger": ("above_upper" if last["close"] > last["bb_upper"] else
                      "below_lower" if last["close"] < last["bb_lower"] else "inside"),
        "trend": "up" if last["sma_20"] > last["sma_50"] else "down",
    }
    for key, value in expected.items():
        assert summary["signals"][key] == value, key
    hist, prev_hist = last["macd_hist"], prev["macd_hist"]
    macd = "bullish" if hist > 0 else "bearish"
    if (hist > 0) != (prev_hist > 0):
        macd += "_cross"
    assert summary["signals"]["macd"] == macd


def _window():
    """A 50-hour window ten days ago, ending half-way through an hour."""
    end = (datetime.now(timezone.utc) - timedelta(days=10)).replace(minute=30, second=0,
                                                                    microsecond=0)
    return end - timedelta(hours=50), end


def test_technical_start_and_end_bound_the_rows(module_client, strict_json):
    start, end = _window()
    body = _get(module_client, strict_json, "/api/v1/analysis/technical/BTCUSDT",
                query_string={"start": _iso(start), "end": _iso(end)})
    rows = body["rows"]
    assert body["params"]["start"] == _iso(start) and body["params"]["end"] == _iso(end)
    first_open = start.replace(minute=0) + timedelta(hours=1)   # first candle opening >= start
    last_open = end.replace(minute=0) - timedelta(hours=1)      # last candle closed by end
    assert _time(rows[0]["open_time"]) == first_open
    assert _time(rows[-1]["open_time"]) == last_open
    assert _time(rows[-1]["close_time"]) < end
    assert len(rows) == 49
    assert all(r[c] is not None for r in rows for c in INDICATORS)


def test_technical_limit_keeps_the_last_candles_of_the_window(module_client, strict_json):
    start, end = _window()
    full = _get(module_client, strict_json, "/api/v1/analysis/technical/BTCUSDT",
                query_string={"start": _iso(start), "end": _iso(end)})["rows"]
    capped = _get(module_client, strict_json, "/api/v1/analysis/technical/BTCUSDT",
                  query_string={"start": _iso(start), "end": _iso(end), "limit": "10"})["rows"]
    assert len(capped) == 10
    assert capped == full[-10:]


def test_technical_indicators_of_a_candle_do_not_depend_on_limit(module_client, strict_json):
    """Indicators are computed over everything fetched (docs/api.md), so ?limit= only decides how
    many rows are shown, never their values (a regression test: they once were computed over
    limit+200 candles, and the MACD signal moved ~1e-4 with limit)."""
    url = "/api/v1/analysis/technical/BTCUSDT"
    few = _get(module_client, strict_json, url + "?limit=10")["rows"]
    many = _get(module_client, strict_json, url + "?limit=200")["rows"][-10:]
    assert [r["open_time"] for r in few] == [r["open_time"] for r in many]
    assert few == many


def test_technical_epoch_milliseconds_mean_the_same_window(module_client, strict_json):
    start, end = _window()
    iso = _get(module_client, strict_json, "/api/v1/analysis/technical/BTCUSDT",
               query_string={"start": _iso(start), "end": _iso(end)})
    ms = _get(module_client, strict_json, "/api/v1/analysis/technical/BTCUSDT",
              query_string={"start": str(int(start.timestamp() * 1000)),
                            "end": str(int(end.timestamp() * 1000))})
    assert ms["params"]["start"] == _iso(start) and ms["params"]["end"] == _iso(end)
    assert ms["rows"] == iso["rows"]


def test_technical_young_symbol_returns_what_exists_and_says_so(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/analysis/technical/NEWUSDT?interval=1d")
    rows = body["rows"]
    assert 0 < len(rows) < 200
    assert any(f"{len(rows)} of the 200" in w for w in body["warnings"]), body["warnings"]
    # Undefined indicators during warm-up are null, never NaN (strict_json would have failed).
    assert all(r["sma_50"] is None for r in rows[:49])


# -- correlation ------------------------------------------------------------------------------
CORR_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]
CORR_URL = "/api/v1/analysis/correlation?symbols=" + ",".join(CORR_SYMBOLS) + "&limit=60"


def test_correlation_matrix_is_symmetric_with_unit_diagonal(module_client, strict_json):
    body = _get(module_client, strict_json, CORR_URL)
    assert [r["symbol"] for r in body["rows"]] == CORR_SYMBOLS
    m = np.array([[r[s] for s in CORR_SYMBOLS] for r in body["rows"]])
    np.testing.assert_array_equal(m, m.T)
    np.testing.assert_array_equal(np.diag(m), np.ones(len(CORR_SYMBOLS)))
    assert np.all(np.abs(m) <= 1.0)


def test_correlation_assets_table_with_benchmark_beta_one(module_client, strict_json):
    body = _get(module_client, strict_json, CORR_URL + "&benchmark=ETHUSDT")
    assets = body["tables"]["assets"]
    assert assets["columns"] == ASSET_COLUMNS
    assert [r["symbol"] for r in assets["rows"]] == CORR_SYMBOLS
    by_symbol = {r["symbol"]: r for r in assets["rows"]}
    assert by_symbol["ETHUSDT"]["beta"] == 1.0
    assert body["params"]["benchmark"] == "ETHUSDT"
    for row in assets["rows"]:
        assert row["max_drawdown"] <= 0
        assert row["annualized_volatility"] > 0
        assert row["sharpe"] == pytest.approx(row["annualized_return"]
                                              / row["annualized_volatility"], rel=1e-12)


def test_correlation_default_benchmark_is_the_first_symbol(module_client, strict_json):
    body = _get(module_client, strict_json, CORR_URL)
    assert body["params"]["benchmark"] == CORR_SYMBOLS[0]
    assert body["tables"]["assets"]["rows"][0]["beta"] == 1.0


def test_correlation_numbers_recomputed_from_the_technical_closes(module_client, strict_json):
    """The same daily candles read through the technical resource, analysed with numpy."""
    body = _get(module_client, strict_json, CORR_URL + "&benchmark=SOLUSDT")
    closes = []
    for symbol in CORR_SYMBOLS:
        rows = _get(module_client, strict_json,
                    f"/api/v1/analysis/technical/{symbol}?interval=1d&limit=61")["rows"]
        closes.append([r["close"] for r in rows])
    closes = np.array(closes).T                                  # (61 days, 4 symbols)
    rets = np.diff(np.log(closes), axis=0)
    assert body["summary"]["observations"] == 60 == len(rets)

    matrix = np.array([[r[s] for s in CORR_SYMBOLS] for r in body["rows"]])
    np.testing.assert_allclose(matrix, np.corrcoef(rets, rowvar=False), rtol=1e-10, atol=1e-12)

    cov = np.cov(rets, rowvar=False, ddof=1)
    vol = np.sqrt(np.diag(cov)) * math.sqrt(365)
    ret = rets.mean(axis=0) * 365
    peak = np.maximum.accumulate(closes, axis=0)
    drawdown = (closes / peak - 1).min(axis=0)
    b = CORR_SYMBOLS.index("SOLUSDT")
    beta = cov[:, b] / cov[b, b]
    assets = body["tables"]["assets"]["rows"]
    for i, row in enumerate(assets):
        assert row["annualized_return"] == pytest.approx(ret[i], rel=1e-10)
        assert row["annualized_volatility"] == pytest.approx(vol[i], rel=1e-10)
        assert row["max_drawdown"] == pytest.approx(drawdown[i], rel=1e-10, abs=1e-15)
        assert row["beta"] == pytest.approx(beta[i], rel=1e-10)

    w = np.full(len(CORR_SYMBOLS), 1 / len(CORR_SYMBOLS))
    pvol = math.sqrt(w @ cov @ w * 365)
    off = matrix[np.triu_indices(len(CORR_SYMBOLS), k=1)]
    summary = body["summary"]
    assert summary["portfolio_volatility"] == pytest.approx(pvol, rel=1e-10)
    assert summary["diversification_ratio"] == pytest.approx(w @ vol / pvol, rel=1e-10)
    assert summary["mean_correlation"] == pytest.approx(off.mean(), rel=1e-10)
    assert summary["most_correlated"]["correlation"] == pytest.approx(off.max(), rel=1e-12)
    assert summary["least_correlated"]["correlation"] == pytest.approx(off.min(), rel=1e-12)
    for key in ("most_correlated", "least_correlated"):
        a, c = summary[key]["pair"]
        assert matrix[CORR_SYMBOLS.index(a), CORR_SYMBOLS.index(c)] == \
            summary[key]["correlation"]


def test_correlation_start_and_end_bound_the_returns(module_client, strict_json):
    start, end = _window()
    body = _get(module_client, strict_json, "/api/v1/analysis/correlation",
                query_string={"symbols": "BTCUSDT,ETHUSDT", "interval": "1h",
                              "start": _iso(start), "end": _iso(end)})
    # 49 whole hourly candles lie in the window, so 48 returns.
    assert body["summary"]["observations"] == 48
    assert body["params"]["start"] == _iso(start) and body["params"]["end"] == _iso(end)


# -- liquidity --------------------------------------------------------------------------------
LIQ_NOTIONALS = [1000.0, 250000.0, 1e9]


@pytest.fixture(scope="module")
def liquidity(module_client):
    import json as _json
    resp = module_client.get("/api/v1/market/liquidity/BTCUSDT", query_string={
        "depth": "50", "notional": ",".join(f"{n:g}" for n in LIQ_NOTIONALS)})
    assert resp.status_code == 200, resp.data[:300]
    return _json.loads(resp.data, parse_constant=lambda c: pytest.fail(f"{c} in body"))


def _sides(body):
    bids = [r for r in body["rows"] if r["side"] == "bid"]
    asks = [r for r in body["rows"] if r["side"] == "ask"]
    return bids, asks


def test_liquidity_levels_best_first_on_each_side(liquidity):
    bids, asks = _sides(liquidity)
    assert len(bids) == len(asks) == 50
    assert len(bids) + len(asks) == len(liquidity["rows"])
    bid_prices, ask_prices = [r["price"] for r in bids], [r["price"] for r in asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)


def test_liquidity_spread_recomputed_from_the_rows(liquidity):
    bids, asks = _sides(liquidity)
    best_bid, best_ask = bids[0]["price"], asks[0]["price"]
    mid = (best_bid + best_ask) / 2
    s = liquidity["summary"]
    assert s["best_bid"] == best_bid and s["best_ask"] == best_ask
    assert s["spread"] > 0
    assert s["spread"] == pytest.approx(best_ask - best_bid, rel=1e-9)
    assert s["mid"] == pytest.approx(mid, rel=1e-15)
    assert s["spread_bps"] == pytest.approx((best_ask - best_bid) / mid * 1e4, rel=1e-9)


def test_liquidity_row_figures_are_cumulative_per_side(liquidity):
    mid = liquidity["summary"]["mid"]
    for side in _sides(liquidity):
        cum_q = cum_n = 0.0
        for row in side:
            assert row["notional"] == pytest.approx(row["price"] * row["quantity"], rel=1e-12)
            cum_q += row["quantity"]
            cum_n += row["notional"]
            assert row["cum_quantity"] == pytest.approx(cum_q, rel=1e-9)
            assert row["cum_notional"] == pytest.approx(cum_n, rel=1e-9)
            assert row["distance_bps"] == pytest.approx((row["price"] - mid) / mid * 1e4,
                                                        rel=1e-9, abs=1e-9)


def test_liquidity_bands_recomputed_from_the_rows(liquidity):
    bids, asks = _sides(liquidity)
    bands = liquidity["summary"]["bands"]
    assert [b["bps"] for b in bands] == [10, 50, 100, 200]
    for band in bands:
        bid = sum(r["notional"] for r in bids if abs(r["distance_bps"]) <= band["bps"])
        ask = sum(r["notional"] for r in asks if abs(r["distance_bps"]) <= band["bps"])
        assert band["bid_notional"] == pytest.approx(bid, rel=1e-9)
        assert band["ask_notional"] == pytest.approx(ask, rel=1e-9)
        assert band["imbalance"] == pytest.approx((bid - ask) / (bid + ask), rel=1e-9,
                                                  abs=1e-12)
        assert -1 <= band["imbalance"] <= 1


def _walk(levels, target):
    """Spend `target` quote currency down a side; (spent, base received)."""
    spent = base = 0.0
    for row in levels:
        take = min(row["notional"], target - spent)
        if take <= 0:
            break
        spent += take
        base += take / row["price"]
    return spent, base


def test_liquidity_slippage_per_notional_and_side_walks_the_book(liquidity):
    bids, asks = _sides(liquidity)
    mid = liquidity["summary"]["mid"]
    slippage = liquidity["summary"]["slippage"]
    assert {(s["notional"], s["side"]) for s in slippage} == \
        {(n, side) for n in LIQ_NOTIONALS for side in ("buy", "sell")}
    assert len(slippage) == 2 * len(LIQ_NOTIONALS)
    for s in slippage:
        spent, base = _walk(asks if s["side"] == "buy" else bids, s["notional"])
        avg = spent / base
        assert s["filled"] is (spent >= s["notional"] * (1 - 1e-12)), s
        assert s["avg_price"] == pytest.approx(avg, rel=1e-9)
        assert s["impact_bps"] == pytest.approx(abs(avg - mid) / mid * 1e4, rel=1e-6,
                                                abs=1e-9)
        if s["side"] == "buy":
            assert s["avg_price"] >= asks[0]["price"]
        else:
            assert s["avg_price"] <= bids[0]["price"]


def test_liquidity_a_book_too_thin_is_not_filled_and_warned(liquidity):
    unfilled = [s for s in liquidity["summary"]["slippage"] if not s["filled"]]
    assert {(s["notional"], s["side"]) for s in unfilled} == {(1e9, "buy"), (1e9, "sell")}
    assert any("thin" in w or "fill" in w for w in liquidity["warnings"]), liquidity["warnings"]


# -- statistics -------------------------------------------------------------------------------
def test_statistics_one_row_per_symbol_in_the_order_asked(module_client, strict_json):
    asked = ["SOLUSDT", "btcusdt", "ETHUSDT", "DogeUsdt"]
    body = _get(module_client, strict_json,
                "/api/v1/market/statistics?symbols=" + ",".join(asked))
    assert [r["symbol"] for r in body["rows"]] == [s.upper() for s in asked]


def test_statistics_default_is_the_watchlist(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/market/statistics")
    assert [r["symbol"] for r in body["rows"]] == WATCHLIST
    assert body["params"]["symbols"] == WATCHLIST


def test_statistics_row_figures_recomputed(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/market/statistics")
    for r in body["rows"]:
        assert r["low"] <= r["last_price"] <= r["high"]
        assert r["range_pct"] == pytest.approx((r["high"] - r["low"]) / r["low"] * 100,
                                               rel=1e-9)
        assert r["close_position"] == pytest.approx(
            (r["last_price"] - r["low"]) / (r["high"] - r["low"]), rel=1e-9, abs=1e-12)
        assert 0 <= r["close_position"] <= 1
        pct = r["price_change_pct"]
        assert r["sentiment"] == ("bullish" if pct >= 2 else "bearish" if pct <= -2
                                  else "neutral")
        assert r["price_change"] == pytest.approx(r["last_price"] - r["open_price"],
                                                  rel=1e-6, abs=1e-8)
        assert isinstance(r["trades"], int)


def test_statistics_summary_recomputed(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/market/statistics")
    rows, s = body["rows"], body["summary"]
    pct = np.array([r["price_change_pct"] for r in rows])
    qv = np.array([r["quote_volume"] for r in rows])
    adv, dec = int((pct > 0).sum()), int((pct < 0).sum())
    assert (s["advancers"], s["decliners"], s["unchanged"]) == (adv, dec, len(rows) - adv - dec)
    assert s["breadth"] == pytest.approx((adv - dec) / len(rows))
    assert s["mean_change_pct"] == pytest.approx(pct.mean(), rel=1e-3, abs=1e-4)
    weighted = float((pct * qv).sum() / qv.sum())
    assert s["weighted_change_pct"] == pytest.approx(weighted, rel=1e-6, abs=1e-9)
    assert s["top_gainer"] == rows[int(pct.argmax())]["symbol"]
    assert s["top_loser"] == rows[int(pct.argmin())]["symbol"]
    assert s["sentiment"] == ("bullish" if weighted >= 2 else "bearish" if weighted <= -2
                              else "neutral")


def test_statistics_of_one_symbol(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/market/statistics?symbols=xrpusdt")
    assert [r["symbol"] for r in body["rows"]] == ["XRPUSDT"]
    assert body["params"]["symbols"] == ["XRPUSDT"]


# -- symbols ----------------------------------------------------------------------------------
def test_symbols_quote_filter(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/symbols?quote=btc")
    rows = body["rows"]
    assert {r["symbol"] for r in rows} == {"ETHBTC", "BNBBTC", "SOLBTC"}
    assert all(r["quote_asset"] == "BTC" for r in rows)
    assert all(r["symbol"] == r["base_asset"] + r["quote_asset"] for r in rows)


def test_symbols_lists_trading_symbols_only_by_default(module_client, strict_json):
    rows = _get(module_client, strict_json, "/api/v1/symbols")["rows"]
    symbols = {r["symbol"] for r in rows}
    assert set(WATCHLIST) <= symbols
    assert "LUNAUSDT" not in symbols            # the demo market's one symbol in BREAK
    assert all(r["status"] == "TRADING" for r in rows)


def test_symbols_quote_matching_nothing_is_an_empty_table(module_client, strict_json):
    body = _get(module_client, strict_json, "/api/v1/symbols?quote=EUR")
    assert body["rows"] == []
    assert body["columns"] == SYMBOLS_COLUMNS
