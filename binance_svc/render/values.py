"""Report values as every text format needs them: plain Python scalars, ISO-8601 UTC times.

One conversion shared by JSON, CSV, XML and HTML so the formats never disagree about a value:
NaN, NaT, None, pd.NA and +/-inf become None (null / empty cell / empty element / em dash);
numpy scalars become Python ones; times become ``2026-11-23T19:00:00Z`` (milliseconds only when
some value of the column has them, so one column never mixes two layouts); naive times are taken
as UTC (the Report's convention). Columns are converted with numpy, not cell by cell, because a
1,000 x 22 table has to render in milliseconds.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal

import numpy as np
import orjson
import pandas as pd


def iso_utc(value, *, millis: bool | None = None) -> str | None:
    """A point in time as ISO-8601 UTC with ``Z``; None for a missing time.

    ``millis=None`` keeps milliseconds only when they are nonzero; ``False`` truncates to seconds
    (report metadata: sub-second precision of ``generated_at`` means nothing to a reader).
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    ms = ts.microsecond // 1000
    base = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if millis or (millis is None and ms):
        return f"{base}.{ms:03d}Z"
    return base + "Z"


def py_value(value):
    """Any value a Report may hold (nested dicts and lists included) as JSON-ready Python."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date, np.datetime64)):
        return iso_utc(value)
    if isinstance(value, (dt.timedelta, np.timedelta64)):
        td = pd.Timedelta(value)
        return None if td is pd.NaT else td.total_seconds()   # durations travel as seconds
    if isinstance(value, Mapping):
        return {str(k): py_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series, pd.Index)):
        return [py_value(v) for v in value]
    return str(value)


def plain_table(df: pd.DataFrame) -> pd.DataFrame:
    """The table with string column names; a named index (e.g. `symbol`) becomes a column."""
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        df = df.reset_index()
    if not all(isinstance(c, str) for c in df.columns):
        df = df.set_axis([str(c) for c in df.columns], axis=1)
    return df


def is_time_dtype(dtype) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or (
        isinstance(dtype, np.dtype) and dtype.kind == "M")


def is_number_dtype(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def column_values(series: pd.Series) -> list:
    """One column as a list of Python values (see the module docstring), vectorised by dtype."""
    dtype = series.dtype
    if is_time_dtype(dtype):
        return _time_values(series)
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return series.to_numpy().tolist()
    if pd.api.types.is_float_dtype(dtype):
        arr = series.to_numpy(dtype="float64", na_value=np.nan)
        out = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)):
            out[i] = None
        return out
    return [py_value(v) for v in series.astype(object).tolist()]


def _time_values(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = series.to_numpy().astype("datetime64[ms]")
    nat = np.isnat(arr)
    millis = bool((arr[~nat].view("int64") % 1000).any())
    text = np.datetime_as_string(arr if millis else arr.astype("datetime64[s]"),
                                 unit="ms" if millis else "s")
    out = np.char.add(text, "Z").tolist()
    for i in np.flatnonzero(nat):
        out[i] = None
    return out


def column_texts(series: pd.Series, *, null: str, text: Callable[[object], str],
                 time_quote: str = "") -> list[str]:
    """One column as the text of each cell in some format.

    Numbers and booleans go through *one* C-level `orjson.dumps` call and are split back into
    cells: JSON's number text is Python's shortest round-trip `repr`, which CSV and XML want too,
    and no number, ``true``, ``false`` or ``null`` contains a comma. ISO times need no escaping in
    any format. Only other cells (free text) go through `text`, one by one.
    """
    dtype = series.dtype
    if len(series) and (isinstance(dtype, np.dtype) and dtype.kind in "iufb"
                        or str(dtype) in ("Float64", "Float32")):
        # orjson writes numbers ~6x faster than the stdlib (shortest round-trip text, like
        # repr) and writes NaN and +-inf as null, which is what every format here wants.
        arr = (series.to_numpy(dtype="float64", na_value=np.nan) if not isinstance(dtype, np.dtype)
               else np.ascontiguousarray(series.to_numpy()))
        if arr.dtype.kind == "f" and arr.dtype != np.float64:
            arr = arr.astype("float64")
        cells = orjson.dumps(arr, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1].split(",")
        return cells if null == "null" else [null if c == "null" else c for c in cells]
    if not is_time_dtype(dtype):
        raw = series.astype(object).tolist()
        if raw and set(map(type, raw)) == {str}:
            # Plain strings (a `side` or `symbol` column) repeat a few values many times: each
            # distinct one is written once. Exact `str` only, so py_value would return the
            # value itself; subclasses and missing values take the general path below.
            memo = {v: text(v) for v in set(raw)}
            return list(map(memo.__getitem__, raw))
    values = column_values(series)
    if is_time_dtype(dtype):
        return [null if v is None else f"{time_quote}{v}{time_quote}" for v in values]
    return [null if v is None else text(v) for v in values]


def row_pieces(starts: list[str], end: str, columns: list[list[str]], sep: str = "") -> list[str]:
    """Cell texts laid out as rows, as one list of pieces for a single `"".join`.

    Row i is ``starts[0] + columns[0][i] + starts[1] + columns[1][i] + ... + end`` and rows are
    separated by `sep`: ``"".join(row_pieces(...)) == sep.join(rows)``. Built with list slice
    assignments (C loops), ~5x faster than one `%` template fill per row on a 10,000-row table.
    Needs at least one column, all of the same length.
    """
    k, n = len(columns), len(columns[0])
    if not n:
        return []
    out = [end + sep + starts[0]] * (2 * k * n)
    out[0] = starts[0]
    step = 2 * k
    for j in range(1, k):
        out[2 * j::step] = [starts[j]] * n
    for j, cells in enumerate(columns):
        out[2 * j + 1::step] = cells
    out.append(end)
    return out


def table_columns(df: pd.DataFrame) -> tuple[list[str], list[list]]:
    """Column names and each column's values, ready for any text format."""
    df = plain_table(df)
    return list(df.columns), [column_values(df.iloc[:, i]) for i in range(df.shape[1])]


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def report_filename(report, extension: str, table: str | None = None) -> str:
    """``technical_BTCUSDT_1h_200.csv``: analysis, then the parameter values, safe chars only.

    Booleans and missing values are left out (``closed=true`` says nothing in a file name);
    lists are joined with ``-``; the table is named when the report has several.
    """
    parts = [str(report.analysis)]
    for value in (report.params or {}).values():
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, (list, tuple)):
            value = "-".join(str(py_value(v)) for v in value)
        elif isinstance(value, (dt.datetime, dt.date)):
            value = (iso_utc(value, millis=False) or "").replace("-", "").replace(":", "")
        parts.append(str(value))
    if len(report.tables) > 1:
        parts.append(table or report.main_table)
    stem = "_".join(p for p in (_UNSAFE_NAME.sub("-", p).strip("-.") for p in parts) if p)
    return f"{stem[:150] or 'report'}.{extension}"
