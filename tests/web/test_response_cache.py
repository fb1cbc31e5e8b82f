"""The rendered-response cache: bounded in bytes, first rendering wins, expired entries gone.

Worked by hand: every entry counts len(body) + len(link) + ENTRY_OVERHEAD bytes.
"""
from __future__ import annotations

import time

import pytest

from binance_svc.web.response_cache import (ENTRY_OVERHEAD, LayeredResponses, LocalResponses,
                                            Rendered, shared_key)


def entry(body: bytes = b"x", ttl: float = 60, etag: str = '"a"') -> Rendered:
    return Rendered(body=body, content_type="text/csv", filename="f.csv",
                    expires_at=time.time() + ttl, stale=False, etag=etag, link="")


def key(n: int) -> tuple:
    return ("/api/v1/symbols", (("quote", f"Q{n}"),), "csv")


def test_an_entry_is_served_until_it_expires():
    cache = LocalResponses(10_000)
    cache.set(key(1), entry(ttl=0.2))
    assert cache.get(key(1)).body == b"x"
    time.sleep(0.25)
    assert cache.get(key(1)) is None


def test_the_byte_budget_evicts_the_oldest_first():
    size = 1000 + ENTRY_OVERHEAD                    # 2,024 bytes an entry
    cache = LocalResponses(5 * size)                 # room for five
    for n in range(5):
        cache.set(key(n), entry(b"b" * 1000))
    assert cache.stats() == {"entries": 5, "bytes": 5 * size, "max_bytes": 5 * size}
    cache.set(key(5), entry(b"b" * 1000))
    # Over budget: evicts down to 90 % of it minus the new entry (4.5 - 1 = 3.5 entries),
    # oldest first: 0 and 1 go, 2, 3, 4 stay, 5 is added.
    assert [cache.get(key(n)) is not None for n in range(6)] == [False, False, True, True,
                                                                 True, True]
    assert cache.stats()["bytes"] == 4 * size


def test_expired_entries_go_before_live_ones():
    size = 1000 + ENTRY_OVERHEAD
    cache = LocalResponses(3 * size)
    cache.set(key(0), entry(b"b" * 1000))
    cache.set(key(1), entry(b"b" * 1000, ttl=0.1))
    cache.set(key(2), entry(b"b" * 1000))
    time.sleep(0.15)
    cache.set(key(3), entry(b"b" * 1000))            # 3 x 0.9 - 1 = 1.7 entries may stay
    assert cache.get(key(1)) is None
    # The expired one went first; then the oldest (0) to get under 1.7 entries: only 2 stays.
    assert [cache.get(key(n)) is not None for n in (0, 2, 3)] == [False, True, True]


def test_a_body_larger_than_the_budget_is_served_but_not_kept():
    cache = LocalResponses(100)
    big = entry(b"b" * 200)
    assert cache.set(key(0), big) is big
    assert cache.get(key(0)) is None and cache.stats()["bytes"] == 0


def test_the_first_rendering_wins_until_it_expires():
    cache = LocalResponses(10_000)
    first, second = entry(etag='"first"'), entry(etag='"second"')
    assert cache.set(key(0), first) is first
    assert cache.set(key(0), second) is first       # a concurrent rendering serves the first
    assert cache.get(key(0)).etag == '"first"'
    cache = LocalResponses(10_000)
    cache.set(key(0), entry(etag='"old"', ttl=0.05))
    time.sleep(0.1)
    assert cache.set(key(0), second) is second      # an expired one is replaced


class DictShared:
    """A stand-in for Redis with its add (SET NX) semantics, to test the layering logic."""

    def __init__(self):
        self.data = {}

    def get(self, k):
        return self.data.get(k)

    def add(self, k, v, timeout=None):
        if k in self.data:
            return False
        self.data[k] = v
        return True


def test_two_workers_rendering_at_once_serve_the_shared_winner():
    shared = DictShared()
    worker_a, worker_b = LayeredResponses(LocalResponses(10_000), shared), \
        LayeredResponses(LocalResponses(10_000), shared)
    a, b = entry(etag='"a"'), entry(etag='"b"')
    assert worker_a.set(key(0), a) is a
    assert worker_b.set(key(0), b) is a              # b lost: B serves and keeps A's bytes
    assert worker_b.get(key(0)).etag == '"a"'
    assert shared.data[shared_key(key(0))] is a


def test_a_worker_reads_what_another_stored():
    shared = DictShared()
    worker_a, worker_b = LayeredResponses(LocalResponses(10_000), shared), \
        LayeredResponses(LocalResponses(10_000), shared)
    worker_a.set(key(1), entry(etag='"a"'))
    assert worker_b.get(key(1)).etag == '"a"'
    assert worker_b.local.get(key(1)).etag == '"a"'   # and keeps its own copy from then on


def test_the_shared_key_escapes_values():
    # A value cannot pose as another parameter: `&` and `=` are escaped.
    assert shared_key(("/p", (("symbols", "A&interval=1d"),), "json")) == \
        "response:/p?symbols=A%26interval%3D1d&format=json"


@pytest.mark.filterwarnings("ignore:Flask-Caching. CACHE_TYPE is set to NullCache")
def test_null_cache_keeps_no_rendered_response():
    from .conftest import make_app
    app = make_app(CACHE_TYPE="NullCache")
    client = app.test_client()
    first = client.get("/api/v1/market/statistics?format=csv")
    second = client.get("/api/v1/market/statistics?format=csv")
    assert first.status_code == second.status_code == 200
    # rendered twice: the demo market was asked twice (no upstream copy, no response copy)
    assert app.extensions["binance_svc"].demo.counters.requests["/api/v3/ticker/24hr"] == 2
