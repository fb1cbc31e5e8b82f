"""Shared fixtures of the upstream tests: a fake clock, a mocked Binance, a Market over it.

No test here touches the network: HTTP goes to `responses` (which intercepts the connector's
requests.Session) or to the demo market's transport adapter.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import time
from pathlib import Path

import pytest
import responses
from flask import Flask
from flask_caching import Cache

from binance_svc.settings import Settings
from binance_svc.upstream.cache import UpstreamCache
from binance_svc.upstream.client import BinanceClient
from binance_svc.upstream.market import Market

BASE = "https://data-api.binance.vision"
KLINES_URL = BASE + "/api/v3/klines"
DEPTH_URL = BASE + "/api/v3/depth"
TICKER_URL = BASE + "/api/v3/ticker/24hr"
EXCHANGE_INFO_URL = BASE + "/api/v3/exchangeInfo"
HOUR_MS = 3_600_000

# Environment variables the service reads; cleared so that an operator's shell cannot change
# what these tests see.
SERVICE_ENV = ("BINANCE_BASE_URL", "BINANCE_TIMEOUT", "MARKET_SOURCE", "WATCHLIST", "CACHE_TYPE",
               "CACHE_REDIS_URL", "CACHE_TTL_TICKER", "CACHE_TTL_DEPTH", "CACHE_TTL_EXCHANGE_INFO",
               "CACHE_TTL_KLINES", "CACHE_STALE_TTL", "CACHE_THRESHOLD", "UPSTREAM_WEIGHT_SHARE",
               "UPSTREAM_WEIGHT_LIMIT", "LOG_LEVEL", "DEMO_SEED", "DEMO_LATENCY_MS",
               "DEMO_UPSTREAM_URL", "RESPONSE_CACHE_MB", "REDIS_TIMEOUT", "UPSTREAM_STATE_FILE",
               "CACHE_TTL_KLINES_HISTORY")


class FakeClock:
    """A time.time() stand-in that only moves when a test says so."""

    def __init__(self, start: float = 1_700_000_040.0):   # the first second of a minute
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clean_env(monkeypatch):
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def http():
    """A mocked Binance: every request the connector makes goes here (or fails loudly)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def client(clock):
    return BinanceClient(BASE, timeout=5, weight_budget=3000, clock=clock)


@pytest.fixture
def flask_cache():
    """The production backend: flask-caching SimpleCache (values are pickled)."""
    return Cache(Flask("upstream-tests"), config={"CACHE_TYPE": "SimpleCache",
                                                  "CACHE_THRESHOLD": 2000})


@pytest.fixture
def settings():
    return Settings.load(env={})


@pytest.fixture
def make_market(settings, flask_cache):
    """Market over a client and a fresh SimpleCache; keyword overrides go to Settings."""

    def make(client: BinanceClient, *, cache_clock=time.time, source="binance", **overrides):
        s = dataclasses.replace(settings, **overrides) if overrides else settings
        return Market(s, client, UpstreamCache(flask_cache, s.cache_stale_ttl, clock=cache_clock),
                      source=source)

    return make


@pytest.fixture
def market(make_market):
    """Market over a real-time client (closed=True compares with the wall clock)."""
    return make_market(BinanceClient(BASE, timeout=5, weight_budget=3000))


def _kline_row(open_ms: int, step_ms: int = HOUR_MS, price: float = 100.0) -> list:
    """One /api/v3/klines row as Binance sends it (prices as strings, times as ms)."""
    return [open_ms, f"{price:.8f}", f"{price + 1:.8f}", f"{price - 1:.8f}", f"{price + 0.5:.8f}",
            "10.00000000", open_ms + step_ms - 1, f"{10 * price:.8f}", 42, "5.00000000",
            f"{5 * price:.8f}", "0"]


@pytest.fixture
def kline_row():
    return _kline_row


@pytest.fixture
def klines_upstream():
    """A `responses` callback behaving like /api/v3/klines over hourly candles.

    Candles open every hour from `first_ms` up to the one containing `now_ms` (still forming);
    endTime selects candles with open_time <= endTime, limit (default 500) the newest of them;
    with startTime, the oldest `limit` of those with open_time >= startTime.
    The price of a candle is its index, so rows are easy to tell apart.
    """

    def make(now_ms: int, first_ms: int, step_ms: int = HOUR_MS, sleep: float = 0.0):
        last_open = now_ms // step_ms * step_ms
        first_ms = -(-first_ms // step_ms) * step_ms        # the first whole candle

        def callback(request):
            if sleep:
                time.sleep(sleep)
            q = request.params
            limit = int(q.get("limit", 500))
            end = last_open if "endTime" not in q else min(last_open,
                                                           int(q["endTime"]) // step_ms * step_ms)
            begin = max(first_ms, end - step_ms * (limit - 1))
            if "startTime" in q:
                # With startTime, the oldest `limit` candles opening at or after it.
                begin = max(first_ms, -(-int(q["startTime"]) // step_ms) * step_ms)
                end = min(end, begin + step_ms * (limit - 1))
            rows = [_kline_row(t, step_ms, price=100.0 + (t - first_ms) // step_ms)
                    for t in range(begin, end + 1, step_ms)]
            return 200, {"X-MBX-USED-WEIGHT-1M": "2"}, json.dumps(rows)

        return callback

    return make


def read_fixture(path: Path) -> str:
    """The text of a recorded response; a `.gz` file is decompressed (the long kline files)."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


@pytest.fixture
def load_fixture(binance_fixtures):
    """load_fixture("rest/http_spot_market_depth.json") -> the parsed JSON, from
    tests/fixtures/binance (tests/conftest.py). A missing file is an error, not a skip: the
    fixtures are part of the repository."""
    def load(relative: str):
        return json.loads(read_fixture(binance_fixtures / relative))

    return load


@pytest.fixture
def fixture_text(binance_fixtures):
    """fixture_text("klines_1h_2023-06/BTCUSDT-1h-2023-06.csv.gz") -> the file's text."""
    return lambda relative: read_fixture(binance_fixtures / relative)


def pages_touched(count: int, step: int = HOUR_MS, closed: bool = True) -> int:
    """How many aligned klines pages (1,000 candles from the epoch) the last `count` candles
    ending now lie on: one most of the time, two when the window straddles a page's start."""
    now = int(time.time() * 1000)
    newest = (now - step if closed else now) // step * step
    oldest = newest - (count - 1) * step
    span = 1000 * step
    return newest // span - oldest // span + 1
