"""Fixtures of the web tests: an app on the demo market, its test client, its demo market.

Every app is built by `create_app` with the demo market (no network) and with the settings
that matter spelled out, so an environment variable on the test machine (BINANCE_BASE_URL,
WATCHLIST, CACHE_TYPE, ...) cannot change what the tests see. A `responses` mock stays active
in every test of this directory as a guard: an HTTP call that does not go to the demo market's
transport adapter fails with ConnectionError instead of reaching the network.
"""
from __future__ import annotations

import json

import pytest
import responses

from binance_svc import create_app

WATCHLIST = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
             "TRXUSDT", "LINKUSDT", "AVAXUSDT")
DEMO_CONFIG = {
    "TESTING": True,
    "MARKET_SOURCE": "demo",
    "DEMO_UPSTREAM_URL": "",         # unset: the demo market answers in process, no socket
    "WATCHLIST": ",".join(WATCHLIST),
    "CACHE_TYPE": "SimpleCache",
    "DEMO_LATENCY_MS": "0",
    "LOG_LEVEL": "WARNING",          # no access-log line per request in the test output
}


def make_app(**overrides):
    return create_app({**DEMO_CONFIG, **overrides})


@pytest.fixture(autouse=True)
def no_network():
    """Any real HTTP request (one not answered by the demo adapter) raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def app_factory():
    """make_app(**overrides): an app on the demo market with some settings changed."""
    return make_app


@pytest.fixture
def app():
    """A fresh app per test: its own caches, ban window and demo request counters."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo(app):
    return app.extensions["binance_svc"].demo


INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
             "3d", "1w", "1M")
HOUR_TTLS = {"CACHE_TTL_TICKER": "3600", "CACHE_TTL_DEPTH": "3600",
             "CACHE_TTL_KLINES": ",".join(f"{i}=3600" for i in INTERVALS)}


@pytest.fixture(scope="module")
def module_app():
    """One app for a whole module of read-only tests, its upstream copies kept for an hour.

    The demo book changes every second and tickers every ten, so with the default times to
    live the JSON and the CSV of one URL, fetched a moment apart, could hold different data;
    with an hour, every format of a URL within the module is rendered from the same data."""
    return make_app(**HOUR_TTLS)


@pytest.fixture(scope="module")
def module_client(module_app):
    return module_app.test_client()


def _strict_loads(data: bytes):
    def refuse(name):
        raise ValueError(f"{name} in a JSON body")
    return json.loads(data, parse_constant=refuse)


@pytest.fixture
def strict_json():
    """json.loads that refuses NaN, Infinity and -Infinity (which json.loads accepts by default).

    A fixture rather than an importable helper: test modules never import conftest."""
    return _strict_loads
