"""The proc connector's events against real processes: forks, execs, renames and exits of children started here,
threads left out, lost events, and the decoder cross-checked with pyroute2's on the same datagrams."""

from __future__ import annotations

import os
import select
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
from pyroute2.netlink.connector.cn_proc import ProcEventMarshal

from netwatch.backends.process_events import ProcessEvents, listen, process_of, unsubscribe

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the proc connector reports to root (before Linux 6.6)")


def run_child(code: str) -> int:
    """Fork, exec ``python -c code`` and reap it; its pid."""
    child = subprocess.Popen([sys.executable, "-c", code])
    child.wait()
    return child.pid


def test_a_child_forked_execed_renamed_and_gone_is_reported_to_each_reader_once(
    process_events: Callable[..., ProcessEvents],
) -> None:
    events = process_events()
    first, second = events.reader(), events.reader()
    assert first.take() is None  # nothing is known before the first take
    pid = run_child("open('/proc/self/comm', 'w').write('renamed')")
    taken = first.take()
    assert taken is not None and pid in taken
    assert second.take() is None  # its first take
    again = first.take()
    assert again is not None and pid not in again  # taken once
    other = run_child("pass")
    taken = second.take()
    assert taken is not None and other in taken


def test_threads_coming_and_going_change_no_process(process_events: Callable[..., ProcessEvents]) -> None:
    reader = process_events().reader()
    reader.take()
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    taken = reader.take()
    assert taken is not None and os.getpid() not in taken


def test_events_lost_to_a_full_buffer_make_the_next_take_unknown(
    process_events: Callable[..., ProcessEvents],
) -> None:
    reader = process_events(receive_buffer=4096).reader()  # room for a few datagrams
    reader.take()
    for _ in range(100):  # ~300 events
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    assert reader.take() is None
    for _ in range(20):  # known again after that (unless the host's other processes fill it again meanwhile)
        pid = run_child("pass")
        taken = reader.take()
        if taken is not None:
            break
    assert taken is not None and pid in taken


def test_a_closed_subscription_reads_as_unknown(process_events: Callable[..., ProcessEvents]) -> None:
    events = process_events()
    reader = events.reader()
    reader.take()
    events.close()
    assert reader.take() is None


def test_each_datagram_names_the_process_pyroute2_decodes_from_it() -> None:
    sock = listen()
    assert sock is not None
    try:
        pid = run_child("open('/proc/self/comm', 'w').write('renamed')")
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        datagrams = []
        while select.select([sock], [], [], 0)[0] and len(datagrams) < 10_000:
            datagrams.append(sock.recv(256))
    finally:
        unsubscribe(sock)
    kinds = set()
    threads = 0
    for datagram in datagrams:
        (what,) = struct.unpack_from("=I", datagram, 36)
        message = ProcEventMarshal.msg_map[what](datagram)
        message.decode()
        kinds.add(message["event"])
        if what == 0:  # an acknowledgement
            expected = None
        elif what == 1:  # fork: the new process, not a new thread
            expected = message["child_tgid"] if message["child_pid"] == message["child_tgid"] else None
            threads += message["child_tgid"] == os.getpid()
        elif message["event"] == "PROC_EVENT_EXIT" and message["process_pid"] != message["process_tgid"]:
            expected = None  # a thread's
        else:
            expected = message["process_tgid"]
        assert process_of(datagram) == expected, message["event"]
    assert {"PROC_EVENT_FORK", "PROC_EVENT_EXEC", "PROC_EVENT_COMM", "PROC_EVENT_EXIT"} <= kinds
    assert pid in {process_of(datagram) for datagram in datagrams}
    assert threads  # this process's new thread was among them, and named no process


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs util-linux's unshare")
def test_in_a_pid_namespace_of_its_own_the_kernel_reports_nothing_and_subscribe_says_so_at_once() -> None:
    """The kernel reports process events only to the initial pid namespace (a container's netwatch is told nothing):
    the subscription is not acknowledged there, and subscribe returns None after a short wait, not events never
    coming."""
    code = (
        "import time; from netwatch.backends.process_events import ProcessEvents; started = time.monotonic(); "
        "print(ProcessEvents.subscribe() is None, time.monotonic() - started)"
    )
    command = ["unshare", "--pid", "--fork", sys.executable, "-c", code]
    refused, waited = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    assert refused == "True" and float(waited) < 0.5
