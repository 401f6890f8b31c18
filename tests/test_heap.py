"""The C heap's free memory goes back to the system after a refresh (``trim_heap``)."""

from __future__ import annotations

import subprocess
import sys

HOLES = """
import os
from netwatch.tui.view.heap import trim_heap

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGESIZE")

large, pins = [], []
for _ in range(300):  # 30 MB of blocks below glibc's mmap threshold, each followed by a small one that stays
    large.append(bytearray(b"x" * 100_000))
    pins.append(bytearray(b"p" * 1_000))
del large  # free, but inside the heap, between the pins: glibc keeps it
freed = rss()
trim_heap()
print(freed, rss())
"""


def test_trim_heap_gives_the_memory_freed_inside_the_heap_back() -> None:
    freed, trimmed = map(int, subprocess.run([sys.executable, "-c", HOLES], capture_output=True, text=True,
                                             check=True, timeout=60).stdout.split())  # fmt: skip
    assert trimmed < freed - 10 * 2**20
