"""Settings: every environment variable with its default, parsed once; a bad value stops
start-up with a ConfigError naming the variable.
"""
from __future__ import annotations

import pytest

from binance_svc import ConfigError, create_app
from binance_svc.settings import DEFAULT_KLINES_TTL, DEFAULT_WATCHLIST, Settings

WATCHLIST = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
             "TRXUSDT", "LINKUSDT", "AVAXUSDT")


def load(**env) -> Settings:
    return Settings.load(env=env)


def test_the_defaults():
    s = load()
    assert s.binance_base_url == "https://data-api.binance.vision"
    assert s.demo_upstream_url is None
    assert s.upstream_url == "https://data-api.binance.vision"
    assert s.binance_timeout == 5.0
    assert s.market_source == "binance"
    assert s.watchlist == WATCHLIST == DEFAULT_WATCHLIST
    assert s.cache_type == "SimpleCache"
    assert s.cache_redis_url is None
    assert s.cache_ttl_ticker == 10
    assert s.cache_ttl_depth == 2
    assert s.cache_ttl_exchange_info == 3600
    assert s.cache_ttl_klines["1m"] == 10 and s.cache_ttl_klines["1d"] == 300
    assert set(s.cache_ttl_klines) == {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h",
                                       "6h", "8h", "12h", "1d", "3d", "1w", "1M"}
    assert s.cache_stale_ttl == 3600
    assert s.cache_threshold == 2000
    assert s.upstream_weight_share == 0.5
    assert s.upstream_weight_limit == 6000
    assert s.weight_budget == 3000
    assert s.log_level == "INFO"
    assert s.demo_seed == 7
    assert s.demo_latency_ms == 0


def test_klines_ttl_grows_with_the_interval():
    ttls = [DEFAULT_KLINES_TTL[i] for i in ("1m", "5m", "15m", "1h", "4h", "1d")]
    assert ttls == sorted(ttls)


def test_each_variable_is_read():
    s = load(DEMO_UPSTREAM_URL="http://127.0.0.1:9000/", BINANCE_TIMEOUT=" 2.5 ",
             MARKET_SOURCE="Demo", WATCHLIST=" btcusdt, ethusdt ,", CACHE_TYPE="RedisCache",
             CACHE_REDIS_URL="redis://cache:6379/0", CACHE_TTL_TICKER="5", CACHE_TTL_DEPTH="1",
             CACHE_TTL_EXCHANGE_INFO="600", CACHE_TTL_KLINES="1m=5, 1d=600",
             CACHE_STALE_TTL="120", CACHE_THRESHOLD="500", UPSTREAM_WEIGHT_SHARE="0.25",
             UPSTREAM_WEIGHT_LIMIT="1200", LOG_LEVEL="debug", DEMO_SEED="42",
             DEMO_LATENCY_MS="15", RESPONSE_CACHE_MB="8", REDIS_TIMEOUT="1.5",
             UPSTREAM_STATE_FILE=" /dev/shm/x.state ")
    assert s.demo_upstream_url == "http://127.0.0.1:9000" == s.upstream_url
    assert s.binance_timeout == 2.5
    assert s.market_source == "demo"
    assert s.watchlist == ("BTCUSDT", "ETHUSDT")
    assert (s.cache_type, s.cache_redis_url) == ("RedisCache", "redis://cache:6379/0")
    assert (s.cache_ttl_ticker, s.cache_ttl_depth, s.cache_ttl_exchange_info) == (5, 1, 600)
    assert s.cache_ttl_klines["1m"] == 5 and s.cache_ttl_klines["1d"] == 600
    assert s.cache_ttl_klines["1h"] == DEFAULT_KLINES_TTL["1h"]     # the others keep defaults
    assert (s.cache_stale_ttl, s.cache_threshold) == (120, 500)
    assert s.weight_budget == 300
    assert s.log_level == "DEBUG"
    assert (s.demo_seed, s.demo_latency_ms) == (42, 15)
    assert (s.response_cache_mb, s.redis_timeout) == (8, 1.5)
    assert s.upstream_state_file == "/dev/shm/x.state"
    assert load(BINANCE_BASE_URL="http://127.0.0.1:9000/").upstream_url == "http://127.0.0.1:9000"


def test_an_empty_watchlist_or_base_url_means_the_default():
    s = load(WATCHLIST="  ", BINANCE_BASE_URL="")
    assert s.watchlist == WATCHLIST
    assert s.binance_base_url == "https://data-api.binance.vision"


BAD = [
    ("BINANCE_TIMEOUT", "abc"), ("BINANCE_TIMEOUT", "0"), ("BINANCE_TIMEOUT", "-5"),
    ("BINANCE_TIMEOUT", "nan"), ("BINANCE_TIMEOUT", "3600"),
    ("MARKET_SOURCE", "foo"), ("MARKET_SOURCE", "live"),
    ("WATCHLIST", "BTCUSDT,BTC-USDT"), ("WATCHLIST", "BTCUSDT,<script>"),
    ("WATCHLIST", "BTCUSDT,btcusdt"), ("WATCHLIST", ",".join(f"C{i}USDT" for i in range(21))),
    ("CACHE_TYPE", "Bogus"), ("CACHE_TYPE", "simplecache"),
    ("UPSTREAM_WEIGHT_SHARE", "nan"), ("UPSTREAM_WEIGHT_SHARE", "inf"),
    ("UPSTREAM_WEIGHT_SHARE", "0"), ("UPSTREAM_WEIGHT_SHARE", "1.5"),
    ("UPSTREAM_WEIGHT_SHARE", "half"),
    ("CACHE_TTL_KLINES", "7x=1"), ("CACHE_TTL_KLINES", "1m=abc"), ("CACHE_TTL_KLINES", "1m"),
    ("CACHE_TTL_KLINES", "1m=-1"), ("CACHE_TTL_KLINES", "1M=1.5"),
    ("CACHE_TTL_TICKER", "ten"), ("CACHE_TTL_TICKER", "-1"), ("CACHE_TTL_DEPTH", "1.5"),
    ("CACHE_TTL_EXCHANGE_INFO", "forever"), ("CACHE_STALE_TTL", "-1"),
    ("CACHE_THRESHOLD", "0"), ("UPSTREAM_WEIGHT_LIMIT", "0"),
    ("LOG_LEVEL", "verbose"), ("BINANCE_BASE_URL", "ftp://api.binance.com"),
    ("BINANCE_BASE_URL", "https://api.binance.com/api/v3"), ("BINANCE_BASE_URL", "binance.com"),
    ("DEMO_SEED", "-1"), ("DEMO_LATENCY_MS", "fast"),
    ("RESPONSE_CACHE_MB", "0"), ("REDIS_TIMEOUT", "0"),
]


@pytest.mark.parametrize("name, value", BAD, ids=[f"{n}={v[:20]}" for n, v in BAD])
def test_a_bad_value_is_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as info:
        load(**{name: value})
    assert info.value.variable == name
    assert name in str(info.value)


@pytest.mark.parametrize("value", ["ftp://127.0.0.1:9000", "http://127.0.0.1:9000/api"])
def test_a_bad_demo_upstream_url_is_a_config_error(value):
    with pytest.raises(ConfigError) as info:
        load(MARKET_SOURCE="demo", DEMO_UPSTREAM_URL=value)
    assert info.value.variable == "DEMO_UPSTREAM_URL"
    assert "DEMO_UPSTREAM_URL" in str(info.value)


def test_the_message_says_the_value_and_what_is_allowed():
    with pytest.raises(ConfigError) as info:
        load(MARKET_SOURCE="foo")
    assert "'foo'" in str(info.value) and "binance or demo" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load(BINANCE_TIMEOUT="abc")
    assert "'abc'" in str(info.value) and "number" in str(info.value)


def test_redis_needs_its_url():
    with pytest.raises(ConfigError) as info:
        load(CACHE_TYPE="RedisCache")
    assert info.value.variable == "CACHE_REDIS_URL"


def test_the_process_environment_is_read_when_no_env_is_given(monkeypatch, clean_env):
    monkeypatch.setenv("BINANCE_TIMEOUT", "7")
    monkeypatch.setenv("WATCHLIST", "BTCUSDT")
    s = Settings.load()
    assert s.binance_timeout == 7.0 and s.watchlist == ("BTCUSDT",)


def test_overrides_beat_the_environment_and_need_not_be_strings():
    s = Settings.load(env={"BINANCE_TIMEOUT": "abc"},
                      overrides={"BINANCE_TIMEOUT": 2, "UPSTREAM_WEIGHT_SHARE": 0.1,
                                 "TESTING": True})
    assert s.binance_timeout == 2.0 and s.weight_budget == 600


# -- at start-up -------------------------------------------------------------------------------

def test_a_bad_environment_stops_the_app_from_starting(monkeypatch, clean_env):
    monkeypatch.setenv("UPSTREAM_WEIGHT_SHARE", "nan")
    with pytest.raises(ConfigError) as info:
        create_app()
    assert info.value.variable == "UPSTREAM_WEIGHT_SHARE"


def test_a_bad_override_stops_the_app_from_starting(clean_env):
    with pytest.raises(ConfigError) as info:
        create_app({"CACHE_TYPE": "Bogus"})
    assert info.value.variable == "CACHE_TYPE"


def test_the_app_uses_the_settings(clean_env):
    app = create_app({"BINANCE_TIMEOUT": "3", "UPSTREAM_WEIGHT_SHARE": "0.2"})
    services = app.extensions["binance_svc"]
    assert services.settings.binance_timeout == 3.0
    assert services.client.spot.timeout == 3.0          # every call has this timeout
    assert services.client.spot.base_url == "https://data-api.binance.vision"
    assert services.client.spot.show_limit_usage is True
    assert services.client.weight_budget == 1200
    assert services.demo is None and services.market.source == "binance"


# -- which upstream: BINANCE_BASE_URL counts only for MARKET_SOURCE=binance -----------------------

def test_the_demo_market_ignores_a_stray_binance_base_url(clean_env, monkeypatch):
    # `make demo` in a shell that still has BINANCE_BASE_URL set (even to a host that does
    # not exist, or to a value that is not a URL) serves the bundled demo market.
    monkeypatch.setenv("BINANCE_BASE_URL", "http://127.0.0.1:9")
    s = Settings.load(overrides={"MARKET_SOURCE": "demo"})
    assert s.demo_in_process and s.upstream_url == "https://data-api.binance.vision"
    assert load(MARKET_SOURCE="demo", BINANCE_BASE_URL="not a url").demo_in_process

    app = create_app({"MARKET_SOURCE": "demo", "LOG_LEVEL": "WARNING"})
    services = app.extensions["binance_svc"]
    assert services.demo is not None and services.market.source == "demo"
    frame, prov = services.market.klines("BTCUSDT", "1h", 5)
    assert len(frame) == 5 and prov.source == "demo"
    resp = app.test_client().get("/api/v1/market/statistics?symbols=BTCUSDT&format=json")
    assert resp.status_code == 200 and resp.get_json()["source"] == "demo"


def test_the_demo_market_over_http_has_its_own_setting():
    s = load(MARKET_SOURCE="demo", DEMO_UPSTREAM_URL="http://127.0.0.1:9000",
             BINANCE_BASE_URL="https://api.binance.com")
    assert not s.demo_in_process
    assert s.upstream_url == "http://127.0.0.1:9000"
    # ...which live data ignores in turn.
    s = load(MARKET_SOURCE="binance", DEMO_UPSTREAM_URL="http://127.0.0.1:9000")
    assert s.upstream_url == "https://data-api.binance.vision" and s.demo_upstream_url is None
    assert load(DEMO_UPSTREAM_URL="not a url").demo_upstream_url is None


def test_the_app_calls_the_demo_upstream_url_without_an_adapter(clean_env):
    app = create_app({"MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": "http://127.0.0.1:9"})
    services = app.extensions["binance_svc"]
    assert services.demo is None and services.market.source == "demo"
    assert services.client.spot.base_url == "http://127.0.0.1:9"
