"""Bans are respected: after a 429 or 418 with Retry-After: N, no worker calls the upstream again
until N seconds have passed (each worker learns of the ban once, by its own call); clients get a
503 with Retry-After, or the stale copy where one is cached; afterwards calls resume. And the
service keeps under its configured share of the IP's weight budget.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WORKERS = 3
BAN_S = 5
DEPTH = "/api/v3/depth"
# Per case: a book warmed and then expired (served stale), a book never fetched (503).
WITH_COPY = {429: "/api/v1/market/liquidity/ETHUSDT?depth=20",
             418: "/api/v1/market/liquidity/ETHUSDT?depth=21"}
NO_COPY = {429: "/api/v1/market/liquidity/SOLUSDT?depth=30",
           418: "/api/v1/market/liquidity/SOLUSDT?depth=31"}


@pytest.fixture(scope="module")
def service(start_service, upstream):
    svc = start_service(workers=WORKERS, CACHE_TTL_DEPTH="1")
    for _ in range(20):          # every worker holds the symbol list: only depth is called
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(lambda _: svc.get("/api/v1/symbols"), range(24)))
        if upstream.requests("/api/v3/exchangeInfo") >= WORKERS:
            break
    return svc


def _hammer(service, targets, until: float, threads: int = 6) -> list:
    """GET the targets round-robin from several threads until `until` (monotonic)."""
    out, lock = [], threading.Lock()

    def loop(i):
        k = i
        while time.monotonic() < until:
            target = targets[k % len(targets)]
            k += 1
            resp = service.get(target, timeout=10)
            with lock:
                out.append((target, time.monotonic(), resp))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, range(threads)))
    return out


@pytest.mark.parametrize("status", [429, 418])
def test_a_ban_stops_every_worker_until_retry_after(service, upstream, status):
    with_copy, no_copy = WITH_COPY[status], NO_COPY[status]
    with ThreadPoolExecutor(12) as pool:            # a copy of WITH_COPY in every worker
        assert {r.status for r in pool.map(lambda _: service.get(with_copy), range(24))} == {200}
    time.sleep(1.3)                                 # ... now expired (time to live 1 s)
    upstream.reset()
    upstream.inject(kind="status", status=status, retry_after=BAN_S, count=-1, path=DEPTH)
    t0 = time.monotonic()
    # First one key only, so that each worker has at most one call in flight when the ban
    # arrives (calls already sent for other keys at that moment cannot be unsent: with four
    # threads a worker may have up to four in flight; see docs/reliability.md), then both.
    answers = _hammer(service, [no_copy], until=t0 + 1.0)
    answers += _hammer(service, [with_copy, no_copy], until=t0 + BAN_S - 0.8)
    calls = upstream.requests()

    # Each worker called once (to learn of the ban), then nobody until the ban ends.
    timeline = [(round(t - t0, 2), target[-8:], r.status, r.text[60:130]) for target, t, r in
                answers]
    assert 1 <= calls.get(DEPTH, 0) <= WORKERS, (calls, timeline)
    assert set(calls) == {DEPTH}, calls
    assert len(answers) >= 6, len(answers)
    for target, _, resp in answers:
        assert resp.status != 500 and "Traceback" not in resp.text, resp
        if target == no_copy:
            assert resp.status == 503, resp
            assert 1 <= int(resp.headers["Retry-After"]) <= BAN_S, resp.headers
            assert resp.json()["error"]["code"] == "upstream_rate_limited", resp
        else:
            assert resp.status == 200, resp
            assert resp.json()["stale"] is True
            assert resp.headers["Warning"] == '110 - "Response is Stale"'

    # After the ban: calls resume (the fault is gone), fresh data again.
    upstream.reset()
    time.sleep(max(0.0, t0 + BAN_S + 1.0 - time.monotonic()))
    after = [service.get(no_copy, timeout=10) for _ in range(WORKERS * 3)]
    assert all(r.status == 200 for r in after), [r.status for r in after]
    assert upstream.requests(DEPTH) >= 1
    fresh = service.get(with_copy)
    assert fresh.status == 200 and fresh.json()["stale"] is False


def test_no_call_while_banned_even_for_other_endpoints(service, upstream):
    """A ban learnt on /depth also stops klines and tickers (Binance bans the IP, not a path)."""
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda _: service.get("/api/v1/market/liquidity/BNBUSDT?depth=40"),
                      range(24)))
    upstream.reset()
    upstream.inject(kind="status", status=429, retry_after=BAN_S, count=-1, path=DEPTH)
    time.sleep(1.2)
    with ThreadPoolExecutor(12) as pool:             # every worker learns (depth expired)
        list(pool.map(lambda _: service.get("/api/v1/market/liquidity/BNBUSDT?depth=40"),
                      range(24)))
    learnt = upstream.requests(DEPTH)
    assert 1 <= learnt <= WORKERS
    others = ["/api/v1/analysis/technical/XRPUSDT?interval=2h",
              "/api/v1/market/statistics?symbols=XRPUSDT,ADAUSDT"]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda t: service.get(t), others * 6))
    calls = upstream.requests()
    if learnt == WORKERS:        # every worker knows: nobody calls anything
        assert set(calls) == {DEPTH}, calls
    else:                        # a worker that has not learnt yet may call once more
        assert sum(v for k, v in calls.items() if k != DEPTH) <= WORKERS - learnt, calls
    banned = [r for r in answers if r.status == 503]
    assert banned and all(r.json()["error"]["code"] == "upstream_rate_limited" for r in banned)
    time.sleep(BAN_S)            # leave no ban behind for the next test


def _open_files(pid: int) -> set[str]:
    """What one process holds open. A worker opens and closes sockets while /proc is listed, so
    a descriptor can vanish between the listing and its readlink (CI saw exactly that)."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.add(os.readlink(fd))
        except FileNotFoundError:
            continue
    return links


def test_weight_budget_share_is_kept(start_service, upstream):
    """UPSTREAM_WEIGHT_LIMIT=200, share 0.5: the service stops at ~100 weight in the minute."""
    limit, share = 200, 0.5
    budget = int(limit * share)
    svc = start_service(workers=2, UPSTREAM_WEIGHT_LIMIT=str(limit),
                        UPSTREAM_WEIGHT_SHARE=str(share))
    try:
        if time.time() % 60 > 45:                   # one wall-clock minute for the whole test
            time.sleep(61 - time.time() % 60)
        upstream.reset()
        # 40 distinct books of weight 25 (depth 101-500): 1,000 weight if nobody stopped.
        targets = [f"/api/v1/market/liquidity/BTCUSDT?depth={d}" for d in range(101, 141)]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda t: svc.get(t, timeout=20), targets))
        stats = upstream.stats()
        limited = [r for r in answers if r.status == 503]
        assert limited, [r.status for r in answers]
        for resp in limited:
            assert resp.json()["error"]["code"] == "upstream_rate_limited", resp
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
        assert all(r.status in (200, 503) for r in answers), [r.status for r in answers]
        # The workers share one count (gunicorn's master hands them a state file), and every
        # call is counted before it leaves: not one unit over, however the calls interleave.
        # (With a count per worker this reached 165: each knew of the other's calls only from
        # Binance's header, one response late.)
        assert stats["weight_used_1m"] <= budget, stats
        doc = svc.get("/health/ready").json()
        assert doc["cache"]["mode"] == "host" and doc["cache"]["last_error"] is None, doc
        # The file the workers hold open (the master created it before forking them).
        opened = {link for pid in svc.worker_pids() for link in _open_files(pid)}
        states = {p for p in opened if "binance_svc-upstream-" in p}
        assert len(states) == 1, opened
        state = states.pop()
        assert Path(state).is_file()
    finally:
        svc.stop()
    assert not Path(state).exists(), "gunicorn's master leaves its state file behind"
