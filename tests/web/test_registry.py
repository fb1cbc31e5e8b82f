"""An analysis is one record: registering a toy analysis in a test app, with no other edit,
gives it a route in every format, an OpenAPI entry, an index link, a form and its 400s
(docs/extending.md). And the registry itself keeps each fact in one place."""
from __future__ import annotations

import csv
import io
import json
import re
import types
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree
from PIL import Image

from binance_svc.analyses import REGISTRY
from binance_svc.report import Provenance, Report
from binance_svc.spec import NUMBER, STRING, Analysis, Param, Table, columns

from binance_svc import create_app

from .conftest import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[2]
SPREAD_COLUMNS = columns(("symbol", STRING, "The symbol"),
                         ("range_pct", NUMBER, "(high − low) / low × 100", "%"))


def _toy_build(market, params, now):
    tickers, prov = market.tickers(params["symbols"])
    tickers = tickers.set_index("symbol").loc[params["symbols"]].reset_index()
    high, low = tickers["high"].astype(float), tickers["low"].astype(float)
    frame = pd.DataFrame({"symbol": tickers["symbol"], "range_pct": (high - low) / low * 100})
    frame = frame.head(params["top"]).reset_index(drop=True)
    report = Report(analysis="ranges", params=params, tables={"ranges": frame},
                    summary={"widest": frame.sort_values("range_pct")["symbol"].iloc[-1]},
                    title="24 h ranges")
    return report.with_provenance(Provenance.combine([prov]))


def _toy_chart():
    """A chart module as binance_svc/charts/ modules are: a pure layout, then a draw."""
    def layout(report, width, height):
        frame = report.frame
        return {"labels": list(frame["symbol"]), "values": list(frame["range_pct"])}

    def draw(fig, layout):
        ax = fig.add_subplot()
        ax.bar(layout["labels"], layout["values"], color="#5c6bc0")

    return types.SimpleNamespace(layout=layout, draw=draw)


TOY = Analysis(
    name="ranges", title="24 h ranges", path="/api/v1/toy/ranges",
    description="The 24 h range of each symbol.",
    params=(Param("symbols", "symbols", "Symbols, 1 to 5.", lo=1, hi=5, label="Symbols"),
            Param("top", "int", "Rows returned.", default=3, lo=1, hi=5, label="Rows")),
    tables=(Table("ranges", SPREAD_COLUMNS),),
    build=_toy_build, chart=_toy_chart(), summary_keys=("widest",))


@pytest.fixture(scope="module")
def client():
    app = create_app({**DEMO_CONFIG, "WATCHLIST": "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT"},
                     registry=REGISTRY.with_analysis(TOY))
    return app.test_client()


def test_a_registered_analysis_answers_in_every_format(client):
    url = "/api/v1/toy/ranges?top=2"
    body = json.loads(client.get(url + "&format=json").data)
    assert body["analysis"] == "ranges" and body["columns"] == ["symbol", "range_pct"]
    assert [r["symbol"] for r in body["rows"]] == ["BTCUSDT", "ETHUSDT"]
    assert body["params"] == {"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"], "top": 2}

    rows = list(csv.DictReader(io.StringIO(client.get(url + "&format=csv").data.decode())))
    assert [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]
    assert float(rows[0]["range_pct"]) == pytest.approx(body["rows"][0]["range_pct"])

    xml = etree.fromstring(client.get(url + "&format=xml").data)
    assert xml.tag == "report" and len(xml.findall(".//row")) == 2

    html = client.get(url + "&format=html").data.decode()
    assert "24 h ranges" in html and 'name="top"' in html and 'name="symbols"' in html

    png = client.get(url + "&format=png&width=400&height=300")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.data)).size == (400, 300)


def test_a_registered_analysis_validates_its_parameters(client):
    resp = client.get("/api/v1/toy/ranges?top=9")
    err = json.loads(resp.data)["error"]
    assert resp.status_code == 400 and err["param"] == "top" and "1 to 5" in err["message"]
    resp = client.get("/api/v1/toy/ranges?limit=3")
    err = json.loads(resp.data)["error"]
    assert resp.status_code == 400 and err["param"] == "limit"
    assert "top" in err["allowed"] and "width" in err["allowed"]


def test_a_registered_analysis_is_in_openapi_and_the_index(client):
    spec = json.loads(client.get("/openapi.json").data)
    op = spec["paths"]["/api/v1/toy/ranges"]["get"]
    assert op["operationId"] == "ranges"
    params = {p["name"]: p for p in op["parameters"]}
    assert params["top"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 5,
                                       "default": 3}
    assert set(op["responses"]["200"]["content"]) == {
        "application/json", "text/html", "text/csv", "application/xml", "image/png",
        "application/vnd.apache.parquet"}
    rows = spec["components"]["schemas"]["rangesReport"]["properties"]["rows"]["items"]
    assert set(rows["properties"]) == {"symbol", "range_pct"}

    index = client.get("/").data.decode()
    for fmt in ("json", "html", "csv", "xml", "png", "parquet"):
        assert f'href="/api/v1/toy/ranges?format={fmt}"' in index


def test_an_analysis_without_a_chart_has_no_png_and_no_size_parameters(client):
    spec = json.loads(client.get("/openapi.json").data)
    op = spec["paths"]["/api/v1/symbols"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert "image/png" not in op["responses"]["200"]["content"]
    assert not names & {"width", "height"}
    resp = client.get("/api/v1/symbols?width=400")
    assert resp.status_code == 400 and json.loads(resp.data)["error"]["param"] == "width"


def test_the_name_of_an_analysis_lives_in_few_modules():
    """Outside its analysis module, its chart module and the registry, no module of
    binance_svc/ names an analysis (issue: a fifth analysis must not mean ten edits)."""
    package = ROOT / "binance_svc"
    for name in ("liquidity", "correlation"):
        holders = sorted(str(p.relative_to(package)) for p in package.rglob("*")
                         if p.is_file() and p.suffix in (".py", ".html", ".js", ".css")
                         and re.search(name, p.read_text(encoding="utf-8"), re.I))
        assert holders == sorted([f"analysis/{name}.py", f"charts/{name}.py", "analyses.py"]), \
            holders


def test_parameter_ranges_exist_once():
    """The registry is the only place a range is written: the parser and OpenAPI read it."""
    technical = REGISTRY["technical"]
    limit = next(p for p in technical.params if p.name == "limit")
    assert (limit.lo, limit.hi, limit.default) == (1, 10_000, 200)
    source = (ROOT / "binance_svc" / "web" / "openapi.py").read_text()
    assert "10000" not in source and "5000" not in source
