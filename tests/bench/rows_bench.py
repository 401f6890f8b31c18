"""Time the two steps of a refresh that build a socket view's rows: ``RowBuilder.socket_rows`` and
``TableRows.sorted`` by the view's default column, on live frames of this machine.

Usage, from the repository root: ``python -m tests.bench.rows_bench [--frames 8] [--repeats 3]`` (hold sockets
with ``tests/bench/connections.py`` first: ``--connections 10000`` makes 20,000). A :class:`Refresher` over a
:class:`LiveSource` refreshes ``--frames`` times 0.5 s apart (after two to warm up); then each view (connections,
listeners, unix), unfiltered and with two filters, is built and sorted ``--repeats`` times per frame. Prints the
median CPU ms of this process (``time.process_time``) of each step. To compare two versions, run it in each
checkout alternately: the machine's other work moves the figures by 10-30%.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from functools import partial

from netwatch.backends.filter import compile_filter
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.refresher import Refresher, ViewRequest
from netwatch.tui.view.rows import COLUMNS_OF_VIEW, DEFAULT_SORT, RowBuilder
from netwatch.tui.view.snapshots import LiveSource

VIEWS = ("connections", "listeners", "unix")
FILTERS = {"none": "", "state": "state established", "port": "dport > 1024"}
"""The filters timed (by name); an empty one stands for no filter."""
WARM_UP = 2
PAUSE = 0.5


def live_frames(refresher: Refresher, count: int) -> list[Frame]:
    """``count`` frames of this machine, ``PAUSE`` s apart, after ``WARM_UP`` refreshes (each held until exit)."""
    request = ViewRequest(0, "connections", None, None, 0, False)
    frames = []
    for index in range(WARM_UP + count):
        refresh = refresher.refresh(request)
        refresh.rows.discard()
        if index >= WARM_UP:
            frames.append(refresh.frame)
        time.sleep(PAUSE)
    return frames


def time_steps(frames: Sequence[Frame], view: str, filter_text: str, repeats: int) -> tuple[float, float]:
    """Median CPU seconds of ``socket_rows`` and of ``sorted`` for ``view`` with ``filter_text``."""
    builder = RowBuilder()
    column = [spec.key for spec in COLUMNS_OF_VIEW[view]].index(DEFAULT_SORT[view][0])
    reverse = DEFAULT_SORT[view][1]
    socket_filter = compile_filter(filter_text) if filter_text else None
    building, sorting = [], []
    for _ in range(repeats):
        for frame in frames:
            accept = None if socket_filter is None else partial(socket_filter.matches,
                                                               processes=frame.snapshot.processes)
            started = time.process_time()
            rows = builder.socket_rows(frame, view, accept)
            built = time.process_time()
            rows.sorted(column, reverse)
            building.append(built - started)
            sorting.append(time.process_time() - built)
    return statistics.median(building), statistics.median(sorting)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    refresher = Refresher(LiveSource())
    try:
        frames = live_frames(refresher, args.frames)
        print(f"{len(frames[-1].sockets):,} sockets, {len(set(frames[-1].first_seen.values()))} first-seen times")
        for view in VIEWS:
            for name, text in FILTERS.items():
                building, sorting = time_steps(frames, view, text, args.repeats)
                print(f"{view:12} {name:6} socket_rows {building * 1e3:7.2f} ms   sorted {sorting * 1e3:7.2f} ms")
    finally:
        refresher.close()


if __name__ == "__main__":
    main()
