"""The psutil backend on live loopback sockets of this process."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from netwatch.backends.model.names import UNCONN
from netwatch.backends.model.records import Owner, Socket
from netwatch.backends.model.source_result import SourceResult
from netwatch.backends.sources.psutil_source import UNSEEN, PsutilSource
from tests.as_nobody import run_as_nobody
from tests.forged_unix import forged_names
from tests.socket_zoo import named_sockets

PID = os.getpid()
LINUX = sys.platform.startswith("linux")


@pytest.fixture
def live_sockets(tmp_path: Path) -> Iterator[dict[str, socket.socket]]:
    opened = named_sockets(str(tmp_path / "psutil.sock"), f"netwatch-psutil-{PID}")
    yield opened
    for sock in opened.values():
        sock.close()


def own_by_fd(result: SourceResult) -> dict[int, Socket]:
    """This process's sockets by fd, as the result's owners say (its records have none: the collector attaches
    them)."""
    assert result.known_owners is not None and all(sock.owners == () for sock in result.sockets.values())
    by_key = result.known_owners.by_key
    owned = ((owners[0], sock) for sock in result.sockets.values() if (owners := by_key.get(sock.key)))
    return {owner.fd: sock for owner, sock in owned if owner.pid == PID}


def check_live_sockets(found: dict[int, Socket], live: dict[str, socket.socket], tmp_path: Path) -> None:
    for tag, family in (("4", "ipv4"), ("6", "ipv6")):
        listener, client = live[f"listen{tag}"], live[f"client{tag}"]
        record = found[listener.fileno()]
        assert (record.proto, record.family, record.state) == ("tcp", family, "LISTEN")
        assert (record.local_address, record.local_port) == listener.getsockname()[:2]
        record = found[client.fileno()]
        assert record.state == "ESTABLISHED"
        assert (record.remote_address, record.remote_port) == client.getpeername()[:2]
        record = found[live[f"udp_bound{tag}"].fileno()]
        assert (record.proto, record.state, record.remote_port) == ("udp", UNCONN, 0)
        record = found[live[f"udp_connected{tag}"].fileno()]
        assert (record.state, record.remote_port) == ("ESTABLISHED", live[f"udp_bound{tag}"].getsockname()[1])
    if LINUX:  # not shown (see test_no_unix_sockets_on_linux)
        assert live["unix_listen"].fileno() not in found
        return
    record = found[live["unix_listen"].fileno()]
    assert (record.proto, record.path, record.sock_type) == ("unix", str(tmp_path / "psutil.sock"), "stream")
    assert found[live["unix_abstract"].fileno()].path == f"@netwatch-psutil-{PID}"


def test_live_sockets_with_states_addresses_and_owner(live_sockets: dict[str, socket.socket], tmp_path: Path) -> None:
    source = PsutilSource()
    assert source.reports_owners
    result = source.collect()
    assert result.warnings == (UNSEEN,)
    check_live_sockets(own_by_fd(result), live_sockets, tmp_path)
    sockets = result.sockets
    assert {(sock.recv_q, sock.send_q, sock.inode) for sock in sockets.values()} == {(None, None, None)}  # unknown
    assert all(key == sock.key for key, sock in sockets.items())
    known = result.known_owners
    assert known is not None
    assert known.by_key[own_by_fd(result)[live_sockets["listen4"].fileno()].key] == (
        Owner(PID, live_sockets["listen4"].fileno()),
    )
    process = known.processes[PID]
    assert (process.name, process.uid) == (psutil.Process().name(), os.getuid())
    assert process.cmdline == tuple(psutil.Process().cmdline())
    ownerless = [s for s in result.sockets.values() if s.key not in known.by_key and s.state != "TIME_WAIT"]
    assert known.visibility.hidden_sockets == len(ownerless)


def test_per_process_fallback_when_the_system_table_is_denied(
    live_sockets: dict[str, socket.socket], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on macOS without root: psutil.net_connections raises AccessDenied."""

    def denied(kind: str = "inet") -> list:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    monkeypatch.setattr(psutil, "process_iter", lambda: iter([psutil.Process()]))  # keep it fast on busy hosts
    result = PsutilSource().collect()
    assert result.warnings[0] == UNSEEN and "privileges" in result.warnings[1]
    check_live_sockets(own_by_fd(result), live_sockets, tmp_path)


@pytest.mark.skipif(not LINUX, reason="psutil reads /proc/net/unix on Linux only")
def test_no_unix_sockets_on_linux_where_names_can_forge_lines() -> None:
    """psutil splits /proc/net/unix at whitespace: a name with a newline would forge a socket, so none is shown."""
    with forged_names():
        result = PsutilSource().collect()
    assert not [sock for sock in result.sockets.values() if sock.family == "unix"]
    (warning,) = result.warnings
    assert "no Unix sockets: psutil splits /proc/net/unix at whitespace" in warning and "newline" in warning


@pytest.mark.skipif(not LINUX, reason="psutil skips unreadable fd tables silently on Linux")
def test_without_root_the_unreadable_fd_tables_are_the_reason_given() -> None:
    """psutil leaves out the processes whose fd tables it may not read: their sockets are not "held by no
    process"."""
    with socket.create_server(("127.0.0.1", 0)):  # root's: its owner is hidden from uid 65534
        completed = run_as_nobody(NON_ROOT_PROBE)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["hidden"] > 0 and seen["unreadable"] > 0
    assert any("held by no readable process" in warning and "run as root" in warning for warning in seen["warnings"])


NON_ROOT_PROBE = """
import json
from netwatch.backends.collector import Collector
snapshot = Collector("psutil").snapshot()
visibility = snapshot.visibility
print(json.dumps({
    "hidden": visibility.hidden_sockets,
    "unreadable": visibility.unreadable_processes,
    "warnings": snapshot.warnings,
}))
"""
