"""/openapi.json is a valid OpenAPI 3.1 document that stays true to the app: every documented
path answers (no 5xx) with its example and default parameters on the demo market, every
route the app serves is documented, and the JSON bodies match the documented schemas.
"""
from __future__ import annotations

import json
import re

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from binance_svc import create_app

# Routes that need no entry of their own: the 308 redirects of the old FastAPI URLs, the
# assets of /docs and /static.
EXEMPT_ENDPOINTS = {"static", "pages.docs_asset"}
EXEMPT_PREFIX = "api.legacy_"


@pytest.fixture(scope="module")
def spec(module_client):
    resp = module_client.get("/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    return json.loads(resp.data)


def _openapi_path(rule: str) -> str:
    """Flask rule -> OpenAPI path template: /a/<symbol> -> /a/{symbol}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _example(param: dict):
    """The value a user would try first: the example, else the default, else None."""
    if "example" in param:
        return param["example"]
    schema = param.get("schema", {})
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    return None


def test_spec_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(spec).validate()      # raises with the first problem found


def test_every_operation_documents_its_errors_and_formats(spec):
    media = {"application/json", "text/html", "text/csv", "application/xml"}
    resources = {"statistics", "technical", "correlation", "liquidity", "symbols"}
    ops = {item["get"]["operationId"]: (path, item["get"]) for path, item in spec["paths"].items()
           if "get" in item}
    assert resources <= set(ops)
    for path, op in (ops[name] for name in sorted(resources)):
        content = set(op["responses"]["200"]["content"])
        assert media <= content, path
        assert ("image/png" in content) is (path != "/api/v1/symbols"), path
        assert "application/vnd.apache.parquet" in content, path
        for status in ("400", "406", "503"):
            assert status in op["responses"], (path, status)
        fmt = [p for p in op["parameters"] if p["name"] == "format"]
        assert fmt and fmt[0]["schema"]["enum"] == [m for m in ("json", "html", "csv", "xml",
                                                                "png", "parquet") if
                                                    path != "/api/v1/symbols" or m != "png"]


def _documented_requests(spec):
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method != "get":
                continue
            url = path.replace("{symbol}", "BTCUSDT")
            query = {}
            for param in op.get("parameters", []):
                if param["in"] != "query":
                    continue
                value = _example(param)
                if value is not None:
                    query[param["name"]] = str(value)
            out.append((path, url, query))
    return out


def test_every_documented_path_answers_without_5xx(spec, module_client):
    client = module_client
    """Bare, and with every example/default parameter the document gives."""
    requests = _documented_requests(spec)
    assert len(requests) >= 9
    for path, url, query in requests:
        bare = client.get(url)
        assert bare.status_code < 500, (path, bare.status_code, bare.data[:300])
        assert str(bare.status_code) in spec["paths"][path]["get"]["responses"], path
        full = client.get(url, query_string=query)
        assert full.status_code < 500, (path, query, full.status_code, full.data[:300])
        assert str(full.status_code) in spec["paths"][path]["get"]["responses"], (path, query)


def test_each_documented_example_parameter_alone_answers_200(spec, module_client):
    client = module_client
    for path, url, query in _documented_requests(spec):
        for name, value in query.items():
            resp = client.get(url, query_string={name: value})
            assert resp.status_code == 200, (path, name, value, resp.data[:300])


@pytest.mark.parametrize("path,url", [
    ("/api/v1/analysis/technical/{symbol}", "/api/v1/analysis/technical/BTCUSDT?limit=30"),
    ("/api/v1/market/statistics", "/api/v1/market/statistics"),
    ("/api/v1/analysis/correlation", "/api/v1/analysis/correlation?limit=20"),
    ("/api/v1/market/liquidity/{symbol}", "/api/v1/market/liquidity/BTCUSDT?depth=20"),
    ("/api/v1/symbols", "/api/v1/symbols"),
])
def test_json_bodies_match_the_documented_schema(spec, module_client, path, url):
    ref = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    schema = {**ref, "components": spec["components"]}
    body = module_client.get(url).get_json()
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in OAS31Validator(schema).iter_errors(body)]
    assert not errors, errors[:5]


@pytest.mark.parametrize("url,status", [
    ("/api/v1/analysis/technical/BTCUSDT?limit=0", 400),
    ("/api/v1/analysis/technical/FOOBARUSDT", 404),
    ("/api/v1/market/statistics", 406),
])
def test_error_bodies_match_the_documented_schema(spec, module_client, url, status):
    headers = {"Accept": "application/pdf"} if status == 406 else {}
    resp = module_client.get(url, headers=headers)
    assert resp.status_code == status
    schema = {"$ref": "#/components/schemas/Error", "components": spec["components"]}
    errors = [e.message for e in OAS31Validator(schema).iter_errors(resp.get_json())]
    assert not errors, errors


# -- every route is documented -------------------------------------------------------------
def _routes():
    app = create_app({"MARKET_SOURCE": "demo", "DEMO_UPSTREAM_URL": "", "LOG_LEVEL": "WARNING"})
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in EXEMPT_ENDPOINTS or rule.endpoint.startswith(EXEMPT_PREFIX):
            continue
        out.append((rule.endpoint, rule.rule))
    return sorted(out, key=lambda r: r[1])


@pytest.mark.parametrize("endpoint,rule", [pytest.param(e, r, id=r) for e, r in _routes()])
def test_every_served_route_is_documented(spec, endpoint, rule):
    path = _openapi_path(rule)
    assert path in spec["paths"], f"{rule} ({endpoint}) is served but not in /openapi.json"
    assert "get" in spec["paths"][path]


def test_every_documented_path_is_served(spec, module_app):
    rules = {_openapi_path(r.rule) for r in module_app.url_map.iter_rules()}
    for path in spec["paths"]:
        assert path in rules, path
