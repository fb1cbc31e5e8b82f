"""The shared weight budget: UPSTREAM_WEIGHT_SHARE of the minute's request weight holds for the
fleet, not for each process.

Two gunicorn instances (4 workers each) share one redis-server, with a budget of 40 weight
(UPSTREAM_WEIGHT_LIMIT=4000 x UPSTREAM_WEIGHT_SHARE=0.01). A burst of distinct cold analyses
over both hosts needs far more; the upstream, which counts every call's weight, sees at most 40
in the minute. Each call's weight is reserved in Redis by one atomic Lua script before the call
leaves, so no race lets the fleet past the budget: the bound is exact. Clients past it get 503
upstream_rate_limited with Retry-After, or the stale copy where there is one.
"""
from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from binance_svc.settings import INTERVAL_MS

pytestmark = pytest.mark.slow

# What is shared is the subject here, not the Redis timeout (test_redis_outage.py's): a Redis
# answer later than the default 0.25 s on a starved 2-CPU runner would send one worker to its
# in-process state for 5 s in the middle of the test. The tests check that none did.
COORDINATION_REDIS_TIMEOUT = "2"

KLINES, INFO = "/api/v3/klines", "/api/v3/exchangeInfo"
BUDGET = 40
KLINES_WEIGHT, INFO_WEIGHT = 2, 20
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
           "TRXUSDT", "LINKUSDT", "AVAXUSDT", "DOTUSDT", "LTCUSDT")
INTERVALS = ("2h", "4h", "6h", "8h", "12h", "1d")
WARM = "/api/v1/analysis/technical/BTCUSDT?interval=1h"


def klines_pages(interval: str, candles: int) -> int:
    """The aligned klines pages (upstream/market.py: page k holds the candles opening in
    [k * 1000 * step, (k + 1) * 1000 * step)) that hold the last `candles` closed candles now;
    the technical default, 200 candles + 200 of warm-up, holds one or two."""
    step = INTERVAL_MS[interval]
    last = (int(time.time() * 1000) - step) // step * step
    return len({o // (1000 * step) for o in range(last - (candles - 1) * step, last + 1, step)})


# The whole test must fall in one wall-clock minute (Binance's weight window, and the keys of
# the counters): it takes 3-9 s.
NEEDS = 15


@pytest.fixture(scope="module")
def hosts(start_hosts, redis_server):
    env = {"redis": redis_server.url, "REDIS_TIMEOUT": COORDINATION_REDIS_TIMEOUT,
           "UPSTREAM_WEIGHT_LIMIT": "4000",
           "UPSTREAM_WEIGHT_SHARE": "0.01",
           # 1 h klines live 1 s, so that WARM is stale (not missing) once the budget is spent.
           "CACHE_TTL_KLINES": "1h=1"}
    return start_hosts({"name": "host-a", **env}, {"name": "host-b", **env})


def _start_of_a_minute(needs: float) -> None:
    """Sleep into the next minute unless `needs` seconds are left in this one."""
    left = 60 - time.time() % 60
    if left < needs:
        time.sleep(left + 0.2)


def test_the_fleet_stays_within_the_weight_budget_of_the_minute(hosts, upstream):
    host_a, host_b = hosts
    _start_of_a_minute(NEEDS)
    minute = int(time.time() // 60)
    upstream.reset()

    warm_pages = klines_pages("1h", 400)
    warm = host_a.get(WARM)                      # exchangeInfo (20) + its klines pages (2 each)
    assert warm.status == 200, warm
    # Windows of one page each, so that every fresh answer costs one call.
    cold = [f"/api/v1/analysis/technical/{s}?interval={i}"
            for s, i in itertools.product(SYMBOLS, INTERVALS) if klines_pages(i, 400) == 1]
    assert len(cold) >= 2 * (BUDGET - INFO_WEIGHT) // KLINES_WEIGHT, cold
    targets = [(host_a if n % 2 == 0 else host_b, t) for n, t in enumerate(cold)]
    with ThreadPoolExecutor(24) as pool:
        burst = list(pool.map(lambda ht: ht[0].get(ht[1]), targets))

    # WARM's copy expired (1 s) and the budget is spent: host B serves it stale, marked so.
    time.sleep(max(0.0, warm.started + warm.elapsed + 1.2 - time.monotonic()))
    stale = host_b.get(WARM)
    ready = host_b.get("/health/ready")
    stats = upstream.stats()
    assert int(time.time() // 60) == minute, "the test ran into the next minute"

    # At the upstream: never more than the budget in the minute, exactly.
    assert stats["total_weight"] == stats["weight_used_1m"] <= BUDGET, stats
    counts = stats["requests"]
    assert counts.get(INFO) == 1, counts                       # one exchangeInfo for the fleet
    assert set(counts) <= {INFO, KLINES}, counts
    assert stats["total_weight"] == INFO_WEIGHT + KLINES_WEIGHT * counts[KLINES], stats

    ok = [r for r in burst if r.status == 200]
    refused = [r for r in burst if r.status != 200]
    print(f"budget {BUDGET}: upstream weight {stats['total_weight']} ({counts}); burst of "
          f"{len(burst)} over 2 hosts: {len(ok)} fresh, {len(refused)} refused; WARM again: "
          f"{stale.status} stale={stale.json().get('stale')}; /health/ready {ready.status}")
    # Every fresh answer cost one klines page; the budget let as many through as it holds.
    assert len(ok) == counts[KLINES] - warm_pages, (len(ok), counts)
    assert len(ok) == (BUDGET - INFO_WEIGHT) // KLINES_WEIGHT - warm_pages, (len(ok), stats)
    assert refused, "the burst should have gone past the budget"
    for resp in refused:
        assert resp.status == 503 and resp.error_code == "upstream_rate_limited", resp
        assert 1 <= int(resp.headers["Retry-After"]) <= 60, resp.headers["Retry-After"]
    # Both hosts were refused: the limit is the fleet's, not each process's.
    refused_on = {host.name for (host, _), resp in zip(targets, burst) if resp.status == 503}
    assert refused_on == {"host-a", "host-b"}, refused_on

    assert stale.status == 200, stale
    assert stale.json()["stale"] is True
    assert stale.headers["Warning"] == '110 - "Response is Stale"'

    # /health/ready reports the fleet's budget; its own ping (weight 1) is refused too.
    doc = ready.json()
    assert doc["weight_budget_1m"] == BUDGET, doc
    assert doc["cache"]["mode"] == "redis" and doc["cache"]["redis"] == "ok", doc
    assert not [w for h in hosts for w in h.redis_warnings()], "a worker fell back from Redis"
