"""Row keys in display order (tui/view/key_order.py)."""

from __future__ import annotations

import random
from contextlib import closing
from dataclasses import replace
from functools import partial

import pytest

from netwatch.backends.collector import Collector
from netwatch.backends.filter import compile_filter
from netwatch.backends.history.tracker import History
from netwatch.backends.model.names import STATES, UNCONN
from netwatch.tui.view.frame import Frame, frame_from
from netwatch.tui.view.key_order import Descending, sort_keys
from netwatch.tui.view.rows import COLUMNS_OF_VIEW, DEFAULT_SORT, RowBuilder, empty_columns, in_view
from tests.recorded import recorded_snapshots
from tests.socket_records import make_socket


@pytest.mark.parametrize("reverse", [False, True])
def test_a_descending_value_orders_keys_as_minus_the_value_would(reverse: bool) -> None:
    chooser = random.Random(7)
    times = {f"k{index}": float(chooser.randrange(20)) for index in range(500)}  # many ties
    times.update({"none1": None, "none2": None})  # type: ignore[dict-item]
    keys = list(times)
    chooser.shuffle(keys)
    expected = sort_keys(keys, lambda key: None if times[key] is None else -times[key], reverse)
    assert sort_keys(keys, Descending(times.get), reverse) == expected
    assert expected[-2:] == [key for key in keys if key.startswith("none")]  # None last either way
    assert Descending(times.get)("k1") == -times["k1"] and Descending(times.get)("none1") is None


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    """Frames with lingering closed sockets, first-seen ties (most sockets share one time) and sockets of every
    protocol and state name, and some no table has: the recorded host's snapshots, then this machine's."""
    history = History()
    frames = [frame_from(history, snapshot) for snapshot in recorded_snapshots()]
    odd = [make_socket(("tcp", 90), state=UNCONN), make_socket(("raw", 91), proto="raw", state=UNCONN),
           make_socket(("tcp", 92), state="BOGUS"), make_socket(("sctp", 93), proto="sctp", state="LISTEN"),
           *(make_socket(("udp", 94, state), proto="udp", state=state) for state in STATES)]
    last = frames[-1].snapshot
    frames.append(frame_from(history, replace(last, taken_at=last.taken_at + 2, sockets={
        **last.sockets, **{sock.key: sock for sock in odd}})))
    with closing(Collector()) as collector:
        history = History()
        frames += [frame_from(history, collector.snapshot()) for _ in range(2)]
    return frames


@pytest.mark.parametrize("reverse", [False, True])
def test_socket_views_and_their_default_order_are_their_plain_definitions(frames: list[Frame], reverse: bool) -> None:
    """The rows of each socket view (unfiltered and filtered) are the keys :func:`in_view` takes, in the frame's
    order, and sorted by the view's default column they are a plain stable sort of them by its values."""
    everything, established = compile_filter(""), compile_filter("state established or unix")
    for frame in frames:
        sockets = frame.sockets
        minus_first_seen = {key: -seen for key, seen in frame.first_seen.items()}  # newest first
        for view in ("connections", "listeners", "unix"):
            shown = [key for key, sock in sockets.items() if in_view(view, sock)]
            column = [spec.key for spec in COLUMNS_OF_VIEW[view]].index(DEFAULT_SORT[view][0])
            for socket_filter in (None, everything, established):
                accept = None if socket_filter is None else partial(socket_filter.matches,
                                                                   processes=frame.snapshot.processes)
                rows = RowBuilder().socket_rows(frame, view, accept)
                accepted = shown if accept is None else [key for key in shown if accept(sockets[key])]
                assert list(rows.keys) == accepted
                assert rows.total == (None if accept is None else len(shown))
                assert rows.empty_columns == empty_columns(frame)
                value_of = minus_first_seen.__getitem__ if view == "connections" else rows.model.sort_value(column)
                assert list(rows.sorted(column, reverse).keys) == sorted(accepted, key=value_of, reverse=reverse)
