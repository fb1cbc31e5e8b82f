"""The OpenAPI 3.1 document of every path, parameter, format and error (served at /openapi.json).

Built from the spec registry (binance_svc/analyses.py) and the format registry, like the
routes, so a new analysis, parameter, column or format shows up here with no edit; a test
validates it, calls every documented path and checks it against docs/api.md.
"""
from __future__ import annotations

from .. import errors
from ..render.formats import REGISTRY, formats_for
from ..spec import INTEGER, STRING, TIME, Analysis, Param, Registry, Table
from .respond import HEIGHT, WIDTH, allowed_query

NUM = {"type": ["number", "null"]}
TIME_SCHEMA = {"type": ["string", "null"], "format": "date-time"}
_SYMBOL = "[A-Za-z0-9]{2,20}"
# The format parameters every resource takes.
RENDER = {
    "download": {"description": "1 makes Content-Disposition an attachment.",
                 "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}},
    "bom": {"description": "CSV: 1 starts the file with a UTF-8 byte-order mark (Excel).",
            "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}},
    "width": {"description": "PNG width in pixels.",
              "schema": {"type": "integer", "minimum": WIDTH.lo, "maximum": WIDTH.hi,
                         "default": WIDTH.default}},
    "height": {"description": "PNG height in pixels.",
               "schema": {"type": "integer", "minimum": HEIGHT.lo, "maximum": HEIGHT.hi,
                          "default": HEIGHT.default}},
}


def _schema(param: Param) -> dict:
    """The JSON schema of a parameter, by its kind (web/params.py parses the same kinds)."""
    kind = param.kind
    if kind == "symbol":
        return {"type": "string", "pattern": f"^{_SYMBOL}$"}
    if kind == "symbols":
        return {"type": "string", "pattern": f"^{_SYMBOL}(,{_SYMBOL}){{0,{param.hi - 1}}}$"}
    if kind == "int":
        return {"type": "integer", "minimum": param.lo, "maximum": param.hi,
                "default": param.default}
    if kind == "bool":
        return {"type": "string", "enum": ["true", "false"],
                "default": "true" if param.default else "false"}
    if kind == "asset":
        return {"type": "string", "pattern": "^[A-Za-z0-9]{1,20}$"}
    if kind in ("interval", "choice"):
        out = {"type": "string", "enum": list(param.options)}
        return {**out, "default": param.default} if param.default is not None else out
    return {"type": "string"}          # time, notionals: the description says the syntax


def _parameter(param: Param) -> dict:
    out = {"name": param.name, "in": "path" if param.in_path else "query"}
    if param.in_path:
        out["required"] = True
    out.update(description=param.description, schema=_schema(param))
    if param.example is not None and not param.in_path:
        out["example"] = param.example
    return out


def _column_schema(kind: str) -> dict:
    return {STRING: {"type": "string"}, TIME: TIME_SCHEMA,
            INTEGER: {"type": ["integer", "null"]}}.get(kind, NUM)


def _row_schema(table: Table) -> dict:
    props = {c.name: {**_column_schema(c.type), "description": c.meaning + (
        f" ({c.unit})" if c.unit else "")} for c in table.columns}
    return {"type": "object", "properties": props, "additionalProperties": table.open_columns}


def _envelope(analysis: Analysis) -> dict:
    return {
        "type": "object",
        "required": ["analysis", "params", "source", "data_as_of", "generated_at", "stale",
                     "warnings", "summary", "columns", "rows"],
        "properties": {
            "analysis": {"type": "string", "const": analysis.name},
            "params": {"type": "object"},
            "source": {"type": "string", "enum": ["binance", "demo"]},
            "data_as_of": TIME_SCHEMA, "generated_at": {"type": "string", "format": "date-time"},
            "stale": {"type": "boolean"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "summary": {"type": "object", "description": "Keys: " + ", ".join(
                analysis.summary_keys) + "." if analysis.summary_keys else "Summary figures."},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": _row_schema(analysis.tables[0])},
            "tables": {"type": "object", "description": "The other tables, by name.",
                       "properties": {t.name: {
                           "type": "object", "description": t.description,
                           "properties": {
                               "columns": {"type": "array", "items": {"type": "string"}},
                               "rows": {"type": "array", "items": _row_schema(t)}}}
                           for t in analysis.tables[1:]}},
        },
    }


ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "code", "message"],
    "properties": {"status": {"type": "integer"},
                   "code": {"type": "string", "enum": errors.CODES},
                   "message": {"type": "string"}, "param": {"type": ["string", "null"]},
                   "allowed": {"type": "array"}}}}}


def _error(description: str, retry_after: bool = False) -> dict:
    # Errors come in every format that has its own error body; the others get JSON.
    json_error = REGISTRY["json"].render_error
    content = {r.media_type: {"schema": {"$ref": "#/components/schemas/Error"}
                              if fmt == "json" else {"type": "string"}}
               for fmt, r in REGISTRY.items() if fmt == "json" or r.render_error is not json_error}
    out = {"description": description, "content": content}
    if retry_after:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                          "description": "Seconds to wait."}}
    return out


def _operation(analysis: Analysis) -> dict:
    formats = formats_for(analysis)
    params = [_parameter(q) for q in analysis.path_params]
    own = {q.name: q for q in analysis.query}
    for name in allowed_query(analysis):
        if name == "format":
            params.append({"name": "format", "in": "query",
                           "description": "Output format; wins over Accept (case-insensitive).",
                           "schema": {"type": "string", "enum": list(formats)}})
        elif name == "table":
            params.append({"name": "table", "in": "query",
                           "description": "CSV: which table (" + " or ".join(
                               analysis.table_names) + ").",
                           "schema": {"type": "string", "enum": list(analysis.table_names),
                                      "default": analysis.table_names[0]}})
        elif name in own:
            params.append(_parameter(own[name]))
        else:
            params.append({"name": name, "in": "query", **RENDER[name]})
    content = {}
    for fmt in formats:
        r = REGISTRY[fmt]
        if fmt == "json":
            schema = {"$ref": f"#/components/schemas/{analysis.name}Report"}
        elif r.binary:
            schema = {"type": "string", "format": "binary"}
        else:
            schema = {"type": "string"}
        content[r.media_type] = {"schema": schema}
    headers = {
        "ETag": {"schema": {"type": "string"}, "description": "Strong validator of the bytes."},
        "Cache-Control": {"schema": {"type": "string"},
                          "description": "public, max-age=<seconds the data stay fresh>"},
        "Link": {"schema": {"type": "string"},
                 "description": 'rel="alternate" links to the other formats.'},
    }
    responses = {
        "200": {"description": analysis.description, "headers": headers, "content": content},
        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        "400": _error("A parameter is not valid (code invalid_parameter or unknown_format)."),
        "406": _error("The Accept header admits none of the formats."),
        "502": _error("Binance answered with an error or an unreadable body."),
        "503": _error("Binance rate-limits us or cannot be reached.", retry_after=True),
        "504": _error("Binance did not answer in time."),
    }
    if any(q.kind in ("symbol", "symbols") for q in analysis.params):
        responses["404"] = _error("A symbol Binance does not list (code unknown_symbol).")
    return {"operationId": analysis.name, "summary": analysis.title,
            "description": analysis.description, "tags": [analysis.tag],
            "parameters": params, "responses": responses}


def _openapi_path(rule: str) -> str:
    return rule.replace("<", "{").replace(">", "}")


def build_spec(registry: Registry, version: str) -> dict:
    paths = {}
    for analysis in registry:
        paths[_openapi_path(analysis.path)] = {"get": _operation(analysis)}
    for analysis in registry:
        if not analysis.path_params or analysis.form_action in paths:
            continue      # a resource at the form's target redirects ?symbol= itself
        (param,) = analysis.path_params
        paths[analysis.form_action] = {"get": {
            "operationId": f"{analysis.name}_form", "tags": ["operations"],
            "summary": f"The HTML form's target: redirects ?{param.name}=X to "
                       + _openapi_path(analysis.path) + ".",
            "parameters": [{**_parameter(param), "in": "query", "required": True}],
            "responses": {"303": {"description": "See the canonical resource URL.",
                                  "headers": {"Location": {"schema": {"type": "string"}}}},
                          "400": _error(f"{param.name} is missing or not valid.")}}}
    simple = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    paths["/docs"] = {"get": {"operationId": "docs", "summary": "Interactive API documentation "
                              "(Swagger UI, served offline).", "tags": ["operations"],
                              "responses": {"200": {"description": "OK", "content": {
                                  "text/html": {"schema": {"type": "string"}}}}}}}
    paths["/health"] = {"get": {"operationId": "health", "summary": "Liveness (never calls "
                                "Binance).", "tags": ["operations"], "responses": {"200": simple}}}
    paths["/health/ready"] = {"get": {
        "operationId": "ready", "summary": "Readiness: Binance reachable and not banning us.",
        "tags": ["operations"],
        "responses": {"200": simple, "503": {
            "description": "Not ready; the body says why.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    paths["/openapi.json"] = {"get": {"operationId": "openapi", "summary": "This document.",
                                      "tags": ["operations"], "responses": {"200": simple}}}
    paths["/"] = {"get": {"operationId": "index", "summary": "HTML index of every resource.",
                          "tags": ["operations"], "responses": {"200": {
                              "description": "OK",
                              "content": {"text/html": {"schema": {"type": "string"}}}}}}}
    schemas = {f"{a.name}Report": _envelope(a) for a in registry}
    schemas["Error"] = ERROR
    return {
        "openapi": "3.1.0",
        "info": {"title": "binance_svc", "version": version,
                 "description": "Binance public market data as analyses, each at one URL "
                                "in " + ", ".join(r.label for r in REGISTRY.values())
                                + ". The format comes from "
                                "`?format=` or the `Accept` header (q-values honoured; "
                                "`*/*` gives JSON). Errors are {\"error\": {status, code, message, param}} "
                                "in the negotiated format.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in dict.fromkeys(
            [a.tag for a in registry] + ["operations"])],
        "paths": paths,
        "components": {"schemas": schemas},
    }
