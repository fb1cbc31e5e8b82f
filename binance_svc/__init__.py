"""binance_svc: Binance public market data as analyses, one URL each, in every format of render/formats.py."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask_caching import Cache

from ._version import __version__
from .settings import ConfigError, Settings

__all__ = ["create_app", "ConfigError", "Settings", "__version__"]


@dataclass
class Services:
    settings: Settings
    market: object
    client: object
    cache: object
    responses: object
    demo: object | None
    version: str
    coordinator: object
    registry: object

    def cache_status(self) -> dict:
        return {"type": self.settings.cache_type, **self.coordinator.status()}


def create_app(config: dict | None = None, registry=None) -> Flask:
    """Build the app. `config` overrides environment variables (same names) for tests;
    `registry` (binance_svc.spec.Registry) the analyses served, by default every one of
    binance_svc/analyses.py."""
    from .analyses import REGISTRY
    from .upstream.cache import FallbackCache, UpstreamCache
    from .upstream.client import BinanceClient
    from .upstream.coordination import HostCoordinator, LocalCoordinator, RedisCoordinator
    from .upstream.demo import DemoAdapter, DemoMarket
    from .upstream.market import Market
    from .web import api, errors, observe, pages
    from .web.cors import Cors
    from .web.hits import CachedHits
    from .web.response_cache import LayeredResponses, LocalResponses, NoCache

    config = dict(config or {})
    settings = Settings.load(overrides=config)
    app = Flask(__name__, static_folder="render/static", static_url_path="/static")
    if "TESTING" in config:
        app.config["TESTING"] = bool(config["TESTING"])
    app.json.sort_keys = False
    observe.configure_logging(settings.log_level)

    local = {"CACHE_TYPE": "SimpleCache" if settings.cache_type == "RedisCache"
             else settings.cache_type,
             "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_THRESHOLD": settings.cache_threshold}
    # Two stores: a flood of distinct URLs (rendered responses, bounded in bytes by
    # RESPONSE_CACHE_MB) must not evict the upstream copies that stale-if-error depends on.
    upstream_cache = _cache(app, local, "up:")
    response_cache = (NoCache() if settings.cache_type == "NullCache"
                      else LocalResponses(settings.response_cache_mb * 2**20))
    coordinator = LocalCoordinator()
    if settings.upstream_state_file:
        # The workers of this host share the ban window and the minute's weight (see
        # gunicorn.conf.py); Redis, when configured, shares them across hosts, and this file
        # stands in while Redis is down.
        coordinator = HostCoordinator(settings.upstream_state_file)
    if settings.cache_type == "RedisCache":
        # Shared by every worker and host; each Redis call has a short timeout, and the
        # in-process caches above stay behind it for when Redis fails.
        coordinator = RedisCoordinator(settings.cache_redis_url, timeout=settings.redis_timeout,
                                       fallback=coordinator)
        shared = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.cache_redis_url,
                  "CACHE_DEFAULT_TIMEOUT": 300}
        options = {"socket_timeout": settings.redis_timeout,
                   "socket_connect_timeout": settings.redis_timeout}
        upstream_cache = FallbackCache(
            _cache(app, {**shared, "CACHE_OPTIONS": dict(options)},
                   f"binance_svc:{__version__}:up:"),
            upstream_cache, coordinator)
        response_cache = LayeredResponses(response_cache, FallbackCache(
            _cache(app, {**shared, "CACHE_OPTIONS": dict(options)},
                   f"binance_svc:{__version__}:resp:"),
            NoCache(), coordinator))

    demo = None
    adapter = None
    if settings.demo_in_process:
        demo = DemoMarket(settings.demo_seed, settings.demo_latency_ms)
        adapter = DemoAdapter(demo)
    client = BinanceClient(settings.upstream_url, settings.binance_timeout,
                           settings.weight_budget, session_adapter=adapter,
                           coordinator=coordinator)
    # A waiter gives up on another process's fetch after the worst case of one klines page.
    upstream = UpstreamCache(upstream_cache, settings.cache_stale_ttl, coordinator=coordinator,
                             flight_wait=settings.binance_timeout * 2 + 1)
    market = Market(settings, client, upstream, source=settings.market_source)
    registry = registry if registry is not None else REGISTRY
    app.extensions["binance_svc"] = Services(settings, market, client, upstream_cache,
                                             response_cache, demo, __version__, coordinator,
                                             registry)

    # Cache hits are answered in front of Flask (web/hits.py), from this worker's own copies;
    # the request log wraps both.
    app.wsgi_app = CachedHits(app.wsgi_app, getattr(response_cache, "local", response_cache))
    # CORS headers on every API answer, hits and errors alike, and the preflight's 204.
    app.wsgi_app = Cors(app.wsgi_app, settings.cors_origins)
    observe.register(app)
    errors.register(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.blueprint(registry))
    return app


def _cache(app: Flask, config: dict, prefix: str) -> Cache:
    cache = Cache(config={**config, "CACHE_KEY_PREFIX": prefix})
    cache.init_app(app)
    return cache
