"""Format negotiation over real requests through the app (docs/api.md, "Formats and negotiation",
"Errors", "Caching and upstream etiquette"), plus the legacy and form redirects and the
errors of routing (404, 405).

The matrix: (Accept, ?format=) -> status, Content-Type, Vary: Accept present or absent.
"""
from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from lxml import etree

STATS = "/api/v1/market/statistics?symbols=BTCUSDT,ETHUSDT"
TECH = "/api/v1/analysis/technical/BTCUSDT?limit=30"
SYMBOLS = "/api/v1/symbols?quote=BTC"
PARQUET = "application/vnd.apache.parquet"
CT = {"json": "application/json", "html": "text/html; charset=utf-8",
      "csv": "text/csv; charset=utf-8", "xml": "application/xml", "png": "image/png",
      "parquet": PARQUET}
MEDIA = {"json": "application/json", "html": "text/html", "csv": "text/csv",
         "xml": "application/xml", "png": "image/png", "parquet": PARQUET}
FORMATS = ["json", "html", "csv", "xml", "png", "parquet"]
NO_CHART = ["json", "html", "csv", "xml", "parquet"]

FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
          "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME_IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX_IMG = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"

# (id, Accept or None, ?format= or None, status, format of the answer or None for an error,
#  Vary: Accept expected)
MATRIX = [
    ("no-accept", None, None, 200, "json", True),
    ("star-star", "*/*", None, 200, "json", True),
    ("curl", "*/*", None, 200, "json", True),
    ("application-star", "application/*", None, 200, "json", True),
    ("text-star", "text/*", None, 200, "html", True),
    ("firefox", FIREFOX, None, 200, "html", True),
    ("chrome", CHROME, None, 200, "html", True),
    ("safari", SAFARI, None, 200, "html", True),
    ("chrome-img-tag", CHROME_IMG, None, 200, "png", True),
    ("firefox-img-tag", FIREFOX_IMG, None, 200, "png", True),
    ("json", "application/json", None, 200, "json", True),
    ("json-charset", "application/json; charset=utf-8", None, 200, "json", True),
    ("json-upper-case", "APPLICATION/JSON", None, 200, "json", True),
    ("csv-params", "text/csv; charset=utf-8; header=present", None, 200, "csv", True),
    ("xml", "application/xml", None, 200, "xml", True),
    ("text-xml", "text/xml", None, 200, "xml", True),
    ("png", "image/png", None, 200, "png", True),
    ("image-star", "image/*", None, 200, "png", True),
    ("q-values", "text/csv;q=0.5, application/xml;q=0.9", None, 200, "xml", True),
    ("q-tie-server-order", "application/xml;q=0.5, text/csv;q=0.5", None, 200, "csv", True),
    ("q-tie-json-first", "text/html;q=0.7, application/json;q=0.7", None, 200, "json", True),
    ("q-json-lower", "application/json;q=0.2, text/html;q=0.3", None, 200, "html", True),
    ("q-zero-refuses-html", "text/html;q=0, */*", None, 200, "json", True),
    ("q-zero-refuses-json", "application/json;q=0, */*", None, 200, "html", True),
    ("malformed-q-dropped", "application/json;q=abc, text/csv", None, 200, "csv", True),
    ("q-above-one-dropped", "application/json;q=2, text/csv;q=0.1", None, 200, "csv", True),
    ("specific-beats-star", "*/*;q=0.1, application/xml", None, 200, "xml", True),
    # nothing acceptable
    ("pdf", "application/pdf", None, 406, None, True),
    ("text-plain", "text/plain", None, 406, None, True),
    ("only-refusals", "application/json;q=0", None, 406, None, True),
    ("refuse-everything", "*/*;q=0", None, 406, None, True),
    # ?format= wins, whatever Accept says
    ("format-json-over-html", "text/html", "json", 200, "json", False),
    ("format-case-insensitive", "application/xml", "CSV", 200, "csv", False),
    ("format-mixed-case", None, "Html", 200, "html", False),
    ("format-xml", None, "xml", 200, "xml", False),
    ("format-png", "application/json", "png", 200, "png", False),
    ("format-over-unacceptable", "application/pdf", "json", 200, "json", False),
    ("format-unknown", None, "pdf", 400, None, False),
    ("format-unknown-with-accept", "application/json", "yaml", 400, None, False),
]


def _get(client, url, accept=None, fmt=None, **kw):
    headers = {} if accept is None else {"Accept": accept}
    if fmt is not None:
        url += ("&" if "?" in url else "?") + f"format={fmt}"
    return client.get(url, headers=headers, **kw)


def _links(header: str) -> dict[str, str]:
    """Link header -> {media type: URL} of its rel="alternate" entries."""
    out = {}
    for part in header.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;(.*)$', part)
        assert m, header
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if attrs.get("rel") == "alternate":
            out[attrs["type"]] = m.group(1)
    return out


@pytest.mark.parametrize("accept,fmt,status,answer,vary",
                         [c[1:] for c in MATRIX], ids=[c[0] for c in MATRIX])
def test_negotiation_matrix(module_client, accept, fmt, status, answer, vary):
    resp = _get(module_client, STATS, accept, fmt)
    assert resp.status_code == status, resp.data[:300]
    if status == 200:
        assert resp.headers["Content-Type"] == CT[answer]
        assert ("Accept" in resp.headers.get("Vary", "")) is vary
    else:
        # Errors here are JSON: the Accept header admits nothing (406) or ?format= is bad.
        assert resp.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("accept,fmt,answer", [
    (None, None, "json"), ("text/html", None, "html"), (None, "csv", "csv"),
    ("application/xml", None, "xml"), (None, "png", "png"),
])
def test_link_alternate_for_each_other_format(module_client, accept, fmt, answer):
    resp = _get(module_client, TECH, accept, fmt)
    assert resp.status_code == 200
    links = _links(resp.headers["Link"])
    assert set(links) == {MEDIA[f] for f in FORMATS if f != answer}
    for f in FORMATS:
        if f == answer:
            continue
        parts = urlsplit(links[MEDIA[f]])
        assert parts.path == "/api/v1/analysis/technical/BTCUSDT"
        assert dict(parse_qsl(parts.query)) == {"limit": "30", "format": f}
        # Each alternate answers in the format it names, without any Accept header.
        alt = module_client.get(links[MEDIA[f]])
        assert alt.status_code == 200
        assert alt.headers["Content-Type"] == CT[f]


def test_symbols_link_lists_every_format_but_png(module_client):
    resp = module_client.get(SYMBOLS)
    assert set(_links(resp.headers["Link"])) == {"text/html", "text/csv", "application/xml",
                                                 PARQUET}


def test_406_lists_the_media_types(module_client):
    resp = _get(module_client, STATS, "application/pdf, text/plain;q=0.5")
    assert resp.status_code == 406
    assert resp.headers["Content-Type"] == "application/json"
    error = resp.get_json()["error"]
    assert error["code"] == "not_acceptable"
    assert error["allowed"] == [MEDIA[f] for f in FORMATS]
    for media in MEDIA.values():
        assert media in error["message"]


def test_406_on_symbols_lists_its_media_types_without_png(module_client):
    resp = _get(module_client, SYMBOLS, "image/png")
    assert resp.status_code == 406
    assert resp.get_json()["error"]["allowed"] == [MEDIA[f] for f in NO_CHART]


def test_unknown_format_lists_every_format(module_client):
    resp = _get(module_client, STATS, fmt="yaml")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "unknown_format"
    assert error["param"] == "format"
    assert error["allowed"] == FORMATS
    assert "yaml" in error["message"]
    for f in FORMATS:
        assert f in error["message"]


def test_png_on_symbols_is_a_400(module_client):
    resp = _get(module_client, SYMBOLS, fmt="png")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["param"] == "format"
    assert error["allowed"] == NO_CHART


# -- errors in the negotiated format --------------------------------------------------------
BAD = "/api/v1/analysis/technical/BTCUSDT?limit=abc"


def test_error_as_xml_for_accept_xml(module_client):
    resp = _get(module_client, BAD, "application/xml")
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/xml"
    root = etree.fromstring(resp.data)
    assert root.tag == "error"
    assert root.findtext("status") == "400"
    assert root.findtext("code") == "invalid_parameter"
    assert root.findtext("param") == "limit"
    assert "abc" in root.findtext("message")


def test_error_as_csv_for_accept_csv(module_client):
    resp = _get(module_client, BAD, "text/csv")
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8"))))
    assert len(rows) == 1
    assert rows[0]["status"] == "400"
    assert rows[0]["code"] == "invalid_parameter"
    assert rows[0]["param"] == "limit"
    assert "abc" in rows[0]["message"]


def test_error_as_html_for_a_browser(module_client):
    resp = _get(module_client, BAD, CHROME)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    text = resp.data.decode("utf-8")
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "invalid_parameter" in text or "invalid parameter" in text
    assert "1 to 1000" in text


@pytest.mark.parametrize("accept,fmt", [("image/png", None), (None, "png"),
                                        ("image/png", "png")])
def test_error_of_a_png_request_is_json(module_client, accept, fmt):
    resp = _get(module_client, BAD, accept, fmt)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.get_json()["error"]["param"] == "limit"


@pytest.mark.parametrize("fmt,ctype", [("xml", "application/xml"),
                                       ("csv", "text/csv; charset=utf-8"),
                                       ("html", "text/html; charset=utf-8")])
def test_error_follows_format_parameter(module_client, fmt, ctype):
    resp = _get(module_client, BAD, "application/json", fmt)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == ctype


def test_unknown_symbol_404_in_xml(module_client):
    resp = _get(module_client, "/api/v1/market/liquidity/NOPEUSDT", "application/xml")
    assert resp.status_code == 404
    root = etree.fromstring(resp.data)
    assert root.findtext("code") == "unknown_symbol"


@pytest.mark.parametrize("url,accept,status", [
    (BAD, "application/xml", 400), (BAD, "text/csv", 400), (BAD, "text/html", 400),
    (STATS, "application/pdf", 406),
])
def test_negotiated_error_varies_on_accept(module_client, url, accept, status):
    resp = _get(module_client, url, accept)
    assert resp.status_code == status
    assert "Accept" in resp.headers.get("Vary", "")


# -- caching headers ------------------------------------------------------------------------
@pytest.mark.parametrize("url", [STATS, SYMBOLS, TECH + "&format=csv"])
def test_etag_stable_within_ttl_and_if_none_match_gives_304(client, url):
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[^"]+"', etag), "a strong ETag"
    assert second.headers["ETag"] == etag
    assert second.data == first.data
    for header in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
        resp = client.get(url, headers={"If-None-Match": header})
        assert resp.status_code == 304, header
        assert resp.data == b""
        assert resp.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": '"nope"'}).status_code == 200


def test_etag_differs_between_formats(module_client):
    etags = {f: _get(module_client, STATS, fmt=f).headers["ETag"] for f in FORMATS}
    assert len(set(etags.values())) == len(FORMATS)


def test_etag_same_whether_format_came_from_accept_or_parameter(module_client):
    by_accept = _get(module_client, STATS, "text/csv")
    by_param = _get(module_client, STATS, fmt="csv")
    assert by_accept.headers["ETag"] == by_param.headers["ETag"]
    assert by_accept.data == by_param.data


@pytest.mark.parametrize("fmt", FORMATS)
def test_cache_control_public_with_max_age(client, fmt):
    resp = _get(client, STATS, fmt=fmt)
    m = re.fullmatch(r"public, max-age=(\d+)", resp.headers["Cache-Control"])
    assert m, resp.headers["Cache-Control"]
    assert 0 < int(m.group(1)) <= 10              # ticker data live 10 s by default
    # A repeat served from the response cache counts down, never up.
    again = _get(client, STATS, fmt=fmt)
    assert int(again.headers["Cache-Control"].rsplit("=", 1)[1]) <= int(m.group(1))


def test_errors_are_not_cached(module_client):
    assert _get(module_client, BAD).headers["Cache-Control"] == "no-store"


# -- Content-Disposition, download, BOM -----------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_download_makes_an_attachment(module_client, fmt):
    resp = _get(module_client, TECH + "&download=1", fmt=fmt)
    assert resp.status_code == 200
    disposition = resp.headers["Content-Disposition"]
    ext = {"json": "json", "html": "html", "csv": "csv", "xml": "xml", "png": "png",
           "parquet": "parquet"}[fmt]
    assert re.fullmatch(rf'attachment; filename="technical_BTCUSDT_1h_30\.{ext}"', disposition)


@pytest.mark.parametrize("url,filename", [
    (TECH + "&format=csv", "technical_BTCUSDT_1h_30.csv"),
    ("/api/v1/analysis/technical/ethusdt?interval=4h&format=csv", "technical_ETHUSDT_4h_200.csv"),
    (STATS + "&format=csv", "statistics_BTCUSDT-ETHUSDT.csv"),
    ("/api/v1/market/liquidity/BTCUSDT?depth=20&notional=1000&format=xml",
     None),
    ("/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT&format=csv", None),
    ("/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT&table=assets&format=csv", None),
])
def test_content_disposition_filename_is_meaningful(module_client, url, filename):
    resp = module_client.get(url)
    assert resp.status_code == 200
    m = re.fullmatch(r'inline; filename="([A-Za-z0-9_.-]+)"', resp.headers["Content-Disposition"])
    assert m, resp.headers["Content-Disposition"]
    name = m.group(1)
    if filename:
        assert name == filename
    path = urlsplit(url).path
    analysis = {"technical": "technical", "statistics": "statistics",
                "correlation": "correlation", "liquidity": "liquidity"}
    assert name.split("_")[0] in [a for a in analysis if a in path]
    assert name.endswith("." + dict(parse_qsl(urlsplit(url).query))["format"])
    if "correlation" in url:
        assert "BTCUSDT-ETHUSDT" in name
        assert name.endswith(("_assets.csv" if "table=assets" in url else "_matrix.csv"))
    if "liquidity" in url:
        assert "BTCUSDT" in name


def test_html_is_inline_without_a_disposition(module_client):
    resp = _get(module_client, TECH, fmt="html")
    assert "attachment" not in resp.headers.get("Content-Disposition", "")


def test_bom_only_when_asked(module_client):
    plain = _get(module_client, TECH, fmt="csv")
    bom = _get(module_client, TECH + "&bom=1", fmt="csv")
    assert not plain.data.startswith(b"\xef\xbb\xbf")
    assert bom.data.startswith(b"\xef\xbb\xbf")
    assert bom.data[3:] == plain.data
    assert bom.data.decode("utf-8-sig").startswith("open_time,")


# -- legacy URLs and the HTML form ----------------------------------------------------------
@pytest.mark.parametrize("legacy,location", [
    ("/api/v1/market/statistics/json", "/api/v1/market/statistics?format=json"),
    ("/api/v1/market/statistics/CSV?symbols=BTCUSDT",
     "/api/v1/market/statistics?symbols=BTCUSDT&format=csv"),
    ("/api/v1/analysis/technical/BTCUSDT/csv", "/api/v1/analysis/technical/BTCUSDT?format=csv"),
    ("/api/v1/analysis/technical/btcusdt/csv?limit=5",
     "/api/v1/analysis/technical/BTCUSDT?limit=5&format=csv"),
    ("/api/v1/analysis/correlation/html", "/api/v1/analysis/correlation?format=html"),
    ("/api/v1/market/liquidity/ETHUSDT/xml", "/api/v1/market/liquidity/ETHUSDT?format=xml"),
    ("/api/v1/charts/technical?symbol=ETHUSDT", "/api/v1/analysis/technical/ETHUSDT?format=png"),
    ("/api/v1/charts/technical?symbol=ethusdt&interval=4h",
     "/api/v1/analysis/technical/ETHUSDT?interval=4h&format=png"),
    ("/api/v1/charts/correlation", "/api/v1/analysis/correlation?format=png"),
    ("/api/v1/charts/liquidity?symbol=SOLUSDT", "/api/v1/market/liquidity/SOLUSDT?format=png"),
])
def test_legacy_urls_redirect_permanently(module_client, legacy, location):
    resp = module_client.get(legacy)
    assert resp.status_code == 308
    assert resp.headers["Location"] == location
    target = module_client.get(location)
    assert target.status_code == 200
    fmt = dict(parse_qsl(urlsplit(location).query))["format"]
    assert target.headers["Content-Type"] == CT[fmt]


def test_legacy_url_with_an_unknown_format_is_a_404(module_client):
    resp = module_client.get("/api/v1/market/statistics/pdf")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("form,location", [
    ("/api/v1/analysis/technical?symbol=ethusdt&interval=4h",
     "/api/v1/analysis/technical/ETHUSDT?interval=4h"),
    ("/api/v1/analysis/technical?symbol=+solusdt+&limit=50&format=html",
     "/api/v1/analysis/technical/SOLUSDT?limit=50&format=html"),
    ("/api/v1/market/liquidity?symbol=btcusdt&depth=100",
     "/api/v1/market/liquidity/BTCUSDT?depth=100"),
])
def test_html_form_redirects_to_the_resource(module_client, form, location):
    resp = module_client.get(form)
    assert resp.status_code == 303
    assert resp.headers["Location"] == location


def test_html_form_with_a_bad_symbol_is_a_400(module_client):
    resp = module_client.get("/api/v1/analysis/technical?symbol=BTC-USDT", headers={
        "Accept": FIREFOX})
    assert resp.status_code == 400
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"


# -- routing errors -------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/market/statistics",
                                  "/api/v1/analysis/technical/BTCUSDT/csv/extra"])
def test_unknown_path_is_a_json_404(module_client, path):
    resp = module_client.get(path)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"] == "application/json"
    error = resp.get_json()["error"]
    assert error == {"status": 404, "code": "not_found", "message": error["message"],
                     "param": None}
    assert "Traceback" not in error["message"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/api/v1/market/statistics",
                                  "/api/v1/analysis/technical/BTCUSDT", "/api/v1/symbols"])
def test_other_methods_are_a_405(module_client, method, path):
    resp = module_client.open(path, method=method)
    assert resp.status_code == 405
    assert resp.headers["Content-Type"] == "application/json"
    assert "GET" in resp.headers["Allow"]
    assert resp.get_json()["error"]["status"] == 405


def test_head_answers_like_get_without_a_body(module_client):
    get, head = module_client.get(STATS), module_client.head(STATS)
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers["ETag"] == get.headers["ETag"]
