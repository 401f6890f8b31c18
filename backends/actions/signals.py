"""Signalling a process safely: pids are reused, so the signal goes only to the process whose start time the caller
saw, through a pidfd (the process cannot be swapped between the check and the signal)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

SIGNALS = ("TERM", "INT", "HUP", "KILL", "STOP", "CONT", "USR1", "USR2")
"""The signals offered, the default first."""
SENT, GONE, REFUSED = "sent", "gone", "refused"


@dataclass(frozen=True, slots=True)
class SignalResult:
    """What became of one signal: ``outcome`` is sent, gone or refused; ``reason`` in words."""

    pid: int
    outcome: str
    reason: str


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22); None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # after the comm, which may hold spaces and parentheses
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def send_signal(pid: int, expected_start: int, name: str, *, force: bool = False) -> SignalResult:
    """Send SIG``name`` to ``pid`` if it is still the process that started at ``expected_start``; pid 1 and
    netwatch's own pid only with ``force``."""
    if name not in SIGNALS:
        return SignalResult(pid, REFUSED, f"unknown signal {name!r}: one of {', '.join(SIGNALS)}")
    if not force and pid in (1, os.getpid()):
        who = "init (pid 1)" if pid == 1 else "netwatch itself"
        return SignalResult(pid, REFUSED, f"refusing to signal {who} without an extra confirmation")
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return SignalResult(pid, GONE, "the process has exited")
    except OSError as error:
        return SignalResult(pid, REFUSED, f"cannot open the process: {error.strerror or error}")
    try:
        if start_time(pid) != expected_start:
            return SignalResult(pid, REFUSED, "the pid now belongs to another process (its start time changed)")
        signal.pidfd_send_signal(pidfd, getattr(signal, f"SIG{name}"))
    except ProcessLookupError:
        return SignalResult(pid, GONE, "the process has exited")
    except PermissionError:
        return SignalResult(pid, REFUSED, "not permitted: the process belongs to another user (needs CAP_KILL)")
    except OSError as error:
        return SignalResult(pid, REFUSED, error.strerror or str(error))
    finally:
        os.close(pidfd)
    return SignalResult(pid, SENT, f"SIG{name} sent")
