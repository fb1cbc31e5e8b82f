"""Parquet: the CSV's table with real types, nulls for undefined values, the envelope as
metadata, and the same bytes for the same report."""
import io
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from binance_svc.render.formats import REGISTRY, RenderContext, filename, render
from binance_svc.report import Report

ASOF = datetime(2026, 11, 23, 19, 0, 3, tzinfo=timezone.utc)


def technical():
    open_time = pd.date_range("2026-11-23T16:00:00Z", periods=4, freq="h")
    table = pd.DataFrame({
        "open_time": open_time,
        "close_time": open_time + pd.Timedelta(milliseconds=3_599_999),
        "close": [97000.1, 0.00001234, -1.5, 2.0],
        "trades": np.array([100, 0, 7, 2**40], dtype="int64"),
        "sma_20": [np.nan, np.inf, -np.inf, 97001.125],
        "signal": ["bullish", None, "=cmd", "neutral"]})
    return Report("technical", {"symbol": "BTCUSDT", "interval": "1h", "limit": 4},
                  {"candles": table}, summary={"last_close": 2.0}, warnings=["demo market"],
                  source="demo", data_as_of=ASOF, generated_at=ASOF)


def read(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


def test_types_are_the_columns_meaning():
    table = read(render(technical(), "parquet", RenderContext()))
    assert table.column_names == ["open_time", "close_time", "close", "trades", "sma_20",
                                  "signal"]
    types = {f.name: f.type for f in table.schema}
    assert types["open_time"] == pa.timestamp("ms", tz="UTC")
    assert types["close_time"] == pa.timestamp("ms", tz="UTC")
    assert types["close"] == pa.float64() and types["sma_20"] == pa.float64()
    assert types["trades"] == pa.int64() and types["signal"] == pa.string()


def test_values_round_trip_and_undefined_is_null_never_nan():
    table = read(render(technical(), "parquet", RenderContext()))
    assert table["close"].to_pylist() == [97000.1, 0.00001234, -1.5, 2.0]
    assert table["trades"].to_pylist() == [100, 0, 7, 2**40]
    assert table["sma_20"].to_pylist() == [None, None, None, 97001.125]
    assert table["sma_20"].null_count == 3
    assert table["signal"].to_pylist() == ["bullish", None, "=cmd", "neutral"]
    assert table["close_time"].to_pylist()[0] == datetime(2026, 11, 23, 16, 59, 59, 999000,
                                                          tzinfo=timezone.utc)


def test_the_metadata_is_the_envelope_without_rows():
    meta = json.loads(read(render(technical(), "parquet", RenderContext())).schema
                      .metadata[b"binance_svc"])
    assert meta == {"analysis": "technical",
                    "params": {"symbol": "BTCUSDT", "interval": "1h", "limit": 4},
                    "source": "demo", "data_as_of": "2026-11-23T19:00:03Z",
                    "generated_at": "2026-11-23T19:00:03Z", "stale": False,
                    "warnings": ["demo market"], "summary": {"last_close": 2.0},
                    "columns": ["open_time", "close_time", "close", "trades", "sma_20",
                                "signal"],
                    "table": "candles", "table_names": ["candles"]}


def test_table_picks_the_table_and_the_file_name_says_which():
    symbols = ["BTCUSDT", "ETHUSDT"]
    report = Report("correlation", {"symbols": symbols, "interval": "1d", "limit": 90},
                    {"matrix": pd.DataFrame({"symbol": symbols, "BTCUSDT": [1.0, 0.8],
                                             "ETHUSDT": [0.8, 1.0]}),
                     "assets": pd.DataFrame({"symbol": symbols, "beta": [1.0, np.nan]})})
    assets = read(render(report, "parquet", RenderContext(table="assets")))
    assert assets.column_names == ["symbol", "beta"]
    assert assets["beta"].to_pylist() == [1.0, None]
    assert read(render(report, "parquet", RenderContext())).column_names == \
        ["symbol", "BTCUSDT", "ETHUSDT"]
    assert filename(report, "parquet", "assets").endswith("_assets.parquet")


def test_same_report_same_bytes():
    assert render(technical(), "parquet", RenderContext()) == \
        render(technical(), "parquet", RenderContext())


def test_pandas_reads_it_with_the_types():
    frame = pd.read_parquet(io.BytesIO(render(technical(), "parquet", RenderContext())))
    assert str(frame["open_time"].dtype) == "datetime64[ms, UTC]"
    assert frame["trades"].dtype == "int64" and frame["close"].dtype == "float64"
    assert frame["sma_20"].isna().sum() == 3


def test_the_format_record():
    record = REGISTRY["parquet"]
    assert record.media_type == "application/vnd.apache.parquet"
    assert record.binary and record.extension == "parquet"
    assert pq.ParquetFile(io.BytesIO(render(technical(), "parquet", RenderContext()))) \
        .metadata.row_group(0).column(0).compression == "ZSTD"
