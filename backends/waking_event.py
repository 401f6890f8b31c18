"""An Event a thread waiting in ``select`` sees: setting it makes a pipe readable, so the thread needs no timeout
(each timer wake-up of an idle thread costs ~100-150 us of CPU in a VM)."""

from __future__ import annotations

import contextlib
import os
import threading


class WakingEvent(threading.Event):
    """An Event that also makes a pipe (:attr:`fileno`) readable when set."""

    def __init__(self) -> None:
        super().__init__()
        self.fileno, self._write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def set(self) -> None:
        super().set()
        if self._write >= 0:  # not closed
            with contextlib.suppress(BlockingIOError):  # already readable
                os.write(self._write, b"\0")

    def clear(self) -> None:
        super().clear()
        if self.fileno >= 0:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.fileno, 4096):
                    pass

    def close(self) -> None:
        """Close the pipe (once: its numbers may be another file's after)."""
        if self.fileno >= 0:
            os.close(self.fileno)
            os.close(self._write)
            self.fileno = self._write = -1
