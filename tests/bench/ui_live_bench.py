"""Measure the live TUI's responsiveness while it refreshes N real loopback connections every second.

Run (root, nothing else heavy running): ``python tests/bench/ui_live_bench.py [--connections N ...]``
(default 5,000 and 50,000 connections, i.e. about 10,000 and 100,000 sockets). For each N, in a process of its
own, it starts the real app headless (160x50) on the live netlink backend and reports:

- the time until the first full table is on screen;
- the time the UI thread spends applying each refresh (``_apply_frame``: swapping in the new rows), and then
  freeing the previous refresh (its rows and snapshot, deferred until the new rows are painted);
- a cursor move: ``action_cursor_down`` plus the repaint of the visible lines;
- the event loop's stalls over 15 s of back-to-back refreshes (a 10 ms sleep that wakes late by X ms means a
  key press would have waited X ms): median, p99 and worst;
- the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from connections import ConnectionPool  # noqa: E402  (tests/bench/ is run as scripts)

from netwatch.tui.app.app import NetwatchApp  # noqa: E402
from netwatch.tui.view.snapshots import LiveSource  # noqa: E402

WATCH_SECONDS = 15.0
TICK = 0.01


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def measure(expected_rows: int) -> dict[str, float]:
    """Run the app on the live backend and collect the figures described in the module docstring."""
    app = NetwatchApp(LiveSource("auto"), interval=1.0)
    apply_times: list[float] = []
    original_apply = app._apply_frame

    def timed_apply(*args: object) -> None:
        started = time.perf_counter()
        original_apply(*args)
        apply_times.append((time.perf_counter() - started) * 1000)

    app._apply_frame = timed_apply  # type: ignore[method-assign]
    free_times: list[float] = []
    async with app.run_test(size=(160, 50)):
        table = app.table()
        original_let_go = table._let_go_of_retired

        def timed_let_go() -> None:  # the table lets go of the previous refresh's rows once the new ones are painted
            started = time.perf_counter()
            original_let_go()
            free_times.append((time.perf_counter() - started) * 1000)

        table._let_go_of_retired = timed_let_go  # type: ignore[method-assign]
        started = time.monotonic()
        while app.frame is None or app.table().virtual_size.height - 1 < expected_rows * 0.95:
            if time.monotonic() - started > 120:
                raise SystemExit("the app did not show the sockets within 120 s")
            await asyncio.sleep(0.05)
        first_frame = time.monotonic() - started
        table = app.table()
        moves = []
        for _ in range(20):
            moved = time.perf_counter()
            table.action_cursor_down()
            for line in range(table.size.height):
                table.render_line(line)
            moves.append((time.perf_counter() - moved) * 1000)
            await asyncio.sleep(0.05)
        stalls = []
        until = time.monotonic() + WATCH_SECONDS
        while time.monotonic() < until:
            slept = time.perf_counter()
            await asyncio.sleep(TICK)
            stalls.append((time.perf_counter() - slept - TICK) * 1000)
    return {
        "rows": float(table.virtual_size.height - 1),  # below the header
        "first_frame_s": first_frame,
        "apply_ms_median": statistics.median(apply_times),
        "apply_ms_max": max(apply_times),
        "free_ms_median": statistics.median(free_times),
        "free_ms_max": max(free_times),
        "cursor_move_ms_median": statistics.median(moves),
        "stall_ms_median": statistics.median(stalls),
        "stall_ms_p99": _percentile(stalls, 0.99),
        "stall_ms_max": max(stalls),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--json", action="store_true", help="measure one count and print its figures as JSON")
    args = parser.parse_args()
    if args.json:
        (connections,) = args.connections
        with ConnectionPool(connections):
            print(json.dumps(asyncio.run(measure(expected_rows=2 * connections))))
        return 0
    print("connections  rows     first frame  apply med/max ms  free med/max ms  cursor ms  stall med/p99/max ms"
          "  peak RSS MB")
    for connections in args.connections:
        # a fresh process per count: the peak RSS of one run must not include another's
        child = [sys.executable, __file__, "--json", "--connections", str(connections)]
        figures = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        print(
            f"{connections:>11,}  {figures['rows']:>7,.0f}  {figures['first_frame_s']:>9.2f} s"
            f"  {figures['apply_ms_median']:>7.1f} / {figures['apply_ms_max']:<6.1f}"
            f"  {figures['free_ms_median']:>6.1f} / {figures['free_ms_max']:<6.1f}"
            f"  {figures['cursor_move_ms_median']:>9.2f}"
            f"  {figures['stall_ms_median']:>5.1f} / {figures['stall_ms_p99']:>5.1f} / {figures['stall_ms_max']:<6.1f}"
            f"  {figures['peak_rss_mb']:>11.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
