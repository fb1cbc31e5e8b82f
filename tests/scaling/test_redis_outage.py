"""Redis down or hung: the service keeps serving from its in-process fallback, says so in
/health/ready and the log, never waits on Redis longer than REDIS_TIMEOUT per Redis call, and
uses Redis again once it is back and the 5 s back-off has passed.

One gunicorn (4 workers) on a redis-server of its own; a steady load (4 clients, each sending
requests one after another: copies fetched before the outage, and cold analyses that need the
upstream) runs through each phase, and every request's duration is measured by the client.

The bound on a request's duration, REDIS_TIMEOUT x 2 + 1 s, is:
- at most two Redis calls that wait for the timeout: the first call that fails (after it the
  coordinator uses in-process state for 5 s and every later call of every thread of that worker
  skips Redis without touching the network), and the release of a fleet-wide flight lock the
  request took before Redis failed (released unconditionally, so it can meet the timeout too);
  each Redis call has REDIS_TIMEOUT as both its connect and its read timeout, and redis-py is
  built without retries (`redis.from_url`), so one call waits at most REDIS_TIMEOUT;
- plus 1 s for the request itself: on this load these requests take well under 0.3 s (the
  baseline is measured before the outage and shown on failure).
A stopped Redis refuses connections at once, so there the bound is far from reached; a hung one
(SIGSTOP: the kernel still accepts connections but nothing answers) meets every timeout.
"""
from __future__ import annotations

import itertools
import threading
import time
from datetime import date, timedelta

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
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT")


def _cold_targets():
    """Analyses nobody has fetched: each one's klines page is a distinct upstream call."""
    start = date(2024, 1, 1)
    for n in itertools.count():
        symbol = SYMBOLS[n % len(SYMBOLS)]
        end = start + timedelta(days=n // len(SYMBOLS))
        yield f"/api/v1/analysis/technical/{symbol}?interval=1d&end={end.isoformat()}T00:00:00Z"


@pytest.fixture(scope="module")
def host(start_hosts, redis_server):
    (service,) = start_hosts({"name": "host", "redis": redis_server.url,
                              "REDIS_TIMEOUT": str(REDIS_TIMEOUT)})
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

    def __init__(self, host, cold, clients: int = 4):
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


def _one_call_burst(host, upstream, target: str, n: int = 32) -> dict:
    """A cold burst over all workers; with every worker on Redis it makes one upstream call."""
    upstream.reset()
    upstream.inject("delay", delay=0.3, count=-1)
    responses = host.burst([target] * n)
    assert [r.status for r in responses] == [200] * n
    counts = upstream.requests()
    upstream.reset()
    return counts


def _check_durations(load, t0, t1, phase: str, baseline: float):
    rows = load.between(t0, t1)
    assert rows, f"no request was sent {phase}"
    failed = [r for r in rows if r[2] != 200]
    assert not failed, f"{phase}: {failed[:5]}"
    slowest = max(rows, key=lambda r: r[1])
    assert slowest[1] <= BOUND, (
        f"{phase}: a request took {slowest[1]:.3f} s > {BOUND:.2f} s ({slowest[3]}); "
        f"slowest before the outage: {baseline:.3f} s")
    return len(rows), slowest[1]


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
        t_used = _wait_redis_used(host, t_start + BACKOFF + 2.0)
        time.sleep(max(0.0, t_start + BACKOFF + 0.5 - time.monotonic()))
        t_end = time.monotonic()

    baseline = max((r[1] for r in load.between(t_begin, t_stop)), default=0.0)
    before = _check_durations(load, t_begin, t_stop, "before the outage", baseline)
    outage = _check_durations(load, t_stop, t_start, "while Redis was stopped", baseline)
    after = _check_durations(load, t_start, t_end, "after Redis came back", baseline)
    print(f"requests/slowest s: before {before}, during {outage}, after {after}; "
          f"Redis used again {t_used - t_start:.1f} s after its restart")
    # Cold analyses during the outage were fetched: the upstream served them, not Redis.
    assert len([r for r in load.between(t_stop, t_start) if "end=" in r[3]]) >= 4

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
    counts = _one_call_burst(host, upstream, next(cold))
    assert counts == {KLINES: 1}, counts
    assert redis_server.client().dbsize() > 0


def test_redis_hung_never_holds_a_request_longer_than_its_timeout(
        host, upstream, redis_server, cold):
    if not redis_server.running:
        redis_server.start()
    _wait_redis_used(host, time.monotonic() + BACKOFF + 2.0)
    time.sleep(BACKOFF)          # every worker past any back-off of the test before

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
            t_used = _wait_redis_used(host, t_resume + BACKOFF + 2.0)
            time.sleep(max(0.0, t_resume + BACKOFF + 0.5 - time.monotonic()))
            t_end = time.monotonic()
    finally:
        redis_server.resume()

    baseline = max((r[1] for r in load.between(t_begin, t_pause)), default=0.0)
    for r in sorted(load.results):
        if r[1] > 0.6:
            print("SLOW", round(r[0]-t_begin, 3), round(r[1], 3), r[2], r[3], "pause at", round(t_pause-t_begin, 3), "resume", round(t_resume-t_begin,3))
    hung = _check_durations(load, t_pause, t_resume, "while Redis hung", baseline)
    after = _check_durations(load, t_resume, t_end, "after Redis answered again", baseline)
    waited = [r for r in load.between(t_pause, t_resume) if r[1] >= REDIS_TIMEOUT * 0.9]
    print(f"requests/slowest s: while hung {hung}, after {after}; {len(waited)} requests met "
          f"the Redis timeout; slowest before: {baseline:.3f} s")
    assert waited, "no request met the Redis timeout: the hang was not exercised"

    assert during_status == 200
    assert during["redis"] == "unavailable" and during["fallback"] is True, during
    assert "Timeout" in (during["last_error"] or ""), during
    assert t_used - t_resume <= BACKOFF + 1.5
    counts = _one_call_burst(host, upstream, next(cold))
    assert counts == {KLINES: 1}, counts
