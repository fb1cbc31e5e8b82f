"""The pages in a real browser, driven over the DevTools protocol: headless Chromium (Debian's
package) loads them from the demo gunicorn, and the test reads what a person would see: the
interactive charts drawn, no console error, no Content-Security-Policy violation, screenshots
at a desktop and a phone width; the live refresh (304s and 200s in the server's request log);
and a page on another loopback origin fetching the API (CORS).

The driver is a small synchronous DevTools client over websocket-client (installed with
binance-connector): one browser per test, one page target, events collected as they come.
"""
from __future__ import annotations

import base64
import http.server
import itertools
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import chromium_path, free_port, stop_process

websocket = pytest.importorskip("websocket")
pytestmark = pytest.mark.slow
SHOTS = Path(tempfile.gettempdir()) / "binance_svc_screens"


class Chrome:
    """Headless Chromium with one page, over the DevTools protocol.

    `problems` collects what a person with the console open would call a fault: console errors,
    uncaught exceptions, failed loads logged by the browser, and CSP violations (seen by a
    `securitypolicyviolation` listener the driver adds to every document before its scripts
    run, so the page needs no help)."""

    def __init__(self, width: int = 1280, height: int = 900):
        # Chromium's helpers may still write to the profile as it exits.
        self.profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--user-data-dir={self.profile.name}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.problems: list[str] = []
        try:
            self.ws = websocket.create_connection(self._browser_url(), timeout=60,
                                                  suppress_origin=True)
            target = self.call("Target.createTarget", {"url": "about:blank"}, session=None)
            self.session = self.call("Target.attachToTarget", {
                "targetId": target["targetId"], "flatten": True}, session=None)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable")
            self.call("Page.addScriptToEvaluateOnNewDocument", {"source": (
                "document.addEventListener('securitypolicyviolation', function (e) {"
                " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);"
                "});")})
            self.resize(width, height)
        except Exception:
            self.close()
            raise

    def _browser_url(self) -> str:
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if port_file.exists():
                lines = port_file.read_text().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    # -- protocol ---------------------------------------------------------------------------
    def call(self, method: str, params: dict | None = None, session: str | None = "page",
             timeout: float = 60) -> dict:
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session == "page":
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._receive(deadline - time.monotonic())
            if reply is not None and reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise TimeoutError(method)

    def _receive(self, timeout: float) -> dict | None:
        self.ws.settimeout(max(0.01, timeout))
        try:
            msg = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in msg:
            self._note(msg)
        return msg

    def _note(self, event: dict) -> None:
        self.events.append(event)
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.problems.append("console: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.problems.append("exception: " + str(
                details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.problems.append(f"log ({entry.get('source')}): {entry.get('text')} "
                                 f"{entry.get('url', '')}")

    def pump(self, seconds: float) -> None:
        """Collect events for a while (the page runs meanwhile)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._receive(deadline - time.monotonic())

    # -- page -------------------------------------------------------------------------------
    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})

    def goto(self, url: str, timeout: float = 60) -> None:
        start = len(self.events)
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e["method"] == "Page.loadEventFired" for e in self.events[start:]):
                return
            self._receive(deadline - time.monotonic())
        raise TimeoutError(f"{url} did not load")

    def eval(self, expression: str, timeout: float = 60):
        result = self.call("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text"))
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            self.pump(0.1)
        raise TimeoutError(f"never true: {expression}")

    def screenshot(self, out: Path, width: int) -> Path:
        height = int(self.eval("document.documentElement.scrollHeight"))
        self.resize(width, min(height, 6000))
        self.pump(0.5)          # the charts follow the new width (ResizeObserver)
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            stop_process(self.proc)
            self.profile.cleanup()


@pytest.fixture
def chrome():
    browser = Chrome()
    yield browser
    browser.close()


# -- CORS: a page on another loopback origin --------------------------------------------------

@pytest.fixture
def other_origin(tmp_path):
    """A plain http.server on another loopback port: a page of another origin."""
    (tmp_path / "index.html").write_text("<!doctype html><title>another origin</title><p>hi")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


FETCH_CSV = """
fetch(%s, {headers: {"If-None-Match": '"not-this-one"'}})
  .then(function (r) { return r.text().then(function (body) {
      return {ok: r.ok, status: r.status, etag: r.headers.get("ETag"),
              head: body.split("\\n")[0]}; }); })
  .catch(function (e) { return {error: String(e)}; })
"""


def _fetch_from(chrome: Chrome, page: str, url: str) -> dict:
    chrome.goto(page + "/index.html")
    assert chrome.eval("location.origin") == page
    return chrome.eval(FETCH_CSV % json.dumps(url))


def test_another_origin_fetches_the_csv(chrome, demo_server, other_origin):
    # If-None-Match is not a CORS-safelisted header: the browser sends a preflight first.
    result = _fetch_from(chrome, other_origin,
                         demo_server.url + "/api/v1/market/statistics?format=csv")
    assert result.get("ok"), result
    assert result["head"].startswith("symbol,last_price"), result
    assert result["etag"], "ETag is exposed to the script"


def test_an_origin_not_listed_is_refused(chrome, gunicorn_factory, other_origin):
    server = gunicorn_factory(env={"CORS_ORIGINS": "http://127.0.0.1:1"}, workers=1)
    result = _fetch_from(chrome, other_origin, server.url + "/api/v1/market/statistics?format=csv")
    assert "error" in result and "Failed to fetch" in result["error"], result
    chrome.problems.clear()   # the browser logs the refusal: that is the point here


# -- the interactive report pages ---------------------------------------------------------------

PAGES = {
    "technical": "/api/v1/analysis/technical/BTCUSDT?format=html",
    "technical_indicators": "/api/v1/analysis/technical/ETHUSDT?format=html&interval=4h&limit=300"
                            "&indicators=sma:20,ema:50,bbands:20:2,sar,rsi:14,stoch,macd,adx,obv,atr",
    "statistics": "/api/v1/market/statistics?format=html",
    "correlation": "/api/v1/analysis/correlation?format=html",
    "liquidity": "/api/v1/market/liquidity/ETHUSDT?format=html",
}
# What a drawn chart consists of: canvases of Lightweight Charts, or the matrix's cells.
DRAWN = {"technical": "#chart .ichart canvas", "statistics": "#chart .ichart canvas",
         "liquidity": "#chart .ichart canvas", "correlation": "#chart table.heat td"}


def _load_drawn(chrome: Chrome, url: str, analysis: str) -> None:
    chrome.goto(url)
    chrome.wait_for(f"document.getElementById('chart').getAttribute('data-drawn') === '{analysis}'")
    chrome.pump(0.5)


@pytest.mark.parametrize("name", list(PAGES))
def test_every_report_draws_its_interactive_chart(chrome, demo_server, name):
    analysis = name.split("_")[0]
    SHOTS.mkdir(exist_ok=True)
    for width in (1280, 390):          # a desktop, then a phone, each loading the page anew
        chrome.resize(width, 900)
        _load_drawn(chrome, demo_server.url + PAGES[name], analysis)
        assert chrome.eval(f"document.querySelectorAll({json.dumps(DRAWN[analysis])}).length") > 0
        # The PNG gives way to the drawn chart; the tables are still there.
        assert chrome.eval("getComputedStyle(document.querySelector('#chart img')).display") == "none"
        assert chrome.eval("document.querySelectorAll('table.data tbody tr').length") > 0
        assert chrome.eval("document.getElementById('live').hidden") is False
        if analysis == "technical":
            # Every indicator column of the request has its series: the legend lists each one.
            columns = chrome.eval("fetch(document.getElementById('live').dataset.json)"
                                  ".then(r => r.json()).then(d => d.columns)")
            legend = chrome.eval("document.querySelector('.ichart-legend').textContent")
            for column in columns[9:]:
                assert column in legend, column
            panes = chrome.eval("document.querySelectorAll('#chart .ichart table tr').length")
            assert panes >= 3, "oscillators are drawn in panes of their own"
        if analysis in ("technical", "statistics", "liquidity"):
            credit = chrome.eval("document.querySelector('#chart .chart-credit a').href")
            assert credit == "https://www.tradingview.com/", "the library's attribution is shown"
        shot = chrome.screenshot(SHOTS / f"interactive_{name}_{width}.png", width)
        assert shot.stat().st_size > 20_000, "the screenshot is (nearly) blank"
        assert chrome.problems == [], chrome.problems


def test_without_javascript_the_png_and_the_tables_remain(chrome, demo_server):
    chrome.call("Emulation.setScriptExecutionDisabled", {"value": True})
    chrome.goto(demo_server.url + PAGES["technical"])
    chrome.wait_for("document.querySelector('#chart img').complete")
    assert chrome.eval("document.querySelector('#chart img').naturalWidth") > 0
    assert chrome.eval("getComputedStyle(document.querySelector('#chart img')).display") != "none"
    assert chrome.eval("document.querySelectorAll('table.data tbody tr').length") > 0
    assert chrome.eval("document.querySelector('#chart .ichart').hidden") is True


def test_the_driver_sees_a_csp_violation_and_a_console_error(chrome, demo_server):
    # The checks above rely on these being reported; a page breaking the CSP must show up.
    chrome.goto(demo_server.url + PAGES["statistics"])
    chrome.eval("var s = document.createElement('style'); s.textContent = 'p{}';"
                "document.head.appendChild(s); console.error('boom'); 1")
    chrome.pump(0.5)
    assert any("CSP violation" in p for p in chrome.problems), chrome.problems
    assert any("boom" in p for p in chrome.problems), chrome.problems


# -- live refresh ----------------------------------------------------------------------------

def _json_requests(server, path: str) -> list[dict]:
    return [r for r in server.json_records() if r.get("event") == "request"
            and r.get("path") == path and "format=json" in (r.get("query") or "")]


HIDE = ("Object.defineProperty(document, 'hidden', {configurable: true, get: () => %s});"
        "document.dispatchEvent(new Event('visibilitychange')); 1")


def test_the_page_refreshes_its_data_when_it_expires(chrome, gunicorn_factory):
    # Tickers kept 2 s: the statistics page's data expire every 2 s.
    server = gunicorn_factory(env={"LOG_LEVEL": "INFO", "CACHE_TTL_TICKER": "2"}, workers=1)
    path = "/api/v1/market/statistics"
    _load_drawn(chrome, server.url + path + "?format=html", "statistics")
    meta = "document.querySelector('[data-live=meta]').textContent"
    shown = chrome.eval(meta)
    # A 200 comes when the data have expired: the chart and the tables are updated in place.
    updated = chrome.wait_for("document.getElementById('live').getAttribute('data-updated')", 15)
    assert chrome.eval("document.getElementById('chart').getAttribute('data-drawn')") == "statistics"
    assert chrome.eval("document.querySelectorAll('#chart .ichart canvas').length") > 0
    assert chrome.eval(meta) != shown, "the page's times were not updated"
    # Back in view right after that 200: checked at once, and unchanged data are a 304.
    chrome.eval(HIDE % "false")
    chrome.wait_for("+document.getElementById('live').getAttribute('data-checked') > "
                    + updated, 5)
    statuses = [r["status"] for r in _json_requests(server, path)]
    assert statuses[0] == 200 and 200 in statuses[1:] and 304 in statuses[1:], statuses
    assert set(statuses) <= {200, 304}, statuses
    text = chrome.eval("document.getElementById('live').textContent")
    assert "old" in text and "next update in" in text, text

    # Hidden: no request at all, however often the data expire; shown again: one at once.
    chrome.pump(0.3)
    chrome.eval(HIDE % "true")
    chrome.pump(1.0)
    before = len(_json_requests(server, path))
    chrome.pump(6.0)
    assert len(_json_requests(server, path)) == before, "the hidden page kept polling"
    assert "paused" in chrome.eval("document.getElementById('live').textContent")
    chrome.eval(HIDE % "false")
    chrome.pump(1.5)
    assert len(_json_requests(server, path)) == before + 1
    assert chrome.problems == [], chrome.problems


# -- the technical form ----------------------------------------------------------------------

def test_the_indicator_chips_edit_the_field_and_the_form_gives_the_data_url(chrome, demo_server):
    _load_drawn(chrome, demo_server.url + PAGES["technical"], "technical")
    field = "document.querySelector('input[name=indicators]')"
    assert chrome.wait_for("document.querySelectorAll('.chips .chip').length") >= 20
    assert chrome.eval(f"{field}.value") == ""
    chrome.eval("document.querySelector('.chip[data-name=rsi]').click();"
                "document.querySelector('.chip[data-name=obv]').click(); 1")
    assert chrome.eval(f"{field}.value") == "rsi:14,obv"
    assert chrome.eval("document.querySelector('.chip[data-name=rsi]').getAttribute('aria-pressed')") == "true"
    chrome.eval("document.querySelector('.chip[data-name=obv]').click(); 1")     # off again
    assert chrome.eval(f"{field}.value") == "rsi:14"
    chrome.eval(f"{field}.value = 'rsi:14,sma:200'; 1")        # typed by hand, as without JS
    start = len(chrome.events)
    chrome.eval("document.querySelector('form.controls').requestSubmit(); 1")
    deadline = time.monotonic() + 30
    while not any(e["method"] == "Page.loadEventFired" for e in chrome.events[start:]):
        assert time.monotonic() < deadline, "the form did not load a page"
        chrome.pump(0.1)
    # The page's URL is the data's URL: the resource, with the indicators asked for.
    assert chrome.eval("location.pathname") == "/api/v1/analysis/technical/BTCUSDT"
    query = chrome.eval("Object.fromEntries(new URLSearchParams(location.search))")
    assert query["indicators"] == "rsi:14,sma:200" and query["format"] == "html"
    chrome.wait_for("document.getElementById('chart').getAttribute('data-drawn') === 'technical'")
    legend = chrome.eval("document.querySelector('.ichart-legend').textContent")
    assert "rsi_14" in legend and "sma_200" in legend
    assert chrome.problems == [], chrome.problems
