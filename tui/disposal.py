"""Free replaced frames without freezing the UI.

A frame's snapshot holds 100,000 socket records at 100,000 sockets. Dropping its last reference frees them all
in one C-level cascade that holds the GIL for 50-80 ms here, wherever it happens: on the UI thread it is a
visible pause after every refresh. Instead, the UI hands each replaced frame to :class:`FrameDisposal`, and the
collector thread, before it takes the next snapshot, empties the socket dict of each frame nobody else refers
to any more, one record at a time: the GIL changes hands between them (every few ms), so the UI keeps running.
A frame still in use (a table's retired rows, a running rows worker, the process screen) is kept for a later
call; nothing is ever emptied that another object could still read.
"""

from __future__ import annotations

import sys

from netwatch.tui.frame import Frame

_ONLY_OURS = 2
"""``sys.getrefcount`` of an object held by one local variable alone (that variable and the call's argument)."""


class FrameDisposal:
    """Retired frames waiting to be freed off the UI thread."""

    def __init__(self) -> None:
        self._frames: list[Frame] = []

    def retire(self, frame: Frame) -> None:
        """Called (on the UI thread) with a frame the UI replaced."""
        self._frames.append(frame)

    def dispose(self) -> None:
        """Free the retired frames nothing else refers to (call it on a worker thread)."""
        frames, self._frames = self._frames, []
        while frames:
            frame = frames.pop()
            if sys.getrefcount(frame) > _ONLY_OURS:
                self._frames.append(frame)  # still in use: try again next time
                continue
            snapshot = frame.snapshot
            del frame  # frees the frame and its diff (the snapshot's other holder), not the records
            if sys.getrefcount(snapshot) > _ONLY_OURS:
                continue
            sockets = snapshot.sockets
            del snapshot
            if sys.getrefcount(sockets) > _ONLY_OURS or not isinstance(sockets, dict):
                continue
            pop = sockets.popitem
            for _ in range(len(sockets)):
                pop()
