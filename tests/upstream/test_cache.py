"""UpstreamCache: time to live, single flight, stale-if-error, over flask-caching SimpleCache.

Fetches go through a real BinanceClient against `responses`, so "one upstream call" is counted
as HTTP requests, not as calls of our own functions.
"""
from __future__ import annotations

import contextvars
import threading
import time

import pytest
import requests

from binance_svc.errors import InvalidParameter, UnknownSymbol, UpstreamUnavailable
from binance_svc.upstream import stats
from binance_svc.upstream.cache import UpstreamCache
from binance_svc.upstream.client import BinanceClient

BASE = "https://data-api.binance.vision"
TICKER = BASE + "/api/v3/ticker/24hr"
KLINES = BASE + "/api/v3/klines"
TICK = {"symbol": "BTCUSDT", "lastPrice": "60755.18"}


@pytest.fixture
def cache(flask_cache, clock):
    return UpstreamCache(flask_cache, stale_ttl=3600, clock=clock)


@pytest.fixture
def real_client():
    """A client on the wall clock (threads and sleeps below are real)."""
    return BinanceClient(BASE, timeout=5, weight_budget=3000)


def fetch_ticker(client):
    return lambda: client.call("ticker_24hr", 2, symbol_param=True, symbol="BTCUSDT")


# -- time to live ----------------------------------------------------------------------------

def test_a_fresh_copy_is_served_without_calling_upstream(http, client, cache, clock):
    http.add("GET", TICKER, json=TICK)
    first = cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(client))
    clock.advance(9.9)
    second = cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(client))
    assert (first.outcome, second.outcome) == ("miss", "hit")
    assert first.value == second.value == TICK
    assert not first.stale and not second.stale
    assert second.fetched_at == first.fetched_at == 1_700_000_040.0
    assert second.expires_at == 1_700_000_050.0
    assert len(http.calls) == 1


def test_an_expired_copy_is_fetched_again(http, client, cache, clock):
    http.add("GET", TICKER, json=TICK)
    http.add("GET", TICKER, json={**TICK, "lastPrice": "61000.00"})
    cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(client))
    clock.advance(10)
    again = cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(client))
    assert again.outcome == "miss" and again.value["lastPrice"] == "61000.00"
    assert again.fetched_at == 1_700_000_050.0
    assert len(http.calls) == 2


def test_keys_are_independent(http, client, cache):
    http.add("GET", TICKER, json=TICK)
    cache.get_or_fetch("a", 10, fetch_ticker(client))
    assert cache.get_or_fetch("b", 10, fetch_ticker(client)).outcome == "miss"
    assert len(http.calls) == 2


def test_copies_are_kept_past_their_ttl_for_stale_ttl_seconds(flask_cache, clock):
    timeouts = []

    class Spy:
        def get(self, key):
            return flask_cache.get(key)

        def set(self, key, value, timeout=None):
            timeouts.append(timeout)
            return flask_cache.set(key, value, timeout=timeout)

    cache = UpstreamCache(Spy(), stale_ttl=600, clock=clock)
    cache.get_or_fetch("k", 10, lambda: 1)
    cache.get_or_fetch("k0", 0, lambda: 1)
    assert timeouts == [610, 600]


def test_a_broken_backend_does_not_break_the_service(http, client, clock):
    class Down:
        def get(self, key):
            raise ConnectionError("redis is down")

        def set(self, key, value, timeout=None):
            raise ConnectionError("redis is down")

    http.add("GET", TICKER, json=TICK)
    got = UpstreamCache(Down(), stale_ttl=60, clock=clock).get_or_fetch(
        "ticker", 10, fetch_ticker(client))
    assert got.value == TICK and got.outcome == "miss"


def test_something_else_under_the_key_is_a_miss(http, client, cache, flask_cache):
    flask_cache.set("ticker", "left by an older version", timeout=60)
    http.add("GET", TICKER, json=TICK)
    assert cache.get_or_fetch("ticker", 10, fetch_ticker(client)).value == TICK


# -- single flight ---------------------------------------------------------------------------

def run_together(n: int, fn):
    """Run fn in n threads released at once; return (results, errors) in thread order."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, [None] * n

    def worker(i):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:   # noqa: BLE001 - collected for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return results, errors


def slow(reply_status, body, seconds=0.2):
    def callback(request):
        time.sleep(seconds)
        return reply_status, {"X-MBX-USED-WEIGHT-1M": "2"}, body
    return callback


def test_32_concurrent_misses_on_one_key_make_one_upstream_call(http, real_client, flask_cache):
    cache = UpstreamCache(flask_cache, stale_ttl=3600)
    http.add_callback("GET", TICKER, callback=slow(200, '{"symbol":"BTCUSDT","lastPrice":"1.5"}'))
    results, errors = run_together(
        32, lambda: cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(real_client)))
    assert errors == [None] * 32
    assert len(http.calls) == 1
    assert all(r.value == {"symbol": "BTCUSDT", "lastPrice": "1.5"} for r in results)
    assert sorted(r.outcome for r in results) == ["hit"] * 31 + ["miss"]
    assert len({r.fetched_at for r in results}) == 1


def test_a_slow_key_does_not_hold_up_another_key(http, real_client, flask_cache):
    cache = UpstreamCache(flask_cache, stale_ttl=3600)
    release = threading.Event()
    started = threading.Event()

    def slow_fetch():
        started.set()
        release.wait(5)
        return "slow"

    t = threading.Thread(target=cache.get_or_fetch, args=("slow", 10, slow_fetch))
    t.start()
    try:
        assert started.wait(5)
        t0 = time.monotonic()
        assert cache.get_or_fetch("quick", 10, lambda: "quick").value == "quick"
        assert time.monotonic() - t0 < 1
    finally:
        release.set()
        t.join(5)


def test_concurrent_misses_share_one_failing_upstream_call(http, real_client, flask_cache):
    cache = UpstreamCache(flask_cache, stale_ttl=3600)
    http.add_callback("GET", TICKER, callback=slow(500, "Internal Server Error", 0.1))
    results, errors = run_together(
        8, lambda: cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(real_client)))
    assert all(isinstance(e, UpstreamUnavailable) for e in errors)
    assert len(http.calls) == 1


# -- stale-if-error --------------------------------------------------------------------------

@pytest.mark.parametrize("failure", [
    {"status": 500, "body": "Internal Server Error"},
    {"status": 429, "json": {"code": -1003, "msg": "Too much."}, "headers": {"Retry-After": "9"}},
    {"body": requests.exceptions.ReadTimeout()},
    {"body": requests.exceptions.ConnectionError()},
    {"status": 200, "body": "<html>maintenance</html>"},
], ids=["500", "429", "timeout", "unreachable", "not-json"])
def test_an_expired_copy_is_served_stale_when_upstream_fails(http, client, cache, clock,
                                                             failure):
    http.add("GET", TICKER, json=TICK)
    http.add("GET", TICKER, **failure)
    fresh = cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(client))
    clock.advance(60)
    got = cache.get_or_fetch("ticker:BTCUSDT", 10, fetch_ticker(client))
    assert got.value == TICK
    assert got.stale is True and got.outcome == "stale"
    assert got.fetched_at == fresh.fetched_at          # its age shows how old it is
    assert got.error                                   # why it is stale, in words
    assert "/api/v3" not in got.error
    assert len(http.calls) == 2


def test_after_a_stale_answer_a_recovered_upstream_gives_fresh_data(http, client, cache, clock):
    http.add("GET", TICKER, json=TICK)
    http.add("GET", TICKER, status=502, body="Bad Gateway")
    http.add("GET", TICKER, json={**TICK, "lastPrice": "62000.00"})
    cache.get_or_fetch("t", 10, fetch_ticker(client))
    clock.advance(11)
    assert cache.get_or_fetch("t", 10, fetch_ticker(client)).stale
    got = cache.get_or_fetch("t", 10, fetch_ticker(client))
    assert got.stale is False and got.outcome == "miss"
    assert got.value["lastPrice"] == "62000.00"


@pytest.mark.parametrize("code, kind", [(-1121, UnknownSymbol), (-1130, InvalidParameter)])
def test_client_errors_are_not_masked_by_stale_data(http, client, cache, clock, code, kind):
    http.add("GET", TICKER, json=TICK)
    http.add("GET", TICKER, status=400, json={"code": code, "msg": "no"})
    cache.get_or_fetch("t", 10, fetch_ticker(client))
    clock.advance(11)
    with pytest.raises(kind):
        cache.get_or_fetch("t", 10, fetch_ticker(client))


def test_without_a_copy_the_upstream_error_propagates(http, client, cache):
    http.add("GET", TICKER, status=500, body="Internal Server Error")
    with pytest.raises(UpstreamUnavailable) as info:
        cache.get_or_fetch("t", 10, fetch_ticker(client))
    assert info.value.status == 502


def test_a_failure_is_not_cached(http, client, cache):
    http.add("GET", TICKER, status=500, body="Internal Server Error")
    http.add("GET", TICKER, json=TICK)
    with pytest.raises(UpstreamUnavailable):
        cache.get_or_fetch("t", 10, fetch_ticker(client))
    assert cache.get_or_fetch("t", 10, fetch_ticker(client)).value == TICK


def test_a_programming_error_is_never_turned_into_stale_data(cache, clock):
    cache.get_or_fetch("t", 10, lambda: 1)
    clock.advance(11)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_fetch("t", 10, lambda: 1 / 0)


# -- the request log's cache outcome ----------------------------------------------------------

def test_the_request_log_records_the_worst_cache_outcome(http, client, cache, clock):
    http.add("GET", TICKER, json=TICK)

    def one_request(*keys):
        seen = stats.begin()
        for key in keys:
            cache.get_or_fetch(key, 10, fetch_ticker(client))
        return dict(seen)

    assert contextvars.copy_context().run(one_request, "a")["cache"] == "miss"
    assert contextvars.copy_context().run(one_request, "a")["cache"] == "hit"
    clock.advance(11)
    http.replace("GET", TICKER, status=500, body="down")
    assert contextvars.copy_context().run(one_request, "a")["cache"] == "stale"
