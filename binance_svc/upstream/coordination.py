"""What several processes must agree on to be polite to Binance: who fetches a cold key, the ban
window, and the minute's weight budget.

`LocalCoordinator` is the default for one process: nothing shared (the per-process state lives
in the client and the cache's key locks). `HostCoordinator` shares the ban window and the
minute's weight between the workers of one host through a small file under an flock
(gunicorn.conf.py creates it and names it in UPSTREAM_STATE_FILE): Binance counts weight per
IP, and the X-MBX-USED-WEIGHT-1M header alone tells a worker of the others' calls too late, so
without it N workers could each spend the whole share. `RedisCoordinator` shares the three through Redis, the
engine flask-caching already speaks, so that every worker on every host behaves as one client:
a redis-py `Lock` per cold key, a ban key whose time to live is Retry-After, and per-minute
weight counters. Every Redis call has a short timeout; when Redis fails the coordinator says so
(`status()`), stops trying for a few seconds, and the caller carries on with its in-process
state: the service never hangs on Redis.
"""
from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
from contextlib import contextmanager

log = logging.getLogger(__name__)


class LocalCoordinator:
    name = "local"

    def available(self) -> bool:
        return False

    def record_failure(self, exc: Exception) -> None:
        pass

    def ban_until(self) -> float:
        return 0.0

    def set_ban(self, until: float) -> None:
        pass

    def reserve_weight(self, minute: int, weight: int, budget: int) -> bool:
        return True

    def observe_weight(self, minute: int, used: int) -> None:
        pass

    @contextmanager
    def flight(self, key: str, wait: float, hold: float):
        yield True

    def status(self) -> dict:
        return {"mode": "local"}


class HostCoordinator(LocalCoordinator):
    """The ban window and the minute's weight, shared by the processes that open one file.

    The file holds one record: ban end (epoch seconds), the wall-clock minute, the weight this
    host reserved in it, and the largest X-MBX-USED-WEIGHT-1M seen in it. Each access takes an
    flock (between processes) and a thread lock (an flock is held per open file, which the
    threads of a process share); the file is opened again after a fork. If the file cannot be
    used, the caller carries on with its in-process state, as with Redis down.
    """

    name = "host"
    _RECORD = struct.Struct("<dqqq")

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._last_error: str | None = None

    def _fileno(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            # A descriptor inherited across fork shares its flock with the parent: reopen.
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def _update(self, change, fallback):
        """Run change(record) -> (result, new record or None) under both locks."""
        with self._lock:
            try:
                fd = self._fileno()
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    raw = os.pread(fd, self._RECORD.size, 0)
                    record = (self._RECORD.unpack(raw) if len(raw) == self._RECORD.size
                              else (0.0, 0, 0, 0))
                    result, new = change(record)
                    if new is not None and new != record:
                        os.pwrite(fd, self._RECORD.pack(*new), 0)
                    return result
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            except (OSError, struct.error) as exc:
                if self._last_error is None:
                    log.warning("upstream state file %s unusable, using in-process state: %s",
                                self.path, exc)
                self._last_error = f"{type(exc).__name__}: {exc}"[:200]
                self._fd = None
                return fallback

    def ban_until(self) -> float:
        return self._update(lambda r: (r[0], None), 0.0)

    def set_ban(self, until: float) -> None:
        self._update(lambda r: (None, (max(r[0], until),) + r[1:]), None)

    def reserve_weight(self, minute: int, weight: int, budget: int) -> bool:
        def reserve(record):
            ban, at, own, seen = record
            if at < minute:            # a new minute (a clock a little behind keeps the count)
                at, own, seen = minute, 0, 0
            if max(own, seen) + weight > budget:
                return False, None
            return True, (ban, at, own + weight, seen)
        return self._update(reserve, True)

    def observe_weight(self, minute: int, used: int) -> None:
        def observe(record):
            ban, at, own, seen = record
            if at > minute:            # a figure from a minute already over
                return None, None
            if at < minute:
                at, own, seen = minute, 0, 0
            return None, (ban, at, own, max(seen, used))
        self._update(observe, None)

    def weight_used(self, minute: int) -> int:
        return self._update(lambda r: (max(r[2], r[3]) if r[1] == minute else 0, None), None)

    def status(self) -> dict:
        return {"mode": "host", "last_error": self._last_error}


# Atomic check-and-reserve: the minute's use is the larger of our fleet's own count and the
# X-MBX-USED-WEIGHT-1M Binance last reported (which also counts anyone else on our IP).
_RESERVE = """
local own = tonumber(redis.call('GET', KEYS[1]) or '0')
local seen = tonumber(redis.call('GET', KEYS[2]) or '0')
local used = math.max(own, seen)
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -1 end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], 120)
return used + tonumber(ARGV[1])
"""
_MAX_SET = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


class RedisCoordinator:
    name = "redis"

    def __init__(self, url: str, *, prefix: str = "binance_svc:", timeout: float = 0.25,
                 retry_after_failure: float = 5.0, fallback: LocalCoordinator | None = None):
        import redis

        # Whom to ask while Redis is down: the host's shared file, or nobody (LocalCoordinator).
        self.fallback = fallback or LocalCoordinator()

        self._redis_mod = redis
        self.client = redis.Redis.from_url(url, socket_timeout=timeout,
                                           socket_connect_timeout=timeout,
                                           health_check_interval=0)
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after_failure = retry_after_failure
        self._down_until = 0.0
        self._last_error: str | None = None
        self._lock = threading.Lock()
        self._reserve = self.client.register_script(_RESERVE)
        self._max_set = self.client.register_script(_MAX_SET)

    # -- failure handling ---------------------------------------------------------------------
    def available(self) -> bool:
        return time.time() >= self._down_until

    def record_failure(self, exc: Exception) -> None:
        with self._lock:
            first = self.available()
            self._down_until = time.time() + self.retry_after_failure
            self._last_error = f"{type(exc).__name__}: {exc}"[:200]
        if first:
            log.warning("redis unavailable, using in-process state for %.0f s: %s",
                        self.retry_after_failure, self._last_error)

    def _run(self, fn, fallback):
        if not self.available():
            return fallback
        try:
            return fn()
        except self._redis_mod.RedisError as exc:
            self.record_failure(exc)
            return fallback

    # -- the shared state ---------------------------------------------------------------------
    def ban_until(self) -> float:
        missing = object()
        raw = self._run(lambda: self.client.get(self.prefix + "ban"), missing)
        if raw is missing:
            return self.fallback.ban_until()
        try:
            return float(raw) if raw is not None else 0.0
        except ValueError:
            return 0.0

    def set_ban(self, until: float) -> None:
        # Kept in the host's file too: a Redis outage must not forget a ban.
        self.fallback.set_ban(until)
        ms = max(1, int((until - time.time()) * 1000))
        self._run(lambda: self._max_set(keys=[self.prefix + "ban"], args=[f"{until:.3f}", ms]),
                  None)

    def reserve_weight(self, minute: int, weight: int, budget: int) -> bool:
        keys = [f"{self.prefix}weight:{minute}", f"{self.prefix}seen:{minute}"]
        result = self._run(lambda: self._reserve(keys=keys, args=[weight, budget]), None)
        if result is None:
            return self.fallback.reserve_weight(minute, weight, budget)
        return int(result) >= 0

    def observe_weight(self, minute: int, used: int) -> None:
        self.fallback.observe_weight(minute, used)
        self._run(lambda: self._max_set(keys=[f"{self.prefix}seen:{minute}"],
                                        args=[used, 120_000]), None)

    def weight_used(self, minute: int) -> int:
        def read():
            own, seen = self.client.mget(f"{self.prefix}weight:{minute}",
                                         f"{self.prefix}seen:{minute}")
            return max(int(own or 0), int(seen or 0))
        return self._run(read, None)

    @contextmanager
    def flight(self, key: str, wait: float, hold: float):
        """Hold the fleet-wide lock of `key` (yield True), or yield False after `wait` seconds.

        When Redis is unavailable it yields True: the process's own key lock still coalesces
        its threads, which is the best that can be done without shared state.
        """
        if not self.available():
            yield True
            return
        lock = self.client.lock(self.prefix + "flight:" + key, timeout=hold, sleep=0.02,
                                blocking_timeout=wait)
        try:
            acquired = lock.acquire()
        except self._redis_mod.RedisError as exc:
            self.record_failure(exc)
            yield True
            return
        try:
            yield bool(acquired)
        finally:
            if acquired and self.available():   # Redis failed meanwhile: the lock expires
                try:
                    lock.release()
                except self._redis_mod.RedisError as exc:   # expired or Redis gone: harmless
                    if not isinstance(exc, self._redis_mod.exceptions.LockError):
                        self.record_failure(exc)

    def status(self) -> dict:
        ok = self.available()
        if ok:
            try:
                self.client.ping()
            except self._redis_mod.RedisError as exc:
                self.record_failure(exc)
                ok = False
        return {"mode": "redis", "redis": "ok" if ok else "unavailable",
                "fallback": not ok, "last_error": self._last_error}
