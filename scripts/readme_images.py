"""Make the README's pictures from the demo market: a PNG chart and a screenshot of the HTML
report (headless Chromium). Run: .venv/bin/python scripts/readme_images.py"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MARKET_SOURCE": "demo", "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_WORKERS": "1", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                               "wsgi:app"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        chart = base + "/api/v1/analysis/technical/BTCUSDT?format=png&limit=150"
        (OUT / "technical.png").write_bytes(urllib.request.urlopen(chart, timeout=30).read())
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            print("chromium not found: skipped the HTML screenshot")
            return
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                            f"--user-data-dir={profile}", "--window-size=1280,1500",
                            "--virtual-time-budget=5000",
                            f"--screenshot={OUT / 'report.png'}",
                            base + "/api/v1/market/liquidity/ETHUSDT?format=html"],
                           check=True, capture_output=True, timeout=90)
        print("wrote", *sorted(p.name for p in OUT.glob("*.png")))
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
