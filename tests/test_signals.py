"""The real TUI in a pseudo-terminal: signals and hang-ups restore the terminal and exit with 128 + the
signal's number; without a terminal the TUI refuses at once, in one line."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator

import pytest

from netwatch.tui.app.terminal import GRACE

COMMAND = [sys.executable, "-m", "netwatch.tui", "--backend", "netlink", "--interval", "0.5"]
# Runs COMMAND with the pseudo-terminal as its controlling terminal, as a login shell would.
WITH_CONTROLLING_TTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); os.execv(sys.argv[1], sys.argv[1:])"
)
ALT_SCREEN = b"\x1b[?1049h"
# What Textual writes when it leaves application mode: normal screen, cursor, mouse tracking, bracketed paste.
RESTORED = (b"\x1b[?1049l", b"\x1b[?25h", b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l", b"\x1b[?2004l")
TTY_MODES = termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN
NO_TERMINAL = "netwatch: no terminal; use --once for scripts\n"


class Tui:
    """netwatch running in a pseudo-terminal of its own; ``output`` is everything it wrote there."""

    def __init__(
        self, *, controlling_tty: bool = True, env: dict[str, str] | None = None, interval: str = COMMAND[-1]
    ) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
        self.lflag = termios.tcgetattr(slave)[3]
        netwatch = [*COMMAND[:-1], interval]
        command = [sys.executable, "-c", WITH_CONTROLLING_TTY, *netwatch] if controlling_tty else netwatch
        environment = {name: value for name, value in os.environ.items() if not name.startswith("TEXTUAL")}
        environment |= {"TERM": "xterm-256color", **(env or {})}
        try:
            self.process = subprocess.Popen(
                command, stdin=slave, stdout=slave, stderr=slave, start_new_session=True, env=environment
            )
        finally:
            os.close(slave)
        self.output = b""
        self.master_open = True

    def read_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Read the terminal until ``done()`` or the timeout; False at the timeout or once nothing is left."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if select.select([self.master], [], [], min(left, 0.1))[0]:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: every process holding the terminal has gone
                    return done()
                self.output += data
        return True

    def wait_drawn(self) -> int:
        """Wait for the first screen; returns where the output after it starts."""
        assert self.read_until(lambda: ALT_SCREEN in self.output and b"Connections" in self.output, 15), self.output
        return len(self.output)

    def finish(self, timeout: float = 5.0) -> int:
        """Read until the process has exited (or closed the terminal); returns its exit status."""
        self.read_until(lambda: self.process.poll() is not None, timeout)
        self.read_until(lambda: False, 0.3)  # what it wrote just before exiting
        return self.process.wait(1)

    def tty_modes_restored(self) -> bool:
        """Whether echo, line editing and signal keys are back as they were (the master reads the slave's modes)."""
        return termios.tcgetattr(self.master)[3] & TTY_MODES == self.lflag & TTY_MODES

    def hang_up(self) -> None:
        """Close the terminal, as a terminal emulator does when its window is closed."""
        os.close(self.master)
        self.master_open = False

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        if self.master_open:
            os.close(self.master)


@pytest.fixture
def tui() -> Iterator[Tui]:
    running = Tui()
    try:
        yield running
    finally:
        running.close()


def assert_restored(output: bytes) -> None:
    for sequence in RESTORED:
        assert sequence in output, (sequence, output[-500:])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_restores_terminal_and_exits_128_plus_signal(tui: Tui, signum: signal.Signals) -> None:
    drawn = tui.wait_drawn()
    sent = time.monotonic()
    tui.process.send_signal(signum)
    assert tui.finish() == 128 + signum
    assert time.monotonic() - sent < GRACE + 1.5  # graceful, or cut short by the watcher after GRACE (on a loaded box)
    assert_restored(tui.output[drawn:])
    assert tui.tty_modes_restored()


def test_q_quits_with_status_0_and_restores(tui: Tui) -> None:
    drawn = tui.wait_drawn()
    os.write(tui.master, b"q")
    assert tui.finish() == 0
    assert_restored(tui.output[drawn:])
    assert tui.tty_modes_restored()


def test_ctrl_c_key_says_how_to_quit_as_textual_does(tui: Tui) -> None:
    """In raw mode Ctrl+C is a key, not SIGINT: Textual's binding tells how to quit; the app goes on."""
    drawn = tui.wait_drawn()
    os.write(tui.master, b"\x03")
    assert tui.read_until(lambda: b"to quit" in tui.output[drawn:], 5)
    assert tui.process.poll() is None
    os.write(tui.master, b"q")
    assert tui.finish() == 0
    assert_restored(tui.output[drawn:])


def test_ctrl_c_with_textual_allow_signals_is_sigint() -> None:
    tui = Tui(env={"TEXTUAL_ALLOW_SIGNALS": "1"})
    try:
        drawn = tui.wait_drawn()
        os.write(tui.master, b"\x03")
        assert tui.finish() == 128 + signal.SIGINT
        assert_restored(tui.output[drawn:])
    finally:
        tui.close()


@pytest.mark.parametrize("controlling_tty", [True, False], ids=["sighup", "setsid-no-sighup"])
def test_terminal_hangup_ends_tui_at_once(controlling_tty: bool) -> None:
    """Closing the terminal: SIGHUP for its session; without a controlling terminal the hang-up itself."""
    tui = Tui(controlling_tty=controlling_tty)
    try:
        tui.wait_drawn()
        tui.hang_up()
        hung_up = time.monotonic()
        assert tui.process.wait(3) == 128 + signal.SIGHUP
        assert time.monotonic() - hung_up < 2
    finally:
        tui.close()


def run_without_terminal(**streams: int) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(COMMAND, capture_output=True, text=True, timeout=10, **streams)
    return result, time.monotonic() - started


def test_no_terminal_on_stdin_refuses_in_one_line() -> None:
    result, seconds = run_without_terminal(stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stderr, result.stdout) == (2, NO_TERMINAL, "")
    assert seconds < 3


def test_no_terminal_on_stdout_refuses_in_one_line() -> None:
    master, slave = os.openpty()
    try:
        result, seconds = run_without_terminal(stdin=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert (result.returncode, result.stderr, result.stdout) == (2, NO_TERMINAL, "")
    assert seconds < 3


def test_no_terminal_is_checked_before_textual_is_imported() -> None:
    code = "import sys; from netwatch.tui.cli.main import main; print(main([]), 'textual' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10
    )
    assert (result.stdout, result.stderr) == ("2 False\n", NO_TERMINAL)


def test_once_still_works_without_terminal() -> None:
    result = subprocess.run(
        [*COMMAND[:-2], "--once", "--format", "json"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("{")


def _sleeps(pid: int) -> dict[str, int]:
    """Each thread's voluntary context switches so far: how often it went to sleep."""
    counts = {}
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/status") as status:
            counts[thread] = sum(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))
    return counts


def test_the_input_thread_sleeps_while_no_key_comes_and_wakes_for_keys_and_exit() -> None:
    """Textual's own input thread wakes ten times a second (TEXTUAL_DRIVER picks it here); netwatch's sleeps
    until a key comes, still reads keys after a rest, and lets the app quit at once. Refreshing once a minute,
    no other thread of netwatch's wakes that often: the thread that woke most tells the two apart."""
    busiest = {}
    for driver in ("textual.drivers.linux_driver:LinuxDriver", None):
        tui = Tui(env={"TEXTUAL_DRIVER": driver} if driver else None, interval="60")
        try:
            tui.wait_drawn()
            tui.read_until(lambda: False, 1.0)
            before = _sleeps(tui.process.pid)
            tui.read_until(lambda: False, 4.0)
            after = _sleeps(tui.process.pid)
            busiest[driver] = max(after[thread] - before.get(thread, 0) for thread in after)
            quit_at = time.monotonic()
            os.write(tui.master, b"q")
            assert tui.finish() == 0
            assert time.monotonic() - quit_at < 2.0
        finally:
            tui.close()
    assert busiest["textual.drivers.linux_driver:LinuxDriver"] >= 30 and busiest[None] < 25, busiest
