"""Market: what the views ask of Binance, as typed frames with provenance, cached and polite.

Binance is mocked with `responses`; the klines endpoint by a callback that honours startTime,
endTime and limit the way Binance does (conftest.klines_upstream).
"""
from __future__ import annotations

import contextvars
import json
import threading
import time
from datetime import datetime, timezone

import pandas as pd
import pytest

from binance_svc.errors import UnknownSymbol, UpstreamRateLimited, UpstreamUnavailable
from binance_svc.settings import ConfigError, Settings
from binance_svc.upstream import stats
from binance_svc.upstream.client import BinanceClient
from binance_svc.upstream.frames import klines_frame
from binance_svc.upstream.market import DEMO_WARNING

BASE = "https://data-api.binance.vision"
KLINES = BASE + "/api/v3/klines"
DEPTH = BASE + "/api/v3/depth"
TICKER = BASE + "/api/v3/ticker/24hr"
EXCHANGE_INFO = BASE + "/api/v3/exchangeInfo"
HOUR_MS = 3_600_000

EXCHANGE = {"timezone": "UTC", "serverTime": 1, "symbols": [
    {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT"},
    {"symbol": "ETHUSDT", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "USDT"},
    {"symbol": "LUNAUSDT", "status": "BREAK", "baseAsset": "LUNA", "quoteAsset": "USDT"}]}


def ticker(symbol, last="100.0"):
    return {"symbol": symbol, "lastPrice": last, "openPrice": "99.0", "highPrice": "101.0",
            "lowPrice": "98.0", "priceChange": "1.0", "priceChangePercent": "1.010",
            "weightedAvgPrice": "100.0", "volume": "10.0", "quoteVolume": "1000.0",
            "count": 7, "openTime": 1634858001452, "closeTime": 1634944401452}


def now_ms() -> int:
    return int(time.time() * 1000)


def klines_requests(http):
    return [c.request for c in http.calls if c.request.path_url.startswith("/api/v3/klines")]


def open_ms(frame: pd.DataFrame) -> list[int]:
    return [int(t.value // 1_000_000) for t in frame["open_time"]]


# -- paging ------------------------------------------------------------------------------------
# Page k of an interval holds the candles opening in [k * 1000 * step, (k + 1) * 1000 * step).

PAGE_MS = 1000 * HOUR_MS


def pages_holding(count: int, *, end_ms: int | None = None, closed: bool = True,
                  step: int = HOUR_MS) -> list[int]:
    """The startTime of each aligned page holding one of the `count` candles of the window, by
    the definition above (closed=True: the newest candle is the last one closed by the end)."""
    until = now_ms() if end_ms is None else end_ms
    newest = (until - step if closed else until) // step * step
    return sorted({o // (1000 * step) * 1000 * step
                   for o in range(newest - (count - 1) * step, newest + 1, step)})


def live_pages(now: int, step: int = HOUR_MS) -> set[int]:
    """The startTime of the pages refetched at the interval's time to live: the current page,
    and for the first step after a page boundary the one before it too (a page settles a step
    after its end: the last candle of a weekly page may close that late)."""
    span = 1000 * step
    current = now // span * span
    return {current, current - span} if now < current + step else {current}


def start_times(requests) -> list[int]:
    return sorted(int(r.params["startTime"]) for r in requests)


def test_1500_candles_come_in_aligned_pages_of_1000(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 5000 * HOUR_MS))
    frame, prov = market.klines("BTCUSDT", "1h", 1500)

    sent = klines_requests(http)
    assert start_times(sent) == pages_holding(1500)
    assert 2 <= len(sent) <= 3                                  # ceil(1500 / 1000) + 1 at most
    for request in sent:
        start = int(request.params["startTime"])
        assert start % PAGE_MS == 0
        assert request.params == {"symbol": "BTCUSDT", "interval": "1h", "limit": "1000",
                                  "startTime": str(start),
                                  "endTime": str(start + PAGE_MS - 1)}

    assert len(frame) == 1500
    opens = open_ms(frame)
    assert opens == sorted(opens) and len(set(opens)) == 1500            # oldest first, unique
    assert all(b - a == HOUR_MS for a, b in zip(opens, opens[1:]))       # no gap at the seams
    assert opens[-1] == now // HOUR_MS * HOUR_MS - HOUR_MS   # the forming candle dropped
    assert prov.source == "binance" and prov.stale is False


def test_a_2500_candle_window_costs_at_most_4_calls_and_a_shorter_one_at_most_1_more(
        http, make_market, klines_upstream, settings):
    # The live page lives 0 s here, so every request refetches it: the bound holds whatever
    # its time to live.
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000),
                         cache_ttl_klines={**settings.cache_ttl_klines, "1h": 0})
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 9000 * HOUR_MS))
    long, _ = market.klines("BTCUSDT", "1h", 2500)
    cold = len(klines_requests(http))
    assert cold <= 4 and start_times(klines_requests(http)) == pages_holding(2500)

    for count in (300, 1000, 2499):
        before = len(klines_requests(http))
        short, _ = market.klines("BTCUSDT", "1h", count)
        added = klines_requests(http)[before:]
        assert len(added) <= len(live_pages(now)), (count, start_times(added))
        assert set(start_times(added)) <= live_pages(now)          # the live page(s) only
        pd.testing.assert_frame_equal(short, long.tail(count).reset_index(drop=True))


def test_2500_candles_touching_4_pages_make_4_calls(http, market, klines_upstream):
    # The window ends 300 h into a page: 299 candles there, 2,201 in the three pages before.
    page_start = datetime(2023, 5, 1, tzinfo=timezone.utc).timestamp() * 1000 // PAGE_MS * PAGE_MS
    end_ms = int(page_start + 300 * HOUR_MS + 1_800_000)
    http.add_callback("GET", KLINES, callback=klines_upstream(now_ms(),
                                                              first_ms=end_ms - 9000 * HOUR_MS))
    frame, _ = market.klines("BTCUSDT", "1h", 2500, end=datetime.fromtimestamp(
        end_ms / 1000, timezone.utc))
    assert start_times(klines_requests(http)) == [int(page_start) - i * PAGE_MS
                                                  for i in (3, 2, 1, 0)]
    assert len(frame) == 2500
    assert open_ms(frame)[-1] == int(page_start) + 299 * HOUR_MS


def test_10000_candles_and_the_warm_up_are_one_frame_from_at_most_12_pages(http, market,
                                                                           klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now,
                                                              first_ms=now - 20_000 * HOUR_MS))
    frame, _ = market.klines("BTCUSDT", "1h", 10_200)
    sent = klines_requests(http)
    # 10,200 candles span 10.2 pages: 11 pages, or 12 when both ends fall inside one.
    assert start_times(sent) == pages_holding(10_200) and 11 <= len(sent) <= 12
    opens = open_ms(frame)
    assert len(frame) == 10_200 and all(b - a == HOUR_MS for a, b in zip(opens, opens[1:]))


def test_every_page_call_is_counted_in_the_request_log(http, market, klines_upstream):
    end = datetime(2023, 6, 30, 12, 30, tzinfo=timezone.utc)
    http.add_callback("GET", KLINES, callback=klines_upstream(
        now_ms(), first_ms=int(end.timestamp() * 1000) - 9000 * HOUR_MS))

    def one_request():
        seen = stats.begin()
        market.klines("BTCUSDT", "1h", 3500, end=end)       # pages fetched concurrently
        return dict(seen)

    pages = len(pages_holding(3500, end_ms=int(end.timestamp() * 1000)))
    assert pages >= 4
    assert contextvars.copy_context().run(one_request) == {
        "upstream_calls": pages, "upstream_weight": 2 * pages, "cache": "miss"}


def test_paging_stops_when_a_young_market_runs_out_of_history(http, make_market,
                                                              klines_upstream, settings):
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000),
                         cache_ttl_klines={**settings.cache_ttl_klines, "1h": 0})
    now = now_ms()
    listed = (now // HOUR_MS - 1199) * HOUR_MS          # 1,200 candles, the last one forming
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=listed))
    frame, _ = market.klines("NEWUSDT", "1h", 2500)
    sent = klines_requests(http)
    assert start_times(sent) == pages_holding(2500) and len(sent) <= 4
    assert len(frame) == 1199                           # every closed candle there is
    assert open_ms(frame)[0] == listed
    # The pages before the listing came back empty and are kept like any settled page: asked
    # again, only the live page (living 0 s here) is fetched.
    again, _ = market.klines("NEWUSDT", "1h", 2500)
    assert set(start_times(klines_requests(http)[len(sent):])) <= live_pages(now)
    pd.testing.assert_frame_equal(again, frame)


def test_a_market_younger_than_one_page_is_all_there(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(
        now, first_ms=(now // HOUR_MS - 299) * HOUR_MS))
    frame, _ = market.klines("NEWUSDT", "1h", 1500)
    assert len(klines_requests(http)) == len(pages_holding(1500))
    assert len(frame) == 299


def test_a_window_ending_in_the_past_uses_only_the_pages_it_needs(http, market,
                                                                  klines_upstream, settings):
    end = datetime(2023, 6, 30, 12, 30, tzinfo=timezone.utc)
    end_ms = int(end.timestamp() * 1000)
    http.add_callback("GET", KLINES, callback=klines_upstream(now_ms(),
                                                              first_ms=end_ms - 3000 * HOUR_MS))
    frame, prov = market.klines("BTCUSDT", "1h", 1200, end=end)
    # 2023-06-30 11:00 is hour 468,923: the window is hours 467,724 to 468,923.
    assert start_times(klines_requests(http)) == [467 * PAGE_MS, 468 * PAGE_MS]
    assert len(frame) == 1200
    # closed=True: the 12:00 candle was still forming at 12:30, so 11:00 is the last one.
    assert frame["open_time"].iloc[-1] == pd.Timestamp("2023-06-30T11:00Z")
    # Its pages had closed long before they were fetched: kept for hours.
    assert (prov.expires_at - prov.fetched_at).total_seconds() == pytest.approx(
        settings.cache_ttl_klines_history)
    assert settings.cache_ttl_klines_history == 21600

    # A shorter window over the same history: no call.
    inner, _ = market.klines("BTCUSDT", "1h", 100, end=datetime(2023, 6, 20, tzinfo=timezone.utc))
    assert len(klines_requests(http)) == 2
    assert inner["open_time"].iloc[-1] == pd.Timestamp("2023-06-19T23:00Z") and len(inner) == 100


def test_settled_pages_outlive_the_interval_ttl_and_expire_after_the_history_ttl(
        http, make_market, klines_upstream, clock):
    clock.now = time.time()
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000), cache_clock=clock)
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 9000 * HOUR_MS))
    market.klines("BTCUSDT", "1h", 2500, closed=False)
    cold = start_times(klines_requests(http))
    live = sorted(live_pages(now))
    assert set(live) <= set(cold) and len(cold) >= 3

    clock.advance(61)                                   # past 1h's 60 s, far from 6 h
    market.klines("BTCUSDT", "1h", 2500, closed=False)
    assert start_times(klines_requests(http)[len(cold):]) == live

    clock.advance(21_600)                               # CACHE_TTL_KLINES_HISTORY
    market.klines("BTCUSDT", "1h", 2500, closed=False)
    assert start_times(klines_requests(http)[len(cold) + len(live):]) == cold


@pytest.mark.parametrize("raw", ["-1", "abc", "604801", "1.5"])
def test_the_history_ttl_is_a_validated_setting(raw):
    assert Settings.load(env={}).cache_ttl_klines_history == 21600
    assert Settings.load(env={"CACHE_TTL_KLINES_HISTORY": "600"}).cache_ttl_klines_history == 600
    with pytest.raises(ConfigError) as info:
        Settings.load(env={"CACHE_TTL_KLINES_HISTORY": raw})
    assert info.value.variable == "CACHE_TTL_KLINES_HISTORY"


def test_the_answer_is_as_of_its_newest_page(http, make_market, klines_upstream, settings,
                                             clock):
    clock.now = time.time()
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000), cache_clock=clock)
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 9000 * HOUR_MS))
    market.klines("BTCUSDT", "1h", 2500, closed=False)
    clock.advance(600)                                  # the live page is refetched, no other
    _, prov = market.klines("BTCUSDT", "1h", 2500, closed=False)
    assert prov.fetched_at.timestamp() == pytest.approx(clock.now)
    assert (prov.expires_at - prov.fetched_at).total_seconds() == pytest.approx(
        settings.cache_ttl_klines["1h"])


def test_a_page_served_stale_makes_the_answer_stale(http, make_market, klines_upstream):
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000),
                         cache_ttl_klines_history=0)
    end = datetime(2023, 6, 30, 12, 30, tzinfo=timezone.utc)
    healthy = klines_upstream(now_ms(), first_ms=int(end.timestamp() * 1000) - 3000 * HOUR_MS)
    failing = {"on": False}

    def callback(request):
        if failing["on"] and request.params["startTime"] == str(467 * PAGE_MS):
            return 500, {}, "Internal Server Error"
        return healthy(request)

    http.add_callback("GET", KLINES, callback=callback)
    fresh, prov = market.klines("BTCUSDT", "1h", 1200, end=end)
    assert prov.stale is False
    failing["on"] = True                                # the older page's refetch fails
    stale, prov = market.klines("BTCUSDT", "1h", 1200, end=end)
    pd.testing.assert_frame_equal(stale, fresh)
    assert prov.stale is True and any("Stale data" in w for w in prov.warnings)


def test_monthly_candles_are_one_call_without_pages(http, market, klines_upstream):
    month = 30 * 24 * HOUR_MS
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 100 * month,
                                                              step_ms=month))
    frame, _ = market.klines("BTCUSDT", "1M", 1500)
    sent = klines_requests(http)
    assert [r.params for r in sent] == [{"symbol": "BTCUSDT", "interval": "1M", "limit": "1000"}]
    assert len(frame) == 99                 # the whole history, less the candle still forming


def test_demo_market_pages_join_into_its_own_history(make_market):
    """The demo market honours startTime: pages of it join into what one call returns."""
    from binance_svc.upstream.demo import DemoAdapter, DemoMarket
    demo = DemoMarket(7)
    client = BinanceClient(BASE, timeout=5, weight_budget=3000, session_adapter=DemoAdapter(demo))
    market = make_market(client, source="demo")
    end = datetime(2025, 3, 1, 7, 30, tzinfo=timezone.utc)
    frame, _ = market.klines("ETHUSDT", "1h", 2500, end=end)
    reference = [klines_frame(demo.klines("ETHUSDT", "1h", 1000,
                                          end_ms=int(end.timestamp() * 1000) - 3600_000 - i * 1000
                                          * HOUR_MS)) for i in (2, 1, 0)]
    whole = pd.concat(reference, ignore_index=True).tail(2500).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, whole)
    assert client.state.calls == len(pages_holding(2500, end_ms=int(end.timestamp() * 1000)))


# -- closed ----------------------------------------------------------------------------------

def test_closed_true_drops_the_candle_still_forming(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 50 * HOUR_MS))
    frame, _ = market.klines("BTCUSDT", "1h", 5, closed=True)
    assert len(frame) == 5
    assert (frame["close_time"] < pd.Timestamp.now(tz="UTC")).all()
    assert open_ms(frame)[-1] == now // HOUR_MS * HOUR_MS - HOUR_MS


def test_closed_false_keeps_the_candle_still_forming(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 50 * HOUR_MS))
    frame, _ = market.klines("BTCUSDT", "1h", 5, closed=False)
    assert len(frame) == 5
    assert frame["close_time"].iloc[-1] > pd.Timestamp.now(tz="UTC")
    assert open_ms(frame)[-1] == now // HOUR_MS * HOUR_MS


def test_klines_frame_types(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 50 * HOUR_MS))
    frame, prov = market.klines("BTCUSDT", "1h", 10)
    assert str(frame["open_time"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["close_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["close"].dtype == "float64" and frame["trades"].dtype == "int64"
    assert prov.fetched_at.tzinfo is not None and prov.expires_at > prov.fetched_at


def test_trim_false_returns_every_candle_of_the_pages_used(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 5000 * HOUR_MS))
    trimmed, _ = market.klines("BTCUSDT", "1h", 10)
    everything, _ = market.klines("BTCUSDT", "1h", 10, trim=False)
    assert len(trimmed) == 10
    # From the first page's start to the last candle closed (the forming one left out).
    first_page = pages_holding(10)[0]
    assert len(everything) == (now // HOUR_MS * HOUR_MS - first_page) // HOUR_MS >= 10
    assert open_ms(everything)[0] == first_page
    pd.testing.assert_frame_equal(everything.tail(10).reset_index(drop=True), trimmed)
    assert len(klines_requests(http)) == len(pages_holding(10))


# -- klines cache ------------------------------------------------------------------------------

def test_analyses_of_one_symbol_and_interval_share_the_cached_pages(http, market,
                                                                    klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 5000 * HOUR_MS))
    b, _ = market.klines("BTCUSDT", "1h", 500)
    a, _ = market.klines("BTCUSDT", "1h", 200)
    c, _ = market.klines("BTCUSDT", "1h", 200, closed=False)
    # The forming candle is on the closed window's newest page, except in a page's first hour.
    assert start_times(klines_requests(http)) == sorted(
        set(pages_holding(500)) | set(pages_holding(200, closed=False)))
    assert (len(a), len(b), len(c)) == (200, 500, 200)
    pd.testing.assert_frame_equal(a, b.tail(200).reset_index(drop=True))


def test_different_intervals_and_symbols_are_different_calls(http, market, klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 50 * HOUR_MS))
    market.klines("BTCUSDT", "1h", 10)
    market.klines("ETHUSDT", "1h", 10)
    market.klines("ETHUSDT", "4h", 2)
    assert sorted({(r.params["symbol"], r.params["interval"]) for r in klines_requests(http)}) \
        == [("BTCUSDT", "1h"), ("ETHUSDT", "1h"), ("ETHUSDT", "4h")]


def test_32_concurrent_requests_for_one_cold_window_make_one_call_per_page(http, market,
                                                                           klines_upstream):
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(
        now, first_ms=now - 5000 * HOUR_MS, sleep=0.2))
    barrier = threading.Barrier(32)
    frames, errors = [None] * 32, []

    def worker(i):
        barrier.wait()
        try:
            frames[i] = market.klines("BTCUSDT", "1h", 300 if i % 2 else 2500)[0]
        except Exception as exc:   # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert start_times(klines_requests(http)) == pages_holding(2500)   # each page once
    for frame in frames[2::2]:
        pd.testing.assert_frame_equal(frame, frames[0])
    assert len(frames[0]) == 2500 and len(frames[1]) == 300
    pd.testing.assert_frame_equal(frames[1], frames[0].tail(300).reset_index(drop=True))


# -- malformed klines --------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    [[1, 2, 3]],                                     # too few fields
    [[1685577600000, "x", "1", "1", "1", "1", 1685581199999, "1", 3, "1", "1", "0"]],
    [[1685577600000, "NaN", "1", "1", "1", "1", 1685581199999, "1", 3, "1", "1", "0"]],
    {"rows": []},                                    # not a list
    ["not a row"],
], ids=["short-row", "text-price", "nan-price", "object", "string-row"])
def test_klines_binance_cannot_have_sent_are_a_502(http, market, body):
    http.add("GET", KLINES, json=body)
    with pytest.raises(UpstreamUnavailable) as info:
        market.klines("BTCUSDT", "1h", 10)
    assert info.value.status == 502


def test_an_empty_klines_answer_for_now_is_a_502(http, market):
    http.add("GET", KLINES, json=[])
    with pytest.raises(UpstreamUnavailable) as info:
        market.klines("BTCUSDT", "1h", 10)
    assert info.value.status == 502


def test_an_empty_klines_answer_for_a_past_window_is_an_empty_frame(http, market):
    # Before the listing there are no candles: that is data, not a fault.
    http.add("GET", KLINES, json=[])
    frame, _ = market.klines("BTCUSDT", "1h", 10,
                             end=datetime(2017, 1, 1, tzinfo=timezone.utc))
    assert frame.empty
    assert list(frame.columns)[:2] == ["open_time", "open"]
    assert str(frame["open_time"].dtype) == "datetime64[ns, UTC]"


# -- symbols -----------------------------------------------------------------------------------

def test_an_unknown_symbol_is_a_404_before_any_other_call(http, market):
    http.add("GET", EXCHANGE_INFO, json=EXCHANGE)
    with pytest.raises(UnknownSymbol) as info:
        market.require_symbols(["BTCUSDT", "NOPEUSDT"])
    err = info.value
    assert err.status == 404 and err.param == "symbol" and "NOPEUSDT" in err.message
    assert [c.request.path_url for c in http.calls] == ["/api/v3/exchangeInfo"]


def test_known_symbols_pass_and_exchange_info_is_cached(http, market):
    http.add("GET", EXCHANGE_INFO, json=EXCHANGE)
    market.require_symbols(["BTCUSDT"])
    market.require_symbols(["ETHUSDT", "BTCUSDT"])
    frame, _ = market.symbols()
    assert len(http.calls) == 1
    assert list(frame["symbol"]) == ["BTCUSDT", "ETHUSDT", "LUNAUSDT"]


def test_exchange_info_is_cached_for_an_hour_by_default(http, settings, market):
    http.add("GET", EXCHANGE_INFO, json=EXCHANGE)
    _, prov = market.symbols()
    assert settings.cache_ttl_exchange_info == 3600
    assert (prov.expires_at - prov.fetched_at).total_seconds() == pytest.approx(3600)


def test_when_exchange_info_fails_binance_own_minus_1121_still_gives_404(http, market):
    http.add("GET", EXCHANGE_INFO, status=503, body="down")
    http.add("GET", KLINES, status=400, json={"code": -1121, "msg": "Invalid symbol."})
    market.require_symbols(["NOPEUSDT"])         # cannot check now: let the call decide
    with pytest.raises(UnknownSymbol):
        market.klines("NOPEUSDT", "1h", 10)


# -- tickers and depth ----------------------------------------------------------------------

def test_tickers_of_many_symbols_are_one_call_whatever_their_order(http, market):
    http.add("GET", TICKER, json=[ticker("BTCUSDT"), ticker("ETHUSDT")])
    frame, _ = market.tickers(["ETHUSDT", "BTCUSDT"])
    market.tickers(["BTCUSDT", "ETHUSDT"])
    assert len(http.calls) == 1
    assert http.calls[0].request.params == {"symbols": '["BTCUSDT","ETHUSDT"]'}
    assert list(frame["symbol"]) == ["BTCUSDT", "ETHUSDT"]
    assert frame["last_price"].dtype == "float64"


def test_depth_sends_the_limit_and_orders_each_side_best_first(http, market):
    http.add("GET", DEPTH, json={"lastUpdateId": 1,
                                 "bids": [["99.0", "1"], ["100.0", "2"], ["98.5", "3"]],
                                 "asks": [["101.5", "1"], ["100.5", "2"], ["101.0", "3"]]})
    bids, asks, prov = market.depth("BTCUSDT", 500)
    assert http.calls[0].request.params == {"symbol": "BTCUSDT", "limit": "500"}
    assert list(bids["price"]) == [100.0, 99.0, 98.5]
    assert list(asks["price"]) == [100.5, 101.0, 101.5]
    assert prov.stale is False


def test_the_request_log_counts_calls_and_weight(http, market):
    http.add("GET", DEPTH, json={"lastUpdateId": 1, "bids": [["1", "1"]], "asks": [["2", "1"]]})
    http.add("GET", TICKER, json=[ticker("BTCUSDT")])

    def one_request():
        seen = stats.begin()
        market.depth("BTCUSDT", 500)      # weight 25
        market.tickers(["BTCUSDT"])        # weight 2
        market.depth("BTCUSDT", 500)      # cached
        return dict(seen)

    assert contextvars.copy_context().run(one_request) == {
        "upstream_calls": 2, "upstream_weight": 27, "cache": "miss"}


def test_the_request_log_counts_a_call_that_failed(http, market):
    http.add("GET", DEPTH, status=500, body="Internal Server Error")

    def one_request():
        seen = stats.begin()
        with pytest.raises(UpstreamUnavailable):
            market.depth("BTCUSDT", 500)
        return dict(seen)

    seen = contextvars.copy_context().run(one_request)
    assert (seen["upstream_calls"], seen["upstream_weight"]) == (1, 25)


# -- stale data and the budget, as the views see them ------------------------------------------

def test_a_failing_binance_gives_the_old_copy_marked_stale(http, make_market):
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000), cache_ttl_ticker=0)
    http.add("GET", TICKER, json=[ticker("BTCUSDT", "100.0")])
    http.add("GET", TICKER, status=500, body="Internal Server Error")
    fresh, _ = market.tickers(["BTCUSDT"])
    stale, prov = market.tickers(["BTCUSDT"])
    pd.testing.assert_frame_equal(stale, fresh)
    assert prov.stale is True
    assert any("Stale data" in w and "s ago" in w for w in prov.warnings)
    assert len(http.calls) == 2


def test_above_the_weight_budget_the_old_copy_is_served_without_a_call(http, make_market, clock):
    client = BinanceClient(BASE, timeout=5, weight_budget=10, clock=clock)
    market = make_market(client, cache_ttl_ticker=0)
    http.add("GET", TICKER, json=[ticker("BTCUSDT")], headers={"X-MBX-USED-WEIGHT-1M": "9"})
    market.tickers(["BTCUSDT"])
    _, prov = market.tickers(["BTCUSDT"])
    assert prov.stale is True
    assert len(http.calls) == 1
    with pytest.raises(UpstreamRateLimited):             # nothing to fall back on: 503
        market.tickers(["ETHUSDT"])
    assert len(http.calls) == 1


def test_during_a_ban_the_old_copy_is_served_without_a_call(http, make_market, clock):
    client = BinanceClient(BASE, timeout=5, weight_budget=3000, clock=clock)
    market = make_market(client, cache_ttl_ticker=0)
    http.add("GET", TICKER, json=[ticker("BTCUSDT")])
    http.add("GET", TICKER, status=429, json={"code": -1003, "msg": "Too much."},
             headers={"Retry-After": "30"})
    market.tickers(["BTCUSDT"])
    assert market.tickers(["BTCUSDT"])[1].stale       # the 429 itself
    assert market.tickers(["BTCUSDT"])[1].stale       # the ban: no request
    assert len(http.calls) == 2


def test_demo_source_is_said_in_every_provenance(http, make_market):
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000), source="demo")
    http.add("GET", TICKER, json=[ticker("BTCUSDT")])
    _, prov = market.tickers(["BTCUSDT"])
    assert prov.source == "demo" and DEMO_WARNING in prov.warnings


def test_a_candle_fetched_while_forming_is_not_served_as_closed_later(http, make_market,
                                                                     klines_upstream, settings):
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000),
                         cache_ttl_klines={**settings.cache_ttl_klines, "1s": 30})
    time.sleep((1000 - now_ms() % 1000 + 20) / 1000)     # fetch early in a second
    now = now_ms()
    http.add_callback("GET", KLINES, callback=klines_upstream(now, first_ms=now - 5000 * 1000,
                                                              step_ms=1000))
    first, prov = market.klines("BTCUSDT", "1s", 10)
    forming_close = now // 1000 * 1000 + 999
    time.sleep(max(0.0, (forming_close + 50 - now_ms()) / 1000))     # it has closed since
    again, prov = market.klines("BTCUSDT", "1s", 10)                 # the cached copy
    assert len(klines_requests(http)) == 1
    # Every candle served as closed had closed when its values were fetched.
    assert (again["close_time"] < pd.Timestamp(prov.fetched_at)).all()


def test_a_halted_market_gives_its_last_candles_from_one_call_backwards(http, market,
                                                                        klines_upstream):
    # Trading stopped 60 days ago, before the page of today (1,000 hours) began: that page is
    # empty, the history is still data.
    halted = now_ms() - 60 * 24 * HOUR_MS
    http.add_callback("GET", KLINES, callback=klines_upstream(halted,
                                                              first_ms=halted - 3000 * HOUR_MS))
    frame, _ = market.klines("LUNAUSDT", "1h", 50)
    assert len(frame) == 50
    last_open = int(frame["open_time"].iloc[-1].value // 1_000_000)
    assert halted - 2 * HOUR_MS <= last_open <= halted
    sent = klines_requests(http)
    assert "startTime" in sent[0].params and "startTime" not in sent[-1].params
    # Known halted for the interval's time to live: the next request makes no empty page call.
    before = len(sent)
    market.klines("LUNAUSDT", "1h", 40)
    assert len(klines_requests(http)) == before


def test_a_weekly_page_settles_once_its_last_monday_candle_has_closed(http, make_market,
                                                                      settings):
    # Weekly candles open on Mondays; pages are 1,000 weeks from the epoch (a Thursday). Page 1
    # ends on Thursday 2008-05-01, and its last candle (Monday 2008-04-28) closes on Monday
    # 2008-05-05, after the page's end: the page stays live (here refetched every time) until
    # a week after its end, and is settled (kept) from then on.
    market = make_market(BinanceClient(BASE, timeout=5, weight_budget=3000),
                         cache_ttl_klines={**settings.cache_ttl_klines, "1w": 0})
    monday = int(datetime(2008, 4, 28, tzinfo=timezone.utc).timestamp() * 1000)
    week = 7 * 24 * HOUR_MS
    http.add("GET", KLINES, json=[[monday, "1", "1", "1", "1", "1", monday + week - 1, "1", 1,
                                   "1", "1", "0"]])

    def calls_for_two_reads(now):
        before = len(klines_requests(http))
        for _ in range(2):
            market._page("BTCUSDT", "1w", 1, int(now.timestamp() * 1000))
        return len(klines_requests(http)) - before

    assert calls_for_two_reads(datetime(2008, 5, 2, tzinfo=timezone.utc)) == 2
    assert calls_for_two_reads(datetime(2008, 5, 6, tzinfo=timezone.utc)) == 2
    assert calls_for_two_reads(datetime(2008, 5, 9, tzinfo=timezone.utc)) == 1
