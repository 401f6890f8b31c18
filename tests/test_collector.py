"""End to end through the Collector: every family and state, the right owners, and backends that agree."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from operator import attrgetter
from types import SimpleNamespace

import orjson
import pytest

from netwatch.backends.collector import Collector, visibility_warning
from netwatch.backends.history.tracker import History
from netwatch.backends.model import records
from netwatch.backends.model.records import BY_INODE, Owner, Socket, attach_owners
from netwatch.backends.model.snapshot import OwnerVisibility, Snapshot
from netwatch.backends.owners.resolver import OwnerResolver
from netwatch.backends.sources import procfs, psutil_source
from netwatch.tui.cli.once import format_table
from netwatch.tui.cli.serialize import CSV_COLUMNS, SocketJsonEncoder, socket_to_csv_row
from netwatch.tui.view.frame import frame_from
from netwatch.tui.view.rows import LISTENER_COLUMNS, UNIX_COLUMNS, RowBuilder
from tests.compiled_paths import compiled_or_pure
from tests.socket_records import make_socket, owned_by
from tests.socket_zoo import Expected, Zoo, socket_zoo


@pytest.fixture
def zoo() -> Zoo:
    with socket_zoo() as opened:
        yield opened


def _ours(snapshot: Snapshot, zoo: Zoo) -> list[Socket]:
    """The zoo's sockets: owned by this process, or ownerless with a zoo TIME_WAIT's endpoints in this network
    namespace (another one, e.g. a parallel test's, may hold the same endpoints)."""
    me = os.getpid()
    here = (None, os.stat("/proc/self/ns/net").st_ino)
    lingering = {expected.endpoints for expected in zoo.expected if expected.fd is None}
    return [
        sock
        for sock in snapshot.sockets.values()
        if any(owner.pid == me for owner in sock.owners)
        or (not sock.owners and _endpoints(sock) in lingering and sock.netns_inode in here)
    ]


def _endpoints(sock: Socket) -> tuple:
    return (sock.proto, sock.family, sock.local_address, sock.local_port, sock.remote_address, sock.remote_port)


def _find(sockets: list[Socket], expected: Expected) -> Socket:
    if expected.inode:
        matches = [sock for sock in sockets if sock.inode == expected.inode]
    else:
        matches = [sock for sock in sockets if _endpoints(sock) == expected.endpoints]
    assert len(matches) == 1, (expected, matches)
    return matches[0]


def test_netlink_reports_every_zoo_socket_exactly(zoo: Zoo) -> None:
    snapshot = Collector().snapshot()
    assert snapshot.backend == "netlink"
    ours = _ours(snapshot, zoo)
    found = [_find(ours, expected) for expected in zoo.expected]
    assert len(found) == len(ours) == len(zoo.expected)
    for expected, sock in zip(zoo.expected, found, strict=True):
        assert (sock.proto, sock.family, sock.state) == (expected.proto, expected.family, expected.state), expected
        if expected.family != "unix":
            assert (sock.local_address, sock.local_port) == (expected.local_address, expected.local_port)
            assert (sock.remote_address, sock.remote_port) == (expected.remote_address, expected.remote_port)
        if expected.path:
            assert sock.path == expected.path
        if expected.fd is None:
            assert sock.owners == () and sock.inode == 0
        else:
            assert [(o.pid, o.fd) for o in sock.owners] == [(os.getpid(), expected.fd)], expected
    assert snapshot.processes[os.getpid()].cmdline


def test_a_light_collector_leaves_extensions_out_and_looks_them_up_for_the_sockets_asked(zoo: Zoo) -> None:
    """What a live table's collector (``light``) leaves out of its dumps, ``details`` reads for the sockets given:
    every zoo TCP/UDP socket (IPv4 and IPv6, listening, connected, unconnected) gets what a full snapshot has,
    with its owners; a Unix socket and one gone meanwhile come back as they were."""
    gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gone.bind(("127.0.0.1", 0))
    full = {_endpoints(sock): sock for sock in _ours(Collector("netlink").snapshot(), zoo) if sock.owners}
    # closed at the end: its close-event reader is a thread, and a threaded process cannot fork (other tests do)
    with contextlib.closing(Collector("netlink", live=True, light=True)) as light:
        snapshot = light.snapshot()
        (closed,) = [sock for sock in snapshot.sockets.values() if sock.inode == os.fstat(gone.fileno()).st_ino]
        gone.close()
        ours = [sock for sock in _ours(snapshot, zoo) if sock.owners and sock is not closed]
        detailed = light.details([*ours, closed])
    inet = [sock for sock in ours if sock.proto in ("tcp", "udp")]
    assert {sock.proto for sock in inet} == {"tcp", "udp"} and {sock.family for sock in inet} == {"ipv4", "ipv6"}
    assert all((sock.meminfo, sock.skmem, sock.congestion) == (None, None, None) for sock in inet)
    assert [sock.key for sock in detailed] == [sock.key for sock in [*ours, closed]]
    assert detailed[-1] is closed
    for before, after in zip(ours, detailed, strict=False):
        if before.proto not in ("tcp", "udp"):
            assert after is before
            continue
        expected = full[_endpoints(before)]
        assert (after.state, after.owners, after.inode) == (before.state, before.owners, before.inode)
        assert after.skmem is not None and after.meminfo is not None, after
        assert (after.congestion, set(after.extensions)) == (expected.congestion, set(expected.extensions))
    assert Collector("netlink").details(ours) == ours


def test_keys_are_stable_across_snapshots(zoo: Zoo) -> None:
    collector = Collector()
    first, second = collector.snapshot(), collector.snapshot()
    for expected in zoo.expected:
        if expected.fd is not None:
            assert _find(_ours(first, zoo), expected).key == _find(_ours(second, zoo), expected).key


@pytest.mark.parametrize("backend", ["procfs", "psutil"])
def test_fallback_backends_agree_with_netlink(zoo: Zoo, backend: str) -> None:
    def inet_view(sockets: list[Socket]) -> set[tuple]:
        return {
            (s.proto, s.family, s.state, s.local_address, s.local_port, s.remote_address, s.remote_port)
            for s in sockets
            if s.family != "unix" and (backend == "procfs" or s.state != "TIME_WAIT")
        }

    # /proc/net/tcp is read in chunks, not atomically: while other sockets come and go (a parallel test's), a read
    # may skip some of the rest, so a disagreement is looked at again (a few times at most)
    for _attempt in range(5):
        netlink = _ours(Collector("netlink").snapshot(), zoo)
        fallback_snapshot = Collector(backend).snapshot()
        assert fallback_snapshot.backend == backend
        fallback = _ours(fallback_snapshot, zoo)
        if inet_view(fallback) == inet_view(netlink):
            break
    assert inet_view(fallback) == inet_view(netlink)
    for sock in fallback:
        if sock.family != "unix" and sock.state != "TIME_WAIT":
            assert {o.pid for o in sock.owners} == {os.getpid()}


@pytest.mark.parametrize(
    ("backend", "unseen", "unknown"),
    [("procfs", procfs.UNSEEN, {"send_q"}), ("psutil", psutil_source.UNSEEN, {"recv_q", "send_q", "inode"})],
)
def test_what_a_fallback_cannot_know_is_unknown_in_every_output(
    zoo: Zoo, backend: str, unseen: str, unknown: set[str]
) -> None:
    """Not 0: null in JSON, empty in CSV, "-" in the tables (which sort by such a column all the same); and the
    snapshot says what the backend cannot see."""
    snapshot = Collector(backend).snapshot()
    assert unseen in snapshot.warnings
    ours = _ours(snapshot, zoo)
    listener = next(sock for sock in ours if sock.proto == "tcp" and sock.state == "LISTEN")
    assert {name for name in ("recv_q", "send_q", "inode") if getattr(listener, name) is None} == unknown
    document = orjson.loads(SocketJsonEncoder(snapshot.processes).encode(listener))
    assert {name for name in ("recv_q", "send_q", "inode") if document[name] is None} == unknown
    csv_row = dict(zip(CSV_COLUMNS, socket_to_csv_row(listener, snapshot.processes), strict=True))
    assert {name for name in ("recv_q", "send_q", "inode") if csv_row[name] == ""} == unknown
    _header, line = format_table([listener], snapshot.processes)
    assert line.split()[2:4] == ["-" if name in unknown else "0" for name in ("recv_q", "send_q")]
    frame = frame_from(History(), snapshot)
    for view, columns in (("listeners", LISTENER_COLUMNS), ("unix", UNIX_COLUMNS)):
        rows = RowBuilder().socket_rows(frame, view, lambda sock: True)
        for column in (index for index, spec in enumerate(columns) if spec.key in ("recv_q", "send_q", "inode")):
            assert set(rows.sorted(column).keys) == set(rows.keys)
    cells = RowBuilder().socket_rows(frame, "listeners", lambda sock: True).model.cells(listener.key)
    queue_cells = [cell for spec, cell in zip(LISTENER_COLUMNS, cells, strict=True) if spec.key in ("recv_q", "send_q")]
    assert queue_cells == ["-" if name in unknown else "0" for name in ("recv_q", "send_q")]


@pytest.mark.parametrize(("backend", "prefetches"), [("netlink", True), ("procfs", True), ("psutil", False)])
def test_the_cold_owner_scan_starts_before_the_dump_only_for_sources_that_need_it(
    zoo: Zoo, backend: str, prefetches: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[bool] = []
    real_prefetch = OwnerResolver.prefetch

    def prefetch(resolver: OwnerResolver) -> None:
        started.append(True)
        real_prefetch(resolver)

    monkeypatch.setattr(OwnerResolver, "prefetch", prefetch)
    snapshot = Collector(backend).snapshot()
    assert started == ([True] if prefetches else [])
    assert any(owner.pid == os.getpid() for sock in _ours(snapshot, zoo) for owner in sock.owners)


def own_proc_connector_sockets() -> int:
    """This process's netlink sockets of the proc connector (NETLINK_CONNECTOR, bound to its group), by inode."""
    own = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor that listed them
            own.add(os.fstat(int(fd)).st_ino)
    with open("/proc/net/netlink") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == "11" and int(row[3], 16) & 1 and int(row[9]) in own)


@pytest.mark.skipif(os.geteuid() != 0, reason="the proc connector reports to root (before Linux 6.6)")
def test_a_live_collector_listens_to_process_events_until_it_is_closed() -> None:
    """A live collector (its owners and its list of namespaces) follows the proc connector's events, a one-off one
    does not; closing the collector lets go of the subscription."""
    before = own_proc_connector_sockets()
    Collector().snapshot()
    assert own_proc_connector_sockets() == before
    live = Collector(live=True)
    try:
        live.snapshot()
        live.snapshot()
        assert own_proc_connector_sockets() == before + 1
    finally:
        live.close()
    assert own_proc_connector_sockets() == before


def test_a_one_off_snapshot_lists_the_fd_directories_once_its_dump_is_done(
    zoo: Zoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-off snapshot's safety net takes its listings from a child forked before the dump and told to list once
    it is done (see ``OwnerResolver.prefetch_listing``; a live resolver starts none: tested with the resolver)."""
    from netwatch.backends.owners import prefetch
    from netwatch.backends.sources.netlink import NetlinkSource

    events: list[str] = []
    real_start, real_collect = prefetch.FdListing.start.__func__, NetlinkSource.collect  # type: ignore[attr-defined]
    real_go = prefetch.FdListing.go
    monkeypatch.setattr(prefetch.FdListing, "start", classmethod(
        lambda cls, root: events.append("fork") or real_start(cls, root)))  # fmt: skip
    monkeypatch.setattr(prefetch.FdListing, "go", lambda self: events.append("list") or real_go(self))
    monkeypatch.setattr(NetlinkSource, "collect", lambda self, *rest: events.append("dump") or real_collect(
        self, *rest))  # fmt: skip
    snapshot = Collector("netlink").snapshot()
    assert events[:3] == ["fork", "dump", "list"] and set(events[3:]) <= {"list"}
    assert any(owner.pid == os.getpid() for sock in _ours(snapshot, zoo) for owner in sock.owners)


def test_owners_are_never_attached_to_a_record_that_has_some(zoo: Zoo) -> None:
    """A published snapshot's records are never changed: attaching owners again is refused."""
    owned = next(sock for sock in _ours(Collector().snapshot(), zoo) if sock.owners)
    before = owned.owners
    with pytest.raises(ValueError, match="has owners already"):
        attach_owners({owned.key: owned}, {owned.key: (Owner(1, 1),)}, attrgetter("key"))
    assert owned.owners == before


attach_path = compiled_or_pure(records, "_ATTACH_LAYOUT", "owner records")
"""Attaches owners by inode through the compiled attacher or the pure-Python loop."""


class _SocketSubclass(Socket):
    """A record type the compiled attacher does not know the slots of (it leaves such a dict to the loop)."""


@pytest.mark.parametrize("record_type", [Socket, _SocketSubclass])
def test_attaching_owners_by_inode_gives_every_record_its_owners_once(
    attach_path: str, record_type: type[Socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built records get their owners stored; records kept from an earlier dump keep theirs, or are replaced by
    copies where they changed; sockets with an inode and no owner are counted; a built record with owners is
    refused. The same on both paths."""
    now, earlier = 20.0, 10.0
    same, moved = owned_by(7), owned_by(8)

    def record(number: int, inode: int | None, observed_at: float | None = None, owners: tuple = ()) -> Socket:
        return record_type(**{**vars_of(make_socket(("tcp", number), inode=inode)), "owners": owners,
                              "observed_at": observed_at})  # fmt: skip

    sockets = {
        ("tcp", 1): record(1, 101),  # built, owned
        ("tcp", 2): record(2, 102),  # built, no owner
        ("tcp", 3): record(3, None),  # no inode (not counted)
        ("tcp", 4): record(4, 0),  # inode 0: TIME_WAIT (not counted)
        ("tcp", 5): record(5, 105, earlier, same),  # kept, same owners (an equal tuple, not the same one)
        ("tcp", 6): record(6, 106, earlier, same),  # kept, owners moved
        ("tcp", 7): record(7, 107, earlier, same),  # kept, owner gone
        ("tcp", 8): record(8, 108, now, ()),  # built by this dump (observed now), owned
    }
    found = {101: owned_by(1), 105: owned_by(7), 106: moved, 108: owned_by(2, 3)}
    copied: list = []
    before = dict(sockets)
    compiled: list = []
    if attach_path == "compiled":
        attach = records._compiled_owners.attach
        monkeypatch.setattr(records, "_compiled_owners", SimpleNamespace(
            attach=lambda *args: compiled.append(attach(*args)) or compiled[-1]))  # fmt: skip
    assert attach_owners(sockets, found, BY_INODE, now, copied) == 2  # 102, 107
    assert compiled == ([] if attach_path == "pure-python" else [2] if record_type is Socket else [None])
    assert {key: sock.owners for key, sock in sockets.items()} == {
        ("tcp", 1): owned_by(1), ("tcp", 2): (), ("tcp", 3): (), ("tcp", 4): (), ("tcp", 5): same,
        ("tcp", 6): moved, ("tcp", 7): (), ("tcp", 8): owned_by(2, 3),
    }  # fmt: skip
    assert copied == [("tcp", 6), ("tcp", 7)]
    assert all(sockets[key] is before[key] for key in before if key not in copied)
    assert all(type(sockets[key]) is record_type and before[key].owners == same for key in copied)
    with pytest.raises(ValueError, match="has owners already"):
        attach_owners({("tcp", 1): sockets[("tcp", 1)]}, {101: moved}, BY_INODE, now)
    assert sockets[("tcp", 1)].owners == owned_by(1)


def vars_of(sock: Socket) -> dict:
    """A record's fields, to build a record of another type from."""
    return {item.name: getattr(sock, item.name) for item in dataclasses.fields(sock)}


def test_without_sock_diag_auto_falls_back_to_procfs_and_says_so(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel without NETLINK_SOCK_DIAG refuses the socket with EPROTONOSUPPORT: simulate exactly that."""
    import errno

    import netwatch.backends.sources.netlink.source as netlink_source

    def refuse() -> None:
        raise OSError(errno.EPROTONOSUPPORT, os.strerror(errno.EPROTONOSUPPORT))

    monkeypatch.setattr(netlink_source, "DiagSocket", refuse)
    collector = Collector()
    snapshot = collector.snapshot()
    assert snapshot.backend == "procfs"
    assert snapshot.backend_reason.startswith("netlink unavailable (cannot open a NETLINK_SOCK_DIAG socket")
    assert any("falling back" in warning for warning in snapshot.warnings)
    listeners = [s for s in _ours(snapshot, zoo) if s.state == "LISTEN" and s.proto == "tcp"]
    assert {(s.local_address, s.family) for s in listeners} == {("127.0.0.1", "ipv4"), ("::1", "ipv6")}
    assert collector.snapshot().backend == "procfs"  # the choice sticks


def test_a_forced_backend_that_cannot_run_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import netwatch.backends.sources.netlink.source as netlink_source
    from netwatch.backends.model.source_result import BackendUnavailable

    def refuse() -> None:
        raise OSError(93, "Protocol not supported")

    monkeypatch.setattr(netlink_source, "DiagSocket", refuse)
    with pytest.raises(BackendUnavailable, match="NETLINK_SOCK_DIAG"):
        Collector("netlink").snapshot()


@pytest.mark.parametrize(
    ("visibility", "warning"),
    [
        (OwnerVisibility(as_root=True), None),
        (
            OwnerVisibility(hidden_sockets=1, as_root=True),
            "1 socket with no visible owner: held by no process (in flight between processes, held by the kernel, "
            "or just exited)",
        ),
        (
            OwnerVisibility(hidden_sockets=3, unreadable_processes=1, as_root=True),
            "3 sockets with no visible owner: held by no readable process (the fd tables of 1 process are "
            "unreadable, even as root)",
        ),
        (
            OwnerVisibility(hidden_sockets=12, unreadable_processes=3),
            "12 sockets with no visible owner: held by no readable process (the fd tables of 3 processes are "
            "unreadable); run as root to see them",
        ),
        (
            OwnerVisibility(hidden_sockets=5, hidepid="invisible"),
            "5 sockets with no visible owner: held by no readable process (/proc is mounted with hidepid=invisible, "
            "which hides other users' processes); run as root to see them",
        ),
        (
            OwnerVisibility(hidden_sockets=2, unreadable_processes=4, hidepid="noaccess"),
            "2 sockets with no visible owner: held by no readable process (/proc is mounted with hidepid=noaccess, "
            "which hides other users' processes; the fd tables of 4 processes are unreadable); run as root to see "
            "them",
        ),
    ],
)
def test_hidden_owner_warning_says_only_what_is_known(visibility: OwnerVisibility, warning: str | None) -> None:
    """No readable fd table holds a hidden socket: /proc hiding processes (hidepid) and unreadable tables are
    possible reasons only when so, and running as root is advised only when not root."""
    assert visibility_warning(visibility) == warning
