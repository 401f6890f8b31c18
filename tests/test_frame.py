"""Frames: the per-pid index, and FrameDisposal (replaced frames emptied off the UI thread, only when unused)."""

from __future__ import annotations

import sys

from netwatch.backends.history import History
from netwatch.tui.disposal import FrameDisposal
from netwatch.tui.frame import Frame, frame_from
from tests.socket_records import make_snapshot, make_socket, owned_by


def live_frame(history: History, at: float) -> Frame:
    return frame_from(history, make_snapshot([make_socket(("tcp", number)) for number in range(100)], at=at))


def test_a_frame_still_in_use_is_kept_intact_and_freed_once_released() -> None:
    history, disposal = History(), FrameDisposal()
    frame = live_frame(history, 0.0)
    live_frame(history, 1.0)  # the history moves on: only `frame` holds the first snapshot now
    record = frame.snapshot.sockets[("tcp", 7)]
    disposal.retire(frame)
    disposal.dispose()
    assert len(frame.snapshot.sockets) == 100 and frame.sockets[("tcp", 7)] is record  # in use: untouched
    holders = sys.getrefcount(record)
    del frame
    assert sys.getrefcount(record) == holders  # the disposal still holds the frame...
    disposal.dispose()
    assert sys.getrefcount(record) == holders - 1  # ...until it empties the snapshot's dict


def test_a_snapshot_shared_with_a_newer_frame_is_never_emptied() -> None:
    history, disposal = History(), FrameDisposal()
    snapshot = make_snapshot([make_socket(("tcp", 1))], at=0.0)
    disposal.retire(frame_from(history, snapshot))
    disposal.dispose()
    assert len(snapshot.sockets) == 1


def test_a_frame_indexes_its_sockets_by_owning_pid_lingering_ones_included() -> None:
    history = History(linger=5.0)
    shared = make_socket(("tcp", 1), owners=owned_by(10, 20, 10))
    gone = make_socket(("tcp", 2), owners=owned_by(20))
    frame_from(history, make_snapshot([shared, gone, make_socket(("tcp", 3))], at=0.0))
    frame = frame_from(history, make_snapshot([shared], at=1.0))  # ("tcp", 2) closed and lingers
    assert frame.sockets_by_pid == {10: [shared], 20: [gone, shared]}  # in the order of frame.sockets
