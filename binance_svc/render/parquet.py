"""Report -> Apache Parquet: the CSV's table with real types, the rest of the envelope as metadata.

`pd.read_parquet(url)`, `polars.read_parquet(url)` and DuckDB's `read_parquet('http://…')` get
the same columns, in the same order, as `pd.read_csv` of the CSV URL, but typed: times as
`timestamp[ms, tz=UTC]`, prices and indicators as float64 (an undefined value is a null, never a
NaN), counts as int64, labels as strings. `?table=` picks the table as for CSV.

Everything else the JSON says (analysis, params, summary, warnings, source, stale, data times,
the table's name and the report's other tables' names) is one JSON document in the file's
key-value metadata under `binance_svc` (`pq.read_schema(f).metadata[b"binance_svc"]`), so no
fact of the report is lost in this format.

Compression: zstd (level 3 of pyarrow's default): docs/benchmarks.md compares it with snappy and
none on 1,000 and 10,000 candles. pyarrow is imported on first use: only this format needs it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .json import dumps, envelope
from .values import is_time_dtype, plain_table

if TYPE_CHECKING:
    from ..report import Report
    from .formats import RenderContext

MEDIA_TYPE = "application/vnd.apache.parquet"
COMPRESSION = "zstd"
METADATA_KEY = b"binance_svc"


def render_parquet(report: Report, ctx: RenderContext) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = ctx.table or report.main_table
    df = plain_table(report.tables[name])
    arrays = [_array(pa, df.iloc[:, i]) for i in range(df.shape[1])]
    meta = envelope(report, with_rows=False)
    meta["table"] = name
    meta["table_names"] = list(report.tables)
    meta["columns"] = list(df.columns)
    table = pa.Table.from_arrays(arrays, names=list(df.columns))
    table = table.replace_schema_metadata({METADATA_KEY: dumps(meta)})
    sink = pa.BufferOutputStream()
    # The bytes depend only on the table, the metadata and pyarrow's version (its writer
    # string), so the same report gives the same bytes and the same ETag.
    pq.write_table(table, sink, compression=COMPRESSION)
    return sink.getvalue().to_pybytes()


def _array(pa, series: pd.Series):
    """One column as an Arrow array of the type its values have; nulls where the value is
    undefined (NaN, NaT, None, ±inf)."""
    dtype = series.dtype
    if is_time_dtype(dtype):
        values = series.dt.tz_localize("UTC") if getattr(series.dt, "tz", None) is None \
            else series.dt.tz_convert("UTC")
        return pa.array(values, type=pa.timestamp("ms", tz="UTC"), from_pandas=True)
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(series, type=pa.bool_(), from_pandas=True)
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(series, type=pa.int64(), from_pandas=True)
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return pa.array(values, type=pa.float64(), mask=~np.isfinite(values))
    # Text: labels, symbols, sides. A column of Python numbers (object dtype) stays numeric.
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "integer":
        return pa.array(pd.array(series, dtype="Int64"), type=pa.int64(), from_pandas=True)
    if inferred in ("floating", "mixed-integer-float", "decimal"):
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64",
                                                                 na_value=np.nan)
        return pa.array(values, type=pa.float64(), mask=~np.isfinite(values))
    return pa.array([None if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                     else str(v) for v in series], type=pa.string())
