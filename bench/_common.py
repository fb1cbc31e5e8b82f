"""What the bench scripts share: free loopback ports, waiting for a server, the machine's
description, the load average and a process's memory. Scripts import it as `_common` (each is
run as `python bench/<name>.py`, so bench/ is on sys.path)."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Until check() is true; fails at once if `proc` exits, after `timeout` s otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout} s: {last}")


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    """Until `url` answers with anything but a 5xx."""
    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500

    wait_until(answers, timeout, url, proc)


def children(pid: int) -> list[int]:
    try:
        return sorted(int(x) for x in
                      Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return []


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine() -> dict:
    model = "?"
    mem_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                      if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(mem_kb / 2**20, 1),
            "python": sys.version.split()[0], "os": f"{platform.system()} {platform.release()}"}


def machine_line() -> str:
    m = machine()
    return (f"{m['nproc']} CPUs (nproc), {m['cpu']}, {m['ram_gib']} GiB, {m['os']}, "
            f"Python {m['python']}, load average {loadavg()}")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
