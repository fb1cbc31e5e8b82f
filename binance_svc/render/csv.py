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

from typing import TYPE_CHECKING

from ..errors import InvalidParameter
from .values import column_texts, plain_table, row_pieces

if TYPE_CHECKING:
    from ..report import Report
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
    columns = [column_texts(df.iloc[:, i], null="", text=_field) for i in range(df.shape[1])]
    if not columns:
        return _write([_cells(list(df.columns))], [], ctx.bom)
    if len(columns) == 1:   # a row of one empty field is written as "" (see `_write`)
        columns = [[c or '""' for c in columns[0]]]
    header = ",".join(_cells(list(df.columns))) + "\n"
    rows = row_pieces([""] + [","] * (len(columns) - 1), "\n", columns)
    return "".join([BOM if ctx.bom else "", header, *rows]).encode("utf-8")


def render_csv_error(err: ApiError, ctx: RenderContext) -> bytes:
    row = ["" if v is None else v for v in (err.status, err.code, err.message, err.param)]
    return _write([["status", "code", "message", "param"]], [_cells(row)], ctx.bom)


def _write(header: list[list], rows, bom: bool) -> bytes:
    # Written by hand, not with csv.writer: with an LF terminator the csv module leaves a bare
    # CR unquoted, and a reader then splits the row there. An empty line (one null cell) is
    # written as "" because readers skip blank lines.
    lines = [",".join(row) for row in header] + [",".join(row) or '""' for row in rows]
    return ((BOM if bom else "") + "".join(line + "\n" for line in lines)).encode("utf-8")


def _cells(values: list) -> list[str]:
    """Python values (a row) as CSV fields."""
    return [_field(v) for v in values]


def _field(value) -> str:
    return _quote(_cell(value))


def _quote(field: str) -> str:
    if any(ch in field for ch in ',"\r\n'):
        return '"' + field.replace('"', '""') + '"'
    return field


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
