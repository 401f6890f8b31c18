"""Textual's Linux driver with an input thread that sleeps while no key comes.

Textual's input thread wakes ten times a second, to see whether it should stop and whether an ESC read alone has
waited long enough to be the Escape key. Each wake-up cost ~150 us of CPU on the machines measured (a timer
wake-up in a VM): 0.17% of a core, a fifth of what an idle netwatch cost. This one waits for input with no
timeout; it ticks the parser every :data:`TICK` seconds only for :data:`SETTLE` seconds after a key (time for an
ESC's wait), and the driver wakes it through a pipe when it stops reading input.

It is Textual's loop (``LinuxDriver.run_input_thread``, Textual 8.2.8, pinned) with those two changes.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import time
from codecs import getincrementaldecoder

from textual import constants
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from netwatch.backends.waking_event import WakingEvent

TICK = 0.1
"""Seconds between the parser's ticks while keys come (Textual's own period)."""
SETTLE = max(1.0, 4 * constants.ESCAPE_DELAY)
"""Seconds after a key during which the parser is ticked (an ESC alone becomes a key after ``ESCDELAY``)."""


class QuietLinuxDriver(LinuxDriver):
    """Textual's Linux driver whose input thread does not wake while the keyboard is idle."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.exit_event = WakingEvent()

    def close(self) -> None:
        super().close()
        self.exit_event.close()

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (see the module docstring)."""
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        last_key = -SETTLE
        with selectors.DefaultSelector() as selector:
            selector.register(self.fileno, selectors.EVENT_READ)
            selector.register(self.exit_event.fileno, selectors.EVENT_READ)
            try:
                while not self.exit_event.is_set():
                    ready = selector.select(TICK if time.monotonic() - last_key < SETTLE else None)
                    if any(key.fd == self.fileno for key, _mask in ready):
                        data = decode(os.read(self.fileno, 1024 * 4))
                        if data:
                            last_key = time.monotonic()
                            for event in parser.feed(data):
                                self.process_message(event)
                    for event in parser.tick():
                        self.process_message(event)
            finally:
                with contextlib.suppress(EOFError, ParseError):
                    for _event in parser.feed(""):
                        pass
