"""The TUI's way out: SIGTERM, SIGHUP, SIGINT and a hung-up terminal leave the terminal as it was.

Textual restores the terminal (normal screen, cursor, mouse tracking off, tty modes) when the app exits.
:class:`SignalExit` makes the signals end the app that way too, with the exit status a shell shows for a
process killed by the signal: 128 + its number (143 for SIGTERM, 129 SIGHUP, 130 SIGINT).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import termios
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, NoReturn

SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
GRACE = 3.0
"""Seconds the app gets to shut down after SIGTERM or SIGINT before the process exits regardless."""
RESTORE_TIMEOUT = 0.5
"""Seconds the terminal gets to take :data:`RESTORE` when the process exits without Textual's shutdown."""
RESTORE = (
    b"\x1b[?2004l\x1b[?7h\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1016l\x1b[?2048l"
    b"\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?1004l"
)
"""What Textual's Linux driver writes when it leaves application mode, and the modes it may have set."""


def _restore_without_blocking(attrs: list[Any] | None) -> None:
    """Reset the tty modes and write :data:`RESTORE`, giving up on a tty that won't take it (dead or stalled)."""
    try:
        if attrs is not None:
            termios.tcsetattr(0, termios.TCSANOW, attrs)
        # A file description of our own: O_NONBLOCK on stderr's would be the shell's too.
        fd = os.open(os.ttyname(2), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, termios.error):
        return
    # Whatever Textual's writer thread writes after its current write goes nowhere, not after RESTORE.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    deadline = time.monotonic() + RESTORE_TIMEOUT
    data = RESTORE
    try:
        while data and poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:  # the writer thread is mid-write: the tty is locked until it is done
                time.sleep(0.01)
    except OSError:  # the terminal is gone
        pass
    finally:
        os.close(fd)


class SignalExit:
    """While active, SIGTERM, SIGHUP and SIGINT end the running app with the terminal restored.

    SIGTERM and SIGINT ask the app to exit with status 128 + signal, so Textual restores the terminal as on
    ``q``; after :data:`GRACE` seconds, or at a second signal, the process exits anyway. SIGHUP means the
    terminal is gone: the process exits at once, writing the restore only if the tty takes it within
    :data:`RESTORE_TIMEOUT`. A terminal that hangs up without a SIGHUP (no controlling terminal, e.g. under
    ``setsid``) ends the process the same way, instead of Textual reading end-of-file in a loop.
    """

    def __init__(self, request_exit: Callable[[int], None]) -> None:
        """``request_exit(status)`` asks the app to exit; it is called on the app's event loop."""
        self._request_exit = request_exit
        self._signum = 0
        self._app_done = False
        try:
            self._attrs: list[Any] | None = termios.tcgetattr(0)
        except termios.error:
            self._attrs = None
        self._previous: dict[int, Any] = {}
        self._wake_read, self._wake_write = os.pipe()
        self._watcher = threading.Thread(target=self._watch, name="netwatch-signals", daemon=True)

    def __enter__(self) -> SignalExit:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        self._watcher.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._app_done = True
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._signum:  # the watcher stays: it bounds the rest of the exit
            return
        os.write(self._wake_write, b"\0")
        self._watcher.join(1.0)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the app has not started or has already restored the terminal
            os._exit(128 + signum)
        if signum == signal.SIGHUP or self._signum:
            self._exit_now(signum)
        self._signum = signum
        os.write(self._wake_write, bytes([signum]))
        loop.call_soon_threadsafe(self._request_exit, 128 + signum)

    def _exit_now(self, signum: int) -> NoReturn:
        if not self._app_done:
            _restore_without_blocking(self._attrs)
        os._exit(128 + signum)

    def _watch(self) -> None:
        """Exit when the terminal hangs up, or when the app outlives its grace after a signal."""
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        if os.isatty(0):
            poller.register(0, 0)  # hang-ups only
        if any(fd == 0 for fd, _ in poller.poll()):
            os._exit(128 + signal.SIGHUP)
        signum = os.read(self._wake_read, 1)[0]
        if not signum:  # the app ended by itself
            return
        poller.unregister(self._wake_read)
        poller.poll(GRACE * 1000)
        self._exit_now(signum)
