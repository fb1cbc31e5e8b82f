"""Every environment variable the service reads, parsed and validated once, with its default.

A bad value stops start-up with a ConfigError naming the variable. `create_app(config)` passes
overrides (same names) for tests.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

DEFAULT_WATCHLIST = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT",
                     "DOGEUSDT", "TRXUSDT", "LINKUSDT", "AVAXUSDT")
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
             "1d", "3d", "1w", "1M")
_HOUR = 3_600_000
_DAY = 24 * _HOUR
# Kline intervals in milliseconds; 1M is 30 days, an approximation used only for estimates
# (the gap check skips 1M, the halted-market check allows for 31-day months).
INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": _HOUR, "2h": 2 * _HOUR, "4h": 4 * _HOUR, "6h": 6 * _HOUR,
    "8h": 8 * _HOUR, "12h": 12 * _HOUR, "1d": _DAY, "3d": 3 * _DAY, "1w": 7 * _DAY,
    "1M": 30 * _DAY,
}
# Time to live of cached klines by interval (docs/api.md: 1m -> 10 s ... 1d -> 300 s): a candle
# changes every trade, but nobody needs a 1 d chart fresher than five minutes.
DEFAULT_KLINES_TTL = {"1s": 1, "1m": 10, "3m": 15, "5m": 20, "15m": 30, "30m": 45, "1h": 60,
                      "2h": 90, "4h": 120, "6h": 150, "8h": 180, "12h": 240, "1d": 300,
                      "3d": 300, "1w": 300, "1M": 300}
SYMBOL_RE = re.compile(r"^[A-Za-z0-9]{2,20}$")
CACHE_TYPES = ("SimpleCache", "RedisCache", "NullCache")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    def __init__(self, variable: str, value, allowed: str):
        super().__init__(f"{variable}={value!r} is not valid: {allowed}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    binance_base_url: str = "https://data-api.binance.vision"
    demo_upstream_url: str | None = None
    binance_timeout: float = 5.0
    market_source: str = "binance"
    watchlist: tuple[str, ...] = DEFAULT_WATCHLIST
    cache_type: str = "SimpleCache"
    cache_redis_url: str | None = None
    cache_ttl_ticker: int = 10
    cache_ttl_depth: int = 2
    cache_ttl_exchange_info: int = 3600
    cache_ttl_klines: dict = field(default_factory=lambda: dict(DEFAULT_KLINES_TTL))
    # A page of klines that have all closed never changes: kept for hours, not the interval's
    # seconds (upstream/market.py).
    cache_ttl_klines_history: int = 21600
    cache_stale_ttl: int = 3600
    cache_threshold: int = 2000
    response_cache_mb: int = 64
    redis_timeout: float = 0.25
    upstream_state_file: str | None = None
    upstream_weight_share: float = 0.5
    upstream_weight_limit: int = 6000
    log_level: str = "INFO"
    demo_seed: int = 7
    demo_latency_ms: int = 0
    # Origins whose scripts may read the API: ("*",) any, () none (CORS off), else the list.
    cors_origins: tuple[str, ...] = ("*",)

    @classmethod
    def load(cls, env=None, overrides: dict | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        env.update({k: str(v) if not isinstance(v, str) else v
                    for k, v in (overrides or {}).items() if k.isupper()})
        get = env.get
        source = get("MARKET_SOURCE", "binance").strip().lower()
        if source not in ("binance", "demo"):
            raise ConfigError("MARKET_SOURCE", source, "binance or demo")
        # Each source reads only its own URL, so a BINANCE_BASE_URL left in the environment
        # cannot send the demo market's requests to a host that does not exist.
        base_url = demo_url = None
        if source == "binance":
            base_url = _url("BINANCE_BASE_URL", get("BINANCE_BASE_URL"))
        else:
            demo_url = _url("DEMO_UPSTREAM_URL", get("DEMO_UPSTREAM_URL"))
        watchlist = _symbols("WATCHLIST", get("WATCHLIST"), DEFAULT_WATCHLIST)
        cache_type = get("CACHE_TYPE", "SimpleCache").strip()
        if cache_type not in CACHE_TYPES:
            raise ConfigError("CACHE_TYPE", cache_type, "one of " + ", ".join(CACHE_TYPES))
        redis_url = get("CACHE_REDIS_URL") or None
        if cache_type == "RedisCache" and not redis_url:
            raise ConfigError("CACHE_REDIS_URL", redis_url, "required with CACHE_TYPE=RedisCache")
        klines_ttl = dict(DEFAULT_KLINES_TTL)
        for item in filter(None, (get("CACHE_TTL_KLINES") or "").split(",")):
            interval, _, secs = item.partition("=")
            if interval.strip() not in INTERVALS:
                raise ConfigError("CACHE_TTL_KLINES", item, "interval=seconds, e.g. 1m=10,1d=300")
            klines_ttl[interval.strip()] = _int("CACHE_TTL_KLINES", secs, 0, 86400)
        level = get("LOG_LEVEL", "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", level, "one of " + ", ".join(LOG_LEVELS))
        return cls(
            binance_base_url=base_url or cls.binance_base_url,
            demo_upstream_url=demo_url,
            binance_timeout=_float("BINANCE_TIMEOUT", get("BINANCE_TIMEOUT", "5"), 0.1, 120),
            market_source=source,
            watchlist=watchlist,
            cache_type=cache_type,
            cache_redis_url=redis_url,
            cache_ttl_ticker=_int("CACHE_TTL_TICKER", get("CACHE_TTL_TICKER", "10"), 0, 86400),
            cache_ttl_depth=_int("CACHE_TTL_DEPTH", get("CACHE_TTL_DEPTH", "2"), 0, 86400),
            cache_ttl_exchange_info=_int("CACHE_TTL_EXCHANGE_INFO",
                                         get("CACHE_TTL_EXCHANGE_INFO", "3600"), 0, 604800),
            cache_ttl_klines=klines_ttl,
            cache_ttl_klines_history=_int("CACHE_TTL_KLINES_HISTORY",
                                          get("CACHE_TTL_KLINES_HISTORY", "21600"), 0, 604800),
            cache_stale_ttl=_int("CACHE_STALE_TTL", get("CACHE_STALE_TTL", "3600"), 0, 604800),
            cache_threshold=_int("CACHE_THRESHOLD", get("CACHE_THRESHOLD", "2000"), 10, 10**7),
            response_cache_mb=_int("RESPONSE_CACHE_MB", get("RESPONSE_CACHE_MB", "64"), 1, 65536),
            redis_timeout=_float("REDIS_TIMEOUT", get("REDIS_TIMEOUT", "0.25"), 0.01, 10),
            upstream_state_file=get("UPSTREAM_STATE_FILE", "").strip() or None,
            upstream_weight_share=_float("UPSTREAM_WEIGHT_SHARE",
                                         get("UPSTREAM_WEIGHT_SHARE", "0.5"), 0.01, 1.0),
            upstream_weight_limit=_int("UPSTREAM_WEIGHT_LIMIT",
                                       get("UPSTREAM_WEIGHT_LIMIT", "6000"), 1, 10**6),
            log_level=level,
            demo_seed=_int("DEMO_SEED", get("DEMO_SEED", "7"), 0, 2**31),
            demo_latency_ms=_int("DEMO_LATENCY_MS", get("DEMO_LATENCY_MS", "0"), 0, 60000),
            cors_origins=_origins("CORS_ORIGINS", get("CORS_ORIGINS", "*")),
        )

    @property
    def weight_budget(self) -> int:
        return int(self.upstream_weight_limit * self.upstream_weight_share)

    @property
    def upstream_url(self) -> str:
        """Where the Spot client sends its requests: Binance, or the demo market served over
        HTTP; with the in-process demo market, the default host its transport adapter serves."""
        return self.demo_upstream_url or self.binance_base_url

    @property
    def demo_in_process(self) -> bool:
        return self.market_source == "demo" and self.demo_upstream_url is None


def _url(name, raw) -> str | None:
    """An http(s) URL with no path, without its trailing slash; None when unset or empty."""
    value = (raw or "").strip()
    if not value:
        return None
    if not re.match(r"^https?://[^\s/]+(:\d+)?/?$", value):
        raise ConfigError(name, value, "an http(s) URL with no path")
    return value.rstrip("/")


def _int(name, raw, lo, hi) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(name, raw, f"a whole number from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise ConfigError(name, raw, f"a whole number from {lo} to {hi}")
    return value


def _float(name, raw, lo, hi) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ConfigError(name, raw, f"a number from {lo} to {hi}") from None
    if not lo <= value <= hi:  # also rejects nan
        raise ConfigError(name, raw, f"a number from {lo} to {hi}")
    return value


def _symbols(name, raw, default) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return tuple(default)
    items = [s.strip().upper() for s in raw.split(",") if s.strip()]
    bad = [s for s in items if not SYMBOL_RE.match(s)]
    if bad or not 1 <= len(items) <= 20 or len(set(items)) != len(items):
        raise ConfigError(name, raw, "1 to 20 distinct symbols of 2-20 letters/digits, comma separated")
    return tuple(items)


_ORIGIN_RE = re.compile(r"^https?://([a-z0-9.-]+|\[[0-9a-f:]+\])(:[0-9]{1,5})?$")


def _origins(name, raw) -> tuple[str, ...]:
    """CORS_ORIGINS: `*` (any origin), empty or `none` (off), or a comma list of origins as a
    browser sends them in `Origin` (scheme, host, port if not the default; no path)."""
    value = (raw or "").strip()
    if value == "*":
        return ("*",)
    if not value or value.lower() == "none":
        return ()
    items = [o.strip().rstrip("/").lower() for o in value.split(",") if o.strip()]
    bad = [o for o in items if not _ORIGIN_RE.match(o)]
    if bad or not items:
        raise ConfigError(name, raw, "*, none, or a comma list of origins such as "
                                     "https://example.org,http://127.0.0.1:8888")
    return tuple(dict.fromkeys(items))
