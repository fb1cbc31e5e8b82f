"""Every resource in every format it speaks, read the way its users read it (docs/api.md, "Formats
and negotiation", "The JSON envelope", "Errors"): pandas on the CSV and the XML, lxml on the
XML and the HTML, the PNG header for the chart size. What each format says is compared with
the JSON of the same URL, which the response cache makes the very same data.
"""
from __future__ import annotations

import csv
import io
import json
import struct
from urllib.parse import parse_qsl, urlencode, urlsplit

import lxml.html
import numpy as np
import pandas as pd
import pytest
from lxml import etree

CT = {"json": "application/json", "html": "text/html; charset=utf-8",
      "csv": "text/csv; charset=utf-8", "xml": "application/xml", "png": "image/png"}
FIVE = ["json", "html", "csv", "xml", "png"]
URLS = {
    "technical": "/api/v1/analysis/technical/BTCUSDT?limit=60",
    "statistics": "/api/v1/market/statistics?symbols=BTCUSDT,ETHUSDT,SOLUSDT",
    "correlation": "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,SOLUSDT&limit=30",
    "liquidity": "/api/v1/market/liquidity/ETHUSDT?depth=20",
    "symbols": "/api/v1/symbols?quote=BTC",
}
FORMATS = {name: (FIVE if name != "symbols" else FIVE[:4]) for name in URLS}
CASES = [(name, fmt) for name in URLS for fmt in FORMATS[name]]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TECH_FLOATS = ["open", "high", "low", "close", "volume", "quote_volume", "sma_20", "sma_50",
               "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist", "bb_middle",
               "bb_upper", "bb_lower", "bb_percent_b", "bb_bandwidth"]


def fmt_url(url: str, fmt: str, **extra) -> str:
    query = dict(parse_qsl(urlsplit(url).query))
    query.update(extra)
    query["format"] = fmt
    return urlsplit(url).path + "?" + urlencode(query)


def fetch(client, url: str, fmt: str, **extra):
    resp = client.get(fmt_url(url, fmt, **extra))
    assert resp.status_code == 200, resp.data[:300]
    assert resp.headers["Content-Type"] == CT[fmt]
    return resp


def json_of(client, url: str) -> dict:
    return json.loads(fetch(client, url, "json").data)


def assert_frame_matches_rows(df: pd.DataFrame, columns: list[str], rows: list[dict]):
    """A table read by pandas says what the JSON rows say: same columns, same values."""
    assert list(df.columns) == columns
    assert len(df) == len(rows)
    for col in columns:
        for i, row in enumerate(rows):
            got, want = df[col].iloc[i], row[col]
            if want is None:
                assert pd.isna(got), (col, i, got)
            elif isinstance(want, str):
                assert str(got) == want, (col, i)
            else:
                assert float(got) == float(want), (col, i, got, want)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# -- every resource, every format ------------------------------------------------------------
@pytest.mark.parametrize("name,fmt", CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_every_format_answers_with_its_content_type(module_client, name, fmt):
    resp = fetch(module_client, URLS[name], fmt)
    body = resp.data
    if fmt == "json":
        assert json.loads(body)["analysis"] == name
    elif fmt == "csv":
        assert body.decode("utf-8").split("\n", 1)[0].split(",")[0] in ("open_time", "symbol",
                                                                         "side")
    elif fmt == "xml":
        assert etree.fromstring(body).tag == "report"
    elif fmt == "html":
        assert body.lstrip().lower().startswith(b"<!doctype html>")
        assert body.rstrip().endswith(b"</html>")
    else:
        assert png_size(body) == (1200, 800)


# -- CSV ------------------------------------------------------------------------------------
def test_technical_csv_reads_with_float_columns_and_utc_times(module_client):
    url = URLS["technical"]
    body = fetch(module_client, url, "csv").data
    df = pd.read_csv(io.BytesIO(body), parse_dates=["open_time"])
    assert isinstance(df["open_time"].dtype, pd.DatetimeTZDtype)
    assert str(df["open_time"].dt.tz) == "UTC"
    for col in TECH_FLOATS:
        assert df[col].dtype == np.float64, col
    assert df["trades"].dtype == np.int64
    rows = json_of(module_client, url)["rows"]
    assert list(df["open_time"]) == [pd.Timestamp(r["open_time"]) for r in rows]
    assert_frame_matches_rows(df.drop(columns="open_time"),
                              [c for c in json_of(module_client, url)["columns"]
                               if c != "open_time"],
                              [{k: v for k, v in r.items() if k != "open_time"} for r in rows])


def test_csv_null_is_an_empty_field_and_reads_as_nan(module_client):
    url = "/api/v1/analysis/technical/NEWUSDT?interval=1d&limit=60"
    text = fetch(module_client, url, "csv").data.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["sma_50"] == "" for r in rows)       # 30-day-old coin: no SMA50
    df = pd.read_csv(io.StringIO(text), parse_dates=["open_time"])
    assert df["sma_50"].isna().all() and df["sma_50"].dtype == np.float64
    assert "nan" not in text.lower() and "inf" not in text.lower()


@pytest.mark.parametrize("name", ["statistics", "liquidity", "symbols"])
def test_csv_round_trips_to_the_json_rows(module_client, name):
    url = URLS[name]
    body = json_of(module_client, url)
    df = pd.read_csv(io.BytesIO(fetch(module_client, url, "csv").data))
    assert_frame_matches_rows(df, body["columns"], body["rows"])


def test_correlation_csv_is_the_square_matrix(module_client):
    url = URLS["correlation"]
    body = json_of(module_client, url)
    symbols = body["params"]["symbols"]
    df = pd.read_csv(io.BytesIO(fetch(module_client, url, "csv").data), index_col=0)
    assert df.index.name == "symbol"
    assert list(df.index) == symbols == list(df.columns)
    matrix = df.to_numpy()
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_array_equal(np.diag(matrix), 1.0)
    np.testing.assert_array_equal(matrix, [[r[s] for s in symbols] for r in body["rows"]])


@pytest.mark.parametrize("table", ["matrix", "assets"])
def test_correlation_table_parameter_picks_the_csv_table(module_client, table):
    url = URLS["correlation"]
    body = json_of(module_client, url)
    df = pd.read_csv(io.BytesIO(fetch(module_client, url, "csv", table=table).data))
    if table == "assets":
        assets = body["tables"]["assets"]
        assert_frame_matches_rows(df, assets["columns"], assets["rows"])
    else:
        assert_frame_matches_rows(df, body["columns"], body["rows"])


# -- XML ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(URLS))
def test_xml_is_the_envelope_and_read_xml_reads_the_main_table(module_client, name):
    url = URLS[name]
    body = json_of(module_client, url)
    data = fetch(module_client, url, "xml").data
    root = etree.fromstring(data)
    assert root.tag == "report"
    assert root.findtext("analysis") == name
    assert root.findtext("source") == "demo"
    assert root.findtext("stale") == "false"
    assert root.findtext("data_as_of") == body["data_as_of"]
    assert [w.text for w in root.find("warnings")] == body["warnings"]
    assert [c.text for c in root.find("columns")] == body["columns"]
    assert len(root.findall("rows/row")) == len(body["rows"])
    assert root.find("summary") is not None
    # With one table, .//rows/row is the table; correlation names the main one from the root
    # (its assets table is rows too, under tables/table[@name="assets"]).
    xpath = "/report/rows/row" if name == "correlation" else ".//rows/row"
    df = pd.read_xml(io.BytesIO(data), xpath=xpath)
    assert_frame_matches_rows(df, body["columns"], body["rows"])


def test_correlation_xml_names_the_assets_table(module_client):
    url = URLS["correlation"]
    body = json_of(module_client, url)
    data = fetch(module_client, url, "xml").data
    root = etree.fromstring(data)
    assert [t.get("name") for t in root.find("tables")] == ["assets"]
    df = pd.read_xml(io.BytesIO(data), xpath="/report/tables/table[@name='assets']/rows/row")
    assets = body["tables"]["assets"]
    assert_frame_matches_rows(df, assets["columns"], assets["rows"])


def test_xml_null_is_an_empty_element(module_client):
    url = "/api/v1/analysis/technical/NEWUSDT?interval=1d&limit=60"
    root = etree.fromstring(fetch(module_client, url, "xml").data)
    cells = root.findall("rows/row/sma_50")
    assert cells and all(c.text is None and len(c) == 0 for c in cells)
    assert b"NaN" not in etree.tostring(root) and b"inf" not in etree.tostring(root).lower()


def test_xml_summary_lists_are_items(module_client):
    root = etree.fromstring(fetch(module_client, URLS["liquidity"], "xml").data)
    bands = root.findall("summary/bands/item")
    assert [b.findtext("bps") for b in bands] == ["10", "50", "100", "200"]
    assert len(root.findall("summary/slippage/item")) == 6


# -- HTML -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in URLS if n != "symbols"])
def test_html_page_shows_the_chart_of_the_same_url(module_client, name):
    resp = fetch(module_client, URLS[name], "html")
    doc = lxml.html.fromstring(resp.data)
    imgs = doc.xpath("//img")
    assert len(imgs) == 1
    src = imgs[0].get("src")
    assert src == fmt_url(URLS[name], "png") or (
        urlsplit(src).path == urlsplit(URLS[name]).path
        and dict(parse_qsl(urlsplit(src).query)) == {**dict(parse_qsl(urlsplit(URLS[name]).query)),
                                                     "format": "png"})
    chart = module_client.get(src)
    assert chart.status_code == 200 and chart.headers["Content-Type"] == "image/png"
    assert imgs[0].get("alt")


@pytest.mark.parametrize("name", list(URLS))
def test_html_page_links_other_formats_shows_table_and_demo_banner(module_client, name):
    url = URLS[name]
    resp = fetch(module_client, url, "html")
    doc = lxml.html.fromstring(resp.data)
    hrefs = set(doc.xpath("//a/@href"))
    for fmt in FORMATS[name]:
        if fmt != "html":
            assert any(dict(parse_qsl(urlsplit(h).query)).get("format") == fmt
                       and urlsplit(h).path == urlsplit(url).path for h in hrefs), fmt
    headers = {th.text_content().strip() for th in doc.xpath("//table//th")}
    for column in json_of(module_client, url)["columns"]:
        assert column in headers, column
    assert "demo" in doc.text_content().lower()
    # No external assets: every stylesheet, script and image comes from this app.
    for ref in doc.xpath("//link/@href | //script/@src | //img/@src"):
        assert ref.startswith("/") and not ref.startswith("//"), ref


def test_html_times_are_utc_with_z(module_client):
    url = URLS["technical"]
    body = json_of(module_client, url)
    doc = lxml.html.fromstring(fetch(module_client, url, "html").data)
    assert body["data_as_of"] in [t.text_content().strip() for t in doc.xpath("//time")]
    table = doc.xpath("//table[.//th[normalize-space()='open_time']]")
    assert len(table) == 1
    heads = [th.text_content().strip() for th in table[0].xpath(".//thead//th")]
    cells = [[td.text_content().strip() for td in tr.xpath("./td")]
             for tr in table[0].xpath(".//tbody/tr")]
    assert len(cells) == len(body["rows"])
    for col in ("open_time", "close_time"):
        i = heads.index(col)
        assert [c[i] for c in cells] == [r[col] for r in body["rows"]]


@pytest.mark.parametrize("name", list(URLS))
def test_html_form_submits_to_a_working_page(module_client, name):
    """What the page's form sends (its fields as they are) leads to the same kind of page."""
    doc = lxml.html.fromstring(fetch(module_client, URLS[name], "html").data)
    forms = doc.xpath("//form")
    assert len(forms) == 1
    form = forms[0]
    assert (form.get("method") or "get").lower() == "get"
    fields = dict(form.form_values())
    resp = module_client.get(form.get("action"), query_string=fields, follow_redirects=True)
    assert resp.status_code == 200, resp.data[:300]
    assert resp.headers["Content-Type"] == CT["html"]
    assert urlsplit(resp.request.path).path == urlsplit(URLS[name]).path


# -- PNG ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in URLS if n != "symbols"])
def test_png_size_is_honoured_and_the_picture_is_not_blank(module_client, name):
    data = fetch(module_client, URLS[name], "png", width="640", height="480").data
    assert png_size(data) == (640, 480)
    image = pytest.importorskip("PIL.Image")
    pixels = np.asarray(image.open(io.BytesIO(data)).convert("L"), dtype="float64")
    assert pixels.shape == (480, 640)
    assert pixels.std() > 5


def test_png_extreme_sizes(module_client):
    url = URLS["statistics"]
    assert png_size(fetch(module_client, url, "png", width="300", height="300").data) == \
        (300, 300)
    assert png_size(fetch(module_client, url, "png", width="3000", height="300").data) == \
        (3000, 300)


# -- escaping: every client value echoed is escaped -----------------------------------------
def test_html_error_does_not_echo_a_raw_script_tag(module_client):
    resp = module_client.get("/api/v1/market/statistics?symbols=%3Cscript%3Ealert(1)%3C/script%3E",
                             headers={"Accept": "text/html"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == CT["html"]
    text = resp.data.decode("utf-8")
    assert "<script>" not in text.lower()
    assert "&lt;script&gt;" in text
    doc = lxml.html.fromstring(resp.data)
    assert not doc.xpath("//script")


def test_html_404_does_not_echo_a_raw_path(module_client):
    resp = module_client.get('/api/v1/%3Cimg%20src=x%20onerror=alert(1)%3E',
                             headers={"Accept": "text/html"})
    assert resp.status_code == 404
    doc = lxml.html.fromstring(resp.data)
    assert not doc.xpath("//img[@onerror]")
    assert "<img src=x" not in resp.data.decode("utf-8")


def test_html_error_escapes_quotes(module_client):
    resp = module_client.get('/api/v1/symbols', query_string={"quote": '"><b onmouseover=x>'},
                             headers={"Accept": "text/html"})
    assert resp.status_code == 400
    doc = lxml.html.fromstring(resp.data)
    assert not doc.xpath("//*[@onmouseover]")
    assert '"><b' not in resp.data.decode("utf-8")


@pytest.mark.parametrize("value", ["a&b<c", "x]]>y", "<!--", 'q"z', "\x01ctl"])
def test_xml_error_with_markup_characters_is_well_formed(module_client, value):
    resp = module_client.get("/api/v1/market/statistics", query_string={"symbols": value},
                             headers={"Accept": "application/xml"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == CT["xml"]
    root = etree.fromstring(resp.data)        # raises if not well-formed
    message = root.findtext("message")
    printable = "".join(ch for ch in value if ch.isprintable())
    assert printable in message, message


def test_csv_error_neutralises_a_formula(module_client):
    resp = module_client.get("/api/v1/symbols?%3DHYPERLINK(%22http%3A%2F%2Fx%22)=1",
                             headers={"Accept": "text/csv"})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == CT["csv"]
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8"))))
    assert rows[0]["param"] == "'=HYPERLINK(\"http://x\")"
    for cell in rows[0].values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_csv_negative_numbers_stay_numbers(module_client):
    """The formula guard touches text cells only: a negative change is still a number."""
    text = fetch(module_client, URLS["technical"], "csv").data.decode("utf-8")
    df = pd.read_csv(io.StringIO(text))
    assert (df["macd_hist"] < 0).any() and df["macd_hist"].dtype == np.float64
    assert "'-" not in text
