"""The Spot client: the only place that calls Binance.

Every call has a timeout; every Binance failure becomes one of our typed errors (never a
traceback, never Binance's headers or URLs in a message); X-MBX-USED-WEIGHT-1M is read from each
response; after a 429/418 no request leaves the process until Retry-After has passed; above
UPSTREAM_WEIGHT_SHARE of the minute's budget the client refuses to call (the cache then serves a
stale copy or the client gets a 503).
"""
from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass

import requests
from binance.error import ClientError, ServerError
from binance.spot import Spot

from . import stats
from .coordination import LocalCoordinator
from ..errors import (ApiError, InvalidParameter, UnknownSymbol, UpstreamRateLimited,
                      UpstreamTimeout, UpstreamUnavailable)

log = logging.getLogger(__name__)

# Binance's request weight of each endpoint we use (BINANCE.md).
def depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def ticker_weight(n_symbols: int) -> int:
    return 2 if n_symbols <= 20 else 40 if n_symbols <= 100 else 80


KLINES_WEIGHT = 2
EXCHANGE_INFO_WEIGHT = 20
DEFAULT_BAN_SECONDS = 60


@dataclass
class UpstreamState:
    """What this process knows of its standing with Binance (shown by /health/ready)."""

    banned_until: float = 0.0          # time.time() before which no call may leave
    weight_used: int = 0               # last X-MBX-USED-WEIGHT-1M seen, for weight_minute
    weight_minute: int = 0             # the wall-clock minute that figure belongs to
    calls: int = 0                     # upstream HTTP calls made by this process
    weight_spent: int = 0              # sum of the weights of those calls
    last_error: str | None = None
    last_error_at: float | None = None
    last_ok_at: float | None = None


class BinanceClient:
    def __init__(self, base_url: str, timeout: float, weight_budget: int,
                 session_adapter=None, clock=time.time, coordinator=None):
        self.spot = Spot(base_url=base_url, timeout=timeout, show_limit_usage=True)
        if session_adapter is not None:
            self.spot.session.mount(base_url, session_adapter)
        self.timeout = timeout
        self.weight_budget = weight_budget
        self.state = UpstreamState()
        self._lock = threading.Lock()
        self._clock = clock
        # Shares the ban and the weight budget with other processes (Redis), or does nothing.
        self.coordinator = coordinator or LocalCoordinator()

    # -- the guard: ban window and weight budget -------------------------------------------
    def ban_remaining(self) -> int:
        shared = self.coordinator.ban_until()
        if shared > self.state.banned_until:
            with self._lock:
                self.state.banned_until = max(self.state.banned_until, shared)
        left = self.state.banned_until - self._clock()
        return max(0, math.ceil(left))

    def _check_allowed(self, weight: int) -> None:
        self.ban_remaining()  # learn of a ban another process has seen
        now = self._clock()
        with self._lock:
            if self.state.banned_until > now:
                raise UpstreamRateLimited(
                    "Binance asked us to slow down; no request is sent until its ban ends.",
                    retry_after=max(1, math.ceil(self.state.banned_until - now)))
            minute = int(now // 60)
            used = self.state.weight_used if self.state.weight_minute == minute else 0
            if used + weight > self.weight_budget:
                raise UpstreamRateLimited(
                    "The service has used its share of Binance's request weight for this minute.",
                    retry_after=max(1, 60 - int(now % 60)))
            if not self.coordinator.reserve_weight(minute, weight, self.weight_budget):
                raise UpstreamRateLimited(
                    "The service fleet has used its share of Binance's request weight for this "
                    "minute.", retry_after=max(1, 60 - int(now % 60)))
            # Count the call before it is made so concurrent callers see it.
            if self.state.weight_minute != minute:
                self.state.weight_minute, self.state.weight_used = minute, 0
            self.state.weight_used += weight
            self.state.calls += 1
            self.state.weight_spent += weight

    def _record_weight(self, limit_usage: dict) -> None:
        raw = (limit_usage or {}).get("x-mbx-used-weight-1m")
        try:
            used = int(raw)
        except (TypeError, ValueError):
            return
        minute = int(self._clock() // 60)
        with self._lock:
            if self.state.weight_minute != minute:
                self.state.weight_minute, self.state.weight_used = minute, used
            else:
                # Binance's figure counts every caller on our IP; ours may be ahead of it.
                self.state.weight_used = max(self.state.weight_used, used)
            self.state.last_ok_at = self._clock()
        self.coordinator.observe_weight(minute, used)

    def _ban(self, seconds: int) -> None:
        with self._lock:
            self.state.banned_until = max(self.state.banned_until, self._clock() + seconds)
        self.coordinator.set_ban(time.time() + seconds)

    def _fail(self, err: ApiError) -> ApiError:
        with self._lock:
            self.state.last_error = f"{err.code}: {err.message}"
            self.state.last_error_at = self._clock()
        return err

    # -- the call -------------------------------------------------------------------------
    def call(self, method: str, weight: int, *, symbol_param: bool = False, **kwargs):
        """Call a Spot method by name; return its JSON data or raise a typed ApiError."""
        self._check_allowed(weight)
        stats.note_call(weight)   # counted whether it succeeds or not: it went out
        try:
            result = getattr(self.spot, method)(**kwargs)
        except ClientError as exc:
            raise self._fail(self._client_error(exc, symbol_param)) from None
        except ServerError as exc:
            raise self._fail(UpstreamUnavailable(
                f"Binance answered with a server error (HTTP {exc.status_code}).",
                status=502)) from None
        except requests.Timeout:
            raise self._fail(UpstreamTimeout(
                f"Binance did not answer within {self.timeout:g} s.")) from None
        except requests.RequestException:
            raise self._fail(UpstreamUnavailable(
                "Binance could not be reached.", status=503, retry_after=5)) from None
        except (KeyError, ValueError, TypeError):
            # The connector lets a bare KeyError('code') escape on a 4xx JSON body without
            # "code", and a JSON decode error on a 200 that is not JSON.
            raise self._fail(UpstreamUnavailable(
                "Binance sent a response that could not be read.", status=502)) from None
        if not isinstance(result, dict) or "data" not in result:
            raise self._fail(UpstreamUnavailable(
                "Binance sent a response that could not be read.", status=502))
        self._record_weight(result.get("limit_usage"))
        data = result["data"]
        if isinstance(data, str):  # the connector hands back text when the body is not JSON
            raise self._fail(UpstreamUnavailable(
                "Binance sent a response that could not be read.", status=502))
        return data

    def _client_error(self, exc: ClientError, symbol_param: bool) -> ApiError:
        status = exc.status_code
        if status in (429, 418):
            seconds = _retry_after(exc.header) or DEFAULT_BAN_SECONDS
            self._ban(seconds)
            what = "banned this IP" if status == 418 else "rate-limited this IP"
            return UpstreamRateLimited(
                f"Binance {what}; no request is sent for {seconds} s.", retry_after=seconds)
        code = exc.error_code
        if status == 451:
            return UpstreamUnavailable(
                "Binance refuses service from this server's location (HTTP 451).", status=503,
                retry_after=300)
        if status == 403:
            return UpstreamUnavailable("Binance's firewall refused the request (HTTP 403).",
                                       status=503, retry_after=60)
        # -1100 names the parameter with illegal characters; only `symbol` makes it a 404.
        named = re.search(r"parameter '([^']+)'", str(exc.error_message or ""))
        if code == -1121 or (code == -1100 and symbol_param
                             and (named is None or named.group(1) == "symbol")):
            return UnknownSymbol("Binance does not list this symbol.", param="symbol")
        if isinstance(code, int) and -1199 <= code <= -1100:
            return InvalidParameter(f"Binance rejected a parameter: {_clean(exc.error_message)}")
        return UpstreamUnavailable(f"Binance answered HTTP {status}.", status=502)


def _retry_after(headers) -> int | None:
    try:
        value = int(float((headers or {}).get("Retry-After")))
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _clean(msg) -> str:
    text = str(msg or "")[:200]
    return "".join(ch for ch in text if ch.isprintable())
