"""Who holds a frame, and freeing the ones nobody holds without freezing the UI.

A frame's snapshot holds 100,000 socket records at 100,000 sockets. Dropping its last reference frees them all
in one C-level cascade that holds the GIL for 50-80 ms here, wherever it happens: on the UI thread it is a
visible pause after every refresh. So every holder of a frame says so: the app for its current frame, a table
for the rows it shows (their :class:`~netwatch.tui.view.table_model.TableRows` release their hold when the
table lets go of them), a worker for the frame it builds rows from. When the last hold is released the frame is
queued, and the collector thread, before it takes the next snapshot, empties its socket dict one record at a
time: the GIL changes hands between them (every few ms), so the UI keeps running. Ownership is explicit, not
read off reference counts (whose meaning changes between CPython versions).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from netwatch.tui.view.frame import Frame


def _socket_dicts(frame: Frame) -> dict[int, Mapping]:
    """The socket mappings ``frame`` reads, by id: its own (with the lingering sockets) and its snapshot's."""
    return {id(frame.sockets): frame.sockets, id(frame.snapshot.sockets): frame.snapshot.sockets}


class FrameHolds:
    """Hold counts of the live frames, and the frames whose last hold was released, waiting to be freed.

    What gets freed is a frame's socket dicts, which other frames may share (a replayed snapshot, the lingering
    sockets merged into a new dict or not): a dict is emptied only when no held frame reads it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: dict[int, list] = {}
        """id(frame) -> [frame, holds]."""
        self._dict_holds: dict[int, int] = {}
        """id(socket dict) -> holds of the frames that read it."""
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
            for key in _socket_dicts(frame):
                self._dict_holds[key] = self._dict_holds.get(key, 0) + 1
        return frame

    def release(self, frame: Frame) -> None:
        """One holder of ``frame`` is done with it; the last one queues it to be freed."""
        with self._lock:
            entry = self._frames[id(frame)]
            entry[1] -= 1
            if entry[1] == 0:
                del self._frames[id(frame)]
                self._unheld[id(frame)] = frame
            for key in _socket_dicts(frame):
                self._dict_holds[key] -= 1
                if not self._dict_holds[key]:
                    del self._dict_holds[key]

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
        """Free the queued frames' socket records one at a time (call it off the UI thread); how many frames."""
        with self._lock:
            frames, self._unheld = list(self._unheld.values()), {}
            unread = {
                key: sockets
                for frame in frames
                for key, sockets in _socket_dicts(frame).items()
                if key not in self._dict_holds and isinstance(sockets, dict)
            }
        for sockets in unread.values():
            pop = sockets.popitem
            for _ in range(len(sockets)):
                pop()
        return len(frames)
