#!/usr/bin/env python3
"""Peak memory of the whole production stack (NGINX + gunicorn) under load, and during a deploy.

Starts on 127.0.0.1: the demo market (standing in for Binance; not counted); one gunicorn colour
as deployed (`gunicorn.conf.py`, deploy/app.env.example with MARKET_SOURCE=demo, the compose
file's GUNICORN_WORKER_TMP_DIR, and the workers `default_workers` gives for an app container's
CPU quota and memory limit in deploy/docker-compose.prod.yml); Debian's NGINX with nginx/
rendered as the image renders it (tests/deploy/deploy_support.py: needs the test dependencies),
the proxy cache in a temp dir, the per-IP rate limit raised (all the load has one address).

wrk (`-t2 -c 64`, Accept-Encoding: gzip) cycles through NGINX over bench/load.py's URLs and
their Parquet twins (every resource x format) for --duration s, after a cold round. Every
process of the stack is sampled every 0.5 s: VmRSS and RssAnon (/proc/<pid>/status), PSS
(/proc/<pid>/smaps_rollup: a shared page split between the processes mapping it, the honest sum
for forked workers). Then, unless --no-switch, a deploy as deploy/deploy.sh does it, load still
running: the other colour starts, is warmed, waits for /health/ready; live/upstream.conf is
replaced, `nginx -t`, `nginx -s reload`, NGINX is checked to answer from it (X-Upstream-Color);
the old colour drains 10 s and gets SIGTERM.

It prints figures and asserts nothing:

    .venv/bin/python bench/stack_memory.py [--duration 60] [--connections 64] [--no-switch]

Every process it starts listens on 127.0.0.1 only and is stopped by its pid at the end (also
on Ctrl-C / SIGTERM).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "deploy")]
from _common import children, free_port, machine_line, wait_http, wait_until  # noqa: E402
from deploy_support import (Cgroup, compose_limits, nginx_argv, production_app_env,  # noqa: E402
                            render_nginx)
from load import FORMATS, LUA, Procs, get, urls  # noqa: E402

MIB = 1024          # kB
HOST_MIB = 2048     # t3.small: 2 GiB, no swap
OS_MIB = 400        # assumed for the kernel, Ubuntu, dockerd, containerd (docs/deploy.md, Sizing)
DRAIN_SECONDS = 10  # deploy.sh's default, as WARMUP_PATHS
WARMUP_PATHS = ("/", "/api/v1/symbols?format=json",
                "/api/v1/analysis/technical/BTCUSDT?format=json")
ORDER = lambda name: (name == "stack", name == "nginx", name)  # noqa: E731


def production_workers(cpus: float, memory_mib: int, env: dict[str, str]) -> int:
    """gunicorn.conf.py's default_workers() in a cgroup with this CPU quota and memory limit,
    with the app env's RESPONSE_CACHE_MB (set here; the servers get an env of their own)."""
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    os.environ.pop("GUNICORN_WORKER_MB", None)
    os.environ["RESPONSE_CACHE_MB"] = env.get("RESPONSE_CACHE_MB", "")     # "": the default
    with tempfile.TemporaryDirectory() as cgroup:
        Path(cgroup, "cpu.max").write_text(f"{int(cpus * 100000)} 100000\n")
        Path(cgroup, "memory.max").write_text(f"{memory_mib * 1024 * 1024}\n")
        return conf.default_workers(Path(cgroup))


def read_mem(pid: int) -> tuple[int, int, int] | None:
    """(VmRSS, PSS, RssAnon) in kB; None once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = [int((re.search(rf"^{name}:\s+(\d+) kB", text, re.M) or (0, 0))[1])   # 0: a zombie
          for text, name in ((status, "VmRSS"), (rollup, "Pss"), (status, "RssAnon"))]
    return kb[0], kb[1], kb[2]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


class Sampler(threading.Thread):
    """Every 0.5 s: (VmRSS, PSS, RssAnon) in kB of each component (a master and its children)
    and of the "stack"; each process' peak RSS; other Python processes (they lower PSS)."""

    def __init__(self, components: dict[str, int]):
        super().__init__(daemon=True)
        self.components = components          # name -> master pid; grows during a switch
        self.phase = "idle"
        self.samples: list[tuple[float, str, dict[str, tuple[int, int, int]]]] = []
        self.peak_proc: dict[int, tuple[int, str, str]] = {}    # pid -> (kB, component, role)
        self.other_pythons = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            t, per, seen = time.monotonic(), {}, {os.getpid()}
            for name, master in list(self.components.items()):
                total = [0, 0, 0]
                for pid in [master, *children(master)]:
                    seen.add(pid)
                    if not (mem := read_mem(pid)) or not mem[0]:
                        continue
                    total = [a + b for a, b in zip(total, mem)]
                    if mem[0] > self.peak_proc.get(pid, (0,))[0]:
                        role = "master" if pid == master else (
                            "worker" if name.startswith("app") else cmdline(pid))
                        self.peak_proc[pid] = (mem[0], name, role)
                if total[0]:
                    per[name] = tuple(total)
            per["stack"] = tuple(sum(v[i] for v in per.values()) for i in range(3))
            self.samples.append((t, self.phase, per))
            self.other_pythons = max(self.other_pythons, sum(
                1 for d in os.listdir("/proc") if d.isdigit() and int(d) not in seen
                and Path(cmdline(int(d)).split(" ")[0]).name.startswith("python")))
            self.stopped.wait(max(0.0, 0.5 - (time.monotonic() - t)))

    def select(self, phase: str, since: float = 0.0):
        return [(t, per) for t, p, per in self.samples if p == phase and t >= since]


def in_group(stack: dict, name: str, argv: list[str]) -> list[str]:
    group = stack["groups"].get(name)
    return group.join_argv(argv) if group else argv


def start_colour(procs: Procs, stack: dict, colour: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    env = {**stack["env"], "GUNICORN_BIND": f"127.0.0.1:{stack['ports'][colour]}"}
    with open(stack["logs"][colour], "ab") as fh:
        return procs.start(in_group(stack, f"app-{colour}", argv), cwd=ROOT, stdout=fh,
                           stderr=fh, stdin=subprocess.DEVNULL, env=env)


def write_upstream(live: Path, port: int, colour: str) -> None:
    """live/upstream.conf as deploy.sh's write_upstream writes it: replaced by rename."""
    live.mkdir(parents=True, exist_ok=True)
    tmp = live / ".upstream.tmp"
    tmp.write_text(f"upstream binance_svc {{\n    server 127.0.0.1:{port};\n"
                   f"    include snippets/upstream-keepalive.conf;\n}}\n"
                   f"map $host $binance_svc_color {{\n    default {colour};\n}}\n")
    tmp.replace(live / "upstream.conf")


def serves(base: str, colour: str) -> bool:
    with urllib.request.urlopen(base + "/health", timeout=5) as resp:
        return resp.headers.get("X-Upstream-Color") == colour


def app_requests(log: Path) -> int:
    """Requests the app logged (LOG_LEVEL=info: one JSON line each)."""
    return len(re.findall(rb'"event":\s*"request"', log.read_bytes())) if log.exists() else 0


def report(sampler: Sampler, steady_since: float) -> None:
    """Per phase: the peak of each component and of the stack (the load: also the steady)."""
    comps = sorted({n for _, _, per in sampler.samples for n in per}, key=ORDER)
    titles = {"idle": "idle (started, no request yet)",
              "warm-up": "warm-up (every URL twice, cold, through NGINX)",
              "load": f"load (steady: median of the samples from "
                      f"{steady_since - sampler.select('load')[0][0]:.0f} s on)",
              "switch": "switch (new colour started .. old stopped, NGINX's old workers gone)",
              "after": "after (the new colour alone, 5 s)"}
    for phase, title in titles.items():
        picked = sampler.select(phase)
        steady = sampler.select(phase, since=steady_since) if phase == "load" else []
        if not picked:
            continue
        kinds = ("steady", "peak") if steady else ("peak",)
        print(f"\n{title}  (MiB; {len(picked)} samples)\n  {'component':<10}"
              + "".join(f"{m + ' ' + k:>12}" for m in ("RSS", "PSS", "anon") for k in kinds))
        for name in comps:
            vals = [per[name] for _, per in picked if name in per]
            st = [per[name] for _, per in steady if name in per]
            cells = [f(v[i] for v in values) / MIB for i in range(3)
                     for f, values in ((statistics.median, st), (max, vals)) if values]
            if vals:
                print(f"  {name:<10}" + "".join(f"{c:>12.1f}" for c in cells))


def switch_colour(sampler: Sampler, procs: Procs, stack: dict) -> dict:
    """deploy.sh's switch from blue to green; seconds from green's start to each step."""
    t0, at = time.monotonic(), {}
    sampler.phase = "switch"
    green = start_colour(procs, stack, "green")
    sampler.components["app-green"] = green.pid
    direct = f"http://127.0.0.1:{stack['ports']['green']}"
    wait_http(direct + "/health", green)
    for path in WARMUP_PATHS:
        get(direct, path, timeout=30)
    wait_until(lambda: get(direct, "/health/ready", timeout=5)[0] == 200, 120,
               "green's /health/ready", green)
    at["green ready"] = time.monotonic() - t0
    write_upstream(stack["live"], stack["ports"]["green"], "green")
    for action in (["-t", "-q"], ["-s", "reload"]):
        subprocess.run(stack["nginx"] + action, check=True, capture_output=True, timeout=30)
    at["reloaded"] = time.monotonic() - t0
    wait_until(lambda: serves(stack["base"], "green"), 10, "NGINX answering from green")
    time.sleep(DRAIN_SECONDS)
    stack["blue"].terminate()                          # docker stop: SIGTERM, graceful
    stack["blue"].wait(timeout=30)
    at["blue stopped"] = time.monotonic() - t0
    wait_until(lambda: not any("shutting down" in cmdline(p) for p in children(stack["ngx"].pid)),
               60, "NGINX's old workers to exit")
    at["old NGINX workers gone"] = time.monotonic() - t0
    sampler.phase = "after"
    time.sleep(5)
    return at


def verdicts(sampler: Sampler, limits: dict, nginx_cache: Path) -> None:
    peaks = sampler.peak_proc.values()
    print("\npeak RSS per process, MiB:")
    for comp in sorted({p[1] for p in peaks}, key=ORDER):
        print(f"  {comp:<10} " + ", ".join(
            f"{role.replace('nginx: ', '').replace(' process', '')} {kb / MIB:.1f}"
            for kb, c, role in sorted(peaks, key=lambda p: (p[2] != "master", p[2]))
            if c == comp))
    print(f"other Python processes during the run (the demo market, anyone else's): up to "
          f"{sampler.other_pythons}; PSS splits shared library pages with them")
    worker = max((p for p in peaks if p[2] == "worker"), default=(0, "-", ""))
    colour = max((per[c][0] for _, _, per in sampler.samples for c in per if c[:4] == "app-"),
                 default=0)
    nginx = max((per["nginx"][0] for _, _, per in sampler.samples if "nginx" in per), default=0)
    app_mib, ngx_mib = limits["app-blue"][1], limits["nginx"][1]
    print(f"\nworst worker: {worker[0] / MIB:.1f} MiB RSS ({worker[1]}); the limit of its "
          f"container is {app_mib} MiB")
    print(f"one colour (master + workers), peak RSS sum: {colour / MIB:.1f} MiB of {app_mib} "
          f"MiB ({100 * colour / MIB / app_mib:.0f} %)")
    print(f"nginx (all its processes), peak RSS sum: {nginx / MIB:.1f} MiB of {ngx_mib} MiB")
    budget = HOST_MIB - OS_MIB
    for i, what in ((1, "PSS"), (0, "RSS")):
        peak = max(per["stack"][i] for _, _, per in sampler.samples) / MIB
        print(f"t3.small: whole-stack peak {what} {peak:.1f} MiB against {HOST_MIB} - {OS_MIB} "
              f"MiB assumed for the OS and dockerd = {budget} MiB: "
              + (f"fits, {budget - peak:.0f} MiB to spare" if peak <= budget
                 else f"does NOT fit, {peak - budget:.0f} MiB over"))
    files = [f for f in nginx_cache.rglob("*") if f.is_file()] if nginx_cache.exists() else []
    size = sum(f.stat().st_blocks * 512 for f in files) / MIB / MIB
    print(f"nginx cache on disk: {len(files)} files, {size:.1f} MiB (on a volume in production: "
          f"page cache, reclaimable, not counted above)")


def start_stack(procs: Procs, work: Path, nginx: str, env: dict, groups: dict) -> dict:
    """Blue on its port, then NGINX in front of it; what the rest needs, in a dict."""
    nroot, port = work / "nginx", free_port()
    stack = {"env": env, "groups": groups, "ports": {"blue": free_port(), "green": free_port()},
             "logs": {c: work / f"app-{c}.log" for c in ("blue", "green")},
             "live": nroot / "live", "base": f"http://127.0.0.1:{port}", "cache": nroot / "cache"}
    stack["blue"] = start_colour(procs, stack, "blue")
    wait_http(f"http://127.0.0.1:{stack['ports']['blue']}/health", stack["blue"])
    values = {"NGINX_LISTEN_PORT": str(port), "NGINX_CACHE_DIR": str(stack["cache"]),
              "NGINX_CACHE_MAX_SIZE": "256m", "NGINX_REAL_IP_FROM": "127.0.0.1",
              "NGINX_RATE": "100000r/s", "NGINX_BURST": "100000", "NGINX_HTTPS_REDIRECT": "0"}
    write_upstream(stack["live"], stack["ports"]["blue"], "blue")
    stack["nginx"] = nginx_argv(nginx, render_nginx(nroot, values))
    subprocess.run(stack["nginx"] + ["-t", "-q"], check=True, capture_output=True, timeout=30)
    with open(nroot / "error.log", "ab") as err:
        stack["ngx"] = procs.start(in_group(stack, "nginx", stack["nginx"]),
                                   stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    wait_http(stack["base"] + "/health", stack["ngx"])
    print(f"nginx:    {subprocess.run([nginx, '-v'], capture_output=True, text=True).stderr}"
          .strip() + ", " + " ".join(f"{k}={v}" for k, v in list(values.items())[2:]))
    return stack


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--workers", type=int, help="gunicorn workers per colour (default: "
                    "gunicorn.conf.py's for an app container of docker-compose.prod.yml)")
    ap.add_argument("--no-switch", action="store_true", help="no blue/green switch")
    ap.add_argument("--distinct", type=int, default=0, metavar="N",
                    help="add N technical windows (limit=100..) in every format: URLs NGINX "
                         "has not cached, so the workers render and fill their caches")
    ap.add_argument("--drop-caches", action="store_true",
                    help="drop the host's page cache first (root), so the libraries the stack "
                         "reads are charged to its cgroups, as in a freshly started container")
    args = ap.parse_args(argv)
    print("command:  " + shlex.join([".venv/bin/python", "bench/stack_memory.py",
                                     *(argv if argv is not None else sys.argv[1:])]))
    print(f"machine:  {machine_line()}")
    nginx = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)), None)
    if not nginx or not shutil.which("wrk"):
        print("needs nginx and wrk: apt-get install -y nginx wrk", file=sys.stderr)
        return 2
    limits = compose_limits()
    app_cpus, app_mib = limits["app-blue"]
    env_prod = production_app_env()
    computed = production_workers(app_cpus, app_mib, env_prod)
    groups = {}
    try:   # each container's limits, enforced by the kernel as Docker would
        for name in ("app-blue", "app-green", "nginx"):
            groups[name] = Cgroup(f"binance-svc-bench-{os.getpid()}-{name}", *limits[name])
    except OSError as exc:
        print(f"cgroups:  none ({exc}): no limits enforced, workers set by GUNICORN_WORKERS")
        for group in groups.values():
            group.remove()
        groups = {}
    workers = args.workers or (None if groups else computed)
    print(f"workers:  {workers or computed} per colour (gunicorn.conf.py's default_workers() for "
          f"{app_cpus} CPU and {app_mib} MiB with RESPONSE_CACHE_MB="
          f"{env_prod.get('RESPONSE_CACHE_MB', '-')}: {computed}"
          + (", overridden by --workers)" if args.workers else
             ", gunicorn sizes itself in its cgroup)" if groups else ")"))

    if args.drop_caches:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="binance-svc-stack-"))
    sampler = None
    try:
        up = procs.start([sys.executable, "-m", "binance_svc.upstream.demo", "--port", "0"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GUNICORN_", "CACHE_", "NGINX_")) and k not in (
                   *env_prod, "WATCHLIST", "UPSTREAM_STATE_FILE", "DEMO_UPSTREAM_URL")}
        env.update(env_prod, DEMO_UPSTREAM_URL=up.stdout.readline().strip(),
                   GUNICORN_WORKER_TMP_DIR="/dev/shm")
        if workers:
            env["GUNICORN_WORKERS"] = str(workers)
        print("app env:  " + " ".join(f"{k}={v}" for k, v in env_prod.items())
              + " GUNICORN_WORKER_TMP_DIR=/dev/shm")
        stack = start_stack(procs, work, nginx, env, groups)
        time.sleep(2)                                    # let every worker boot
        print(f"started:  {len(children(stack['blue'].pid))} workers in app-blue"
              + (", each container in a cgroup with the compose limits: " + ", ".join(
                  f"{n} {limits[n][1]} MiB/{limits[n][0]} CPU" for n in groups) if groups else ""))
        sampler = Sampler({"app-blue": stack["blue"].pid, "nginx": stack["ngx"].pid})
        sampler.start()
        time.sleep(2)
        sampler.phase = "warm-up"
        # bench/load.py's URLs predate Parquet: each CSV URL once more as Parquet (pyarrow).
        paths = urls() + [u.replace("format=csv", "format=parquet") for u in urls()
                          if "format=csv" in u]
        paths += [f"/api/v1/analysis/technical/BTCUSDT?limit={100 + i}&format={f}"
                  for i in range(args.distinct) for f in (*FORMATS, "parquet")]
        warm = paths[:len(paths) - 6 * args.distinct] * 2      # the distinct ones stay cold
        with ThreadPoolExecutor(8) as pool:
            bad = [s for s in pool.map(lambda p: get(stack["base"], p)[0], warm) if s != 200]
        served_before = app_requests(stack["logs"]["blue"])
        lua = work / "cycle.lua"
        lua.write_text(LUA % ", ".join(json.dumps(p) for p in paths))
        wrk_cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration + 600}s",
                   "--timeout", "30s", "-H", "Accept-Encoding: gzip", "-s", str(lua),
                   stack["base"] + paths[0]]
        print(f"load:     {shlex.join(wrk_cmd)}, stopped by SIGINT after {args.duration} s"
              + ("" if args.no_switch else " and the switch") + f", after a warm-up of "
              f"{len(warm) // 2} URLs x 2 ({len(bad)} not 200), {len(paths)} URLs in all")
        sampler.phase = "load"
        t_load = time.monotonic()
        wrk = procs.start(wrk_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(args.duration)
        at = None if args.no_switch else switch_colour(sampler, procs, stack)
        wrk.send_signal(signal.SIGINT)
        out, err = wrk.communicate(timeout=60)
        elapsed = time.monotonic() - t_load
        sampler.stopped.set()
        sampler.join()

        match = re.search(r"^RESULT (\{.*\})$", out, re.M)
        res = json.loads(match.group(1)) if match else {}
        errors = {k: res.get(k) for k in ("status_errors", "connect", "read", "write", "timeout")}
        print(f"wrk:      {res.get('requests', '?')} requests in {elapsed:.0f} s "
              f"({res.get('requests', 0) / elapsed:.0f}/s), errors {errors}, "
              f"p50 {res.get('p50_ms', 0):.1f} ms, p99 {res.get('p99_ms', 0):.1f} ms"
              + ("" if match else f"\n{out}\n{err}"))
        if at:
            print("switch:   seconds after green's start: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in at.items()))
        reached = {c: app_requests(stack["logs"][c]) for c in ("blue", "green")}
        reached["blue"] -= served_before
        print(f"gunicorn: requests that reached each colour during the load: {reached} (NGINX's "
              f"cache answered the rest)")
        report(sampler, t_load + args.duration / 2)
        verdicts(sampler, limits, stack["cache"])
        if groups:
            print("\ncgroup peaks (charged by the kernel: anon + page cache + tmpfs, what a "
                  "container limit meters), MiB:")
            for name, group in groups.items():
                peak = (group.peak_bytes() or 0) / MIB / MIB
                print(f"  {name:<10} {peak:7.1f} of {limits[name][1]} "
                      f"({100 * peak / limits[name][1]:.0f} %), limit reached "
                      f"{group.limit_hits()} times, OOM kills {group.oom_kills()}")
        return 0
    finally:
        if sampler:
            sampler.stopped.set()
        procs.stop()
        for group in groups.values():
            group.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
