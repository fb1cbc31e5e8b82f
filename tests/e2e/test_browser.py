"""The HTML report in a real browser: headless Chromium (Debian's package) loads the page from
gunicorn under the page's Content-Security-Policy, fetches the chart, and takes a screenshot."""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import chromium_path

pytestmark = pytest.mark.slow
SHOTS = Path(tempfile.gettempdir()) / "binance_svc_screens"


def _screenshot(url: str, out: Path, size=(1280, 2400)) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=5000",
             f"--screenshot={out}", url],
            check=True, capture_output=True, timeout=90)


def _requests_logged(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("event") == "request":
            out.append(doc)
    return out


@pytest.mark.parametrize("path,chart", [
    ("/api/v1/analysis/technical/BTCUSDT?format=html", True),
    ("/api/v1/analysis/correlation?format=html", True),
    ("/api/v1/market/liquidity/ETHUSDT?format=html", True),
    ("/api/v1/market/statistics?format=html", True),
    ("/", False),
])
def test_page_renders_and_loads_its_chart_and_css(gunicorn_factory, path, chart, tmp_path):
    log = tmp_path / "access.log"
    server = gunicorn_factory(env={"LOG_LEVEL": "INFO"}, workers=1, log=log)
    SHOTS.mkdir(exist_ok=True)
    name = path.strip("/").split("?")[0].replace("/", "_") or "index"
    shot = SHOTS / f"{name}.png"
    _screenshot(server.url + path, shot)
    assert shot.stat().st_size > 20_000, "the screenshot is (nearly) blank"
    time.sleep(0.3)
    seen = _requests_logged(log)
    css = [r for r in seen if r["path"].startswith("/static/") and r["path"].endswith(".css")]
    assert css and all(r["status"] == 200 for r in css), "the stylesheet was not loaded"
    if chart:
        pngs = [r for r in seen if "format=png" in (r.get("query") or "")]
        assert pngs, "the browser did not request the chart"
        assert all(r["status"] == 200 for r in pngs), pngs
        assert pngs[0]["format"] == "png"
