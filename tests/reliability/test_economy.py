"""Upstream economy: however many clients ask, Binance is asked little.

Counted at the upstream (the demo market on its own loopback port), against the real gunicorn
with several workers. The caches are per process, so the bound is "one call per worker per
upstream call"; NGINX's proxy cache coalesces across workers in production (not tested here).
"""
from __future__ import annotations

import http.client
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow

WORKERS = 4
FORMATS = ("json", "csv", "html", "xml", "png")
WATCHLIST = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
             "TRXUSDT", "LINKUSDT", "AVAXUSDT")
KLINES, DEPTH, TICKER, INFO = ("/api/v3/klines", "/api/v3/depth", "/api/v3/ticker/24hr",
                               "/api/v3/exchangeInfo")


@pytest.fixture(scope="module")
def service(start_service):
    return start_service(workers=WORKERS)


def _burst(service, target: str, n: int = 96) -> list:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: service.get(target, timeout=60), range(n)))


# One cold analysis per case: (target, upstream path -> calls each worker may make).
COLD = {
    "technical": ("/api/v1/analysis/technical/BTCUSDT?interval=4h", {KLINES: 1}),
    "technical-3-pages": ("/api/v1/analysis/technical/ETHUSDT?interval=1h&limit=1000&"
                          "end=2026-06-01T00:00:00Z", {KLINES: 2}),
    "statistics": ("/api/v1/market/statistics?symbols=BTCUSDT,ETHUSDT,SOLUSDT", {TICKER: 1}),
    "liquidity": ("/api/v1/market/liquidity/SOLUSDT?depth=100", {DEPTH: 1}),
    "correlation": ("/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,BNBUSDT&interval=1w",
                    {KLINES: 3}),
}


@pytest.mark.parametrize("case", list(COLD))
def test_96_concurrent_cold_requests_make_one_call_per_worker(service, upstream, case):
    target, per_worker = COLD[case]
    upstream.reset()
    responses = _burst(service, target)
    assert [r.status for r in responses] == [200] * 96, {r.status for r in responses}
    counts = upstream.requests()
    # exchangeInfo (symbol validation) is fetched at most once per worker, then kept an hour.
    assert counts.get(INFO, 0) <= WORKERS, counts
    for path, calls in per_worker.items():
        assert 1 <= counts.get(path, 0) <= calls * WORKERS, (path, counts)
    assert set(counts) <= {INFO, *per_worker}, counts
