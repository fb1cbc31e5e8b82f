"""charts.policy.prepare_process: the process-wide settings a worker opts into, and only then.

Each check runs in a fresh interpreter: the settings are process-wide, and the point is what a
process sees before and after the call.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import gc, json, sys
    from binance_svc.charts import policy
    from binance_svc.render import png     # importing sets nothing
    collections = []
    gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(
        info["generation"]))
    gc.disable()
    policy.after_render()
    before = list(collections)
    prepared = policy.prepare_process() if sys.argv[1] == "prepared" else None
    policy.after_render()
    print(json.dumps({"prepared": prepared, "before": before,
                      "after": collections[len(before):]}))
""")


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nothing_is_collected_after_a_render_until_the_process_is_prepared():
    plain = _probe("plain")
    assert plain == {"prepared": None, "before": [], "after": []}
    prepared = _probe("prepared")
    assert prepared["before"] == []
    assert prepared["after"] == [2]                 # one full collection
    assert prepared["prepared"]["collect_after_render"] is True


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="M_MMAP_THRESHOLD is a glibc setting")
def test_large_buffers_are_kept_out_of_the_heap_on_glibc():
    # glibc accepted the fixed mmap threshold (bench/png_memory.py shows what it is for)
    assert _probe("prepared")["prepared"]["malloc_mmap_threshold"] is True
