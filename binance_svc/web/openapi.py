"""The OpenAPI 3.1 document of every path, parameter, format and error (served at /openapi.json).

Built from the same resource table as the routes, so a new parameter shows up here too; the
schemas of the tables follow docs/api.md. A test validates it and calls every documented path.
"""
from __future__ import annotations

from ..settings import INTERVALS
from .resources import RESOURCES

MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html",
         "xml": "application/xml", "png": "image/png"}
NUM = {"type": ["number", "null"]}
TIME = {"type": ["string", "null"], "format": "date-time"}

PARAMS = {
    "symbol": {"name": "symbol", "in": "path", "required": True,
               "description": "A symbol Binance lists, e.g. BTCUSDT (upper-cased before use).",
               "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{2,20}$"}},
    "symbols": {"name": "symbols", "in": "query",
                "description": "Comma-separated distinct symbols (statistics 1-20, "
                               "correlation 2-20). Default: the WATCHLIST.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{2,20}(,[A-Za-z0-9]{2,20}){0,19}$"},
                "example": "BTCUSDT,ETHUSDT,SOLUSDT"},
    "interval": {"name": "interval", "in": "query", "description": "Kline interval (case-sensitive).",
                 "schema": {"type": "string", "enum": list(INTERVALS)}},
    "closed": {"name": "closed", "in": "query",
               "description": "true drops the candle still forming.",
               "schema": {"type": "string", "enum": ["true", "false"], "default": "true"}},
    "start": {"name": "start", "in": "query",
              "description": "Window start: ISO-8601 UTC time or epoch milliseconds; before end, "
                             "not in the future.",
              "schema": {"type": "string"}, "example": "2026-11-01T00:00:00Z"},
    "end": {"name": "end", "in": "query",
            "description": "Window end (default now): ISO-8601 UTC time or epoch milliseconds.",
            "schema": {"type": "string"}, "example": "2026-11-20T00:00:00Z"},
    "benchmark": {"name": "benchmark", "in": "query",
                  "description": "One of symbols; beta is measured against it. Default: the first.",
                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{2,20}$"}},
    "depth": {"name": "depth", "in": "query", "description": "Order-book levels per side fetched.",
              "schema": {"type": "integer", "minimum": 5, "maximum": 5000, "default": 500}},
    "notional": {"name": "notional", "in": "query",
                 "description": "Comma-separated quote amounts (1 to 1e9, at most 10) to walk "
                                "the book with.",
                 "schema": {"type": "string"}, "example": "10000,100000,1000000"},
    "quote": {"name": "quote", "in": "query", "description": "Only symbols of this quote asset.",
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,20}$"}, "example": "USDT"},
    "status": {"name": "status", "in": "query",
               "description": "Symbol status to list; `all` for every status.",
               "schema": {"type": "string", "enum": ["TRADING", "BREAK", "HALT", "END_OF_DAY",
                                                     "PRE_TRADING", "POST_TRADING",
                                                     "AUCTION_MATCH", "all"],
                          "default": "TRADING"}},
    "table": {"name": "table", "in": "query",
              "description": "CSV: which table (matrix or assets).",
              "schema": {"type": "string", "enum": ["matrix", "assets"], "default": "matrix"}},
    "download": {"name": "download", "in": "query",
                 "description": "1 makes Content-Disposition an attachment.",
                 "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}},
    "bom": {"name": "bom", "in": "query",
            "description": "CSV: 1 starts the file with a UTF-8 byte-order mark (Excel).",
            "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}},
    "width": {"name": "width", "in": "query", "description": "PNG width in pixels.",
              "schema": {"type": "integer", "minimum": 300, "maximum": 3000, "default": 1200}},
    "height": {"name": "height", "in": "query", "description": "PNG height in pixels.",
               "schema": {"type": "integer", "minimum": 300, "maximum": 3000, "default": 800}},
}
LIMITS = {"technical": {"minimum": 1, "maximum": 1000, "default": 200,
                        "description": "Candles returned."},
          "correlation": {"minimum": 10, "maximum": 1000, "default": 90,
                          "description": "Returns used."}}

ROWS = {
    "technical": ["open_time", "close_time", "open", "high", "low", "close", "volume",
                  "quote_volume", "trades", "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14",
                  "macd", "macd_signal", "macd_hist", "bb_middle", "bb_upper", "bb_lower",
                  "bb_percent_b", "bb_bandwidth"],
    "statistics": ["symbol", "last_price", "open_price", "high", "low", "price_change",
                   "price_change_pct", "weighted_avg_price", "volume", "quote_volume", "trades",
                   "range_pct", "close_position", "sentiment"],
    "liquidity": ["side", "price", "quantity", "notional", "cum_quantity", "cum_notional",
                  "distance_bps"],
    "symbols": ["symbol", "base_asset", "quote_asset", "status"],
    "correlation": ["symbol"],
}
TEXT_COLUMNS = {"symbol", "sentiment", "side", "base_asset", "quote_asset", "status"}


def _row_schema(name: str) -> dict:
    props = {}
    for col in ROWS[name]:
        if col in TEXT_COLUMNS:
            props[col] = {"type": "string"}
        elif col.endswith("_time"):
            props[col] = TIME
        elif col == "trades":
            props[col] = {"type": ["integer", "null"]}
        else:
            props[col] = NUM
    return {"type": "object", "properties": props,
            "additionalProperties": name == "correlation"}


def _envelope(name: str) -> dict:
    schema = {
        "type": "object",
        "required": ["analysis", "params", "source", "data_as_of", "generated_at", "stale",
                     "warnings", "summary", "columns", "rows"],
        "properties": {
            "analysis": {"type": "string", "const": name},
            "params": {"type": "object"},
            "source": {"type": "string", "enum": ["binance", "demo"]},
            "data_as_of": TIME, "generated_at": {"type": "string", "format": "date-time"},
            "stale": {"type": "boolean"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "summary": {"type": "object"},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": _row_schema(name)},
            "tables": {"type": "object"},
        },
    }
    return schema


ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["status", "code", "message"],
    "properties": {"status": {"type": "integer"},
                   "code": {"type": "string", "enum": [
                       "invalid_parameter", "unknown_format", "not_acceptable", "unknown_symbol",
                       "not_found", "method_not_allowed", "upstream_rate_limited",
                       "upstream_unavailable", "upstream_timeout", "internal_error"]},
                   "message": {"type": "string"}, "param": {"type": ["string", "null"]},
                   "allowed": {"type": "array"}}}}}


def _error(description: str, retry_after: bool = False) -> dict:
    out = {"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                       "application/xml": {"schema": {"type": "string"}},
                       "text/html": {"schema": {"type": "string"}},
                       "text/csv": {"schema": {"type": "string"}}}}
    if retry_after:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                          "description": "Seconds to wait."}}
    return out


def _operation(name: str, res) -> dict:
    params = []
    if "<symbol>" in res.path:
        params.append(PARAMS["symbol"])
    for q in res.allowed_query:
        if q == "format":
            params.append({"name": "format", "in": "query",
                           "description": "Output format; wins over Accept (case-insensitive).",
                           "schema": {"type": "string", "enum": list(res.formats)}})
        elif q == "limit":
            lim = LIMITS[name]
            params.append({"name": "limit", "in": "query", "description": lim["description"],
                           "schema": {"type": "integer", "minimum": lim["minimum"],
                                      "maximum": lim["maximum"], "default": lim["default"]}})
        elif q == "interval":
            params.append({**PARAMS["interval"], "schema": {
                "type": "string", "enum": list(INTERVALS),
                "default": "1d" if name == "correlation" else "1h"}})
        else:
            params.append(PARAMS[q])
    content = {}
    for fmt in res.formats:
        if fmt == "json":
            content[MEDIA[fmt]] = {"schema": {"$ref": f"#/components/schemas/{name}Report"}}
        elif fmt == "png":
            content[MEDIA[fmt]] = {"schema": {"type": "string", "format": "binary"}}
        else:
            content[MEDIA[fmt]] = {"schema": {"type": "string"}}
    headers = {
        "ETag": {"schema": {"type": "string"}, "description": "Strong validator of the bytes."},
        "Cache-Control": {"schema": {"type": "string"},
                          "description": "public, max-age=<seconds the data stay fresh>"},
        "Link": {"schema": {"type": "string"},
                 "description": 'rel="alternate" links to the other formats.'},
    }
    responses = {
        "200": {"description": res.description, "headers": headers, "content": content},
        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        "400": _error("A parameter is not valid (code invalid_parameter or unknown_format)."),
        "406": _error("The Accept header admits none of the formats."),
        "502": _error("Binance answered with an error or an unreadable body."),
        "503": _error("Binance rate-limits us or cannot be reached.", retry_after=True),
        "504": _error("Binance did not answer in time."),
    }
    if name != "symbols":
        responses["404"] = _error("A symbol Binance does not list (code unknown_symbol).")
    return {"operationId": name, "summary": res.title, "description": res.description,
            "tags": ["analyses" if name != "symbols" else "reference"],
            "parameters": params, "responses": responses}


def build_spec(settings, version: str) -> dict:
    paths = {}
    for name, res in RESOURCES.items():
        path = res.path.replace("<symbol>", "{symbol}")
        paths[path] = {"get": _operation(name, res)}
    for name in ("technical", "liquidity"):
        res = RESOURCES[name]
        paths[res.path.split("/<")[0]] = {"get": {
            "operationId": f"{name}_form", "tags": ["operations"],
            "summary": "The HTML form's target: redirects ?symbol=X to "
                       + res.path.replace("<symbol>", "{symbol}") + ".",
            "parameters": [{**PARAMS["symbol"], "in": "query"}],
            "responses": {"303": {"description": "See the canonical resource URL.",
                                  "headers": {"Location": {"schema": {"type": "string"}}}},
                          "400": _error("symbol is missing or not valid.")}}}
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
    schemas = {f"{name}Report": _envelope(name) for name in RESOURCES}
    schemas["Error"] = ERROR
    return {
        "openapi": "3.1.0",
        "info": {"title": "binance_svc", "version": version,
                 "description": "Binance public market data as four analyses, each at one URL "
                                "in JSON, CSV, HTML, XML and PNG. The format comes from "
                                "`?format=` or the `Accept` header (q-values honoured; "
                                "`*/*` gives JSON). Errors are {\"error\": {status, code, message, param}} "
                                "in the negotiated format.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "servers": [{"url": "/"}],
        "tags": [{"name": "analyses"}, {"name": "reference"}, {"name": "operations"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }
