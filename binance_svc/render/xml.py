"""Report -> the JSON envelope as XML, well-formed for every report.

Layout (root ``<report>``)::

    <report>
      <analysis>technical</analysis> <params><symbol>BTCUSDT</symbol>...</params>
      <source/> <data_as_of/> <generated_at/> <stale>false</stale>
      <warnings><warning>...</warning></warnings>
      <summary>...</summary>
      <columns><column>open_time</column>...</columns>
      <rows><row><open_time>2026-11-23T18:00:00Z</open_time><open>97000.1</open>...</row></rows>
      <tables><table name="assets"><columns>...</columns><rows><row>...</row></rows></table></tables>
    </report>

Rules:
- A key that is a valid XML name (ASCII letter or ``_`` first, then letters, digits, ``_ . -``,
  not starting with ``xml``) names its element. Any other key -- ``0_1percent``, ``5percent+``,
  ``a b``, ``<x>`` -- becomes ``<item key="original">`` (the original spelling, escaped), so no
  key can break the document and no two keys collide.
- A list is a run of ``<item>`` elements; null is an empty element; booleans are ``true``/``false``;
  numbers are written as in JSON; times ISO-8601 UTC with ``Z``.
- Characters XML 1.0 forbids (control characters) are replaced with U+FFFD; everything else is
  escaped by the serialiser.
- The main table is ``/report/rows/row`` (``pandas.read_xml(body, xpath="/report/rows/row")``);
  an extra table is ``/report/tables/table[@name='assets']/rows/row``. With one table,
  ``.//rows/row`` reads the same rows.

Written as text, not with dicttoxml or xml.etree: dicttoxml cannot put attributes (``name``,
``key``) where this layout needs them nor remove forbidden characters, and building 22,000
elements as objects is slow. Well-formedness rests on three small rules -- element names are
fixed or checked against `_NAME`, every text and attribute goes through `_esc`, forbidden
characters are replaced -- and the tests parse every sample report with lxml.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .json import envelope
from .values import column_texts, plain_table, py_value, row_pieces

if TYPE_CHECKING:
    from ..report import Report
    from ..errors import ApiError
    from .formats import RenderContext

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def render_xml(report: Report, ctx: RenderContext) -> bytes:
    head = envelope(report, with_rows=False)
    parts = [_DECLARATION, "<report>"]
    for key in ("analysis", "params", "source", "data_as_of", "generated_at", "stale"):
        parts.append(_node(key, head[key]))
    parts.append(_list("warnings", "warning", head["warnings"]))
    parts.append(_node("summary", head["summary"]))
    parts += _table(report.frame)
    extra = [name for name in report.tables if name != report.main_table]
    if extra:
        parts.append("<tables>")
        for name in extra:
            parts += [f'<table name="{_esc(str(name))}">', *_table(report.tables[name]),
                      "</table>"]
        parts.append("</tables>")
    parts.append("</report>\n")
    return "".join(parts).encode("utf-8")


def render_xml_error(err: ApiError, ctx: RenderContext) -> bytes:
    fields = py_value(err.to_dict())["error"]
    inner = "".join(_node(k, v) for k, v in fields.items())
    return f"{_DECLARATION}<error>{inner}</error>\n".encode("utf-8")


def _table(df) -> list[str]:
    """``<columns>`` and ``<rows>`` as pieces for one `"".join` (rows by `values.row_pieces`)."""
    df = plain_table(df)
    columns = [str(c) for c in df.columns]
    cells = [column_texts(df.iloc[:, i], null="", text=_text) for i in range(len(columns))]
    if columns:
        tags = [_tags(c) for c in columns]
        starts = ["<row>" + tags[0][0]] + [tags[j - 1][1] + tags[j][0]
                                           for j in range(1, len(tags))]
        rows = row_pieces(starts, tags[-1][1] + "</row>", cells)
    else:
        rows = ["<row/>" * len(df)]
    return [_list("columns", "column", columns), "<rows>", *rows, "</rows>"]


def _list(name: str, item: str, values: list) -> str:
    return f"<{name}>" + "".join(_node(item, v, named=True) for v in values) + f"</{name}>"


def _node(key, value, named: bool = False) -> str:
    """An element for key=value; `named`: key is a fixed, valid element name."""
    start, end = (f"<{key}>", f"</{key}>") if named else _tags(str(key))
    if isinstance(value, dict):
        inner = "".join(_node(k, v) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_node("item", v, named=True) for v in value)
    else:
        inner = "" if value is None else _text(value)
    return start + inner + end


def _tags(key: str) -> tuple[str, str]:
    """Start and end tag for a key: the key itself when it is a safe XML name, else an item."""
    if _NAME.match(key) and not key.lower().startswith("xml"):
        return f"<{key}>", f"</{key}>"
    return f'<item key="{_esc(key)}">', "</item>"


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _esc(str(value))


def _esc(text: str) -> str:
    return _FORBIDDEN.sub("\ufffd", text).translate(_ESCAPES)
