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

Built with xml.etree rather than dicttoxml: dicttoxml cannot put attributes (``name``, ``key``)
where this layout needs them and does not remove forbidden characters.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from .json import envelope
from .values import py_value

if TYPE_CHECKING:
    from ..analysis.report import Report
    from ..errors import ApiError
    from .formats import RenderContext

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def render_xml(report: Report, ctx: RenderContext) -> bytes:
    data = envelope(report)
    root = ET.Element("report")
    for key in ("analysis", "params", "source", "data_as_of", "generated_at", "stale"):
        _add(root, key, data[key])
    _add_list(root, "warnings", "warning", data["warnings"])
    _add(root, "summary", data["summary"])
    _add_table(root, data["columns"], data["rows"])
    if "tables" in data:
        tables = ET.SubElement(root, "tables")
        for name, table in data["tables"].items():
            el = ET.SubElement(tables, "table", name=_clean(name))
            _add_table(el, table["columns"], table["rows"])
    return _bytes(root)


def render_xml_error(err: ApiError, ctx: RenderContext) -> bytes:
    root = ET.Element("error")
    for key, value in py_value(err.to_dict())["error"].items():
        _add(root, key, value)
    return _bytes(root)


def _bytes(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _add_table(parent: ET.Element, columns: list[str], rows: list[dict]) -> None:
    _add_list(parent, "columns", "column", columns)
    rows_el = ET.SubElement(parent, "rows")
    # Element names are worked out once per column, not once per cell.
    tags = [_tag(c) for c in columns]
    for row in rows:
        row_el = ET.SubElement(rows_el, "row")
        for column, (tag, attrib) in zip(columns, tags):
            cell = ET.SubElement(row_el, tag, attrib)
            value = row[column]
            if value is not None:
                cell.text = _text(value)


def _add_list(parent: ET.Element, name: str, item: str, values: list) -> None:
    el = ET.SubElement(parent, name)
    for value in values:
        _add(el, item, value, named=True)


def _add(parent: ET.Element, key, value, named: bool = False) -> None:
    """A child for key=value; `named` means key is already a fixed, valid element name."""
    tag, attrib = (key, {}) if named else _tag(str(key))
    el = ET.SubElement(parent, tag, attrib)
    if isinstance(value, dict):
        for k, v in value.items():
            _add(el, k, v)
    elif isinstance(value, list):
        for v in value:
            _add(el, "item", v, named=True)
    elif value is not None:
        el.text = _text(value)


def _tag(key: str) -> tuple[str, dict]:
    if _NAME.match(key) and not key.lower().startswith("xml"):
        return key, {}
    return "item", {"key": _clean(key)}


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _clean(str(value))


def _clean(text: str) -> str:
    return _FORBIDDEN.sub("\ufffd", text)
