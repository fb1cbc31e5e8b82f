"""What one process finds in the shared cache that it cannot read.

Several hosts share one Redis, and during a rolling deploy they run different versions of the
service: a value stored by one (a pickled Entry or Rendered) may not unpickle in another (a
class renamed or moved, a pandas that changed its pickle format). That is a cache miss, not a
Redis outage. The app here is built in process (create_app) on a real redis-server: it is the
cache code under test, not gunicorn.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

TARGET = "/api/v1/analysis/technical/BTCUSDT?interval=4h"
# A pickle (protocol 0) of an instance of binance_svc.web.respond.RenderedV0, a class this
# version does not have: what a value written by another version looks like to this one.
# cachelib's Redis serializer marks pickles with a leading "!".
FOREIGN_PICKLE = b"!cbinance_svc.web.respond\nRenderedV0\n)\x81."


@pytest.fixture
def app(redis_server):
    from binance_svc import create_app

    redis_server.client().flushall()
    return create_app({"MARKET_SOURCE": "demo", "CACHE_TYPE": "RedisCache",
                       "CACHE_REDIS_URL": redis_server.url, "TESTING": True})


def _poison_rendered_responses(redis_server) -> list[bytes]:
    client = redis_server.client()
    keys = client.keys("binance_svc:*resp:*")
    for key in keys:
        client.set(key, FOREIGN_PICKLE, ex=300)
    return keys


def test_a_value_another_version_wrote_is_served_around(app, redis_server):
    client = app.test_client()
    first = client.get(TARGET)
    assert first.status_code == 200
    assert _poison_rendered_responses(redis_server)
    again = client.get(TARGET)
    assert again.status_code == 200
    assert again.get_json()["analysis"] == first.get_json()["analysis"]


def test_a_value_another_version_wrote_is_a_miss_not_a_redis_outage(app, redis_server):
    services = app.extensions["binance_svc"]
    client = app.test_client()
    assert client.get(TARGET).status_code == 200
    assert _poison_rendered_responses(redis_server)
    assert client.get(TARGET).status_code == 200
    assert services.coordinator.available(), services.coordinator.status()
    ready = client.get("/health/ready").get_json()["cache"]
    assert ready["redis"] == "ok" and ready["fallback"] is False, ready
