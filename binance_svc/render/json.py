"""Report -> the JSON envelope of API.md, key order as documented.

Columns are converted once with numpy (`values.column_values`) and zipped into row objects, so
a 1,000 x 22 table costs a few milliseconds with the stdlib encoder. `allow_nan=False` is a guard:
if a NaN ever slipped past the conversion, rendering fails loudly instead of sending `NaN`.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .values import iso_utc, py_value, table_columns

if TYPE_CHECKING:
    from ..analysis.report import Report
    from ..errors import ApiError
    from .formats import RenderContext


def envelope(report: Report) -> dict:
    """The envelope as Python data (also the source of the XML rendering)."""
    columns, values = table_columns(report.frame)
    body = {
        "analysis": report.analysis,
        "params": py_value(report.params or {}),
        "source": report.source,
        "data_as_of": iso_utc(report.data_as_of, millis=False),
        "generated_at": iso_utc(report.generated_at, millis=False),
        "stale": bool(report.stale),
        "warnings": [str(w) for w in report.warnings],
        "summary": py_value(report.summary or {}),
        "columns": columns,
        "rows": _rows(columns, values),
    }
    extra = [name for name in report.tables if name != report.main_table]
    if extra:
        body["tables"] = {}
        for name in extra:
            cols, vals = table_columns(report.tables[name])
            body["tables"][name] = {"columns": cols, "rows": _rows(cols, vals)}
    return body


def _rows(columns: list[str], values: list[list]) -> list[dict]:
    return [dict(zip(columns, row)) for row in zip(*values)]


def dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def render_json(report: Report, ctx: RenderContext) -> bytes:
    return dumps(envelope(report))


def render_json_error(err: ApiError, ctx: RenderContext) -> bytes:
    return dumps(py_value(err.to_dict()))
