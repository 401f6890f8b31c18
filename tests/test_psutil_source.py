"""The psutil backend on live loopback sockets of this process."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from netwatch.backends.model.names import UNCONN
from netwatch.backends.model.records import Owner, Socket
from netwatch.backends.sources.psutil_source import PsutilSource
from tests.socket_zoo import named_sockets

PID = os.getpid()


def unused_lookup(inodes: object) -> dict:
    raise AssertionError("PsutilSource must not use owners_of")


@pytest.fixture
def live_sockets(tmp_path: Path) -> Iterator[dict[str, socket.socket]]:
    opened = named_sockets(str(tmp_path / "psutil.sock"), f"netwatch-psutil-{PID}")
    yield opened
    for sock in opened.values():
        sock.close()


def own_by_fd(sockets: list[Socket]) -> dict[int, Socket]:
    return {sock.owners[0].fd: sock for sock in sockets if sock.owners and sock.owners[0].pid == PID}


def check_live_sockets(found: dict[int, Socket], live: dict[str, socket.socket], tmp_path: Path) -> None:
    for tag, family in (("4", "ipv4"), ("6", "ipv6")):
        listener, client = live[f"listen{tag}"], live[f"client{tag}"]
        record = found[listener.fileno()]
        assert (record.proto, record.family, record.state) == ("tcp", family, "LISTEN")
        assert (record.local_address, record.local_port) == listener.getsockname()[:2]
        assert record.owners == (Owner(PID, listener.fileno()),)
        record = found[client.fileno()]
        assert record.state == "ESTABLISHED"
        assert (record.remote_address, record.remote_port) == client.getpeername()[:2]
        record = found[live[f"udp_bound{tag}"].fileno()]
        assert (record.proto, record.state, record.remote_port) == ("udp", UNCONN, 0)
        record = found[live[f"udp_connected{tag}"].fileno()]
        assert (record.state, record.remote_port) == ("ESTABLISHED", live[f"udp_bound{tag}"].getsockname()[1])
    record = found[live["unix_listen"].fileno()]
    assert (record.proto, record.path, record.sock_type) == ("unix", str(tmp_path / "psutil.sock"), "stream")
    assert found[live["unix_abstract"].fileno()].path == f"@netwatch-psutil-{PID}"


def test_live_sockets_with_states_addresses_and_owner(live_sockets: dict[str, socket.socket], tmp_path: Path) -> None:
    source = PsutilSource()
    result = source.collect(unused_lookup)
    assert result.warnings == ()
    check_live_sockets(own_by_fd(result.sockets), live_sockets, tmp_path)
    assert len({s.key for s in result.sockets}) == len(result.sockets)
    process = source.processes()[PID]
    assert (process.name, process.uid) == (psutil.Process().name(), os.getuid())
    assert process.cmdline == tuple(psutil.Process().cmdline())
    visibility = source.visibility(result.sockets)
    assert visibility.hidden_sockets == sum(1 for s in result.sockets if not s.owners and s.state != "TIME_WAIT")


def test_per_process_fallback_when_the_system_table_is_denied(
    live_sockets: dict[str, socket.socket], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on macOS without root: psutil.net_connections raises AccessDenied."""

    def denied(kind: str = "inet") -> list:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    monkeypatch.setattr(psutil, "process_iter", lambda: iter([psutil.Process()]))  # keep it fast on busy hosts
    result = PsutilSource().collect(unused_lookup)
    assert len(result.warnings) == 1 and "privileges" in result.warnings[0]
    check_live_sockets(own_by_fd(result.sockets), live_sockets, tmp_path)
