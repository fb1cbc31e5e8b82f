"""Single byte ranges (RFC 9110 14): what Parquet readers over HTTP (polars, DuckDB) use to read
a file's footer first."""
from __future__ import annotations

import pytest

# A window in the past: its pages are settled, so every request here gets the same bytes.
URL = "/api/v1/analysis/technical/BTCUSDT?limit=50&end=2026-11-01T00:00:00Z&format=parquet"


@pytest.fixture
def full(client):
    resp = client.get(URL)
    assert resp.status_code == 200 and resp.headers["Accept-Ranges"] == "bytes"
    return resp


@pytest.mark.parametrize("header,first,last", [
    ("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-8", -8, None),
])
def test_a_range_gets_206_with_those_bytes(client, full, header, first, last):
    size = len(full.data)
    resp = client.get(URL, headers={"Range": header})
    assert resp.status_code == 206
    want = full.data[first:None if last is None else last + 1]
    assert resp.data == want
    lo = first % size
    assert resp.headers["Content-Range"] == f"bytes {lo}-{lo + len(want) - 1}/{size}"
    assert resp.headers["ETag"] == full.headers["ETag"]
    assert resp.headers["Content-Type"] == full.headers["Content-Type"]


def test_a_range_past_the_end_is_clamped_or_416(client, full):
    size = len(full.data)
    resp = client.get(URL, headers={"Range": f"bytes={size - 4}-{size + 1000}"})
    assert resp.status_code == 206 and resp.data == full.data[-4:]
    resp = client.get(URL, headers={"Range": f"bytes={size}-"})
    assert resp.status_code == 416 and resp.headers["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-5", "bytes=abc", "bytes=9-2"])
def test_ranges_this_does_not_serve_get_the_whole_body(client, full, header):
    resp = client.get(URL, headers={"Range": header})
    assert resp.status_code == 200 and resp.data == full.data


def test_if_range_for_another_version_gets_the_whole_body(client, full):
    resp = client.get(URL, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert resp.status_code == 200 and resp.data == full.data
    resp = client.get(URL, headers={"Range": "bytes=0-9", "If-Range": full.headers["ETag"]})
    assert resp.status_code == 206 and resp.data == full.data[:10]
