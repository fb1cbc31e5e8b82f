"""Redis down or hung: the service keeps serving from its in-process fallback, says so in
/health/ready and the log, never waits on Redis longer than REDIS_TIMEOUT per Redis call, and
uses Redis again once it is back and the 5 s back-off has passed.

One gunicorn (4 workers) on a redis-server of its own; a steady load (3 clients, each sending
requests one after another: analyses fetched before the outage, and order books nobody has asked
for, which need the upstream) runs through each phase, and every request's duration is measured
by the client.

The bound on a request's duration, REDIS_TIMEOUT x 2 + 1 s, is:
- at most two Redis calls that wait for the timeout: the first call that fails (after it the
  coordinator uses in-process state for 5 s and every later call of every thread of that worker
  skips Redis without touching the network), and the release of a fleet-wide flight lock the
  request took before Redis failed (released unconditionally, so it can meet the timeout too);
  each Redis call has REDIS_TIMEOUT as both its connect and its read timeout, and redis-py is
  built without retries (`redis.from_url`), so one call waits at most REDIS_TIMEOUT;
- plus 1 s for the request itself: on this load (cached analyses, and order books of 5 to 100
  levels, 3 clients) a request costs 2-30 ms of the app's time, and took up to ~0.7 s under
  gunicorn on a 2-CPU machine shared with other test runs (the slowest request of each phase is
  printed, and shown on failure).
A stopped Redis refuses connections at once, so there the bound is far from reached; a hung one
(SIGSTOP: the kernel still accepts connections but nothing answers) meets every timeout.

Once Redis is back, a cold burst over the 4 workers must make one upstream call in all: every
worker uses Redis again. A worker that logged a new fall-back after Redis came back (a late
answer on a starved machine, or a pooled connection to the old server) is on its own for one
more back-off; only then is the burst tried again.
"""
from __future__ import annotations

import itertools
import threading
import time

import pytest

pytestmark = pytest.mark.slow

WORKERS = 4
REDIS_TIMEOUT = 0.25
BACKOFF = 5.0                                   # RedisCoordinator's retry_after_failure
TIMED_OUT_CALLS_PER_REQUEST = 2
BOUND = REDIS_TIMEOUT * TIMED_OUT_CALLS_PER_REQUEST + 1.0
KLINES = "/api/v3/klines"
WARM = ("/api/v1/analysis/technical/BTCUSDT?interval=4h",
        "/api/v1/analysis/technical/ETHUSDT?interval=1d&format=csv",
        "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT&interval=1d",
        "/api/v1/symbols")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
           "TRXUSDT", "LINKUSDT", "AVAXUSDT")


def _cold_targets():
    """Requests nobody has made: each order book (symbol, depth) is a distinct upstream call."""
    for depth in itertools.count(5):
        for symbol in SYMBOLS:
            yield f"/api/v1/market/liquidity/{symbol}?depth={depth}"


@pytest.fixture(scope="module")
def host(start_hosts, redis_server):
    (service,) = start_hosts({"name": "host", "redis": redis_server.url,
                              "REDIS_TIMEOUT": str(REDIS_TIMEOUT),
                              # the load spends more than a minute's default share of weight;
                              # the budget is another test's subject
                              "UPSTREAM_WEIGHT_LIMIT": "1000000"})
    return service


@pytest.fixture(scope="module")
def cold(host):
    targets = _cold_targets()
    # Every worker's first analyses are slower (lazy imports, first use of pandas and the
    # renderers): get them done before anything is timed.
    for _ in range(2):
        warm_up = [next(targets) for _ in range(4 * WORKERS)] + list(WARM) * WORKERS
        assert {r.status for r in host.burst(warm_up, concurrency=4 * WORKERS)} == {200}
    return targets


class Load:
    """`clients` threads, each sending requests one after another until stopped."""

    def __init__(self, host, cold, clients: int = 3):
        self.host = host
        self.cold = cold
        self.clients = clients
        self.results: list[tuple[float, float, int, str]] = []   # (started, elapsed, status, target)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(clients)]

    def _next(self, i: int, n: int) -> str:
        if (i + n) % 2:
            return WARM[(i + n) % len(WARM)]
        with self._lock:
            return next(self.cold)

    def _run(self, i: int) -> None:
        for n in itertools.count():
            if self._stop.is_set():
                return
            target = self._next(i, n)
            try:
                resp = self.host.get(target, timeout=30)
                row = (resp.started, resp.elapsed, resp.status, target)
            except Exception as exc:   # recorded, and fails the test below
                row = (time.monotonic(), 30.0, 0, f"{target}: {exc!r}")
            with self._lock:
                self.results.append(row)

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def between(self, t0: float, t1: float):
        return [r for r in self.results if t0 <= r[0] < t1]


def _cache_status(host) -> tuple[int, dict]:
    resp = host.get("/health/ready")
    return resp.status, resp.json()["cache"]


def _wait_redis_used(host, deadline: float) -> float:
    """Until /health/ready says Redis is in use; the time it first did."""
    while time.monotonic() < deadline:
        status, cache = _cache_status(host)
        if cache["redis"] == "ok":
            return time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"Redis not used again by {deadline}: {cache}")


# Each a klines page nobody has fetched: windows over the same history share their pages, so
# each burst asks for another symbol; 400 daily candles ending 2023-06-01 are all in page 19
# (days 19,000 to 19,999).
BURST_TARGETS = (f"/api/v1/analysis/technical/{symbol}?interval=1d&end=2023-06-01T00:00:00Z"
                 for symbol in ("BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
                                "TRXUSDT", "LINKUSDT", "AVAXUSDT", "DOTUSDT", "LTCUSDT"))


def _one_call_burst(host, upstream, n: int = 32) -> dict:
    """A cold burst over the workers; with every worker on Redis it makes one upstream call."""
    target = next(BURST_TARGETS)     # historical klines: one settled page
    upstream.reset()
    upstream.inject("delay", delay=0.3, count=-1)
    responses = host.burst([target] * n)
    assert [r.status for r in responses] == [200] * n
    counts = upstream.requests()
    upstream.reset()
    return counts


def _every_worker_back_on_redis(host, upstream, since_mark: int) -> dict:
    """A cold burst over the 4 workers makes one upstream call in all: each worker is on Redis.

    A worker that met a Redis failure after Redis came back (a pooled connection to the old
    server, or a late answer on a starved machine) is on its own for another back-off and makes
    a second call; that is accepted only when its warning is in the log, and the burst is then
    tried again after the back-off.
    """
    for attempt in range(3):
        counts = _one_call_burst(host, upstream)
        if counts == {KLINES: 1}:
            return counts
        warnings = host.redis_warnings(since_mark)
        assert warnings, f"{counts} with no Redis fall-back in the log"
        print(f"burst {attempt}: {counts}; fall-backs since Redis came back: {warnings}")
        since_mark = host.log_mark()
        time.sleep(BACKOFF + 0.5)
    raise AssertionError(f"still {counts} after {attempt + 1} bursts")


def _check_load(load, phases: dict) -> dict:
    """Every request of the load (those that straddle a change too) answered 200 within BOUND.

    Returns, per phase (by the time a request was sent), (requests, slowest seconds)."""
    rows = load.results
    failed = [r for r in rows if r[2] != 200]
    assert not failed, failed[:5]
    summary = {}
    for name, (t0, t1) in phases.items():
        sent = [r for r in rows if t0 <= r[0] < t1]
        assert sent, f"no request was sent {name}"
        summary[name] = (len(sent), round(max(r[1] for r in sent), 3))
    slowest = max(rows, key=lambda r: r[1])
    assert slowest[1] <= BOUND, (
        f"a request took {slowest[1]:.3f} s > {BOUND:.2f} s ({slowest[3]}); "
        f"per phase (requests, slowest s): {summary}")
    return summary


def test_redis_stopped_mid_test_requests_go_on_from_the_fallback_and_redis_is_used_again(
        host, upstream, redis_server, cold):
    for target in WARM:
        assert host.get(target).status == 200
    assert _cache_status(host) == (200, {"type": "RedisCache", "mode": "redis", "redis": "ok",
                                         "fallback": False, "last_error": None})
    log_before = host.log_text()

    with Load(host, cold) as load:
        t_begin = time.monotonic()
        time.sleep(1.5)
        redis_server.stop()                                   # SHUTDOWN NOSAVE
        t_stop = time.monotonic()
        time.sleep(3.0)
        during_status, during = _cache_status(host)
        redis_server.start()                                  # same port, empty
        t_start = time.monotonic()
        back = host.log_mark()
        t_used = _wait_redis_used(host, t_start + BACKOFF + 2.0)
        time.sleep(max(0.0, t_start + BACKOFF + 0.5 - time.monotonic()))
        t_end = time.monotonic()

    summary = _check_load(load, {"before": (t_begin, t_stop), "stopped": (t_stop, t_start),
                                 "restarted": (t_start, t_end)})
    print(f"(requests, slowest s) by phase: {summary}; Redis used again "
          f"{t_used - t_start:.1f} s after its restart")
    # Order books nobody had asked for were fetched during the outage, without Redis.
    assert len([r for r in load.between(t_stop, t_start) if "depth=" in r[3]]) >= 4

    # /health/ready: still ready (Binance is fine), and it says the cache fell back.
    assert during_status == 200
    assert during["type"] == "RedisCache" and during["mode"] == "redis", during
    assert during["redis"] == "unavailable" and during["fallback"] is True, during
    assert during["last_error"], during
    # One warning line (per worker, per outage) in the log.
    new_log = host.log_text()[len(log_before):]
    warnings = [line for line in new_log.splitlines()
                if '"level":"warning"' in line and "redis unavailable" in line]
    assert 1 <= len(warnings) <= WORKERS * 3, warnings

    # Back on Redis within the back-off (5 s after the last failure of each worker), all of
    # them: a cold burst over the 4 workers makes one call in all again, and the copies are
    # in Redis again.
    assert t_used - t_start <= BACKOFF + 1.5
    _every_worker_back_on_redis(host, upstream, back)
    assert redis_server.client().dbsize() > 0


def test_redis_hung_never_holds_a_request_longer_than_its_timeout(
        host, upstream, redis_server, cold):
    if not redis_server.running:     # the test before failed half-way
        redis_server.start()
        time.sleep(BACKOFF + 0.5)
    _wait_redis_used(host, time.monotonic() + BACKOFF + 2.0)

    try:
        with Load(host, cold) as load:
            t_begin = time.monotonic()
            time.sleep(1.5)
            redis_server.pause()                              # SIGSTOP: accepts, never answers
            t_pause = time.monotonic()
            time.sleep(3.0)
            during_status, during = _cache_status(host)
            redis_server.resume()
            t_resume = time.monotonic()
            back = host.log_mark()
            t_used = _wait_redis_used(host, t_resume + BACKOFF + 2.0)
            time.sleep(max(0.0, t_resume + BACKOFF + 0.5 - time.monotonic()))
            t_end = time.monotonic()
    finally:
        redis_server.resume()

    summary = _check_load(load, {"before": (t_begin, t_pause), "hung": (t_pause, t_resume),
                                 "answering": (t_resume, t_end)})
    # Requests that were running while Redis hung and met its timeout.
    waited = [r for r in load.results
              if r[0] < t_resume and r[0] + r[1] > t_pause and r[1] >= REDIS_TIMEOUT * 0.9]
    print(f"(requests, slowest s) by phase: {summary}; {len(waited)} requests met the Redis "
          f"timeout; Redis used again {t_used - t_resume:.1f} s after it answered again")
    assert waited, "no request met the Redis timeout: the hang was not exercised"

    assert during_status == 200
    assert during["redis"] == "unavailable" and during["fallback"] is True, during
    assert "Timeout" in (during["last_error"] or ""), during
    assert t_used - t_resume <= BACKOFF + 1.5
    _every_worker_back_on_redis(host, upstream, back)
