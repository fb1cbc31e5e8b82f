"""The demo market, reached through the real Spot client (DemoAdapter mounted on its session)
and through create_app({"MARKET_SOURCE": "demo"}): Binance-shaped, deterministic, plausible,
and able to fail on purpose.
"""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests
from binance.error import ClientError
from binance.spot import Spot

from binance_svc import create_app
from binance_svc.errors import (InvalidParameter, UnknownSymbol, UpstreamRateLimited,
                                UpstreamTimeout, UpstreamUnavailable)
from binance_svc.settings import DEFAULT_WATCHLIST
from binance_svc.upstream.client import BinanceClient
from binance_svc.upstream.demo import DemoAdapter, DemoMarket, make_server
from binance_svc.upstream.frames import depth_frames, klines_frame
from binance_svc.upstream.market import DEMO_WARNING

from .conftest import pages_touched

BASE = "https://data-api.binance.vision"
T = 1_764_000_000            # 2025-11-24T16:00:00Z, a fixed "now" for the demo market
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def fixed(t=T):
    return lambda: t


def spot_over(market: DemoMarket, timeout=5) -> Spot:
    """The connector exactly as the service builds it, answering from the demo market."""
    spot = Spot(base_url=BASE, timeout=timeout, show_limit_usage=True)
    spot.session.mount(BASE, DemoAdapter(market))
    return spot


def client_over(market: DemoMarket, timeout=5.0, budget=3000, clock=time.time) -> BinanceClient:
    return BinanceClient(BASE, timeout=timeout, weight_budget=budget,
                         session_adapter=DemoAdapter(market), clock=clock)


@pytest.fixture
def demo():
    return DemoMarket(7, clock=fixed())


@pytest.fixture
def spot(demo):
    return spot_over(demo)


def klines(spot, symbol="BTCUSDT", interval="1h", **kwargs):
    return spot.klines(symbol, interval, **kwargs)["data"]


# -- deterministic -----------------------------------------------------------------------------

def test_the_same_seed_and_clock_give_the_same_market():
    a, b = spot_over(DemoMarket(7, clock=fixed())), spot_over(DemoMarket(7, clock=fixed()))
    assert klines(a, limit=1000) == klines(b, limit=1000)
    assert klines(a, "ETHBTC", "1d") == klines(b, "ETHBTC", "1d")
    assert a.depth("BTCUSDT", limit=500)["data"] == b.depth("BTCUSDT", limit=500)["data"]
    assert a.ticker_24hr(symbol="SOLUSDT")["data"] == b.ticker_24hr(symbol="SOLUSDT")["data"]
    assert a.exchange_info()["data"] == b.exchange_info()["data"]


def test_different_seeds_give_different_prices():
    a, b = spot_over(DemoMarket(7, clock=fixed())), spot_over(DemoMarket(8, clock=fixed()))
    closes_a = [r[4] for r in klines(a, limit=100)]
    closes_b = [r[4] for r in klines(b, limit=100)]
    assert [r[0] for r in klines(a, limit=100)] == [r[0] for r in klines(b, limit=100)]
    assert sum(x != y for x, y in zip(closes_a, closes_b)) > 90


def test_a_closed_candle_is_the_same_whenever_it_is_asked_for():
    """A restart a day later (same seed) serves the same history."""
    now = spot_over(DemoMarket(7, clock=fixed()))
    later = spot_over(DemoMarket(7, clock=fixed(T + 86_400)))
    end = T * 1000 - HOUR_MS                     # the last candle closed at T
    assert klines(now, endTime=end, limit=300) == klines(later, endTime=end, limit=300)


def test_prices_and_volumes_of_a_candle_do_not_depend_on_the_page(spot):
    long_page, short_page = klines(spot, limit=1000)[-100:], klines(spot, limit=100)
    assert [r[:8] for r in long_page] == [r[:8] for r in short_page]


def test_a_page_is_the_tail_of_a_longer_page(spot):
    assert klines(spot, limit=1000)[-100:] == klines(spot, limit=100)


def test_through_the_app_the_demo_seed_fixes_the_history(clean_env):
    frames = []
    for _ in range(2):
        app = create_app({"MARKET_SOURCE": "demo", "DEMO_SEED": "11"})
        frame, _ = app.extensions["binance_svc"].market.klines("ETHUSDT", "1d", 50)
        frames.append(frame)
    pd.testing.assert_frame_equal(frames[0], frames[1])


def test_closed_candles_do_not_change_while_the_current_one_forms():
    at = spot_over(DemoMarket(7, clock=fixed(T + 3600)))
    later = spot_over(DemoMarket(7, clock=fixed(T + 7200)))
    assert klines(at, interval="1d", limit=50)[:-1] == klines(later, interval="1d", limit=50)[:-1]


# -- plausible prices --------------------------------------------------------------------------

def daily_log_returns(spot, symbol, days=500):
    frame = klines_frame(klines(spot, symbol, "1d", limit=days + 1))
    assert len(frame) == days + 1
    return np.diff(np.log(frame["close"].to_numpy()))


def test_btc_and_eth_move_together(spot):
    btc = daily_log_returns(spot, "BTCUSDT")
    eth = daily_log_returns(spot, "ETHUSDT")
    assert np.corrcoef(btc, eth)[0, 1] > 0.5


def test_daily_volatility_is_crypto_like(spot):
    vol = daily_log_returns(spot, "BTCUSDT").std(ddof=1)
    assert 0.005 < vol < 0.08


def test_a_cross_pair_is_the_ratio_of_its_legs(spot):
    eth = klines_frame(klines(spot, "ETHUSDT", "1d", limit=30))["close"]
    btc = klines_frame(klines(spot, "BTCUSDT", "1d", limit=30))["close"]
    cross = klines_frame(klines(spot, "ETHBTC", "1d", limit=30))["close"]
    np.testing.assert_allclose(cross, eth / btc, rtol=1e-3)


def test_candles_are_well_formed(spot):
    # Closed candles (at T a 15m candle has only just opened, with no trades yet).
    frame = klines_frame(klines(spot, "SOLUSDT", "15m", limit=1000)).iloc[:-1]
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["volume"] > 0).all() and (frame["trades"] > 0).all()
    assert (frame["taker_buy_base"] <= frame["volume"]).all()
    vwap = frame["quote_volume"] / frame["volume"]
    assert ((vwap >= frame["low"] * 0.999) & (vwap <= frame["high"] * 1.001)).all()


# -- the book ----------------------------------------------------------------------------------

def test_the_book_is_plausible(spot):
    raw = spot.depth("BTCUSDT", limit=500)["data"]
    bids, asks = depth_frames(raw)
    assert len(bids) >= 300 and len(asks) >= 300            # several hundred levels a side
    assert bids["price"].is_monotonic_decreasing and bids["price"].is_unique
    assert asks["price"].is_monotonic_increasing and asks["price"].is_unique
    best_bid, best_ask = bids["price"].iloc[0], asks["price"].iloc[0]
    assert best_bid < best_ask
    assert round((best_ask - best_bid) / 0.01) <= 5          # BTCUSDT's tick is 0.01
    assert (bids["quantity"] > 0).all() and (asks["quantity"] > 0).all()
    last_close = float(klines(spot, limit=1)[-1][4])
    assert abs((best_bid + best_ask) / 2 / last_close - 1) < 0.01
    # Binance's raw form: prices and quantities as strings.
    assert all(isinstance(x, str) for level in raw["bids"][:5] for x in level)


def test_the_book_is_the_same_whatever_the_limit(spot):
    small = spot.depth("ETHUSDT", limit=100)["data"]
    large = spot.depth("ETHUSDT", limit=1000)["data"]
    assert [p for p, _ in large["bids"][:100]] == [p for p, _ in small["bids"]]
    assert len(large["asks"]) == 1000


# -- errors Binance would give -----------------------------------------------------------------

def test_an_unknown_symbol_is_binance_minus_1121(spot, demo):
    with pytest.raises(ClientError) as info:
        spot.klines("NOPEUSDT", "1h")
    assert (info.value.status_code, info.value.error_code) == (400, -1121)
    with pytest.raises(UnknownSymbol):
        client_over(demo).call("depth", 5, symbol_param=True, symbol="NOPEUSDT", limit=5)


@pytest.mark.parametrize("kwargs, code", [({"interval": "7x"}, -1120), ({"limit": 1001}, -1130),
                                          ({"limit": 0}, -1130)])
def test_bad_klines_parameters_are_binance_errors(demo, kwargs, code):
    args = {"symbol": "BTCUSDT", "interval": "1h", **kwargs}
    with pytest.raises(ClientError) as info:
        spot_over(demo).klines(**args)
    assert info.value.error_code == code
    with pytest.raises(InvalidParameter):
        client_over(demo).call("klines", 2, symbol_param=True, **args)


def test_the_listing_has_the_watchlist_and_a_halted_symbol(spot):
    symbols = {s["symbol"]: s for s in spot.exchange_info()["data"]["symbols"]}
    assert set(DEFAULT_WATCHLIST) <= set(symbols)
    assert symbols["LUNAUSDT"]["status"] == "BREAK"
    assert symbols["ETHBTC"]["quoteAsset"] == "BTC"


# -- klines paging semantics (as Binance) ------------------------------------------------------

def test_without_times_the_newest_candles_end_with_the_one_forming(spot):
    rows = klines(spot)
    assert len(rows) == 500                                  # Binance's default limit
    forming = T * 1000 // HOUR_MS * HOUR_MS
    assert rows[-1][0] == forming and rows[-1][6] == forming + HOUR_MS - 1
    assert all(b[0] - a[0] == HOUR_MS for a, b in zip(rows, rows[1:]))
    assert all(r[6] == r[0] + HOUR_MS - 1 for r in rows)


def test_end_time_selects_candles_opening_at_or_before_it(spot):
    end = T * 1000 - 10 * HOUR_MS + 1234                     # inside a candle
    rows = klines(spot, endTime=end, limit=20)
    assert len(rows) == 20
    assert rows[-1][0] == end // HOUR_MS * HOUR_MS
    assert klines(spot, endTime=rows[0][0] - 1, limit=1)[0][0] == rows[0][0] - HOUR_MS


def test_start_time_selects_candles_opening_at_or_after_it(spot):
    start = T * 1000 - 100 * HOUR_MS
    rows = klines(spot, startTime=start, limit=10)
    assert [r[0] for r in rows] == [start + i * HOUR_MS for i in range(10)]
    mid = klines(spot, startTime=start + 1, limit=1)
    assert mid[0][0] == start + HOUR_MS


def test_start_and_end_time_bound_the_window(spot):
    start = T * 1000 - 100 * HOUR_MS
    rows = klines(spot, startTime=start, endTime=start + 5 * HOUR_MS, limit=1000)
    assert [r[0] for r in rows] == [start + i * HOUR_MS for i in range(6)]


def test_nothing_before_the_listing(spot, demo):
    listed_ms = demo.listed_s("SOLUSDT") * 1000
    assert klines(spot, "SOLUSDT", "1d", endTime=listed_ms - 1) == []
    rows = klines(spot, "SOLUSDT", "1d", startTime=0, limit=3)
    assert rows[0][0] == -(-listed_ms // DAY_MS) * DAY_MS


def test_a_young_coin_has_about_a_month_of_history(spot, demo):
    rows = klines(spot, "NEWUSDT", "1h", limit=1000)
    assert rows[0][0] == demo.young_listed * 1000
    assert 700 <= len(rows) <= 24 * 31 + 1


def test_every_response_reports_the_weight_used_this_minute(spot):
    a = spot.klines("BTCUSDT", "1h", limit=1)
    b = spot.exchange_info()
    c = spot.depth("BTCUSDT", limit=500)
    d = spot.ticker_24hr(symbols=["BTCUSDT", "ETHUSDT"])
    assert [x["limit_usage"]["x-mbx-used-weight-1m"] for x in (a, b, c, d)] == [
        "2", "22", "47", "49"]


def test_the_client_reads_the_demo_weight_header(demo):
    demo.counters.weight_used, demo.counters.weight_minute = 2990, T // 60
    client = client_over(demo, budget=3000, clock=fixed())
    client.call("klines", 2, symbol_param=True, symbol="BTCUSDT", interval="1h", limit=1)
    assert client.state.weight_used == 2992
    with pytest.raises(UpstreamRateLimited):
        client.call("exchange_info", 20)


# -- fault injection ---------------------------------------------------------------------------

def call_klines(client):
    return client.call("klines", 2, symbol_param=True, symbol="BTCUSDT", interval="1h", limit=5)


@pytest.mark.parametrize("status", [429, 418])
def test_an_injected_rate_limit_stops_the_client_for_retry_after(demo, status):
    client = client_over(demo)
    demo.inject(kind="status", status=status, retry_after=7)
    with pytest.raises(UpstreamRateLimited) as info:
        call_klines(client)
    assert info.value.retry_after == 7
    with pytest.raises(UpstreamRateLimited):
        call_klines(client)
    assert demo.counters.requests == {"/api/v3/klines": 1}     # the second never left


@pytest.mark.parametrize("status, http_status", [(500, 502), (502, 502), (503, 502),
                                                 (403, 503), (451, 503)])
def test_an_injected_server_failure_is_upstream_unavailable(demo, status, http_status):
    client = client_over(demo)
    demo.inject(kind="status", status=status)
    with pytest.raises(UpstreamUnavailable) as info:
        call_klines(client)
    assert info.value.status == http_status
    assert len(call_klines(client)) == 5                       # count=1: the next one is fine


def test_an_answer_slower_than_the_timeout_is_an_upstream_timeout(demo):
    client = client_over(demo, timeout=0.2)
    demo.inject(kind="delay", delay=3.0)
    t0 = time.monotonic()
    with pytest.raises(UpstreamTimeout) as info:
        call_klines(client)
    assert time.monotonic() - t0 < 2
    assert info.value.status == 504


def test_an_answer_slower_but_within_the_timeout_arrives(demo):
    client = client_over(demo, timeout=2)
    demo.inject(kind="delay", delay=0.1)
    assert len(call_klines(client)) == 5


def test_a_reset_connection_is_upstream_unavailable(demo):
    demo.inject(kind="reset")
    with pytest.raises(UpstreamUnavailable) as info:
        call_klines(client_over(demo))
    assert info.value.status == 503


@pytest.fixture
def app(clean_env):
    return create_app({"MARKET_SOURCE": "demo"})


@pytest.fixture
def services(app):
    return app.extensions["binance_svc"]


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
@pytest.mark.parametrize("what", ["klines", "depth", "tickers", "symbols"])
def test_unreadable_bodies_are_a_502_for_every_resource(services, kind, what):
    services.demo.inject(kind=kind, count=-1)
    call = {"klines": lambda m: m.klines("BTCUSDT", "1h", 10),
            "depth": lambda m: m.depth("BTCUSDT", 100),
            "tickers": lambda m: m.tickers(["BTCUSDT", "ETHUSDT"]),
            "symbols": lambda m: m.symbols()}[what]
    with pytest.raises(UpstreamUnavailable) as info:
        call(services.market)
    assert info.value.status == 502


@pytest.mark.parametrize("what", [
    "depth",
    "tickers",
    "symbols"])
def test_empty_bodies_are_a_502_where_binance_never_sends_one(services, what):
    services.demo.inject(kind="empty", count=-1)
    call = {"depth": lambda m: m.depth("BTCUSDT", 100),
            "tickers": lambda m: m.tickers(["BTCUSDT", "ETHUSDT"]),
            "symbols": lambda m: m.symbols()}[what]
    with pytest.raises(UpstreamUnavailable) as info:
        call(services.market)
    assert info.value.status == 502


def test_an_empty_klines_list_for_the_live_window_is_an_upstream_fault(app, services):
    # A listed symbol always has a current candle: [] is a broken answer, not "no data" (taken
    # as data it would be cached and replace a good copy).
    services.demo.inject(kind="empty", path="/api/v3/klines")
    with pytest.raises(UpstreamUnavailable) as info:
        services.market.klines("BTCUSDT", "1h", 10)
    assert info.value.status == 502
    # What a user sees: the error document, not an empty table.
    services.demo.inject(kind="empty", path="/api/v3/klines")
    resp = app.test_client().get("/api/v1/analysis/technical/ETHUSDT?format=json")
    assert resp.status_code == 502
    assert resp.get_json()["error"]["code"] == "upstream_unavailable"


def test_a_fault_can_target_one_endpoint_and_be_cleared(services):
    demo = services.demo
    demo.inject(kind="status", status=500, path="/api/v3/depth", count=-1)
    assert len(services.market.klines("BTCUSDT", "1h", 10)[0]) == 10
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            services.market.depth("BTCUSDT", 100)
    demo.clear_faults()
    bids, asks, _ = services.market.depth("BTCUSDT", 100)
    assert len(bids) == len(asks) == 100


def test_an_injected_429_reaches_the_app_as_rate_limited(services):
    services.demo.inject(kind="status", status=429, retry_after=30)
    with pytest.raises(UpstreamRateLimited) as info:
        services.market.depth("BTCUSDT", 100)
    assert info.value.retry_after == 30 and info.value.status == 503
    before = dict(services.demo.counters.requests)
    with pytest.raises(UpstreamRateLimited):
        services.market.klines("BTCUSDT", "1h", 10)
    assert services.demo.counters.requests == before
    assert 0 < services.client.ban_remaining() <= 30


def test_a_failing_demo_serves_the_cached_copy_as_stale(clean_env):
    app = create_app({"MARKET_SOURCE": "demo", "CACHE_TTL_KLINES": "1h=0"})
    services = app.extensions["binance_svc"]
    # With the forming candle, the window's newest page is the live one (expired at once).
    fresh, _ = services.market.klines("BTCUSDT", "1h", 24, closed=False)
    services.demo.inject(kind="status", status=503)
    stale, prov = services.market.klines("BTCUSDT", "1h", 24, closed=False)
    assert prov.stale is True and prov.source == "demo"
    pd.testing.assert_frame_equal(stale, fresh)


# -- through create_app ------------------------------------------------------------------------

def test_the_app_serves_the_demo_through_the_real_client(services):
    assert isinstance(services.demo, DemoMarket)
    assert isinstance(services.client.spot, Spot)
    assert isinstance(services.client.spot.session.get_adapter(BASE + "/api/v3/klines"),
                      DemoAdapter)
    assert services.client.spot.timeout == 5.0
    pages = pages_touched(100)
    frame, prov = services.market.klines("BTCUSDT", "1h", 100)
    assert len(frame) == 100 and str(frame["open_time"].dtype) == "datetime64[ns, UTC]"
    assert prov.source == "demo" and DEMO_WARNING in prov.warnings
    assert services.demo.counters.requests["/api/v3/klines"] == pages
    assert services.client.state.weight_used >= 2       # the header was read


def test_the_app_lists_and_checks_demo_symbols(services):
    frame, _ = services.market.symbols()
    assert set(DEFAULT_WATCHLIST) <= set(frame["symbol"])
    services.market.require_symbols(list(DEFAULT_WATCHLIST))
    with pytest.raises(UnknownSymbol):
        services.market.require_symbols(["NOPEUSDT"])
    assert "/api/v3/klines" not in services.demo.counters.requests


def test_the_app_demo_tickers_are_one_call(services):
    frame, _ = services.market.tickers(list(DEFAULT_WATCHLIST))
    assert sorted(frame["symbol"]) == sorted(DEFAULT_WATCHLIST)
    assert services.demo.counters.requests == {"/api/v3/ticker/24hr": 1}
    assert (frame["last_price"] > 0).all()


def test_demo_responses_are_binance_json(demo):
    status, headers, body, _ = demo.handle("GET", "/api/v3/klines",
                                           {"symbol": ["BTCUSDT"], "interval": ["1m"],
                                            "limit": ["2"]})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    rows = json.loads(body)
    assert [type(x).__name__ for x in rows[0]] == ["int", "str", "str", "str", "str", "str",
                                                   "int", "str", "int", "str", "str", "str"]


# -- the same market on a loopback port (demo.make_server) -------------------------------------

@pytest.fixture
def loopback():
    market = DemoMarket(7)
    server = make_server(market, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield market, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_loopback_demo_serves_the_app_through_a_real_socket(clean_env, loopback):
    market, url = loopback
    app = create_app({"MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": url, "BINANCE_TIMEOUT": "2"})
    services = app.extensions["binance_svc"]
    assert services.demo is None                        # no adapter: the socket is used
    pages = pages_touched(50)
    frame, prov = services.market.klines("BTCUSDT", "1h", 50)
    assert len(frame) == 50 and prov.source == "demo"
    assert market.counters.requests == {"/api/v3/klines": pages}

    requests.post(url + "/__demo/faults", json={"kind": "status", "status": 429, "retry_after": 9},
            timeout=2)
    with pytest.raises(UpstreamRateLimited) as info:
        services.market.depth("BTCUSDT", 100)
    assert info.value.retry_after == 9
    stats = requests.get(url + "/__demo/stats", timeout=2).json()
    assert stats["requests"] == {"/api/v3/klines": pages, "/api/v3/depth": 1}


@pytest.mark.parametrize("fault, kind, status", [
    ({"kind": "reset"}, UpstreamUnavailable, 503),
    ({"kind": "delay", "delay": 1.0}, UpstreamTimeout, 504),
    ({"kind": "malformed"}, UpstreamUnavailable, 502),
    ({"kind": "status", "status": 502}, UpstreamUnavailable, 502),
], ids=["reset", "delay", "malformed", "502"])
def test_loopback_faults_reach_the_client_as_typed_errors(loopback, fault, kind, status):
    market, url = loopback
    market.inject(**fault)
    client = BinanceClient(url, timeout=0.3, weight_budget=3000)
    with pytest.raises(kind) as info:
        call_klines(client)
    assert info.value.status == status
