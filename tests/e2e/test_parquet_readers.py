"""What the README promises a data person: pandas, polars and DuckDB read the Parquet URL
as it is, from the real gunicorn on the demo market, with the CSV's columns, typed."""
from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

TECHNICAL = "/api/v1/analysis/technical/BTCUSDT?limit=120&interval=1d&end=2026-11-01T00:00:00Z"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/vnd.apache.parquet"
        return resp.read()


def test_pandas_reads_the_url_with_the_csv_columns_typed(demo_server):
    base = demo_server.url + TECHNICAL
    frame = pd.read_parquet(base + "&format=parquet")
    csv = pd.read_csv(base + "&format=csv", parse_dates=["open_time", "close_time"])
    assert list(frame.columns) == list(csv.columns)
    assert str(frame["open_time"].dtype) == "datetime64[ms, UTC]"
    assert frame["trades"].dtype == "int64"
    for col in ("open", "close", "volume", "sma_20", "rsi_14", "macd_hist", "bb_upper"):
        assert frame[col].dtype == "float64", col
    assert (frame["open_time"] == csv["open_time"]).all()
    # The CSV writes each float in its shortest round-trip form: the same doubles.
    pd.testing.assert_frame_equal(frame.drop(columns=["open_time", "close_time"]),
                                  csv.drop(columns=["open_time", "close_time"]),
                                  check_exact=True)


def test_the_metadata_holds_what_the_json_says(demo_server):
    base = demo_server.url + TECHNICAL
    meta = json.loads(pq.read_schema(io.BytesIO(_get(base + "&format=parquet")))
                      .metadata[b"binance_svc"])
    with urllib.request.urlopen(base + "&format=json", timeout=30) as resp:
        envelope = json.loads(resp.read())
    for key in ("analysis", "params", "source", "stale", "warnings", "summary", "columns"):
        assert meta[key] == envelope[key], key
    # When each worker fetched its copy: the two requests may have reached different workers.
    assert meta["data_as_of"].endswith("Z") and meta["generated_at"].endswith("Z")
    assert meta["table"] == "candles"


def test_polars_reads_the_url(demo_server):
    polars = pytest.importorskip("polars", reason="polars is not installable here")
    url = demo_server.url + "/api/v1/market/liquidity/BTCUSDT?depth=50&format=parquet"
    frame = polars.read_parquet(url)
    assert frame.columns == ["side", "price", "quantity", "notional", "cum_quantity",
                             "cum_notional", "distance_bps"]
    assert frame.schema["side"] == polars.String
    assert frame.schema["price"] == polars.Float64
    assert frame.height == 100


def test_duckdb_reads_the_url(demo_server):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installable here")
    con = duckdb.connect()
    # DuckDB reads URLs with its httpfs extension, which it would download on first use; the
    # test dependencies install it from PyPI (duckdb-ext-httpfs) in DuckDB's own layout.
    ext = pytest.importorskip("duckdb_ext", reason="duckdb-ext-httpfs is not installed")
    con.execute(f"SET extension_directory = '{Path(list(ext.__path__)[0]) / 'extensions'}'")
    url = demo_server.url + "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT&table=assets" \
                            "&format=parquet"
    try:
        rows = con.execute(f"SELECT symbol, beta FROM read_parquet('{url}') ORDER BY symbol") \
            .fetchall()
    except duckdb.Error as exc:       # httpfs is an extension DuckDB downloads on first use
        if "httpfs" in str(exc).lower() or "extension" in str(exc).lower():
            pytest.skip(f"DuckDB cannot load its httpfs extension here (no network): {exc}")
        raise
    assert [r[0] for r in rows] == ["BTCUSDT", "ETHUSDT"]
    assert rows[0][1] == pytest.approx(1.0)
