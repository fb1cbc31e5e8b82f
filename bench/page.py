"""The interactive report page in headless Chromium: bytes on the wire on a first load and on
one live refresh, and the time to the first chart, for each report page.

    .venv/bin/python bench/page.py              # 5 loads per page
    .venv/bin/python bench/page.py --runs 11

Starts the real gunicorn (1 worker, demo market, every time to live used here 5 s so that a refresh
comes within the run) on a free loopback port and Chromium through the DevTools driver of
tests/e2e/test_interactive.py, with a fresh profile per load (a cold browser cache). Bytes are
what Chromium counts as received (Network.loadingFinished encodedDataLength: headers and
body, uncompressed here since gunicorn does not compress; NGINX in front gzips text). A
first load is the HTML, CSS, report.js, the library where used, the favicon, the JSON and the
PNG (still fetched: it is the chart without JavaScript). A refresh is the conditional JSON
request and, on a 200, the page fetched again for its tables. Time to first chart: navigation
start to the chart drawn (report.js's data-drawn-ms), median of the runs; the server's caches
are warm after the first run, so this is the browser's part.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import loadavg, machine_line  # noqa: E402
from tests.conftest import Gunicorn  # noqa: E402

spec = importlib.util.spec_from_file_location("interactive", ROOT / "tests/e2e/test_interactive.py")
interactive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(interactive)

PAGES = {k: v for k, v in interactive.PAGES.items()}


def _bytes(events: list[dict]) -> tuple[int, dict[str, int]]:
    urls = {}
    for e in events:
        if e["method"] == "Network.requestWillBeSent":
            urls[e["params"]["requestId"]] = e["params"]["request"]["url"]
    per = {}
    for e in events:
        if e["method"] == "Network.loadingFinished":
            url = urls.get(e["params"]["requestId"], "?")
            per[url] = per.get(url, 0) + int(e["params"]["encodedDataLength"])
    return sum(per.values()), per


def one(server, name: str, url: str, refresh: bool) -> dict:
    chrome = interactive.Chrome()
    try:
        chrome.goto(server.url + url)
        analysis = name.split("_")[0]
        chrome.wait_for(f"document.getElementById('chart').getAttribute('data-drawn') === '{analysis}'")
        drawn = int(chrome.eval("document.getElementById('chart').getAttribute('data-drawn-ms')"))
        chrome.pump(1.0)
        first, per = _bytes(chrome.events)
        out = {"first": first, "drawn_ms": drawn, "files": per}
        if refresh:
            mark = len(chrome.events)
            before = chrome.eval("document.getElementById('live').getAttribute('data-checked')")
            chrome.wait_for("document.getElementById('live').getAttribute('data-checked') !== "
                            + ("null" if before is None else repr(before)), 30)
            chrome.pump(1.5)
            out["refresh"], out["refresh_files"] = _bytes(chrome.events[mark:])
        return out
    finally:
        chrome.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(machine_line())
    print("load average before:", loadavg())
    server = Gunicorn(env={"CACHE_TTL_TICKER": "5", "CACHE_TTL_DEPTH": "5",
                           "CACHE_TTL_KLINES": "1h=5,4h=5,1d=5"}, workers=1)
    try:
        print(f"{'page':<22} {'first load KB':>13} {'refresh KB':>10} {'first chart ms (median, min-max)':>34}")
        for name, url in PAGES.items():
            results = []
            for i in range(args.runs + 1):
                results.append(one(server, name, url, refresh=(i == 1)))
            results = results[1:]          # the first run fills the server's caches
            firsts = [r["first"] for r in results]
            drawn = [r["drawn_ms"] for r in results]
            refresh = results[0].get("refresh")
            print(f"{name:<22} {statistics.median(firsts) / 1024:>13.1f} "
                  f"{(refresh or 0) / 1024:>10.1f} "
                  f"{statistics.median(drawn):>14.0f} ({min(drawn)}-{max(drawn)})")
            files = results[0]["files"]
            for u, n in sorted(files.items(), key=lambda kv: -kv[1]):
                print(f"    {n / 1024:8.1f} KB  {u.replace(server.url, '')[:110]}")
            for u, n in sorted((results[0].get("refresh_files") or {}).items(), key=lambda kv: -kv[1]):
                print(f"    refresh {n / 1024:8.1f} KB  {u.replace(server.url, '')[:100]}")
    finally:
        server.stop()
    print("load average after:", loadavg())


if __name__ == "__main__":
    main()
