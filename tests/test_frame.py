"""Frames: statuses, the per-pid index, and FrameHolds (frames nobody holds are freed off the UI thread)."""

from __future__ import annotations

import sys
import weakref
from dataclasses import fields, replace

from netwatch.backends.history.tracker import History
from netwatch.backends.model.records import Socket
from netwatch.backends.model.snapshot import Snapshot
from netwatch.tui.view.disposal import FrameHolds
from netwatch.tui.view.frame import Frame, frame_from
from tests.recorded import later
from tests.socket_records import make_snapshot, make_socket, owned_by


def live_frame(history: History, at: float) -> Frame:
    return frame_from(history, make_snapshot([make_socket(("tcp", number)) for number in range(100)], at=at))


class WatchedSocket(Socket):
    """A socket record a weak reference can watch (``Socket`` has slots, no ``__weakref__``)."""


class PublishedDict(dict):
    """A snapshot's socket dict a weak reference can watch, which refuses to be emptied."""

    def _refuse(self, *args: object) -> None:
        raise TypeError("a published snapshot never changes")

    popitem = pop = clear = __delitem__ = _refuse


def watched_snapshot(count: int = 100) -> Snapshot:
    sockets = [make_socket(("tcp", number)) for number in range(count)]
    watched = [WatchedSocket(**{field.name: getattr(sock, field.name) for field in fields(Socket)}) for sock in sockets]
    return replace(make_snapshot([], at=0.0), sockets=PublishedDict((sock.key, sock) for sock in watched))


def test_a_frame_is_freed_only_after_its_last_holder_released_it_one_record_at_a_time() -> None:
    holds = FrameHolds()
    frame = holds.hold(holds.hold(frame_from(History(), watched_snapshot())))  # e.g. the app and a table
    holds.release(frame)
    assert holds.free_unheld() == 0 and len(frame.sockets) == 100  # still held: untouched
    holds.release(frame)
    assert holds.holds(frame) == 0 and holds.live == 0
    published = weakref.ref(frame.snapshot.sockets)
    pops = 0
    deaths: list[tuple[int, bool]] = []  # per record: list.pop() calls so far, its snapshot's dict already gone

    def count_pops(_frame: object, event: str, function: object) -> None:
        nonlocal pops
        if event == "c_return" and getattr(function, "__name__", "") == "pop":
            pops += 1

    records = [
        weakref.ref(sock, lambda _: deaths.append((pops, published() is None)))
        for sock in frame.snapshot.sockets.values()
    ]
    del frame
    assert published() is not None and deaths == []  # queued: the last release freed nothing
    sys.setprofile(count_pops)
    try:
        assert holds.free_unheld() == 1
    finally:
        sys.setprofile(None)
    assert published() is None and all(record() is None for record in records)
    # The frame and its dict went first (the dict, never emptied, died with plain decrefs); then each record was
    # freed on its own, as the one reference left to it was popped: never many in one C-level cascade.
    assert deaths == [(number, True) for number in range(1, 101)]
    assert holds.free_unheld() == 0


def test_freeing_never_changes_a_snapshot_or_dict_that_someone_still_reads() -> None:
    history, holds = History(linger=5.0), FrameHolds()
    first = make_snapshot([make_socket(("tcp", 1)), make_socket(("tcp", 2))], at=0.0)
    old = holds.hold(frame_from(history, first))
    replayed = holds.hold(frame_from(history, later(first, 1.0)))  # another snapshot, the same sockets dict
    holds.release(old)
    assert holds.free_unheld() == 1 and len(replayed.sockets) == 2
    snapshot = watched_snapshot()
    frame = holds.hold(frame_from(History(), snapshot))
    records = [weakref.ref(sock) for sock in snapshot.sockets.values()]
    holds.release(frame)
    del frame
    assert holds.free_unheld() == 1  # the frame is gone, its snapshot is still read (e.g. by a replay)
    assert len(snapshot.sockets) == 100 and all(record() is not None for record in records)


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
