"""docs/api.md and the OpenAPI document say the same: every path, parameter, column, error code,
and every setting settings.py reads.

docs/api.md is read the simple way a person reads it: each resource has a section whose heading
names its path(s) in backticks (`GET /api/v1/...`), with a table whose header starts with
"parameter" (names in backticks in the first cell, where they go in the second) and a table
whose header starts with "column". The "Endpoints" table (header "path") lists every path, the
"Errors" table (header "status") every code, the "Configuration" table (header "variable")
every environment variable. The OpenAPI side is GET /openapi.json of a demo app, so the test
rests on the document clients see, not on how openapi.py builds it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
SETTINGS_PY = ROOT / "binance_svc" / "settings.py"
_TICKS = re.compile(r"`([^`]+)`")
_PATH = re.compile(r"^GET (/\S*)$")


@dataclass
class Section:
    heading: str
    tables: list[list[list[str]]] = field(default_factory=list)   # rows of cells, header first


def _sections(text: str) -> list[Section]:
    sections: list[Section] = [Section("")]
    table: list[list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("#"):
            sections.append(Section(line.lstrip("#").strip()))
            table = None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if table is None:
                table = []
                sections[-1].tables.append(table)
            if not all(set(c) <= set("-: ") for c in cells):     # skip the |---| row
                table.append(cells)
        else:
            table = None
    return sections


def _names(cell: str) -> list[str]:
    return _TICKS.findall(cell)


def _paths(cell: str) -> set[str]:
    return {m.group(1) for t in _names(cell) if (m := _PATH.match(t))}


def _tables(sections, header: str):
    """(section, table) for every table whose first header cell starts with `header`."""
    return [(s, t) for s in sections for t in s.tables if t and t[0][0].startswith(header)]


def _column(sections, header: str) -> set[str]:
    return {n for _, t in _tables(sections, header) for row in t[1:] for n in _names(row[0])}


@pytest.fixture(scope="module")
def doc() -> list[Section]:
    return _sections(API_MD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec(module_client) -> dict:
    resp = module_client.get("/openapi.json")
    assert resp.status_code == 200
    return resp.get_json()


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _openapi_params(spec: dict) -> dict[str, set[tuple[str, str]]]:
    return {path: {(p["name"], p["in"]) for p in ops["get"].get("parameters", [])}
            for path, ops in spec["paths"].items()}


def _openapi_columns(spec: dict) -> dict[str, set[str]]:
    """path -> the properties of a row of its JSON envelope, for paths that have rows."""
    out = {}
    for path, ops in spec["paths"].items():
        content = ops["get"]["responses"].get("200", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = _resolve(spec, content["application/json"]["schema"])
        rows = schema.get("properties", {}).get("rows")
        if rows:
            out[path] = set(_resolve(spec, rows["items"])["properties"])
    return out


def _documented(doc) -> dict[str, dict[str, set]]:
    """path -> {"params": {(name, in)}, "columns": {name}} from the sections naming it."""
    out: dict[str, dict[str, set]] = {}
    for section in doc:
        paths = _paths(section.heading)
        if not paths:
            continue
        params, columns = set(), set()
        for table in section.tables:
            head = table[0][0]
            if head == "parameter":
                for row in table[1:]:
                    params |= {(n, row[1]) for n in _names(row[0])}
            elif head == "column":      # the main table; "column (`assets`)" is another one
                columns |= {n for row in table[1:] for n in _names(row[0])}
        for path in paths:
            assert path not in out, f"docs/api.md has two sections for {path}"
            out[path] = {"params": params, "columns": columns}
    return out


def test_the_document_is_parsed(doc):
    # Guards the parser: if the layout of docs/api.md changed so that nothing is found, every
    # comparison below would compare empty sets.
    documented = _documented(doc)
    assert len(documented) >= 7
    assert ("symbol", "path") in documented["/api/v1/analysis/technical/{symbol}"]["params"]
    assert "rsi_14" in documented["/api/v1/analysis/technical/{symbol}"]["columns"]
    assert "annualized_volatility" in _column(doc, "column (")
    assert len(_column(doc, "variable")) >= 20


def test_every_path_is_in_both(doc, spec):
    listed = {p for _, t in _tables(doc, "path") for row in t[1:] for p in _paths(row[0])}
    assert listed == set(spec["paths"]), (
        f"only in docs/api.md: {sorted(listed - set(spec['paths']))}; "
        f"only in OpenAPI: {sorted(set(spec['paths']) - listed)}")
    sections = set(_documented(doc))
    assert sections <= set(spec["paths"]), f"sections for unknown paths: {sections - set(spec['paths'])}"


def test_every_parameter_is_in_both(doc, spec):
    documented = _documented(doc)
    for path, params in _openapi_params(spec).items():
        if not params and path not in documented:
            continue
        assert path in documented, f"docs/api.md has no section for {path} and its parameters"
        mine = documented[path]["params"]
        assert mine == params, (f"{path}: only in docs/api.md: {sorted(mine - params)}; "
                                f"only in OpenAPI: {sorted(params - mine)}")


def test_every_column_is_in_both(doc, spec):
    documented = _documented(doc)
    columns = _openapi_columns(spec)
    assert columns, "no row schema found in the OpenAPI document"
    for path, props in columns.items():
        assert path in documented, f"docs/api.md has no section for {path} and its columns"
        mine = documented[path]["columns"]
        assert mine == props, (f"{path}: only in docs/api.md: {sorted(mine - props)}; "
                               f"only in OpenAPI: {sorted(props - mine)}")


def test_every_error_code_is_in_both(doc, spec):
    error = _resolve(spec, spec["components"]["schemas"]["Error"])
    codes = set(error["properties"]["error"]["properties"]["code"]["enum"])
    listed = {n for _, t in _tables(doc, "status") for row in t[1:] for n in _names(row[1])}
    assert listed == codes, (f"only in docs/api.md: {sorted(listed - codes)}; "
                             f"only in OpenAPI: {sorted(codes - listed)}")


def test_every_setting_is_documented():
    # The variables settings.py reads, from its source: get("NAME" ...) and _url("NAME", ...);
    # and any other module's own switch, read from os.environ (charts/fast.py: CHARTS_FAST).
    read = set(re.findall(r"""\b(?:get|_url)\(\s*["']([A-Z][A-Z0-9_]+)["']""",
                          SETTINGS_PY.read_text(encoding="utf-8")))
    for module in (ROOT / "binance_svc").rglob("*.py"):
        if module != SETTINGS_PY and "os.environ" in (text := module.read_text("utf-8")):
            read |= set(re.findall(r"""^ENV = ["']([A-Z][A-Z0-9_]+)["']""", text, re.M))
            read |= set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""",
                                   text))
    assert "MARKET_SOURCE" in read and "RESPONSE_CACHE_MB" in read
    listed = _column(_sections(API_MD.read_text(encoding="utf-8")), "variable")
    assert listed == read, (f"only in docs/api.md: {sorted(listed - read)}; "
                            f"read by settings.py but not documented: {sorted(read - listed)}")


def test_every_column_of_the_other_tables_is_in_both(doc, spec):
    """A section's "column (`name`)" table against the envelope's `tables.name` row schema."""
    documented: dict[tuple[str, str], set[str]] = {}
    for section in doc:
        for path in _paths(section.heading):
            for table in section.tables:
                m = re.fullmatch(r"column \(`([^`]+)`\)", table[0][0])
                if m:
                    documented[(path, m.group(1))] = {n for row in table[1:]
                                                      for n in _names(row[0])}
    described: dict[tuple[str, str], set[str]] = {}
    for path, ops in spec["paths"].items():
        content = ops["get"]["responses"].get("200", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = _resolve(spec, content["application/json"]["schema"])
        tables = schema.get("properties", {}).get("tables", {}).get("properties", {})
        for name, table in tables.items():
            items = _resolve(spec, table["properties"]["rows"]["items"])
            described[(path, name)] = set(items["properties"])
    assert described, "no other table found in the OpenAPI document"
    assert documented == described
