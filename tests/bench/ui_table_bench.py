"""Measure the socket table's UI figures at 10,000 and 100,000 rows in a headless 160x50 app.

Run: ``python tests/bench/ui_table_bench.py [ROWS ...]``. For each row count it prints the time to apply a snapshot
(``set_rows`` alone, and a changed snapshot including the repaint), to re-sort, to apply rows pre-sorted
off the UI thread (``set_rows`` of a table sorted by its owner), to move the cursor one row and
one page (key press until the screen is idle again), to render a full screen of rows from scratch, and the
process RSS. "idle pause" and "idle key" (an unbound key) are the test harness's own overhead, to subtract.
Timed sections start after a ``gc.collect()`` so that building the rows does not bill its garbage to the table.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import psutil
from textual.app import App, ComposeResult

from netwatch.tui.app.widgets import SocketTable
from netwatch.tui.view.rows import SOCKET_COLUMNS
from netwatch.tui.view.table_model import Row, TableRows

COLUMNS = SOCKET_COLUMNS
RTT_COLUMN = [column.key for column in COLUMNS].index("rtt")
SEND_COLUMN = [column.key for column in COLUMNS].index("send")
STATES = ("ESTABLISHED", "TIME_WAIT", "LISTEN", "CLOSE_WAIT", "SYN_SENT")
STATUSES = (None,) * 17 + ("new", "changed", "closed")
KEY_REPEATS = 20
SIZE = (160, 50)


def synthetic_rows(count: int, seed: int) -> list[Row]:
    """Socket-like rows: mostly idle connections, a few busy ones, some new/changed/closed."""
    rng = random.Random(seed)
    rows = []
    for number in range(count):
        state = rng.choice(STATES)
        send = rng.choice((0.0, 0.0, 0.0, rng.uniform(0, 5e6)))
        recv = rng.choice((0.0, 0.0, rng.uniform(0, 5e6)))
        rtt = rng.uniform(0.05, 80.0)
        local_port, peer_port = 1024 + number % 60000, rng.choice((443, 80, 5432, 6379))
        pid = 1000 + number % 700
        cells = (
            "tcp",
            state,
            f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}:{local_port}",
            f"192.0.2.{number % 250}:{peer_port}",
            f"{pid}/worker-{pid}",
            f"{send / 1024:.1f} KiB/s",
            f"{recv / 1024:.1f} KiB/s",
            f"{rtt:.1f} ms",
            str(number % 3),
            str(number % 5),
            f"{number % 3600}s",
        )
        sort_values = ("tcp", state, number, peer_port, pid, send, recv, rtt, number % 3, number % 5, number % 3600)
        rows.append(Row(("tcp", number), cells, sort_values, rng.choice(STATUSES)))
    return rows


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SocketTable(COLUMNS, sort_column="send", sort_reverse=True)

    def on_mount(self) -> None:
        self.query_one(SocketTable).focus()


async def timed(action: Callable[[], Awaitable[None] | None]) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds to run ``action`` (awaiting it if it is a coroutine)."""
    gc.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    result = action()
    if result is not None:
        await result
    return (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000


def render_screen_cold(table: SocketTable) -> None:
    """Render every visible line with an empty line cache (what a page jump costs the widget)."""
    table.notify_style_update()
    for y in range(table.scrollable_content_region.height):
        table.render_line(y)


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f}/{max(samples):.1f}"


def pair(wall_and_cpu: tuple[float, float]) -> str:
    return "{:.1f}/{:.1f}".format(*wall_and_cpu)


async def measure(count: int) -> dict[str, str]:
    gc.collect()
    base_rss_mb = psutil.Process().memory_info().rss / 2**20
    snapshots = [synthetic_rows(count, seed=1), synthetic_rows(count, seed=2)]
    app = BenchApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()

        async def apply(rows: list[Row]) -> None:
            table.set_rows(TableRows.of(rows))
            await pilot.pause()

        set_rows_ms = await timed(lambda: table.set_rows(TableRows.of(snapshots[0])))
        await pilot.pause()
        await pilot.press("end")  # the cursor's key is looked up after each change
        pause_ms = [(await timed(pilot.pause))[0] for _ in range(KEY_REPEATS)]
        apply_ms = await timed(partial(apply, snapshots[1]))
        snapshots.clear()  # steady state: only the table holds the current rows
        resort_ms = await timed(lambda: table.cycle_sort(RTT_COLUMN - SEND_COLUMN))
        await pilot.pause()
        presorted = TableRows.of(synthetic_rows(count, seed=3)).sorted(RTT_COLUMN)
        owner_sorted = SocketTable(COLUMNS, sorted_by_owner=True)
        await app.mount(owner_sorted)
        presorted_ms = await timed(partial(owner_sorted.set_rows, presorted))
        await owner_sorted.remove()
        del presorted
        await pilot.pause()
        idle_ms = [(await timed(lambda: pilot.press("x")))[0] for _ in range(KEY_REPEATS)]
        down_ms = [(await timed(lambda: pilot.press("down")))[0] for _ in range(KEY_REPEATS)]
        page_ms = [(await timed(lambda: pilot.press("pagedown")))[0] for _ in range(KEY_REPEATS)]
        render_ms = await timed(lambda: render_screen_cold(table))
        rss_mb = psutil.Process().memory_info().rss / 2**20
        assert table.virtual_size.height == count + 1  # the rows and the header
    return {
        "rows": f"{count:,}",
        "set_rows": pair(set_rows_ms),
        "idle pause": spread(pause_ms),
        "apply+paint": pair(apply_ms),
        "re-sort": pair(resort_ms),
        "set presorted": pair(presorted_ms),
        "idle key": spread(idle_ms),
        "down": spread(down_ms),
        "pgdn": spread(page_ms),
        "render screen": pair(render_ms),
        "RSS MB (before)": f"{rss_mb:.0f} ({base_rss_mb:.0f})",
    }


def print_table(results: list[dict[str, str]]) -> None:
    headers = list(results[0])
    widths = [max(len(header), *(len(result[header]) for result in results)) for header in headers]
    print("  ".join(header.rjust(width) for header, width in zip(headers, widths, strict=True)))
    for result in results:
        print("  ".join(result[header].rjust(width) for header, width in zip(headers, widths, strict=True)))


def main(argv: list[str]) -> int:
    counts = [int(arg) for arg in argv] or [10_000, 100_000]
    results = [asyncio.run(measure(count)) for count in counts]
    print(f"SocketTable in a headless {SIZE[0]}x{SIZE[1]} app, {len(COLUMNS)} columns, sorted by a float column.")
    print(f"All in ms. a/b = wall/CPU for single operations, median/max of {KEY_REPEATS} for pauses and keys")
    print("(key timings are press -> screen idle; 'idle pause'/'idle key' are the test harness's own overhead).")
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
