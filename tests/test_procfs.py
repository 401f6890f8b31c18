"""The procfs backend: live sockets on loopback, and the parsers on recorded /proc/net text."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatch.backends.collector import Collector
from netwatch.backends.model.names import UNCONN
from netwatch.backends.model.records import Owner, Socket, Timer
from netwatch.backends.model.source_result import BackendUnavailable
from netwatch.backends.sources.procfs import UNSEEN, ProcfsSource
from netwatch.backends.sources.procfs_parse import UnixCheck, parse_inet, parse_unix, unix_rows
from tests.forged_unix import FAKE_INODE, forged_names
from tests.socket_zoo import named_sockets

FIXTURES = Path(__file__).parent / "fixtures"


def held_as_unix(_inodes: object) -> UnixCheck:
    """A verifier for recorded tables: every inode is held as a Unix socket."""
    return lambda inode: True


def inode_of(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


@pytest.fixture
def live_sockets(tmp_path: Path) -> Iterator[dict[str, socket.socket]]:
    """TCP listen/established/TIME_WAIT over IPv4 and IPv6, UDP bound and connected, Unix stream/dgram/abstract."""
    opened: dict[str, object] = dict(
        named_sockets(str(tmp_path / "with space.sock"), f"netwatch-test-{os.getpid()}")
    )
    for tag in ("4", "6"):
        listener = opened[f"listen{tag}"]
        closing = socket.create_connection(listener.getsockname()[:2])
        closing_peer, _ = listener.accept()
        opened[f"timewait_port{tag}"] = closing.getsockname()[1]
        closing.close()  # the active closer ends in TIME_WAIT
        closing_peer.close()
    pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    opened.update({"pair_a": pair[0], "pair_b": pair[1]})
    time.sleep(0.05)  # let the FIN/ACK exchange finish so that TIME_WAIT is reached
    yield opened
    for value in opened.values():
        if isinstance(value, socket.socket):
            value.close()


def by_inode(sockets: list[Socket]) -> dict[int, Socket]:
    return {sock.inode: sock for sock in sockets if sock.inode}


def test_live_inet_sockets_have_state_addresses_and_inode(live_sockets: dict[str, socket.socket]) -> None:
    found = by_inode(ProcfsSource().collect().sockets.values())
    for tag, family in (("4", "ipv4"), ("6", "ipv6")):
        listener, client = live_sockets[f"listen{tag}"], live_sockets[f"client{tag}"]
        server = live_sockets[f"server{tag}"]
        record = found[inode_of(listener)]
        assert (record.proto, record.family, record.state) == ("tcp", family, "LISTEN")
        assert (record.local_address, record.local_port) == listener.getsockname()[:2]
        record = found[inode_of(client)]
        assert record.state == "ESTABLISHED"
        assert (record.local_address, record.local_port) == client.getsockname()[:2]
        assert (record.remote_address, record.remote_port) == client.getpeername()[:2]
        assert record.uid == os.getuid() and record.timer is not None
        assert found[inode_of(server)].remote_port == client.getsockname()[1]
        bound, connected = live_sockets[f"udp_bound{tag}"], live_sockets[f"udp_connected{tag}"]
        record = found[inode_of(bound)]
        assert (record.proto, record.family, record.state) == ("udp", family, UNCONN)
        assert record.local_port == bound.getsockname()[1]
        record = found[inode_of(connected)]
        assert record.state == "ESTABLISHED" and record.remote_port == bound.getsockname()[1]


def test_live_time_wait_has_inode_zero_and_distinct_key(live_sockets: dict[str, socket.socket]) -> None:
    sockets = ProcfsSource().collect().sockets.values()
    for tag in ("4", "6"):
        port = live_sockets[f"timewait_port{tag}"]
        server_port = live_sockets[f"listen{tag}"].getsockname()[1]
        waiting = [s for s in sockets if (s.local_port, s.remote_port, s.state) == (port, server_port, "TIME_WAIT")]
        assert len(waiting) == 1
        assert waiting[0].inode == 0 and waiting[0].timer is not None and waiting[0].timer.name == "timewait"
    assert len({s.key for s in sockets}) == len(sockets)


def test_live_unix_sockets(live_sockets: dict[str, socket.socket], tmp_path: Path) -> None:
    found = by_inode(list(Collector("procfs").snapshot().sockets.values()))
    record = found[inode_of(live_sockets["unix_listen"])]
    assert (record.state, record.sock_type, record.path) == ("LISTEN", "stream", str(tmp_path / "with space.sock"))
    record = found[inode_of(live_sockets["unix_abstract"])]
    assert (record.state, record.sock_type, record.path) == (UNCONN, "dgram", f"@netwatch-test-{os.getpid()}")
    for name in ("pair_a", "pair_b"):
        record = found[inode_of(live_sockets[name])]
        assert (record.state, record.sock_type, record.path, record.peer_inode) == (
            "ESTABLISHED",
            "seqpacket",
            None,
            None,
        )


def test_what_procfs_cannot_know_is_none_and_said(live_sockets: dict[str, socket.socket]) -> None:
    """A listener's backlog and Unix queues are not exposed: None, not 0; the other queues are known."""
    result = ProcfsSource().collect()
    assert result.warnings[0] == UNSEEN
    found = by_inode(result.sockets.values())
    listener = found[inode_of(live_sockets["listen4"])]
    assert (listener.recv_q, listener.send_q) == (0, None)
    for name in ("client4", "udp_bound6"):
        assert (found[inode_of(live_sockets[name])].recv_q, found[inode_of(live_sockets[name])].send_q) == (0, 0)
    unix = found[inode_of(live_sockets["unix_listen"])]
    assert (unix.recv_q, unix.send_q) == (None, None)


def test_records_come_without_owners_and_the_collector_attaches_them(live_sockets: dict[str, socket.socket]) -> None:
    source = ProcfsSource()
    assert not source.reports_owners
    result = source.collect()
    assert result.known_owners is None and all(sock.owners == () for sock in result.sockets.values())
    snapshot = Collector("procfs").snapshot()
    listener = live_sockets["listen4"]
    assert by_inode(list(snapshot.sockets.values()))[inode_of(listener)].owners == (
        Owner(os.getpid(), listener.fileno()),
    )
    assert os.getpid() in snapshot.processes


def test_only_restricts_the_tables_read(live_sockets: dict[str, socket.socket]) -> None:
    sockets = ProcfsSource(only={("udp", "ipv6")}).collect().sockets.values()
    assert sockets and {(s.proto, s.family) for s in sockets} == {("udp", "ipv6")}
    assert inode_of(live_sockets["udp_bound6"]) in by_inode(sockets)


def test_parse_recorded_tcp() -> None:
    sockets, malformed = parse_inet((FIXTURES / "procfs_tcp").read_text(), "tcp", "ipv4")
    assert malformed == 0
    listener, *_, time_wait = sockets
    assert listener.key == ("tcp", "ipv4", "127.0.0.1", 18080, "0.0.0.0", 0, 540965)
    assert (listener.state, listener.recv_q, listener.send_q, listener.uid) == ("LISTEN", 0, None, 0)
    assert listener.timer == Timer("off", 0, 0)
    server = sockets[2]
    assert (server.remote_address, server.remote_port, server.recv_q) == ("127.0.0.1", 0xE894, 100)
    assert (time_wait.state, time_wait.inode, time_wait.timer.name) == ("TIME_WAIT", 0, "timewait")
    assert time_wait.timer.expires_ms == round(0x174D * 1000 / os.sysconf("SC_CLK_TCK"))


def test_parse_recorded_tcp6_and_v4_mapped() -> None:
    sockets, malformed = parse_inet((FIXTURES / "procfs_tcp6").read_text(), "tcp", "ipv6")
    assert malformed == 0
    assert [(s.local_address, s.local_port, s.state) for s in sockets[:2]] == [
        ("::", 18082, "LISTEN"),
        ("::1", 18081, "LISTEN"),
    ]
    mapped = sockets[2]
    assert (mapped.local_address, mapped.remote_address) == ("::ffff:127.0.0.1", "::ffff:127.0.0.1")


def test_parse_recorded_udp() -> None:
    (connected, bound), malformed = parse_inet((FIXTURES / "procfs_udp").read_text(), "udp", "ipv4")
    assert malformed == 0
    assert (connected.state, connected.remote_port) == ("ESTABLISHED", 18083)
    assert (bound.state, bound.local_port, bound.recv_q) == (UNCONN, 18083, 0x340)
    (bound6,), _ = parse_inet((FIXTURES / "procfs_udp6").read_text(), "udp", "ipv6")
    assert (bound6.state, bound6.local_address, bound6.local_port) == (UNCONN, "::1", 18084)


def test_parse_recorded_unix() -> None:
    text = (FIXTURES / "procfs_unix").read_text()
    sockets, skipped = parse_unix(text, held_as_unix)
    assert skipped == 0
    assert [(s.state, s.sock_type, s.path, s.inode) for s in sockets] == [
        ("LISTEN", "stream", "/tmp/tmp9s08hylx/nw sock", 540979),
        (UNCONN, "dgram", "@netwatch-fixture", 540980),
        ("ESTABLISHED", "seqpacket", None, 540981),
        ("ESTABLISHED", "seqpacket", None, 540982),
    ]
    assert {(s.recv_q, s.send_q) for s in sockets} == {(None, None)}  # not exposed
    # unverified, the lines that a name before them may reach are skipped
    sockets, skipped = parse_unix(text)
    assert ([s.inode for s in sockets], skipped) == ([540979, 540982], 2)


def test_malformed_lines_are_skipped_and_counted() -> None:
    sockets, malformed = parse_inet((FIXTURES / "procfs_tcp_malformed").read_text(), "tcp", "ipv4")
    assert (len(sockets), malformed) == (5, 4)
    sockets, malformed = parse_unix((FIXTURES / "procfs_unix_malformed").read_text(), held_as_unix)
    assert malformed == 2  # a bad hex field and a bad type, on lines no name reaches
    assert {s.path for s in sockets} >= {"/tmp/evil\nname", "@netwatch-fixture"}  # a name with a newline
    assert sum(1 for s in sockets if s.inode == 0) == 2


def test_source_warns_about_malformed_and_missing_tables(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "procfs_tcp_malformed", tmp_path / "tcp")
    shutil.copy(FIXTURES / "procfs_unix_malformed", tmp_path / "unix")
    result = ProcfsSource(proc_net=str(tmp_path), verify_unix=held_as_unix).collect()
    assert f"procfs: skipped 4 malformed lines in {tmp_path / 'tcp'}" in result.warnings
    assert f"procfs: skipped 2 malformed lines in {tmp_path / 'unix'}" in result.warnings
    assert any("tcp6" in warning for warning in result.warnings)
    assert len(result.sockets) == 5 + 8  # inode-less unix rows kept apart (each its own key)


def test_unix_lines_that_may_be_the_rest_of_a_name_are_read_by_what_is_known_of_their_inode() -> None:
    """A line right after a name that could reach it: the rest of the name when its inode is listed by a line
    sure to be a socket, or by another table, or held as another kind of socket; a socket when held as a Unix
    one; else skipped (also when only such lines list its inode)."""
    asked: list[set[int]] = []

    def verify(inodes: object) -> UnixCheck:
        asked.append(set(inodes))  # type: ignore[call-overload]
        return {540990: True, 540981: True, 540982: True, 540999: False}.get

    table = unix_rows((FIXTURES / "procfs_unix_forged").read_text(), {541000}, verify)
    assert [(row["inode"], row["path"]) for row in table.rows] == [
        (540979, "/run/victim.sock"),  # not renamed by the line forged in @zz's name
        (540990, None),  # held as a Unix socket
        (540980, "@zz\n0000000000000000: 00000002 00000000 00010000 0001 01 540979 /run/innocent.sock"),
        (540981, "@yy"),  # followed by a line of a socket nobody holds: shown up to its newline
        (540982, None),
        (540983, "@xx\n0000000000000000: 00000003 00000000 00000000 0001 03 540999"),  # held as another socket
        (540984, "@ww\n0000000000000000: 00000003 00000000 00000000 0001 03 541000"),  # listed by another table
        (540985, "@vv"),  # 540986 is listed twice, by lines that may both be names: neither is taken
        (540987, "@uu"),
    ]
    assert (table.malformed, table.continued, table.ambiguous) == (0, 3, 3)
    assert asked == [{*range(540979, 540988), 540990, 540999, 541000, FAKE_INODE}]


def test_live_names_forging_lines_never_create_rename_or_hide_a_socket() -> None:
    with forged_names() as forged:
        snapshot = Collector("procfs").snapshot()
        victim, renaming, phantom = map(inode_of, (forged.victim, forged.renaming, forged.phantom))
    found = by_inode(list(snapshot.sockets.values()))
    assert (found[victim].path, found[victim].state) == (forged.victim_path, "LISTEN")
    assert found[renaming].path == forged.renaming_name
    assert found[phantom].path == forged.phantom_first_line
    assert FAKE_INODE not in found
    assert not {"/run/innocent.sock", "/run/phantom.sock"} & {sock.path for sock in snapshot.sockets.values()}
    assert any(warning.startswith("procfs: 1 Unix socket line(s) forged") for warning in snapshot.warnings)
    assert any("ambiguous" in warning for warning in snapshot.warnings)


def test_no_table_at_all_is_backend_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable):
        ProcfsSource(proc_net=str(tmp_path)).collect()
