"""Soak test: memory is a function of the sockets, not of time (see tests/soak_app.py for the run itself)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from netwatch.backends.history.tracker import MAX_EVENTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFRESHES = 300
"""At the default 2 s interval, 10 minutes of refreshes."""


def soak_command(*options: str) -> list[str]:
    """The soak run, in a network namespace of its own when one can be made (only its own sockets then)."""
    run = [sys.executable, "-m", "tests.soak_app", str(REFRESHES), *options]
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "soak", *run]
    return run


@pytest.mark.slow
@pytest.mark.parametrize("options", [(), ("freezing",)], ids=["python-collector", "freezing"])
def test_memory_stays_flat_over_hundreds_of_refreshes_with_churn_and_view_switches(options: tuple[str, ...]):
    """On a small host (Python's own collector) and with the GC policy of a large one (frozen survivors)."""
    done = subprocess.run(soak_command(*options), cwd=REPO, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    warm, end = result["warm"], result["end"]
    assert result["refreshes"] == REFRESHES
    assert result["warm_at"] <= REFRESHES * 2 // 3  # warm early enough for the rest of the run to show a trend
    assert result["frames_held"] <= 2  # the frame on screen (and at most the one being replaced)
    assert result["footer_keys"] < 40  # the footer's keys, not one set per switch
    assert result["events"] <= MAX_EVENTS  # minutes of events, bounded by count too
    # From warm (a third of the run, or the GC policy's second full collection) to the end (at least 100 refreshes,
    # 20 view switches, ~500 connections opened and closed):
    assert end["objects"] < warm["objects"] * 1.10 + 2_000, result
    assert end["rss"] < warm["rss"] * 1.10, result
