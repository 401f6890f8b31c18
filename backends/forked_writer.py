"""Work done by a forked child while the parent goes on: the child writes its output to an anonymous memory file.

The child shares the parent's objects copy-on-write, so it starts with everything the parent has (a snapshot's
sockets, the resolver's state) without pickling anything; its cyclic garbage collector is off, as a collection
would touch (and so copy) every shared object. It leaves with ``os._exit``, running none of the parent's exit
handlers and flushing none of its inherited buffers. The parent picks up the output when it needs it, with
:meth:`ForkedWriter.output`; the file (``memfd``) is written at memory speed, so the child never waits for the
parent, whatever it writes.

Used for the owners' cold /proc scan (:mod:`netwatch.backends.owners.prefetch`) and for encoding half of
``--once --format json`` (:mod:`netwatch.tui.cli.once`).
"""

from __future__ import annotations

import gc
import os
import select
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import BinaryIO


class ForkedWriter:
    """A forked child writing to a memory file; start one with :meth:`start`, take its output with :meth:`output`."""

    def __init__(self, pid: int, file: BinaryIO, exited: int) -> None:
        self.pid = pid
        self._file = file
        self._exited = exited
        """Read end of a pipe whose only write end the child holds: it reads EOF once the child has exited."""

    @classmethod
    def start(cls, name: str, write: Callable[[BinaryIO], object]) -> ForkedWriter | None:
        """Fork a child that runs ``write(file)`` on a new memory file named ``name`` and exits (status 0 if
        ``write`` returned). None when it cannot: in a threaded process (forking one is unsafe), without
        ``memfd_create``, or when making the file or forking fails; the caller then does the work itself."""
        if threading.active_count() > 1 or not hasattr(os, "memfd_create"):
            return None
        try:
            file = open(os.memfd_create(name), "w+b")  # noqa: SIM115 - closed by output()
        except OSError:
            return None
        try:
            exited, holder = os.pipe()
        except OSError:
            file.close()
            return None
        try:
            pid = os.fork()
        except OSError:
            file.close()
            os.close(exited)
            os.close(holder)
            return None
        if pid == 0:  # the child: write, then leave without running any of the parent's exit handlers
            status = 1
            try:
                gc.disable()
                os.close(exited)
                write(file)
                file.flush()
                status = 0
            finally:
                os._exit(status)
        os.close(holder)
        return cls(pid, file, exited)

    def output(self, timeout: float | None = None) -> BinaryIO | None:
        """Wait for the child to exit (at most ``timeout`` seconds, then it is killed) and reap it. Returns its
        file, rewound, for the caller to read and close; None (file closed) if the child failed or timed out.
        Call once."""
        exited = select.poll()  # not select(): the pipe's fd number may be past FD_SETSIZE
        exited.register(self._exited, select.POLLIN)
        try:
            finished = bool(exited.poll(None if timeout is None else timeout * 1000))
        finally:
            os.close(self._exited)
        if not finished:
            from signal import SIGKILL  # here: the signal module's import cost every --once ~1 ms

            with suppress(ProcessLookupError):
                os.kill(self.pid, SIGKILL)
        try:
            _, status = os.waitpid(self.pid, 0)
            succeeded = finished and os.waitstatus_to_exitcode(status) == 0
        except ChildProcessError:  # reaped elsewhere: its exit status is unknown
            succeeded = False
        if not succeeded:
            self._file.close()
            return None
        self._file.seek(0)
        return self._file
