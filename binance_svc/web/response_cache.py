"""The rendered-response cache: finished bytes and headers by canonical URL and format.

In each worker, a dict of immutable `Rendered` entries bounded in bytes (RESPONSE_CACHE_MB),
read without a lock and without pickling: a hit is one dict lookup and an expiry check. With
CACHE_TYPE=RedisCache the shared copy (pickled, in Redis, through `FallbackCache`) sits behind
it, so a response rendered by one worker or host is served by every other one, and then from
that worker's own memory until it expires.

Eviction, when a new entry would pass the byte budget: first every expired entry, then the
oldest stored, until 90 % of the budget is free for new entries. Entries are not reordered on a
hit (no lock on the read path); a busy entry that is evicted comes back at its next miss.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

# A key: (path, sorted query pairs without `format` and `download`, format).
Key = tuple[str, tuple[tuple[str, str], ...], str]

# Bytes counted for an entry beyond its body: the object, its key and its header strings.
ENTRY_OVERHEAD = 1024


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    filename: str
    expires_at: float
    stale: bool
    etag: str
    link: str                 # the Link header: the other formats of the same URL

    @property
    def size(self) -> int:
        return len(self.body) + len(self.link) + ENTRY_OVERHEAD


class LocalResponses:
    """Bounded in bytes, in process, entries stored as they are (never pickled)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: dict[Key, Rendered] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Key) -> Rendered | None:
        item = self._items.get(key)
        if item is None or item.expires_at <= time.time():
            return None
        return item

    def set(self, key: Key, value: Rendered, timeout=None) -> Rendered:
        """Store `value` unless a live entry is there already; return the one to serve (the
        first stored wins, so one URL has one body and one ETag until it expires)."""
        size = value.size
        if size > self.max_bytes:
            return value
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                if old.expires_at > time.time():
                    self._items[key] = old
                    return old
                self._bytes -= old.size
            if self._bytes + size > self.max_bytes:
                self._evict(self.max_bytes * 0.9 - size)
            self._items[key] = value
            self._bytes += size
        return value

    def _evict(self, target: float) -> None:
        now = time.time()
        for key in [k for k, v in self._items.items() if v.expires_at <= now]:
            self._bytes -= self._items.pop(key).size
        while self._items and self._bytes > target:
            self._bytes -= self._items.pop(next(iter(self._items))).size

    def stats(self) -> dict:
        return {"entries": len(self._items), "bytes": self._bytes, "max_bytes": self.max_bytes}


class NoCache:
    """Nothing kept: behind `LayeredResponses` (the worker's own copies are the fallback), and
    as the whole response cache with CACHE_TYPE=NullCache (every request computed anew)."""

    def get(self, key):
        return None

    def set(self, key, value, timeout=None):
        return value

    def add(self, key, value, timeout=None) -> bool:
        return True


class LayeredResponses:
    """The worker's own copies in front of a shared cache (Redis with its fallback)."""

    def __init__(self, local: LocalResponses, shared):
        self.local = local
        self.shared = shared

    def get(self, key: Key) -> Rendered | None:
        item = self.local.get(key)
        if item is None:
            item = self.shared.get(shared_key(key))
            if isinstance(item, Rendered) and item.expires_at > time.time():
                self.local.set(key, item)
            else:
                item = None
        return item

    def set(self, key: Key, value: Rendered, timeout=None) -> Rendered:
        """The first rendering stored in the shared cache wins: a worker that rendered the
        same URL at the same time serves (and keeps) the winner, so every worker and host
        answers one URL with the same bytes and ETag."""
        skey = shared_key(key)
        if not self.shared.add(skey, value, timeout=timeout):
            winner = self.shared.get(skey)
            if isinstance(winner, Rendered) and winner.expires_at > time.time():
                value = winner
        return self.local.set(key, value)

    def stats(self) -> dict:
        return self.local.stats()


def canonical_url(path: str, query, fmt: str) -> str:
    """The URL of a resource in a format: its sorted query, then `format` (escaped: no value
    can pose as another parameter). Link headers and the shared cache's keys use it."""
    return path + "?" + urlencode([*query, ("format", fmt)])


def shared_key(key: Key) -> str:
    return "response:" + canonical_url(*key)
