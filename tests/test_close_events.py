"""Close events from sock_diag's destroy groups, on real loopback connections: short-lived connections, the last
bytes of a socket that closes, non-root subscribers, a receive buffer that overflows, ``netwatch events``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from netwatch.backends.collector import Collector
from netwatch.backends.history.tracker import History
from netwatch.backends.sources.netlink import close_events
from netwatch.backends.sources.netlink.close_events import CloseEvents
from tests.as_nobody import run_as_nobody

TRANSFER = 100_000


def _serve(server: socket.socket, count: int) -> threading.Thread:
    """Accept ``count`` connections on ``server``, read each to its end, close it."""

    def run() -> None:
        for _ in range(count):
            accepted, _ = server.accept()
            with accepted:
                while accepted.recv(1 << 16):
                    pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _transfers(port: int, count: int, size: int = TRANSFER) -> None:
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"x" * size)
            client.shutdown(socket.SHUT_WR)
            client.recv(1)  # the server closed: its last ACK is in


def test_connections_born_and_gone_between_two_refreshes_are_short_lived_with_their_bytes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(256)
        port = server.getsockname()[1]
        collector = Collector("netlink", live=True)
        history = History(max_events=100_000)  # the default 1,000 fill up when other tests churn connections too
        try:
            history.update(collector.snapshot())
            serving = _serve(server, 200)
            _transfers(port, 200)
            serving.join(timeout=30)
            # the last close events may be in flight: one that reaches the reader after the dump that shows its
            # TIME_WAIT remnant (same cookie) counts as that socket's close (README, Limits)
            time.sleep(0.5)
            first = change = history.update(collector.snapshot())
            short_lived = list(change.short_lived)
            deadline = time.monotonic() + 15  # on a loaded machine the last events reach the reader late
            while sum(short.socket.remote_port == port for short in short_lived) < 200 and time.monotonic() < deadline:
                time.sleep(0.2)
                change = history.update(collector.snapshot())
                short_lived += change.short_lived
        finally:
            collector.close()
    clients = [short for short in short_lived if short.socket.remote_port == port]
    assert len(clients) == 200
    assert all(short.socket.tcp_info.bytes_acked >= TRANSFER for short in clients)
    accepted = [short for short in short_lived if short.socket.local_port == port]
    assert len(accepted) == 200 and all(short.owners == (os.getpid(),) for short in accepted)  # the listener's
    logged = [event for event in history.events if event.kind == "short-lived" and event.socket.remote_port == port]
    assert len(logged) == 200 and all(event.moved[0] >= TRANSFER for event in logged)
    assert first.totals.opened_ps > 0 and first.totals.closed_ps > 0


def test_the_last_bytes_of_a_connection_that_closes_count_in_its_process_totals() -> None:
    size = 4_000_000
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        collector = Collector("netlink", live=True)
        history = History()
        try:
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
            history.update(collector.snapshot())  # the connection is known, nothing moved yet
            reader = threading.Thread(target=lambda: [None for _ in iter(lambda: accepted.recv(1 << 16), b"")])
            reader.start()
            client.sendall(b"x" * size)
            client.close()
            reader.join(timeout=30)
            accepted.close()
            time.sleep(0.3)
            history.update(collector.snapshot())
        finally:
            collector.close()
    total = history.process_totals()[os.getpid()]
    assert total.sent >= size * 0.999  # what the sender sent, though its socket is gone: from the close event
    assert total.received >= size * 0.999


def test_a_user_without_privileges_gets_close_events() -> None:
    result = run_as_nobody(
        "import socket, time\n"
        "from netwatch.backends.sources.netlink.close_events import CloseEvents\n"
        "with CloseEvents() as events:\n"
        "    server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen()\n"
        "    client = socket.create_connection(server.getsockname()); accepted, _ = server.accept()\n"
        "    client.close(); accepted.close(); server.close()\n"
        "    events.wait(5); time.sleep(0.2)\n"
        "    print(len(events.take()))\n"
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 2


def test_the_drop_counters_are_not_read_before_a_buffer_overflows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel reports its first drop as ENOBUFS: until then nothing was lost, and no /proc file is read."""
    read: list[str] = []
    monkeypatch.setattr(close_events, "read_whole", lambda path: read.append(path) or b"")
    with CloseEvents() as events, socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname()).close()
        server.accept()[0].close()
        assert events.wait(5)
        assert events.lost == 0
    assert read == []


def test_a_receive_buffer_that_overflows_counts_the_lost_events_and_goes_on() -> None:
    if os.geteuid() != 0:
        pytest.skip("SO_RCVBUFFORCE needs root (a small buffer otherwise is rounded up)")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1024)
        port = server.getsockname()[1]
        with CloseEvents(receive_buffer=1) as events:  # the kernel's minimum: a couple of events
            assert events.lost == 0
            serving = _serve(server, 600)
            _transfers(port, 600, size=10)
            serving.join(timeout=30)
            time.sleep(0.3)
            received = len(events.take())
            lost = events.lost
            assert lost > 0 and received + lost >= 1000  # 1,200 sockets closed (listener aside), some lost
            with socket.create_connection(("127.0.0.1", port)) as client:
                server.accept()[0].close()
                client.close()
            assert events.wait(5)  # still reading


def _events_process(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "netwatch.tui", "events", "--interval", "0.2", *arguments],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _churn(stop: threading.Event) -> threading.Thread:
    def run() -> None:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            while not stop.is_set():
                with socket.create_connection(server.getsockname()) as client:
                    server.accept()[0].close()
                    client.close()
                time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_netwatch_events_in_a_pipe_that_closes_exits_0_without_a_traceback() -> None:
    stop = threading.Event()
    churn = _churn(stop)
    try:
        process = _events_process("--format", "json")
        lines = [process.stdout.readline() for _ in range(3)]
        process.stdout.close()  # as `| head -3` does
        assert process.wait(timeout=20) == 0
        stderr = process.stderr.read()
    finally:
        stop.set()
        churn.join(timeout=5)
    assert "Traceback" not in stderr and not stderr.strip()
    documents = [json.loads(line) for line in lines]
    assert all(document["event"] in ("opened", "closed", "changed") and "ts" in document for document in documents)


def test_netwatch_events_ends_with_0_on_sigterm_and_reports_closes_with_their_final_bytes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        process = _events_process("--format", "json", "--filter", f"dport = :{port}")
        time.sleep(1.5)  # subscribed, first dump taken
        serving = _serve(server, 1)
        _transfers(port, 1)
        serving.join(timeout=10)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        output, stderr = process.communicate()
    assert "Traceback" not in stderr
    (closed,) = [json.loads(line) for line in output.splitlines() if json.loads(line)["event"] == "closed"]
    assert closed["remote_port"] == port and closed["tcp_info"]["bytes_acked"] >= TRANSFER


def test_the_reader_sleeps_until_stopped_and_closing_twice_is_harmless() -> None:
    """The reader waits with no timeout: closing wakes it at once (through its stop event's pipe), and a second
    close (a context manager's exit after an explicit one) does nothing."""
    events = CloseEvents()
    time.sleep(0.3)  # the reader is waiting
    started = time.monotonic()
    events.close()
    assert not events._thread.is_alive() and time.monotonic() - started < 1.0
    events.close()
