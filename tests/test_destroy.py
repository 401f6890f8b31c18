"""Closing sockets with SOCK_DESTROY, on real loopback sockets: the owner and the peer see it."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from dataclasses import replace

import pytest

from netwatch.backends.actions.destroy import ALREADY_GONE, CLOSED, REFUSED, destroy, destroy_all, open_diag_socket
from netwatch.backends.collector import Collector
from netwatch.backends.model.namespaces import Selection
from netwatch.backends.model.records import Socket
from tests.as_nobody import run_as_nobody
from tests.socket_zoo import errno_of


def _records(proto: str, own: socket.socket) -> list[Socket]:
    """``proto`` sockets with ``own``'s local and remote address, as netwatch sees them.

    The whole tuple, not the port alone: another socket (a TIME_WAIT left by an earlier test) may hold the port.
    """
    local = own.getsockname()[:2]
    try:
        remote = own.getpeername()[:2]
    except OSError:
        remote = ("0.0.0.0", 0)
    sockets = Collector("netlink", netns=Selection("self")).snapshot().sockets.values()  # ports are per namespace
    return [
        sock
        for sock in sockets
        if sock.proto == proto
        and (sock.local_address, sock.local_port) == local
        and (sock.remote_address, sock.remote_port) == remote
    ]


def test_closing_a_connection_by_cookie_aborts_the_owner_and_resets_the_peer(connection) -> None:
    _listener, client, served = connection
    (record,) = _records("tcp", client)
    assert record.state == "ESTABLISHED" and record.cookie
    (result,) = destroy_all([record])
    assert (result.outcome, result.reason) == (CLOSED, "closed")
    assert errno_of(lambda: client.recv(1)) == errno.ECONNABORTED
    assert errno_of(lambda: served.recv(1)) == errno.ECONNRESET


def test_a_stale_cookie_is_already_gone_and_never_hits_a_reused_tuple(connection) -> None:
    _listener, client, served = connection
    (record,) = _records("tcp", client)
    with open_diag_socket() as diag:  # the same 4-tuple under another cookie: a reused tuple, left alone
        result = destroy(diag, replace(record, cookie=record.cookie + 1))
        assert (result.outcome, result.reason) == (ALREADY_GONE, "already closed")
        client.sendall(b"x")
        assert served.recv(1) == b"x"
        assert destroy(diag, record).outcome == CLOSED
        result = destroy(diag, record)
    assert (result.outcome, result.reason) == (ALREADY_GONE, "already closed")


def test_closing_a_listener_stops_accepting(connection) -> None:
    listener, _client, _served = connection
    port = listener.getsockname()[1]
    (record,) = _records("tcp", listener)
    assert destroy_all([record])[0].outcome == CLOSED
    assert errno_of(lambda: socket.create_connection(("127.0.0.1", port), timeout=5).close()) == errno.ECONNREFUSED


def test_closing_a_udp_socket_fails_its_next_call_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bound:
        bound.bind(("127.0.0.1", 0))
        (record,) = _records("udp", bound)
        assert destroy_all([record])[0].outcome == CLOSED
        assert errno_of(lambda: bound.recv(1)) == errno.ECONNABORTED


def test_unix_sockets_are_refused_with_the_alternative() -> None:
    left, right = socket.socketpair()
    with left, right:
        inode = os.fstat(left.fileno()).st_ino
        (unix,) = [sock for sock in Collector("netlink").snapshot().sockets.values() if sock.inode == inode]
        result = destroy_all([unix])[0]
        assert result.outcome == REFUSED and "signal its owner" in result.reason
        left.sendall(b"x")
        assert right.recv(1) == b"x"


def _kill(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwatch.tui", "kill", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input=stdin,
    )


def test_without_cap_net_admin_nothing_is_closed_and_the_reason_is_said(connection) -> None:
    listener, client, _served = connection
    port = listener.getsockname()[1]
    code = (
        "import sys\nfrom netwatch.tui.cli.main import main\n"
        f"sys.exit(main(['kill', 'sport = :{port}', '--yes', '--format', 'json']))\n"
    )
    result = run_as_nobody(code)
    assert result.returncode == 1, result.stderr
    results = json.loads(result.stdout)["results"]
    assert len(results) == 2
    assert {item["outcome"] for item in results} == {REFUSED}
    assert all("CAP_NET_ADMIN" in item["reason"] for item in results)
    client.sendall(b"still here")
    assert socket.create_connection(("127.0.0.1", port), timeout=5)


def test_cli_kill_closes_with_yes_and_dry_run_closes_nothing(connection) -> None:
    listener, client, served = connection
    port = listener.getsockname()[1]
    dry = _kill(f"sport = :{port}", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would close") == 2
    read_only = _kill(f"sport = :{port}", "--read-only", "--yes")
    assert read_only.returncode == 0 and read_only.stdout.count("would close") == 2
    unconfirmed = _kill(f"sport = :{port}", stdin="2\n")  # stdin not a terminal: --yes is needed
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    client.sendall(b"x")
    assert served.recv(1) == b"x"
    done = _kill(f"sport = :{port}", "--yes", "--format", "json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert sorted(item["socket"]["state"] for item in results) == ["ESTABLISHED", "LISTEN"]
    assert {item["outcome"] for item in results} == {CLOSED}
    assert errno_of(lambda: served.recv(1)) == errno.ECONNABORTED


@pytest.mark.parametrize("text", ["", "   ", "sport >> 1"])
def test_cli_kill_refuses_an_empty_or_bad_filter(text: str) -> None:
    result = _kill(text, "--yes")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("netwatch kill: ")
