"""Format negotiation as the contract states it (docs/api.md, "Formats and negotiation"), and the
renderer registry the chosen format is looked up in."""
import pandas as pd
import pytest

from binance_svc.report import Report
from binance_svc.errors import InvalidParameter, NotAcceptable, UnknownFormat, UnknownSymbol
from binance_svc.render.formats import REGISTRY, RenderContext, content_type, render_error
from binance_svc.render.negotiate import (FORMATS, MEDIA_TYPES, choose_format, error_choice,
                                          parse_accept)

CHROME = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
          "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
TEXT_ONLY = ("json", "html", "csv", "xml")


@pytest.mark.parametrize("accept, fmt", [
    (None, "json"),
    ("", "json"),
    ("   ", "json"),
    ("*/*", "json"),
    ("*", "json"),
    ("application/*", "json"),
    ("text/*", "html"),
    ("image/*", "png"),
    (CHROME, "html"),
    (FIREFOX, "html"),
    (IMG, "png"),
    ("application/json", "json"),
    ("APPLICATION/JSON", "json"),
    ("application/json; charset=utf-8", "json"),
    ("text/html", "html"),
    ("text/csv", "csv"),
    ("text/csv;header=present", "csv"),
    ("text/csv; charset=utf-8; header=present", "csv"),
    ("application/xml", "xml"),
    ("text/xml", "xml"),
    ("image/png", "png"),
    # q-values: highest wins
    ("application/json;q=0.5, text/csv", "csv"),
    ("application/json;q=0.5, text/csv;q=0.4", "json"),
    ("text/csv;q=0.9, application/xml;q=0.95", "xml"),
    ('text/csv;q="0.9", application/json;q=0.5', "csv"),
    # same q: an exact type beats a wildcard; then the server's order
    ("*/*, text/csv", "csv"),
    ("text/*, text/csv", "csv"),
    ("text/csv, application/xml", "csv"),
    ("application/xml, text/csv", "csv"),
    ("image/png, text/csv", "csv"),
    ("application/xml, application/json", "json"),
    # q=0 refuses a type, even when a wildcard would admit it
    ("application/json;q=0, */*", "html"),
    ("application/json;q=0, text/html;q=0, */*;q=0.1", "csv"),
    ("text/*;q=0, */*", "json"),
    ("text/html;q=0, text/*", "csv"),
    # a malformed q drops that entry only
    ("application/json;q=inf, text/csv", "csv"),
    ("application/json;q=nan, text/csv", "csv"),
    ("application/json;q=abc, text/csv;q=0.1", "csv"),
    ("application/json;q=-1, text/csv;q=0.1", "csv"),
    ("application/json;q=1.5, text/csv;q=0.1", "csv"),
    ("application/json;q=1e-1, text/csv;q=0.1", "csv"),
    ("text/csv;q=0.1, application/json;q=", "csv"),
    # nothing well-formed at all: as if absent
    ("application/json;q=abc", "json"),
    ("garbage, ,", "json"),
    # parameters other than q ignored; unknown types next to known ones ignored
    ('text/html;level=1;q=0.2, application/pdf', "html"),
    ('application/pdf, text/xml;q=0.1', "xml"),
    ('text/html;foo="a,b;c", application/json;q=0.5', "html"),
])
def test_accept_header_picks_a_format(accept, fmt):
    choice = choose_format(None, accept)
    assert choice.format == fmt
    assert choice.negotiated is True
    assert choice.media_type == MEDIA_TYPES[fmt]


@pytest.mark.parametrize("accept", [
    "application/pdf",
    "application/pdf, text/plain;q=0.5",
    "application/json;q=0",
    "application/json;q=0, text/*;q=0, application/xml;q=0, image/*;q=0",
    "*/*;q=0",
    "text/plain",
])
def test_accept_admitting_none_of_the_formats_is_406(accept):
    with pytest.raises(NotAcceptable) as info:
        choose_format(None, accept)
    err = info.value
    assert err.status == 406 and err.code == "not_acceptable"
    assert err.allowed == [MEDIA_TYPES[f] for f in FORMATS]


@pytest.mark.parametrize("param, accept, fmt", [
    ("json", None, "json"),
    ("csv", "text/html", "csv"),
    ("CSV", None, "csv"),
    ("Html", "application/json", "html"),
    (" xml ", None, "xml"),
    ("png", CHROME, "png"),
    ("json", "application/pdf", "json"),          # ?format= wins over an impossible Accept
])
def test_format_parameter_wins(param, accept, fmt):
    choice = choose_format(param, accept)
    assert (choice.format, choice.negotiated) == (fmt, False)


@pytest.mark.parametrize("param", ["pdf", "", "jsonp", "text/csv", "j son"])
def test_unknown_format_is_400_listing_the_five(param):
    with pytest.raises(UnknownFormat) as info:
        choose_format(param, "application/json")
    err = info.value
    assert (err.status, err.code, err.param) == (400, "unknown_format", "format")
    assert err.allowed == list(FORMATS)


def test_png_refused_where_not_allowed():
    with pytest.raises(InvalidParameter) as info:
        choose_format("PNG", None, allowed=TEXT_ONLY)
    assert (info.value.status, info.value.param, info.value.allowed) == (400, "format", list(TEXT_ONLY))


def test_accept_png_where_not_allowed():
    with pytest.raises(NotAcceptable) as info:
        choose_format(None, "image/png", allowed=TEXT_ONLY)
    assert "image/png" not in info.value.allowed
    assert choose_format(None, IMG, allowed=TEXT_ONLY).format == "json"   # via */*;q=0.8
    assert choose_format(None, "image/*, text/csv;q=0.1", allowed=TEXT_ONLY).format == "csv"


@pytest.mark.parametrize("param, accept, fmt", [
    (None, None, "json"),
    (None, CHROME, "html"),
    (None, "application/xml", "xml"),
    ("csv", None, "csv"),
    ("png", None, "json"),
    (None, IMG, "json"),
    ("pdf", "text/html", "json"),
    (None, "application/pdf", "json"),
])
def test_error_format_never_raises(param, accept, fmt):
    assert error_choice(param, accept).format == fmt
    choice = error_choice(param, accept)
    assert (choice.format, choice.negotiated) == (fmt, param is None)


def test_parse_accept_drops_parameters_and_bad_entries():
    assert parse_accept("Text/HTML;Level=1;Q=0.5, foo, */*;q=x, image/*;q=.2") == [
        ("text/html", 0.5), ("image/*", 0.2)]


# ---- the registry the chosen format is looked up in (render/formats.py) -------------------

@pytest.mark.parametrize("fmt, header", [
    ("json", "application/json"), ("html", "text/html; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"), ("xml", "application/xml"), ("png", "image/png")])
def test_registry_content_types(fmt, header):
    assert content_type(fmt) == header
    assert REGISTRY[fmt].media_type == MEDIA_TYPES[fmt]
    assert REGISTRY[fmt].binary is (fmt == "png")
    assert REGISTRY[fmt].extension == fmt


@pytest.mark.parametrize("fmt, header, start", [
    ("json", "application/json", b'{"error":'), ("png", "application/json", b'{"error":'),
    ("xml", "application/xml", b"<?xml"), ("csv", "text/csv; charset=utf-8", b"status,"),
    ("html", "text/html; charset=utf-8", b"<!doctype html>"), ("nope", "application/json", b"{")])
def test_errors_render_in_their_format_png_as_json(fmt, header, start):
    body, ctype = render_error(UnknownSymbol("No such symbol.", param="symbol"), fmt,
                               RenderContext())
    assert ctype == header and body.startswith(start)


def test_png_renders_through_the_registry():
    pytest.importorskip("binance_svc.render.png")
    symbols = ["BTCUSDT", "ETHUSDT"]
    report = Report("correlation", {"symbols": symbols},
                    {"matrix": pd.DataFrame({"symbol": symbols, "BTCUSDT": [1.0, 0.5],
                                             "ETHUSDT": [0.5, 1.0]}),
                     "assets": pd.DataFrame({"symbol": symbols, "annualized_return": [0.1, 0.2],
                                             "annualized_volatility": [0.5, 0.6],
                                             "sharpe": [0.2, 0.3], "max_drawdown": [-0.1, -0.2],
                                             "beta": [1.0, 1.1]})})
    body = REGISTRY["png"].render(report, RenderContext(width=400, height=300))
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
