"""Parquet by negotiation, as every other format: ?format=, Accept, 406, Link, index, HTML
buttons, OpenAPI, ETag/304, download names, JSON errors, and 400s for other formats'
parameters."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

PARQUET = "application/vnd.apache.parquet"
URLS = ["/api/v1/market/statistics", "/api/v1/analysis/technical/BTCUSDT?limit=50",
        "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT", "/api/v1/market/liquidity/BTCUSDT",
        "/api/v1/symbols"]


def _with(url, **q):
    return url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in q.items())


@pytest.mark.parametrize("url", URLS)
def test_every_resource_answers_parquet_with_the_csv_columns(module_client, url):
    resp = module_client.get(_with(url, format="parquet"))
    assert resp.status_code == 200 and resp.headers["Content-Type"] == PARQUET
    table = pq.read_table(io.BytesIO(resp.data))
    body = json.loads(module_client.get(_with(url, format="json")).data)
    assert table.column_names == body["columns"]
    assert table.num_rows == len(body["rows"])
    assert "Vary" not in resp.headers
    assert resp.headers["Content-Disposition"].endswith('.parquet"')


def test_accept_picks_parquet_and_star_still_gives_json(module_client):
    url = "/api/v1/market/statistics"
    resp = module_client.get(url, headers={"Accept": PARQUET})
    assert resp.headers["Content-Type"] == PARQUET and resp.headers["Vary"] == "Accept"
    resp = module_client.get(url, headers={"Accept": "application/x-parquet"})
    assert resp.headers["Content-Type"] == PARQUET
    resp = module_client.get(url, headers={"Accept": "application/*"})
    assert resp.headers["Content-Type"] == "application/json"


def test_406_lists_parquet_and_link_offers_it(module_client):
    url = "/api/v1/market/statistics"
    resp = module_client.get(url, headers={"Accept": "audio/ogg"})
    assert resp.status_code == 406 and PARQUET in json.loads(resp.data)["error"]["allowed"]
    link = module_client.get(_with(url, format="json")).headers["Link"]
    assert f'<{url}?format=parquet>; rel="alternate"; type="{PARQUET}"' in link


def test_index_html_buttons_and_openapi_link_it(module_client):
    assert 'href="/api/v1/market/statistics?format=parquet"' in module_client.get("/").data.decode()
    page = module_client.get("/api/v1/market/statistics?format=html").data.decode()
    assert 'href="/api/v1/market/statistics?format=parquet"' in page
    spec = json.loads(module_client.get("/openapi.json").data)
    op = spec["paths"]["/api/v1/market/statistics"]["get"]
    assert op["responses"]["200"]["content"][PARQUET] == {"schema": {"type": "string",
                                                                      "format": "binary"}}
    fmt = next(p for p in op["parameters"] if p["name"] == "format")
    assert "parquet" in fmt["schema"]["enum"]


def test_etag_and_304(client):
    url = "/api/v1/analysis/technical/BTCUSDT?limit=50&end=2026-11-01T00:00:00Z&format=parquet"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]
    assert client.get(url).data == first.data


def test_download_names_the_file_parquet(client):
    resp = client.get("/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT&table=assets"
                      "&format=parquet&download=1")
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('_assets.parquet"')


@pytest.mark.parametrize("param", ["width", "height", "bom"])
def test_another_format_s_parameter_is_a_400_naming_it(client, param):
    resp = client.get(f"/api/v1/market/statistics?format=parquet&{param}=1")
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/json"
    err = json.loads(resp.data)["error"]
    assert err["param"] == param and "parquet" in err["message"]


def test_errors_of_a_parquet_request_are_json(client):
    resp = client.get("/api/v1/market/statistics?format=parquet&symbols=B")
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/json"
    assert json.loads(resp.data)["error"]["param"] == "symbols"
    resp = client.get("/api/v1/market/statistics?symbols=B", headers={"Accept": PARQUET})
    assert resp.headers["Content-Type"] == "application/json"
