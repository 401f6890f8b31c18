"""Who holds a frame, and freeing the ones nobody holds without freezing the UI.

A frame's snapshot holds 100,000 socket records at 100,000 sockets. Dropping its last reference frees them all
in one C-level cascade that holds the GIL for 50-80 ms here, wherever it happens: on the UI thread it is a
visible pause after every refresh. So every holder of a frame says so: the app for its current frame, a table
for the rows it shows (their :class:`~netwatch.tui.view.table_model.TableRows` release their hold when the
table lets go of them), a worker for the frame it builds rows from. When the last hold is released the frame is
queued, and the collector thread, before it takes the next snapshot, frees its records one at a time: the GIL
changes hands between them (every few ms), so the UI keeps running. Ownership is explicit, not read off
reference counts (whose meaning changes between CPython versions), and nothing published is changed: frames and
snapshots stay immutable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from netwatch.backends.model.records import Socket
from netwatch.tui.view.frame import Frame


class FrameHolds:
    """Hold counts of the live frames, and the frames whose last hold was released, waiting to be freed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: dict[int, list] = {}
        """id(frame) -> [frame, holds]."""
        self._unheld: dict[int, Frame] = {}

    def hold(self, frame: Frame) -> Frame:
        """Count one more holder of ``frame`` (returned, for chaining)."""
        with self._lock:
            entry = self._frames.get(id(frame))
            if entry is None:
                self._frames[id(frame)] = [frame, 1]
                self._unheld.pop(id(frame), None)
            else:
                entry[1] += 1
        return frame

    def release(self, frame: Frame) -> None:
        """One holder of ``frame`` is done with it; the last one queues it to be freed."""
        with self._lock:
            entry = self._frames[id(frame)]
            entry[1] -= 1
            if entry[1] == 0:
                del self._frames[id(frame)]
                self._unheld[id(frame)] = frame

    def holds(self, frame: Frame) -> int:
        """How many holders ``frame`` has now."""
        with self._lock:
            entry = self._frames.get(id(frame))
            return entry[1] if entry is not None else 0

    @property
    def live(self) -> int:
        """How many frames are held."""
        with self._lock:
            return len(self._frames)

    def free_unheld(self) -> int:
        """Free the queued frames' socket records one at a time (call it off the UI thread); how many frames.

        The records are gathered in a private list and the frames dropped, so their socket dicts die with plain
        decrefs (the list still holds every record); then the list lets go of one record at a time. A socket
        dict still referenced elsewhere (e.g. a snapshot a replay serves again) keeps its records, unchanged.
        """
        records, count = self._take_unheld()
        pop = records.pop
        for _ in range(len(records)):
            pop()
        return count

    def _take_unheld(self) -> tuple[list[Socket], int]:
        """Dequeue the unheld frames and gather their socket records; the frames are dropped on return."""
        with self._lock:
            frames, self._unheld = self._unheld, {}
        return _records_of(frames.values()), len(frames)


def _records_of(frames: Iterable[Frame]) -> list[Socket]:
    """The socket records of ``frames``: of their own dicts (with the lingering sockets) and their snapshots'."""
    dicts: dict[int, Mapping[object, Socket]] = {}
    for frame in frames:
        dicts[id(frame.sockets)] = frame.sockets
        dicts[id(frame.snapshot.sockets)] = frame.snapshot.sockets
    records: list[Socket] = []
    for sockets in dicts.values():
        records.extend(sockets.values())  # one C call: ~1 ms at 100,000 sockets
    return records
