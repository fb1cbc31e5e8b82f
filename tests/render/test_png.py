"""The PNG module's process setting: large buffers kept out of glibc's heap."""
from __future__ import annotations

import platform

import pytest

from binance_svc.render import png


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="M_MMAP_THRESHOLD is a glibc setting")
def test_large_buffers_are_kept_out_of_the_heap_on_glibc():
    # glibc accepted the fixed mmap threshold (bench/png_memory.py shows what it is for)
    assert png.MALLOC_TUNED is True
