"""HTML pages: complete, escaped, and working under Content-Security-Policy: default-src 'self'."""
from datetime import datetime, timezone
from pathlib import Path

import lxml.html
import numpy as np
import pandas as pd
import pytest

from binance_svc.report import Report
from binance_svc.errors import InvalidParameter
from binance_svc.render import html as html_renderer
from binance_svc.render.formats import FormField, RenderContext, content_type
from binance_svc.render.html import (format_value, render_docs_page, render_html,
                                     render_html_error, render_index)

EVIL = "<script>alert(1)</script>"
ASOF = datetime(2026, 11, 23, 19, 0, 0, tzinfo=timezone.utc)
BASE = "/api/v1/analysis/technical/BTCUSDT"
LINKS = {fmt: f"{BASE}?interval=1h&format={fmt}" for fmt in ("json", "html", "csv", "xml", "png")}
CTX = RenderContext(
    path=BASE, query={"interval": "1h"}, links=LINKS, width=1000, height=600, version="1.2.3",
    form=(FormField("symbol", "Symbol", "BTCUSDT"),
          FormField("interval", "Interval", "1h", "select", ("1m", "1h", "1d")),
          FormField("limit", "Limit", "200", "number", min=1, max=1000)),
    form_action="/api/v1/analysis/technical")


def technical(**kw):
    n = 60
    open_time = pd.date_range("2026-11-21T08:00:00Z", periods=n, freq="h")
    sma = pd.Series(97000.0 + np.arange(n))
    sma[:19] = np.nan
    table = pd.DataFrame({"open_time": open_time,
                          "close_time": open_time + pd.Timedelta(milliseconds=3_599_999),
                          "close": 97000.123 + np.arange(n), "trades": np.arange(n) * 1000,
                          "sma_20": sma})
    fields = dict(summary={"last_close": 97059.123, "change_pct": 1.2345,
                           "last": {"rsi_14": 55.5, "macd": -12.25},
                           "signals": {"rsi": "neutral", "macd": "bullish_cross", "trend": "up"}},
                  warnings=["Fewer candles than asked."], data_as_of=ASOF, generated_at=ASOF,
                  title="Technical analysis: BTCUSDT 1h")
    fields.update(kw)
    return Report("technical", {"symbol": "BTCUSDT", "interval": "1h", "limit": n},
                  {"candles": table}, **fields)


def correlation():
    symbols = ["BTCUSDT", "ETHUSDT"]
    return Report("correlation", {"symbols": symbols},
                  {"matrix": pd.DataFrame({"symbol": symbols, "BTCUSDT": [1.0, 0.8],
                                           "ETHUSDT": [0.8, 1.0]}),
                   "assets": pd.DataFrame({"symbol": symbols, "beta": [1.0, np.nan]})},
                  summary={"most_correlated": {"pair": symbols, "correlation": 0.8}},
                  title="Correlation")


def liquidity():
    book = pd.DataFrame({"side": ["bid", "ask"], "price": [99.9, 100.1],
                         "distance_bps": [-10.0, 10.0]})
    return Report("liquidity", {"symbol": "ETHUSDT"}, {"book": book}, title="Liquidity",
                  summary={"spread_bps": 20.0, "mid": 100.0,
                           "bands": [{"bps": 10, "bid_notional": 1234567.5, "ask_notional": 10.0,
                                      "imbalance": 0.98}],
                           "slippage": [{"notional": 10000, "side": "buy", "avg_price": 100.2,
                                         "impact_bps": 20.0, "filled": False}]})


def parse(body: bytes):
    return lxml.html.document_fromstring(body.decode("utf-8"))


def assert_csp_clean(doc):
    assert not doc.xpath("//style"), "inline <style>"
    assert not doc.xpath("//*[@style]"), "style= attribute"
    assert not doc.xpath("//script[not(@src)]"), "inline <script>"
    handlers = [a for el in doc.iter() if isinstance(el.tag, str)
                for a in el.attrib if a.lower().startswith("on")]
    assert not handlers, f"event handler attributes {handlers}"
    urls = doc.xpath("//@href | //@src | //@action")
    assert all(not u.strip().lower().startswith(("javascript:", "http:", "https:", "//", "data:"))
               for u in urls), urls


@pytest.mark.parametrize("build", [technical, correlation, liquidity])
def test_page_is_complete_and_csp_clean(build):
    report = build()
    doc = parse(render_html(report, CTX))
    assert_csp_clean(doc)
    assert doc.findtext(".//title") == report.title
    assert doc.xpath("string(//h1)") == report.title
    assert doc.xpath("//link[@rel='stylesheet']/@href") == ["/static/report.css"]
    assert doc.xpath("//table[contains(@class, 'data')]")


def test_chart_links_form_and_footer():
    doc = parse(render_html(technical(), CTX))
    img = doc.xpath("//img")[0]
    assert (img.get("src"), img.get("width"), img.get("height")) == (LINKS["png"], "1000", "600")
    assert img.get("alt")
    hrefs = doc.xpath("//a/@href")
    assert all(url in hrefs for url in LINKS.values())
    assert all(url in hrefs for url in ("/", "/docs", "/openapi.json"))
    form = doc.xpath("//form")[0]
    assert (form.get("method"), form.get("action")) == ("get", "/api/v1/analysis/technical")
    assert form.xpath(".//input[@type='hidden'][@name='format']/@value") == ["html"]
    assert form.xpath(".//select[@name='interval']/option[@selected]/@value") == ["1h"]
    assert form.xpath(".//input[@name='limit']/@max") == ["1000"]
    assert "1.2.3" in doc.xpath("string(//footer)")
    assert "2026-11-23T19:00:00Z" in doc.text_content()


def test_no_chart_without_png_link():
    links = {k: v for k, v in LINKS.items() if k != "png"}
    doc = parse(render_html(technical(), RenderContext(links=links)))
    assert not doc.xpath("//img") and not doc.xpath("//form")


def test_table_numbers_nulls_and_times():
    doc = parse(render_html(technical(), CTX))
    table = doc.xpath("//table[contains(@class, 'data')]")[0]
    assert table.xpath(".//thead//th/text()") == ["open_time", "close_time", "close", "trades",
                                                  "sma_20"]
    first = table.xpath(".//tbody/tr[1]/td")
    assert [td.text for td in first] == ["2026-11-21T08:00:00Z", "2026-11-21T08:59:59.999Z",
                                         "97,000.12", "0", "\u2014"]
    assert "num" in first[2].get("class") and "null" in first[4].get("class")
    assert len(table.xpath(".//tbody/tr")) == 60
    assert doc.xpath("//div[contains(@class, 'table-scroll')]//table")


def test_number_columns_line_up_but_keep_small_values():
    table = pd.DataFrame({"symbol": ["BTCUSDT", "ETHUSDT", "SHIBUSDT"],
                          "last_price": [97000.5, 3500.25, 0.00001234]})
    doc = parse(render_html(Report("statistics", {}, {"tickers": table}), CTX))
    assert doc.xpath("//table[contains(@class, 'data')]//td[@class='num']/text()") == [
        "97,000.50", "3,500.25", "0.00001234"]


def test_summary_cards_and_nested_tables():
    doc = parse(render_html(technical(), CTX))
    cards = {c.xpath("string(.//*[@class='card-label'])"): c.xpath(
        "string(.//*[contains(@class, 'card-value')])") for c in doc.xpath("//div[@class='card']")}
    assert cards == {"Last close": "97,059.12", "Change %": "1.23 %"}
    text = doc.text_content()
    assert "bullish_cross" in text and "55.50" in text and "-12.25" in text
    liq = parse(render_html(liquidity(), CTX))
    assert "20.00 bps" in liq.text_content()
    bands = liq.xpath("//section[@aria-label='Bands']//table")[0]
    assert bands.xpath(".//th/text()") == ["bps", "Bid notional", "Ask notional", "Imbalance"]
    assert bands.xpath(".//td/text()") == ["10", "1,234,567.50", "10.00", "0.9800"]
    assert "no" in liq.xpath("//section[@aria-label='Slippage']//td/text()")


def test_a_timestamp_card_breaks_only_after_its_t():
    summary = {"first_open_time": pd.Timestamp("2026-11-21T01:00:00Z"), "note": "a<b>T"}
    body = render_html(technical(summary=summary), CTX)
    doc = parse(body)
    values = doc.xpath("//div[@class='card']//*[contains(@class, 'card-value')]")
    # the text a reader sees and copies is the timestamp, unchanged
    assert [v.text_content() for v in values] == ["2026-11-21T01:00:00Z", "a<b>T"]
    stamp = values[0].xpath(".//span[@class='stamp']")[0]
    assert [child.tag for child in stamp] == ["wbr"] and stamp.text == "2026-11-21T"
    assert not values[1].xpath(".//wbr")            # only a timestamp gets the break
    assert b"a&lt;b&gt;T" in body                    # and anything else is still escaped
    css = (Path(html_renderer.__file__).parent / "static" / "report.css").read_text()
    assert ".card-value .stamp { overflow-wrap: normal; }" in css


def test_extra_tables_with_csv_links():
    doc = parse(render_html(correlation(), CTX))
    assert len(doc.xpath("//table[contains(@class, 'data')]")) == 2
    hrefs = doc.xpath("//a/@href")
    assert LINKS["csv"] + "&table=assets" in hrefs and LINKS["csv"] + "&table=matrix" in hrefs
    assert "BTCUSDT / ETHUSDT" in doc.text_content()
    ctx = RenderContext(links={"csv": "/api/v1/analysis/correlation?table=assets&format=csv"})
    hrefs = parse(render_html(correlation(), ctx)).xpath("//a/@href")
    assert "/api/v1/analysis/correlation?format=csv&table=matrix" in hrefs


def test_banners():
    plain = parse(render_html(technical(), CTX)).text_content()
    assert "Demo market" not in plain and "Stale data" not in plain
    demo = parse(render_html(technical(source="demo", stale=True), CTX)).text_content()
    assert "Demo market — synthetic data, not Binance" in demo
    assert "Stale data — Binance did not answer; data as of 2026-11-23T19:00:00Z" in demo


def test_everything_client_sent_is_escaped():
    report = technical(warnings=[EVIL], title=EVIL)
    report.params = {"symbol": EVIL, EVIL: "x"}
    report.summary = {"note": EVIL, EVIL: {"k": EVIL}}
    report.tables["candles"] = pd.DataFrame({"symbol": [EVIL], EVIL: [1.0]})
    evil_link = '/x?a="><script>alert(1)</script>'
    ctx = RenderContext(links={"png": evil_link, "csv": evil_link},
                        form=(FormField(EVIL, EVIL, EVIL, "select", (EVIL,)),),
                        form_action=evil_link, nav={EVIL: evil_link}, version=EVIL)
    body = render_html(report, ctx)
    assert b"<script>" not in body
    doc = parse(body)
    assert_csp_clean(doc)
    assert not doc.xpath("//script")
    assert EVIL in doc.text_content()
    assert doc.xpath("//img/@src") == [evil_link]


def test_error_page():
    err = InvalidParameter(f"Bad interval {EVIL!r}", param="interval", allowed=["1m", EVIL])
    body = render_html_error(err, RenderContext())
    assert b"<script>" not in body
    doc = parse(body)
    assert_csp_clean(doc)
    text = doc.text_content()
    assert "400" in text and "invalid_parameter" in text and "interval" in text
    assert doc.xpath("//ul[@class='allowed']//code/text()") == ["1m", EVIL]
    assert content_type("html") == "text/html; charset=utf-8"


def test_index_page():
    entries = [{"title": "Technical analysis", "description": "Candles and indicators",
                "path": "/api/v1/analysis/technical/{symbol}",
                "formats": {f: f"/api/v1/analysis/technical/BTCUSDT?format={f}" for f in LINKS}},
               {"title": EVIL, "description": EVIL, "path": "/api/v1/symbols",
                "formats": {"json": "/api/v1/symbols?format=json"}}]
    body = render_index(entries, RenderContext(version="1"))
    assert b"<script>" not in body
    doc = parse(body)
    assert_csp_clean(doc)
    hrefs = doc.xpath("//a/@href")
    assert all(u in hrefs for u in entries[0]["formats"].values())
    assert "/docs" in hrefs and "/openapi.json" in hrefs and "/api/v1/symbols?format=json" in hrefs


def test_docs_page_loads_swagger_from_self():
    doc = parse(render_docs_page(RenderContext()))
    assert_csp_clean(doc)
    assert doc.xpath("//script/@src") == ["/docs/assets/swagger-ui-bundle.js",
                                          "/docs/assets/swagger-ui-standalone-preset.js",
                                          "/static/docs-init.js"]
    assert "/docs/assets/swagger-ui.css" in doc.xpath("//link[@rel='stylesheet']/@href")
    assert doc.xpath("//div[@id='swagger-ui']/@data-spec-url") == ["/openapi.json"]


def test_static_files_exist():
    static = Path(html_renderer.__file__).with_name("static")
    css = (static / "report.css").read_text()
    assert "position: sticky" in css and "@media print" in css and "url(" not in css
    js = (static / "docs-init.js").read_text()
    assert "SwaggerUIBundle" in js and "#swagger-ui" in js


@pytest.mark.parametrize("value, key, expected", [
    (97000.123, "", "97,000.12"), (2.34567, "", "2.3457"), (0.00001234, "", "0.00001234"),
    (1234567, "", "1,234,567"), (None, "", "\u2014"), (True, "", "yes"), (-0.5, "", "-0.5000"),
    (["BTCUSDT", "ETHUSDT"], "pair", "BTCUSDT / ETHUSDT"), (0.0, "", "0.00"),
])
def test_format_value(value, key, expected):
    assert format_value(value, key) == expected


# -- the interactive page (report.js) ----------------------------------------------------------

def test_the_page_hands_its_data_url_to_its_script():
    doc = parse(render_html(technical(), CTX))
    assert doc.xpath("//head/script/@src") == ["/static/report.js"]
    assert doc.xpath("//script/@defer") == ["defer"]
    live = doc.xpath("//*[@id='live']")[0]
    assert (live.get("data-analysis"), live.get("data-json"), live.get("data-page")) == (
        "technical", LINKS["json"], LINKS["html"])
    # Without JavaScript the PNG is the chart: it is in the page, not in a <noscript>.
    assert doc.xpath("//figure[@id='chart']/img/@src") == [LINKS["png"]]
    assert doc.xpath("//figure[@id='chart']/div[@class='ichart'][@hidden]")
    # The parts the script swaps in from a fresh copy of the page are marked.
    assert set(doc.xpath("//@data-live")) == {"meta", "notices", "summary"}


def test_no_script_without_a_json_link():
    links = {k: v for k, v in LINKS.items() if k != "json"}
    doc = parse(render_html(technical(), RenderContext(links=links)))
    assert not doc.xpath("//script") and not doc.xpath("//*[@id='live']")


def test_the_vendored_library_is_the_pinned_file():
    import hashlib
    import re
    vendor = Path(html_renderer.__file__).with_name("static") / "vendor"
    record = (vendor / "VENDOR.md").read_text()
    name = "lightweight-charts.standalone.production.js"
    digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
    assert re.search(rf"sha256 \(of the file\) \| `{digest}`", record), "VENDOR.md's hash is stale"
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert f"LWC_SHA256    := {digest}" in makefile
    version = re.search(r"\| version \| (\S+) \|", record).group(1)
    assert f"LWC_VERSION   := {version}" in makefile and f"v{version}" in (vendor / name).read_text()[:200]
    assert "Apache License" in (vendor / "LICENSE.lightweight-charts").read_text()
    assert "TradingView" in (vendor / "NOTICE.lightweight-charts").read_text()


def test_the_script_keeps_to_the_csp():
    static = Path(html_renderer.__file__).with_name("static")
    js = (static / "report.js").read_text()
    # No eval, no markup written as text, no style attribute (CSP: no inline styles).
    for banned in ("eval(", "new Function", "innerHTML", "setAttribute(\"style\"",
                   "setAttribute('style'", "document.write"):
        assert banned not in js, banned
    assert "attributionLogo: false" in js, "the library's logo injects a <style> the CSP refuses"
