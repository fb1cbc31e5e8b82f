"""Report -> CSV of one table, written so `pd.read_csv(url, parse_dates=[...])` needs nothing else.

- Header row of column names; lines end with ``\\n`` (RFC 4180 says CRLF, but every CSV reader
  accepts LF and LF keeps the body byte-identical on every platform).
- Floats in `repr` (shortest round-trip form, so no precision is lost), ints as ints, booleans as
  ``true``/``false``, times ISO-8601 UTC with ``Z``, an undefined value as an empty field.
- A *text* cell starting with ``= + - @``, tab or carriage return is prefixed with ``'`` so a
  spreadsheet does not run it as a formula (OWASP "CSV injection"); numbers are never touched.
- ``ctx.bom`` starts the body with a UTF-8 byte-order mark (Excel otherwise guesses the encoding).
"""
from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidParameter
from .values import column_values, is_time_dtype, plain_table, report_filename

if TYPE_CHECKING:
    from ..analysis.report import Report
    from ..errors import ApiError
    from .formats import RenderContext

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_csv(report: Report, ctx: RenderContext) -> bytes:
    name = ctx.table or report.main_table
    if name not in report.tables:
        raise InvalidParameter(
            f"Unknown table {ctx.table!r}; this resource has: {', '.join(report.tables)}.",
            param="table", allowed=list(report.tables))
    df = plain_table(report.tables[name])
    columns = [_column_cells(df.iloc[:, i]) for i in range(df.shape[1])]
    return _write([list(df.columns)], zip(*columns), ctx.bom)


def render_csv_error(err: ApiError, ctx: RenderContext) -> bytes:
    row = ["" if v is None else v for v in (err.status, err.code, err.message, err.param)]
    return _write([["status", "code", "message", "param"]], [_cells(row)], ctx.bom)


def csv_filename(report: Report, table: str | None = None) -> str:
    """``technical_BTCUSDT_1h_200.csv`` (chars [A-Za-z0-9_.-] only) for Content-Disposition."""
    return report_filename(report, "csv", table)


def _write(header: list[list], rows, bom: bool) -> bytes:
    buf = io.StringIO()
    if bom:
        buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows([_cells(h) for h in header])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _column_cells(series) -> list[str]:
    """One column as CSV fields; numeric columns in one json.dumps call (same repr, no loop)."""
    values = column_values(series)
    dtype = series.dtype
    if is_time_dtype(dtype):
        return ["" if v is None else v for v in values]     # ISO text: never formula-like
    if values and (isinstance(dtype, np.dtype) and dtype.kind in "iufb"
                   or str(dtype) in ("Float64", "Float32")):
        texts = json.dumps(values, allow_nan=False, separators=(",", ":"))[1:-1].split(",")
        return ["" if t == "null" else t for t in texts]
    return _cells(values)


def _cells(values: list) -> list[str]:
    """Python values (a row, or a column of mixed values) as CSV fields."""
    return [_cell(v) for v in values]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
