"""Cached throughput vs the ceiling: requests/s of each URL of the service, served from its
rendered-response cache, divided by requests/s of a bare Flask view sending the same bytes.

    .venv/bin/python bench/throughput.py                       # every resource x format
    .venv/bin/python bench/throughput.py --duration 10 --connections 32 --wrk-threads 2 \
        --workers 2 --threads 4 --only technical:png,statistics:json

Both servers are the real gunicorn with the repo's gunicorn.conf.py, on 127.0.0.1, with the same
GUNICORN_WORKERS / GUNICORN_THREADS / GUNICORN_MAX_REQUESTS:
  1. the service (wsgi:app) on the in-process demo market (MARKET_SOURCE=demo) with every
     time to live raised to --ttl seconds (CACHE_TTL_TICKER, CACHE_TTL_DEPTH, CACHE_TTL_KLINES,
     CACHE_TTL_EXCHANGE_INFO) so no cached response expires during the run;
  2. every URL fetched once (status, headers, exact bytes);
  3. bench/ceiling_app.py under the same gunicorn settings, answering each URL with those bytes
     and the same Content-Type (and by default the same static headers, so the same bytes go
     over the wire);
  4. per URL, side by side: wrk warm-up then wrk -tT -cC -dDs --latency against the service,
     the same against the ceiling.
The service's request log (one JSON line per request, LOG_LEVEL=INFO as deployed) is written to
a file; every request of a measured window is counted by its "cache" field, so a row whose
responses were not all cache hits says so.

GUNICORN_MAX_REQUESTS is 0 here, as in gunicorn.conf.py: a recycled worker starts with an
empty cache, which is not the cached path this measures (--max-requests 2000 shows the cost).

A benchmark prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, loadavg, machine, wait_http  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WRK = shutil.which("wrk") or "/usr/bin/wrk"
CLK_TCK = os.sysconf("SC_CLK_TCK")

RESOURCES = {
    "statistics": "/api/v1/market/statistics",
    "technical": "/api/v1/analysis/technical/BTCUSDT",
    "correlation": "/api/v1/analysis/correlation",
    "liquidity": "/api/v1/market/liquidity/BTCUSDT",
    "symbols": "/api/v1/symbols",
}
FORMATS = ("json", "csv", "html", "xml", "png")
NO_PNG = {"symbols"}
# Headers gunicorn/Werkzeug set per response or per connection: never copied to the ceiling.
NOT_COPIED = {"date", "server", "connection", "keep-alive", "content-length",
              "transfer-encoding"}


# -- processes ----------------------------------------------------------------------------------




class Server:
    """A process started by this script, stopped by its own pid (and its gunicorn workers
    by the master's SIGTERM)."""

    def __init__(self, argv: list[str], env: dict, log: Path, ready_url: str | None):
        self.log_path = log
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if ready_url:
            try:
                wait_http(ready_url, self.proc)
            except Exception:
                self.stop()
                raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True, timeout=5).stdout
        return [int(x) for x in out.split()]

    def cpu_by_pid(self) -> dict[int, float]:
        """User + system CPU seconds so far of the master and of each worker."""
        out = {}
        for pid in [self.proc.pid, *self.worker_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        return out

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_pid().values())


def gunicorn(app_spec: str, port: int, env: dict, log: Path, extra: list[str] = (),
             ready_path: str = "/health") -> Server:
    argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), *extra,
            app_spec]
    full = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    return Server(argv, full, log, f"http://127.0.0.1:{port}{ready_path}")


def install_signal_handlers() -> None:
    """SIGTERM/SIGHUP run the `finally` blocks (which stop the servers) like Ctrl-C does."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)




def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime




# -- wrk ----------------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def wrk(url: str, duration: float, connections: int, threads: int,
        server: Server | None = None) -> dict:
    """wrk's figures; with `server`, also the server's CPU time per request (us)."""
    cpu0 = server.cpu_seconds() if server else 0.0
    busy0, wrk0, t0 = busy_seconds(), children_cpu(), time.monotonic()
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency",
            "--timeout", "10s", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    text = out.stdout
    cpu = (server.cpu_seconds() - cpu0) if server else float("nan")
    busy, wrk_cpu, wall = busy_seconds() - busy0, children_cpu() - wrk0, time.monotonic() - t0
    res = {"rps": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan"),
           "requests": 0, "errors": 0, "non2xx": 0, "cpu_us_per_req": float("nan"),
           "wrk_cores": wrk_cpu / wall, "server_cores": cpu / wall if server else float("nan"),
           # what the rest of the machine (other users' tests, ...) used meanwhile, in cores
           "other_cores": (busy - wrk_cpu - (cpu if server else 0.0)) / wall,
           "raw": text + out.stderr}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        if m:
            res[key] = _ms(m.group(1))
    m = re.search(r"(\d+) requests in", text)
    if m:
        res["requests"] = int(m.group(1))
        if server and res["requests"]:
            res["cpu_us_per_req"] = cpu / res["requests"] * 1e6
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        res["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        res["non2xx"] = int(m.group(1))
    return res


def combine(runs: list[dict]) -> dict:
    """Rounds of one URL on one server: requests/s and CPU over all of them, the median p50
    and the worst p99."""
    if len(runs) == 1:
        return runs[0]
    n = len(runs)
    requests = sum(r["requests"] for r in runs)
    out = {"rps": sum(r["rps"] for r in runs) / n,
           "p50_ms": sorted(r["p50_ms"] for r in runs)[n // 2],
           "p99_ms": max(r["p99_ms"] for r in runs), "requests": requests,
           "errors": sum(r["errors"] for r in runs), "non2xx": sum(r["non2xx"] for r in runs),
           "cpu_us_per_req": sum(r["cpu_us_per_req"] * r["requests"] for r in runs)
           / max(1, requests)}
    for key in ("wrk_cores", "server_cores", "other_cores"):
        out[key] = sum(r[key] for r in runs) / n
    out["rounds"] = [{k: v for k, v in r.items() if k != "raw"} for r in runs]
    return out


# -- the service's request log ------------------------------------------------------------------
class LogWindow:
    """Counts the service's request-log lines written between two points, by cache outcome."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size

    def close(self, quiet: float = 0.5, limit: float = 30.0) -> dict:
        """Wait until the log has been quiet for `quiet` s (requests still in flight when wrk
        stopped are logged when they finish), then count the lines since the last point."""
        deadline = time.monotonic() + limit
        size, since = self.path.stat().st_size, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.1)
            now = self.path.stat().st_size
            if now != size:
                size, since = now, time.monotonic()
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.offset += len(chunk)
        total = chunk.count(b'"event":"request"')
        hits = chunk.count(b'"cache":"hit"')
        return {"logged": total, "hits": hits, "not_hits": total - hits}


# -- the run ------------------------------------------------------------------------------------
def urls(only: set[tuple[str, str]] | None) -> list[tuple[str, str, str]]:
    out = []
    for name, path in RESOURCES.items():
        for fmt in FORMATS:
            if fmt == "png" and name in NO_PNG:
                continue
            if only and (name, fmt) not in only:
                continue
            out.append((name, fmt, f"{path}?format={fmt}"))
    return out


def fetch(url: str) -> tuple[int, list[tuple[str, str]], bytes]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, list(resp.headers.items()), resp.read()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10, help="wrk -d per URL and server, s")
    ap.add_argument("--rounds", type=int, default=1, help="measured wrk runs per URL and "
                    "server, alternating which server goes first (figures: mean req/s)")
    ap.add_argument("--warmup", type=float, default=1, help="wrk warm-up per URL and server, s")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk -t")
    ap.add_argument("--workers", type=int, default=2, help="GUNICORN_WORKERS (both servers)")
    ap.add_argument("--threads", type=int, default=4, help="GUNICORN_THREADS (both servers)")
    ap.add_argument("--max-requests", type=int, default=0, help="GUNICORN_MAX_REQUESTS")
    ap.add_argument("--ttl", type=int, default=86400, help="every CACHE_TTL_* of the service, s")
    ap.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the service (INFO logs "
                    "one line per request, as deployed)")
    ap.add_argument("--ceiling-headers", choices=("all", "content-type"), default="all",
                    help="the ceiling sends the service's static headers too (all), or only "
                         "Content-Type")
    ap.add_argument("--only", default="", help="comma-separated resource:format, e.g. "
                    "technical:png,statistics:json")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, bytes)")
    args = ap.parse_args(argv)
    install_signal_handlers()

    only = {tuple(x.split(":", 1)) for x in args.only.split(",") if x} or None
    todo = urls(only)
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    common = {"GUNICORN_WORKERS": str(args.workers), "GUNICORN_THREADS": str(args.threads),
              "GUNICORN_MAX_REQUESTS": str(args.max_requests), "GUNICORN_ACCESSLOG": ""}
    ttl = str(args.ttl)
    service_env = {**common, "MARKET_SOURCE": "demo", "LOG_LEVEL": args.log_level,
                   "CACHE_TYPE": "SimpleCache",
                   "CACHE_TTL_TICKER": ttl, "CACHE_TTL_DEPTH": ttl,
                   "CACHE_TTL_EXCHANGE_INFO": ttl,
                   "CACHE_TTL_KLINES": ",".join(f"{i}={min(args.ttl, 86400)}"
                                                for i in ("1m", "1h", "1d"))}
    info = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "loadavg_start": loadavg(), "wrk": f"-t{args.wrk_threads} -c{args.connections} "
            f"-d{args.duration:g}s --latency", "rounds": args.rounds,
            "settings": {**service_env}, "rows": []}
    print(f"# machine: {info['machine']}  date: {info['date']}  load: {info['loadavg_start']}")
    print(f"# gunicorn: workers={args.workers} threads={args.threads} "
          f"max_requests={args.max_requests} (both servers); wrk {info['wrk']} x "
          f"{args.rounds} round(s) per server; warm-up {args.warmup:g}s")
    print(f"# service env: {' '.join(f'{k}={v}' for k, v in service_env.items())}")
    print(f"# work directory: {work}", flush=True)

    service = ceiling = None
    try:
        sport = free_port()
        service = gunicorn("wsgi:app", sport, service_env, work / "service.log")
        base = f"http://127.0.0.1:{sport}"
        manifest = {}
        for i, (name, fmt, url) in enumerate(todo):
            fetch(base + url)                      # first render (one worker)
            status, headers, body = fetch(base + url)
            if status != 200:
                raise RuntimeError(f"{url}: status {status}")
            (work / f"body{i}").write_bytes(body)
            if args.ceiling_headers == "all":
                kept = [(k, v) for k, v in headers if k.lower() not in NOT_COPIED]
            else:
                kept = [(k, v) for k, v in headers if k.lower() == "content-type"]
            manifest[url] = {"body_file": f"body{i}", "headers": kept}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=1))

        cport = free_port()
        ceiling = gunicorn("ceiling_app:app", cport,
                           {**common, "CEILING_MANIFEST": str(work / "manifest.json"),
                            "LOG_LEVEL": args.log_level},
                           work / "ceiling.log", ["--pythonpath", str(ROOT / "bench")],
                           ready_path=todo[0][2])
        cbase = f"http://127.0.0.1:{cport}"
        for _, _, url in todo:  # the ceiling sends exactly the captured bytes
            _, cheaders, cbody = fetch(cbase + url)
            assert cbody == (work / manifest[url]["body_file"]).read_bytes(), url
            ct = dict((k.lower(), v) for k, v in cheaders)["content-type"]
            want = dict((k.lower(), v) for k, v in manifest[url]["headers"])["content-type"]
            assert ct == want, (url, ct, want)

        header = ("| resource | format | bytes | service req/s | ceiling req/s | ratio | "
                  "service p50 / p99 ms | ceiling p50 / p99 ms | CPU us/req service / ceiling | "
                  "cache hits | other load, cores |")
        print()
        print(header)
        print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|", flush=True)
        for name, fmt, url in todo:
            load1 = loadavg().split()[0]
            # Warm-up until a whole window was served from the cache and every worker served
            # part of it (its CPU time grew): then every worker has the URL cached.
            warm = False
            for _ in range(10):
                for _ in range(2 * args.workers):   # fresh connections reach more workers
                    fetch(base + url)
                window = LogWindow(service.log_path)
                before = service.cpu_by_pid()
                wrk(base + url, args.warmup, args.connections, args.wrk_threads)
                counted = window.close()
                after = service.cpu_by_pid()
                busy = [after[pid] - before.get(pid, 0) >= 0.05
                        for pid in service.worker_pids() if pid in after]
                if counted["not_hits"] == 0 and busy and all(busy):
                    warm = True
                    break
            if not warm:
                print(f"  ! {url}: no warm-up window was all cache hits on every worker",
                      flush=True)
            wrk(cbase + url, args.warmup, args.connections, args.wrk_threads)
            window = LogWindow(service.log_path)
            s_runs, c_runs = [], []
            for i in range(args.rounds):
                # Rounds alternate the order (service, ceiling / ceiling, service, ...) so a
                # change of the machine's other load hits both sides alike.
                pair = [("s", base, service, s_runs), ("c", cbase, ceiling, c_runs)]
                for _, host, server, runs in (pair if i % 2 == 0 else pair[::-1]):
                    runs.append(wrk(host + url, args.duration, args.connections,
                                    args.wrk_threads, server))
            counted = window.close()
            s, c = combine(s_runs), combine(c_runs)
            ratio = s["rps"] / c["rps"] if c["rps"] else float("nan")
            size = len((work / manifest[url]["body_file"]).read_bytes())
            hits = (f"{counted['hits']}/{counted['logged']}"
                    if args.log_level.upper() in ("DEBUG", "INFO") else "n/a")
            flag = "" if ratio >= 0.8 else " **<0.8**"
            print(f"| {name} | {fmt} | {size:,} | {s['rps']:,.0f} | {c['rps']:,.0f} | "
                  f"{ratio:.2f}{flag} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} | "
                  f"{c['p50_ms']:.2f} / {c['p99_ms']:.2f} | "
                  f"{s['cpu_us_per_req']:.0f} / {c['cpu_us_per_req']:.0f} | {hits} | "
                  f"{s['other_cores']:.1f} / {c['other_cores']:.1f} |",
                  flush=True)
            for label, r in (("service", s), ("ceiling", c)):
                if r["errors"] or r["non2xx"]:
                    print(f"  ! {label} {url}: socket errors {r['errors']}, "
                          f"non-2xx {r['non2xx']}", flush=True)
            info["rows"].append({"resource": name, "format": fmt, "url": url, "bytes": size,
                                 "service": {k: v for k, v in s.items() if k != "raw"},
                                 "ceiling": {k: v for k, v in c.items() if k != "raw"},
                                 "ratio": ratio, "service_log": counted, "load1": load1})
        info["loadavg_end"] = loadavg()
        ratios = sorted(r["ratio"] for r in info["rows"])
        cpu = sorted(r["ceiling"]["cpu_us_per_req"] / r["service"]["cpu_us_per_req"]
                     for r in info["rows"])
        print(f"\n# req/s ratio: min {ratios[0]:.2f}, median {statistics.median(ratios):.2f}, "
              f"max {ratios[-1]:.2f}; {sum(r >= 0.8 for r in ratios)}/{len(ratios)} URLs >= 0.8")
        print(f"# CPU ratio (ceiling CPU/request / service CPU/request): min {cpu[0]:.2f}, "
              f"median {statistics.median(cpu):.2f}, max {cpu[-1]:.2f}")
        print(f"# load average at end: {info['loadavg_end']}")
        if args.json:
            Path(args.json).write_text(json.dumps(info, indent=1))
    finally:
        for server in (ceiling, service):
            if server is not None:
                server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
