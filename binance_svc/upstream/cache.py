"""Time-to-live cache of upstream responses over flask-caching, with single flight and
stale-if-error.

Each entry is kept past its time to live (for `stale_ttl` more seconds) so that, when Binance
fails, the last good copy can be served marked stale instead of an error. Concurrent misses on
one key in one process make one upstream call: the first caller fetches while the others wait
on the key's lock and then read what it stored.
"""
from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UpstreamError, UpstreamUnavailable
from . import stats
from .coordination import LocalCoordinator


@dataclass
class Entry:
    value: Any
    fetched_at: float
    expires_at: float


@dataclass(frozen=True)
class Fetched:
    value: Any
    fetched_at: float
    expires_at: float
    stale: bool
    outcome: str          # "hit", "miss" or "stale"
    error: str | None = None   # why a stale copy was served


class KeyLocks:
    """One lock per key, dropped when nobody holds or waits for it."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[str, list] = {}

    @contextmanager
    def hold(self, key: str):
        with self._guard:
            slot = self._locks.setdefault(key, [threading.Lock(), 0])
            slot[1] += 1
        try:
            with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if slot[1] == 0:
                    self._locks.pop(key, None)


class UpstreamCache:
    def __init__(self, backend, stale_ttl: int, clock=time.time, coordinator=None,
                 flight_wait: float = 10.0):
        self.backend = backend          # a flask_caching.Cache (or anything with get/set)
        self.stale_ttl = stale_ttl
        self.locks = KeyLocks()
        self._clock = clock
        # Across processes (Redis): one fetch per cold key in the whole fleet.
        self.coordinator = coordinator or LocalCoordinator()
        self.flight_wait = flight_wait
        # The last failure of each key, numbered: threads that were already waiting when the
        # one upstream call failed share its error instead of each calling again in turn.
        self._seq = itertools.count()
        self._failed: dict[str, tuple[int, UpstreamError]] = {}

    def _get(self, key: str) -> Entry | None:
        try:
            entry = self.backend.get(key)
        except Exception:  # a broken backend (Redis down) must not take the service with it
            return None
        return entry if isinstance(entry, Entry) else None

    def _set(self, key: str, entry: Entry, ttl: int) -> None:
        try:
            self.backend.set(key, entry, timeout=max(1, int(ttl + self.stale_ttl)))
        except Exception:
            pass

    def get_or_fetch(self, key: str, ttl: int, fetch: Callable[[], Any]) -> Fetched:
        entry = self._get(key)
        if entry is not None and self._clock() < entry.expires_at:
            stats.note_cache("hit")
            return Fetched(entry.value, entry.fetched_at, entry.expires_at, False, "hit")
        arrived = next(self._seq)
        with self.locks.hold(key):
            entry = self._get(key)   # another thread may have fetched while we waited
            if entry is not None and self._clock() < entry.expires_at:
                stats.note_cache("hit")
                return Fetched(entry.value, entry.fetched_at, entry.expires_at, False, "hit")
            failed = self._failed.get(key)
            if failed is not None and failed[0] > arrived:
                return self._stale_or_raise(entry, failed[1])
            with self.coordinator.flight(key, self.flight_wait, self.flight_wait + 5) as leader:
                if self.coordinator.name == "redis":
                    entry = self._get(key) or entry   # another process may have fetched it
                    if entry is not None and self._clock() < entry.expires_at:
                        stats.note_cache("hit")
                        return Fetched(entry.value, entry.fetched_at, entry.expires_at, False,
                                       "hit")
                if not leader:
                    # Another process is fetching and has not finished in time: never stampede.
                    busy = UpstreamUnavailable("Binance is slow to answer another request for "
                                               "the same data.", status=503, retry_after=1)
                    return self._stale_or_raise(entry, busy)
                try:
                    value = fetch()
                except UpstreamError as exc:
                    self._failed[key] = (next(self._seq), exc)
                    return self._stale_or_raise(entry, exc)
                self._failed.pop(key, None)
                now = self._clock()
                fresh = Entry(value, now, now + ttl)
                self._set(key, fresh, ttl)
                stats.note_cache("miss")
                return Fetched(value, now, fresh.expires_at, False, "miss")

    @staticmethod
    def _stale_or_raise(entry: Entry | None, exc: UpstreamError) -> Fetched:
        if entry is None:
            raise exc
        stats.note_cache("stale")
        return Fetched(entry.value, entry.fetched_at, entry.expires_at, True, "stale",
                       error=exc.message)


try:
    from redis.exceptions import RedisError
except ImportError:  # redis-py is only needed with CACHE_TYPE=RedisCache
    class RedisError(Exception):
        pass


class FallbackCache:
    """The shared cache (Redis through flask-caching) with an in-process one behind it.

    Every copy is also kept in process, so when Redis fails (the coordinator stops using it for
    a few seconds after an error) the service goes on serving, fresh or stale, from its own
    memory instead of calling Binance for every request.
    """

    def __init__(self, primary, fallback, coordinator):
        self.primary = primary
        self.fallback = fallback
        self.coordinator = coordinator

    def get(self, key):
        if self.coordinator.available():
            try:
                value = self.primary.get(key)
            except (RedisError, OSError) as exc:
                self.coordinator.record_failure(exc)
            except Exception:
                # A value this version cannot read (written by another one during a rolling
                # deploy): a miss, not an outage.
                try:
                    self.primary.delete(key)
                except Exception:
                    pass
            else:
                if value is not None:
                    return value
        return self.fallback.get(key)

    def add(self, key, value, timeout=None) -> bool:
        """Store unless the key exists; False when another copy was there first. With Redis
        unavailable the value goes to the fallback and counts as stored."""
        if self.coordinator.available():
            try:
                added = self.primary.add(key, value, timeout=timeout)
            except (RedisError, OSError) as exc:
                self.coordinator.record_failure(exc)
            else:
                if not added:
                    return False
        self.fallback.set(key, value, timeout=timeout)
        return True

    def set(self, key, value, timeout=None):
        if self.coordinator.available():
            try:
                self.primary.set(key, value, timeout=timeout)
            except (RedisError, OSError) as exc:
                self.coordinator.record_failure(exc)
        self.fallback.set(key, value, timeout=timeout)
