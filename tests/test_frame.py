"""Frames: statuses, the per-pid index, and FrameHolds (frames nobody holds are emptied off the UI thread)."""

from __future__ import annotations

from netwatch.backends.history.tracker import History
from netwatch.tui.view.disposal import FrameHolds
from netwatch.tui.view.frame import Frame, frame_from
from tests.recorded import later
from tests.socket_records import make_snapshot, make_socket, owned_by


def live_frame(history: History, at: float) -> Frame:
    return frame_from(history, make_snapshot([make_socket(("tcp", number)) for number in range(100)], at=at))


def test_a_frame_is_freed_only_after_its_last_holder_released_it() -> None:
    history, holds = History(), FrameHolds()
    frame = holds.hold(holds.hold(live_frame(history, 0.0)))  # e.g. the app and a table
    holds.release(frame)
    assert holds.free_unheld() == 0 and len(frame.snapshot.sockets) == 100  # still held: untouched
    holds.release(frame)
    assert holds.holds(frame) == 0 and holds.live == 0
    assert holds.free_unheld() == 1 and len(frame.snapshot.sockets) == 0 and len(frame.sockets) == 0
    assert holds.free_unheld() == 0


def test_socket_dicts_shared_with_a_held_frame_are_never_emptied() -> None:
    history, holds = History(linger=5.0), FrameHolds()
    first = make_snapshot([make_socket(("tcp", 1)), make_socket(("tcp", 2))], at=0.0)
    old = holds.hold(frame_from(history, first))
    replayed = holds.hold(frame_from(history, later(first, 1.0)))  # another snapshot, the same sockets dict
    holds.release(old)
    assert holds.free_unheld() == 1 and len(replayed.sockets) == 2


def test_a_frame_held_again_before_it_was_freed_is_kept() -> None:
    history, holds = History(), FrameHolds()
    frame = holds.hold(live_frame(history, 0.0))
    holds.release(frame)
    holds.hold(frame)
    assert holds.free_unheld() == 0 and len(frame.sockets) == 100


def test_a_frame_has_the_status_of_every_new_changed_and_closed_socket() -> None:
    history = History(linger=5.0, highlight=3.0)
    frame_from(history, make_snapshot([make_socket(("tcp", 1), state="SYN_SENT"), make_socket(("tcp", 2))], at=0.0))
    frame = frame_from(history, make_snapshot([make_socket(("tcp", 1)), make_socket(("tcp", 3))], at=1.0))
    assert frame.statuses == {("tcp", 1): "changed", ("tcp", 2): "closed", ("tcp", 3): "new"}
    assert frame.sockets.keys() == frame.statuses.keys()  # the closed one lingers
    assert set(frame.first_seen) == set(frame.sockets)


def test_a_frame_indexes_its_sockets_by_owning_pid_lingering_ones_included() -> None:
    history = History(linger=5.0)
    shared = make_socket(("tcp", 1), owners=owned_by(10, 20, 10))
    gone = make_socket(("tcp", 2), owners=owned_by(20))
    frame_from(history, make_snapshot([shared, gone, make_socket(("tcp", 3))], at=0.0))
    frame = frame_from(history, make_snapshot([shared], at=1.0))  # ("tcp", 2) closed and lingers
    assert frame.sockets_by_pid == {10: [shared], 20: [gone, shared]}  # in the order of frame.sockets
