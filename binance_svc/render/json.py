"""Report -> the JSON envelope of docs/api.md, key order as documented.

Speed matters here (a 1,000 x 22 table on every uncached request), and the stdlib encoder spends
most of its time on per-cell dict and key handling. So the rows are written column-wise: each
column becomes cell texts (`values.column_texts`: one `orjson.dumps` call per numeric column,
one `json.dumps` per distinct text) and the rows are laid out by `values.row_pieces`; the whole
body is one `"".join` (joining big strings piecemeal costs more than the rows).
`allow_nan=False` is a guard: a NaN that slipped past the conversion makes rendering fail loudly
instead of sending `NaN`.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .values import column_texts, iso_utc, plain_table, py_value, row_pieces, table_columns

if TYPE_CHECKING:
    import pandas as pd

    from ..report import Report
    from ..errors import ApiError
    from .formats import RenderContext


def envelope(report: Report, with_rows: bool = True) -> dict:
    """The envelope as Python data (also what the XML rendering is built from)."""
    main = plain_table(report.frame)
    columns = list(main.columns)
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
    }
    if not with_rows:
        return body
    _, values = table_columns(main)
    body["rows"] = [dict(zip(columns, row)) for row in zip(*values)]
    extra = [name for name in report.tables if name != report.main_table]
    if extra:
        body["tables"] = {}
        for name in extra:
            cols, vals = table_columns(report.tables[name])
            body["tables"][name] = {"columns": cols,
                                    "rows": [dict(zip(cols, row)) for row in zip(*vals)]}
    return body


def render_json(report: Report, ctx: RenderContext) -> bytes:
    head = dumps_text(envelope(report, with_rows=False))
    parts = [head[:-1], ',"rows":', *_rows_json(report.frame)]
    extra = [name for name in report.tables if name != report.main_table]
    if extra:
        parts.append(',"tables":{')
        for i, name in enumerate(extra):
            df = plain_table(report.tables[name])
            parts += [("," if i else "") + f'{dumps_text(str(name))}:{{"columns":'
                      f'{dumps_text(list(df.columns))},"rows":', *_rows_json(df), "}"]
        parts.append("}")
    parts.append("}")
    return "".join(parts).encode("utf-8")


def render_json_error(err: ApiError, ctx: RenderContext) -> bytes:
    return dumps(py_value(err.to_dict()))


def dumps_text(data) -> str:
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def dumps(data) -> bytes:
    return dumps_text(data).encode("utf-8")


def _rows_json(df: pd.DataFrame) -> list[str]:
    """The table's rows as a JSON array of objects, as pieces for one `"".join`."""
    df = plain_table(df)
    if df.shape[1] == 0:
        return ["[" + ",".join(["{}"] * len(df)) + "]"]
    cells = [column_texts(df.iloc[:, i], null="null", text=dumps_text, time_quote='"')
             for i in range(df.shape[1])]
    keys = [dumps_text(c) + ":" for c in df.columns]
    starts = ["{" + keys[0]] + ["," + k for k in keys[1:]]
    return ["[", *row_pieces(starts, "}", cells, sep=","), "]"]
