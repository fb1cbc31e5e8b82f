"""binance_svc: Binance public market data as four analyses, one URL each, five formats."""
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
    cache: Cache
    responses: Cache
    demo: object | None
    version: str

    def cache_status(self) -> dict:
        return {"type": self.settings.cache_type}


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` overrides environment variables (same names) for tests."""
    from .upstream.cache import UpstreamCache
    from .upstream.client import BinanceClient
    from .upstream.demo import DemoAdapter, DemoMarket
    from .upstream.market import Market
    from .web import api, errors, observe, pages

    config = dict(config or {})
    settings = Settings.load(overrides=config)
    app = Flask(__name__, static_folder="render/static", static_url_path="/static")
    if "TESTING" in config:
        app.config["TESTING"] = bool(config["TESTING"])
    app.json.sort_keys = False
    observe.configure_logging(settings.log_level)

    cache_config = {"CACHE_TYPE": settings.cache_type, "CACHE_DEFAULT_TIMEOUT": 300,
                    "CACHE_THRESHOLD": settings.cache_threshold}
    if settings.cache_type == "RedisCache":
        cache_config["CACHE_REDIS_URL"] = settings.cache_redis_url
    upstream_cache = Cache(app, config={**cache_config, "CACHE_KEY_PREFIX": "up:"})
    # A second namespace for rendered responses, so a flood of distinct URLs cannot evict the
    # upstream copies that stale-if-error depends on.
    response_cache = Cache(config={**cache_config, "CACHE_KEY_PREFIX": "resp:"})
    response_cache.init_app(app)

    demo = None
    adapter = None
    if settings.market_source == "demo" and not settings.binance_base_url_set:
        demo = DemoMarket(settings.demo_seed, settings.demo_latency_ms)
        adapter = DemoAdapter(demo)
    client = BinanceClient(settings.binance_base_url, settings.binance_timeout,
                           settings.weight_budget, session_adapter=adapter)
    market = Market(settings, client, UpstreamCache(upstream_cache, settings.cache_stale_ttl),
                    source=settings.market_source)
    app.extensions["binance_svc"] = Services(settings, market, client, upstream_cache,
                                             response_cache, demo, __version__)

    observe.register(app)
    errors.register(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    return app
