"""Signalling a real child process: only when its start time is unchanged; pid 1 and netwatch's own pid refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netwatch.backends.actions.signals import GONE, REFUSED, SENT, send_signal, start_time


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait(timeout=10)


def test_the_child_receives_the_chosen_signal(child: subprocess.Popen[bytes]) -> None:
    started = start_time(child.pid)
    assert started is not None
    result = send_signal(child.pid, started, "USR1")
    assert (result.outcome, result.reason) == (SENT, "SIGUSR1 sent")
    assert child.wait(timeout=10) == -signal.SIGUSR1


def test_a_reused_pid_is_refused(child: subprocess.Popen[bytes]) -> None:
    started = start_time(child.pid)
    assert started is not None
    result = send_signal(child.pid, started - 1, "KILL")  # as if the pid now named a later process
    assert result.outcome == REFUSED and "start time changed" in result.reason
    assert child.poll() is None


def test_an_exited_process_is_gone(child: subprocess.Popen[bytes]) -> None:
    started = start_time(child.pid)
    child.kill()
    child.wait(timeout=10)
    assert send_signal(child.pid, started or 0, "TERM").outcome == GONE


def test_init_and_netwatch_itself_need_force() -> None:
    for pid in (1, os.getpid()):
        result = send_signal(pid, start_time(pid) or 0, "TERM")
        assert result.outcome == REFUSED and "extra confirmation" in result.reason
    assert send_signal(os.getpid(), start_time(os.getpid()) or 0, "CONT", force=True).outcome == SENT
    assert send_signal(os.getpid(), 0, "BOGUS").outcome == REFUSED
