"""Process attribution on real processes: own sockets, fork-shared sockets, exiting processes, non-root, caching."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Set
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace

import pytest

from netwatch.backends.model.containers import cgroup_path, container_of
from netwatch.backends.model.records import Owner
from netwatch.backends.model.snapshot import Snapshot
from netwatch.backends.owners import fd_tables as fd_tables_module
from netwatch.backends.owners import proc_files, unix_sockets
from netwatch.backends.owners.fd_tables import FdTable
from netwatch.backends.owners.prefetch import LISTING_CHILDREN, FdListing, fd_tables, read_fd_tables
from netwatch.backends.owners.proc_files import (
    NOT_SOCKET,
    Outcome,
    ProcessSkipped,
    ProcStat,
    fd_socket_inode,
    is_kernel_thread,
    outcome_of,
    read_fd_inodes,
    read_file,
    read_stat,
)
from netwatch.backends.owners.proc_mount import super_options
from netwatch.backends.owners.resolver import OwnerResolver
from netwatch.backends.owners.unix_sockets import UnixSockets
from netwatch.backends.process_events import ProcessEvents
from netwatch.tui.view.snapshots import LiveSource
from tests.as_nobody import run_as_nobody
from tests.compiled_paths import compiled_or_pure
from tests.socket_zoo import dup_to_new_number

PID = os.getpid()


def inode_of(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


@pytest.fixture(scope="module")
def shared_resolver() -> OwnerResolver:
    """One resolver for the tests that do not need a cold cache: later calls are warm (the host may be busy)."""
    return OwnerResolver()


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    yield listener, client, server
    for sock in (listener, client, server):
        sock.close()


class Child:
    """A forked child that runs ``steps`` one at a time, each when the parent calls :meth:`advance`."""

    def __init__(self, steps: list[Callable[[], None]]) -> None:
        go_read, self._go = os.pipe()
        self._ready, ready_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns into pytest
            try:
                os.close(self._go)
                for step in steps:
                    step()
                    os.write(ready_write, b"r")
                    if os.read(go_read, 1) == b"":
                        break
            finally:
                os._exit(0)
        os.close(go_read)
        os.close(ready_write)
        assert os.read(self._ready, 1) == b"r"

    def advance(self) -> None:
        os.write(self._go, b"g")
        assert os.read(self._ready, 1) == b"r"

    def stop(self) -> None:
        """Make the child exit and reap it (if a test has not already)."""
        os.close(self._go)
        os.close(self._ready)
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


@contextmanager
def child(*steps: Callable[[], None]) -> Iterator[Child]:
    forked = Child(list(steps) or [lambda: None])
    try:
        yield forked
    finally:
        forked.stop()


def exited_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@contextmanager
def fd_beyond_path_max(top: Path) -> Iterator[int]:
    """An fd open on a file whose path is longer than PATH_MAX: readlink of its /proc fd link fails
    (ENAMETOOLONG), as the kernel cannot name its target."""
    directory = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(20):  # 20 levels of 250-byte names: over 5,000 bytes
        os.mkdir("d" * 250, dir_fd=directory)
        deeper = os.open("d" * 250, os.O_RDONLY | os.O_DIRECTORY, dir_fd=directory)
        os.close(directory)
        directory = deeper
    fd = os.open("file", os.O_RDWR | os.O_CREAT, dir_fd=directory)
    os.close(directory)
    try:
        yield fd
    finally:
        os.close(fd)
        shutil.rmtree(top / ("d" * 250))


def error_of(call: Callable[[], object]) -> OSError:
    """The OSError ``call`` raises."""
    with pytest.raises(OSError) as raised:
        call()
    return raised.value


def test_each_os_error_maps_to_one_outcome(tmp_path: Path) -> None:
    """Real errors from real /proc files: a closed fd and an unnameable target skip that fd only, an exited process
    is vanished, anything else (e.g. EACCES, as met without root) is unreadable."""
    gone = exited_pid()
    closed = os.dup(0)
    os.close(closed)
    regular = tmp_path / "regular"
    regular.write_bytes(b"")
    with fd_beyond_path_max(tmp_path) as long_fd:
        too_long = error_of(lambda: os.readlink(f"/proc/{PID}/fd/{long_fd}"))
    denied = OSError(errno.EACCES, os.strerror(errno.EACCES))
    cases = [
        (error_of(lambda: os.readlink(f"/proc/{PID}/fd/{closed}")), f"/proc/{PID}/fd/{closed}", Outcome.SKIP_FD),
        (error_of(lambda: os.readlink(f"/proc/{gone}/fd/0")), f"/proc/{gone}/fd/0", Outcome.VANISHED),
        (error_of(lambda: os.readlink(regular)), str(regular), Outcome.SKIP_FD),
        (too_long, f"/proc/{PID}/fd/{long_fd}", Outcome.SKIP_FD),
        (denied, f"/proc/{PID}/fd/0", Outcome.UNREADABLE),
        (error_of(lambda: os.listdir(f"/proc/{gone}/fd")), None, Outcome.VANISHED),
        (denied, None, Outcome.UNREADABLE),
    ]
    assert [error.errno for error, _, _ in cases] == [
        errno.ENOENT, errno.ENOENT, errno.EINVAL, errno.ENAMETOOLONG, errno.EACCES, errno.ENOENT, errno.EACCES
    ]  # fmt: skip
    assert [outcome_of(error, fd_link) for error, fd_link, _ in cases] == [outcome for _, _, outcome in cases]


def test_a_process_file_is_read_whole_and_a_gone_process_is_vanished() -> None:
    """read_file reads past its first read (READ_SIZE bytes) to the end (/proc/self/maps here is longer); the stat of
    this process is its own; an exited process's files are vanished, not unreadable."""
    maps = read_file("/proc/self/maps")
    assert len(maps) > 4096 and maps.endswith(b"\n") and b"[stack]" in maps
    own = read_stat(f"/proc/{PID}")
    assert own.comm == Path(f"/proc/{PID}/comm").read_text().rstrip("\n")
    gone = exited_pid()
    with pytest.raises(ProcessSkipped) as skipped:
        read_stat(f"/proc/{gone}")
    assert skipped.value.outcome is Outcome.VANISHED


def test_an_fd_whose_target_cannot_be_named_is_skipped_alone(tmp_path: Path) -> None:
    """readlink fails on that one fd (ENAMETOOLONG): the process holding it is still read, and its socket still
    attributed, by a plain scan and by a prefetched cold scan."""
    with fd_beyond_path_max(tmp_path) as long_fd, socket.socket() as sock:
        assert fd_socket_inode(f"/proc/{PID}/fd/{long_fd}") == NOT_SOCKET
        for prefetched in (False, True):
            resolver = OwnerResolver()
            if prefetched:
                resolver.prefetch()
            assert resolver.owners_of({inode_of(sock)}) == {inode_of(sock): (Owner(PID, sock.fileno()),)}
            assert PID in resolver.processes()


links_path = compiled_or_pure(proc_files, "_fd_links", "fd link reader")
"""Reads an fd directory's links through the compiled reader or the pure-Python loop."""


def test_a_whole_fd_table_is_read_relative_to_its_directory(links_path: str, tmp_path: Path) -> None:
    """read_fd_inodes (the cold scan's reader) gives what fd_socket_inode gives fd by fd, an unnameable fd included."""
    with fd_beyond_path_max(tmp_path) as long_fd, socket.socket() as sock, open(__file__, "rb") as file:
        fds, inodes = read_fd_inodes(f"/proc/{PID}")
        read = dict(zip(map(int, fds), inodes, strict=True))
        assert read[sock.fileno()] == inode_of(sock) and read[file.fileno()] == read[long_fd] == NOT_SOCKET
        stable = [fd for fd in read if fd in (sock.fileno(), file.fileno(), long_fd, 0, 1, 2)]
        assert {fd: read[fd] for fd in stable} == {fd: fd_socket_inode(f"/proc/{PID}/fd/{fd}") for fd in stable}
    with pytest.raises(ProcessSkipped) as skipped:
        read_fd_inodes(f"/proc/{exited_pid()}")
    assert skipped.value.outcome is Outcome.VANISHED


table_path = compiled_or_pure(fd_tables_module, "_OWNER_LAYOUT", "owner records")
"""Makes the owners of a scanned fd table through the compiled path or the pure-Python loop."""


@pytest.mark.parametrize(
    ("fds", "inodes"),
    [
        ([0, 1, 3, 4, 7, 9], [0, 501, 502, 501, 0, 503]),  # ascending, as /proc lists them; 501 on two fds
        ([9, 3, 4, 1], [503, 502, 501, 501]),  # not ascending: sorted first
        ([0, 1, 2], [NOT_SOCKET] * 3),  # no socket
        ([], []),
    ],
)
def test_a_scanned_fd_table_gives_each_socket_its_owners_in_fd_order(
    table_path: str, fds: list[int], inodes: list[int]
) -> None:
    table = FdTable.from_scan(42, ProcStat("77", "comm", 1), fds, inodes)
    expected: dict[int, tuple[Owner, ...]] = {}
    for fd, inode in sorted(zip(fds, inodes, strict=True)):
        if inode:
            expected[inode] = (*expected.get(inode, ()), Owner(42, fd))
    assert table.by_inode == expected
    assert all(type(owner) is Owner for owners in table.by_inode.values() for owner in owners)
    assert table.fd_inodes == dict(zip(fds, inodes, strict=True))
    assert (table.start_time, table.comm, table.ppid) == ("77", "comm", 1)


def test_the_fd_tables_of_a_live_cold_scan_are_the_same_on_both_paths(
    tcp_pair: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process's table as both paths make it from one scan of this host (ours holds the pair)."""
    scanned = read_fd_tables("/proc")
    compiled = fd_tables(scanned)
    monkeypatch.setattr(fd_tables_module, "_OWNER_LAYOUT", None)
    pure = fd_tables(scanned)
    assert {pid: (table.by_inode, table.fd_inodes) for pid, table in compiled.items()} == {
        pid: (table.by_inode, table.fd_inodes) for pid, table in pure.items()
    }
    assert {inode_of(sock) for sock in tcp_pair} <= compiled[PID].by_inode.keys()


@pytest.mark.parametrize(
    ("update", "with_events"),
    [("from-what-changed", False), ("whole-merge", False), ("from-what-changed", True)],
    ids=["from-what-changed", "whole-merge", "with-process-events"],
)
def test_each_call_finds_what_a_fresh_resolver_finds(
    update: str, with_events: bool, monkeypatch: pytest.MonkeyPatch, process_events: Callable[..., ProcessEvents]
) -> None:
    """A call updates the previous call's owners from what changed (or, where that is larger, merges every table
    again): sockets opened, dup-ed, closed, shared with a child, asked for no more and again; also where proc
    connector events tell it which processes changed."""
    from netwatch.backends.owners import resolver as resolver_module

    monkeypatch.setattr(resolver_module, "WHOLE_MERGE_ABOVE", float("inf") if update == "from-what-changed" else 0)
    resolver = OwnerResolver(events=process_events().reader() if with_events else None)
    held: list[socket.socket] = []

    def opened() -> socket.socket:
        held.append(socket.socket())
        return held[-1]

    def check(wanted: set[int]) -> None:
        assert resolver.owners_of(wanted) == OwnerResolver().owners_of(wanted)

    a, b, c = opened(), opened(), opened()
    wanted = {inode_of(a), inode_of(b), inode_of(c)}
    check(wanted)
    d = opened()
    wanted.add(inode_of(d))
    check(wanted)
    dup = dup_to_new_number(a.fileno())
    check(wanted)
    wanted.discard(inode_of(b))
    b.close()
    check(wanted)
    ready, release = os.pipe()
    child = os.fork()
    if child == 0:  # holds every socket (and the dup) until the test lets it go
        os.read(ready, 1)
        os._exit(0)
    try:
        check(wanted)
        check({inode_of(c), inode_of(d)})
        os.close(dup)
        check(wanted)
        assert len(resolver.owners_of(wanted)[inode_of(a)]) == 3  # this process's fd, the child's and its dup
    finally:
        os.write(release, b"x")
        os.waitpid(child, 0)
        os.close(ready)
        os.close(release)
    check(wanted)
    for sock in held:
        sock.close()


def test_own_tcp_sockets_and_process_record(
    tcp_pair: tuple[socket.socket, ...], shared_resolver: OwnerResolver
) -> None:
    resolver = shared_resolver
    owners = resolver.owners_of({inode_of(sock) for sock in tcp_pair})
    for sock in tcp_pair:
        assert Owner(PID, sock.fileno()) in owners[inode_of(sock)]
    process = resolver.processes()[PID]
    assert process.name == Path("/proc/self/comm").read_text()[:-1]
    assert list(process.cmdline) == Path("/proc/self/cmdline").read_bytes().decode().split("\0")[:-1]
    assert (process.uid, process.user) == (os.getuid(), "root" if os.getuid() == 0 else process.user)
    assert process.cgroup == cgroup_path(Path("/proc/self/cgroup").read_bytes())
    assert process.container == container_of(process.cgroup)
    assert process.ppid == os.getppid()


def test_socket_shared_with_forked_child_has_both_owners(
    tcp_pair: tuple[socket.socket, ...], shared_resolver: OwnerResolver
) -> None:
    _, client, _ = tcp_pair
    with child() as forked:
        resolver = shared_resolver
        owners = resolver.owners_of({inode_of(client)})
        both = sorted([Owner(PID, client.fileno()), Owner(forked.pid, client.fileno())], key=lambda o: o.pid)
        assert owners[inode_of(client)] == tuple(both)
        assert {PID, forked.pid} <= resolver.processes().keys()
        assert resolver.processes()[forked.pid].ppid == PID


def test_changed_names_the_inodes_whose_owners_moved_since_the_previous_call() -> None:
    with socket.socket() as sock:
        inode = os.fstat(sock.fileno()).st_ino
        resolver = OwnerResolver()
        resolver.owners_of({inode})
        assert resolver.changed is None  # a first call: everything is new
        assert resolver.owners_of({inode})[inode] == (Owner(os.getpid(), sock.fileno()),)
        assert inode not in resolver.changed
        copy = dup_to_new_number(sock.fileno())
        try:
            assert len(resolver.owners_of({inode})[inode]) == 2 and inode in resolver.changed
            assert len(resolver.owners_of({inode})[inode]) == 2 and inode not in resolver.changed
        finally:
            os.close(copy)
        assert len(resolver.owners_of({inode})[inode]) == 1 and inode in resolver.changed


def test_process_gone_between_listing_and_reading() -> None:
    gone = exited_pid()

    class ListsADeadPid(OwnerResolver):
        def _list_pids(self, touched: Set[int] | None) -> list[int]:
            return sorted([*super()._list_pids(touched), gone])

    resolver = ListsADeadPid()
    with socket.socket() as sock:
        owners = resolver.owners_of({inode_of(sock)})
        assert owners[inode_of(sock)] == (Owner(PID, sock.fileno()),)
    assert resolver.visibility(0).vanished_processes >= 1


def test_owner_exiting_before_its_process_record_is_read(tcp_pair: tuple[socket.socket, ...]) -> None:
    _, client, _ = tcp_pair
    with child() as forked:

        class KillsTheChildMidScan(OwnerResolver):
            def _processes_of(self, found):  # type: ignore[no-untyped-def]
                os.kill(forked.pid, 9)
                os.waitpid(forked.pid, 0)
                return super()._processes_of(found)

        resolver = KillsTheChildMidScan()
        owners = resolver.owners_of({inode_of(client)})
    assert owners[inode_of(client)] == (Owner(PID, client.fileno()),)
    assert forked.pid not in resolver.processes()
    assert resolver.visibility(0).vanished_processes >= 1  # other processes on the host may exit too


def test_short_lived_processes_during_scans_never_crash(
    tcp_pair: tuple[socket.socket, ...], shared_resolver: OwnerResolver
) -> None:
    _, client, _ = tcp_pair
    stop = threading.Event()

    def churn() -> None:
        for _ in range(500):
            if stop.is_set():
                return
            subprocess.run(["true"], check=False)

    spawner = threading.Thread(target=churn)
    spawner.start()
    try:
        resolver = shared_resolver
        for _ in range(8):
            assert Owner(PID, client.fileno()) in resolver.owners_of({inode_of(client)})[inode_of(client)]
    finally:
        stop.set()
        spawner.join()


def test_non_root_sees_own_sockets_and_counts_hidden_ones(tcp_pair: tuple[socket.socket, ...]) -> None:
    listener, _, _ = tcp_pair
    completed = run_as_nobody(NON_ROOT_PROBE)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["unreadable"] > 0 and seen["hidden"] > 0
    assert seen["owners"][str(inode_of(listener))] == []  # root's socket: listed, owner unknown
    assert seen["own_socket_owned"]


def test_unix_socket_answers_are_read_once_while_asked_about(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a held socket is a Unix one (its protocol name) is read once, and kept while it is asked about."""
    read: list[int] = []
    real = unix_sockets.holds_unix_socket
    monkeypatch.setattr(unix_sockets, "holds_unix_socket", lambda *args: read.append(args[2]) or real(*args))
    with socket.socket(socket.AF_UNIX) as unix, socket.socket() as tcp:
        unix_inode, tcp_inode = inode_of(unix), inode_of(tcp)
        owners = {inode_of(sock): (Owner(PID, sock.fileno()),) for sock in (unix, tcp)}
        answers = UnixSockets()
        first = answers.check("/proc", owners)
        assert (first(unix_inode), first(tcp_inode), first(12345)) == (True, False, None)  # 12345: held by none
        second = answers.check("/proc", owners)
        assert second(unix_inode) is True
        third = answers.check("/proc", owners)
        assert (third(unix_inode), third(tcp_inode)) == (True, False)
    assert read == [unix_inode, tcp_inode, tcp_inode]  # the TCP one was not asked about in between: read again


def test_the_options_of_the_proc_mount_on_top_are_read() -> None:
    mountinfo = (
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
        "66 22 0:40 / /proc rw,relatime shared:7 - proc proc rw,gid=27,hidepid=invisible\n"
        "68 46 0:42 / /tmp/a\\040b\\012c rw,relatime - proc proc rw,hidepid=2\n"
    )
    assert super_options(mountinfo, "/proc") == {"rw": "", "gid": "27", "hidepid": "invisible"}
    assert super_options(mountinfo, "/tmp/a b\nc") == {"rw": "", "hidepid": "2"}
    assert super_options(mountinfo, "/sys") == {}


HIDEPID_NAMESPACE = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount -t proc -o hidepid=2 proc /proc || exit 77; exec "$@"',
    "sh",
)
"""Runs the command after it in a private mount namespace whose /proc hides other users' processes."""


def test_non_root_under_hidepid_is_told_that_proc_hides_the_owners(tcp_pair: tuple[socket.socket, ...]) -> None:
    """Other users' processes are not even listed: their sockets are not "held by no process"."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare")
    completed = run_as_nobody(HIDEPID_PROBE, inside=HIDEPID_NAMESPACE)
    if completed.returncode == 77 or completed.stderr.startswith("unshare:"):
        pytest.skip(f"cannot mount /proc with hidepid=2 in a private mount namespace: {completed.stderr.strip()}")
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["hidepid"] in ("2", "invisible") and seen["hidden"] > 0  # the root test process's sockets
    assert seen["own_socket_owned"]
    assert any(
        f"/proc is mounted with hidepid={seen['hidepid']}, which hides other users' processes" in warning
        and "run as root" in warning
        for warning in seen["warnings"]
    )


HIDEPID_PROBE = """
import json, os, socket
from netwatch.backends.collector import Collector
mine = socket.create_server(("127.0.0.1", 0))
snapshot = Collector("procfs").snapshot()
owned = {s.inode: [[o.pid, o.fd] for o in s.owners] for s in snapshot.sockets.values() if s.inode}
print(json.dumps({
    "hidepid": snapshot.visibility.hidepid,
    "hidden": snapshot.visibility.hidden_sockets,
    "own_socket_owned": owned.get(os.fstat(mine.fileno()).st_ino) == [[os.getpid(), mine.fileno()]],
    "warnings": snapshot.warnings,
}))
"""


NON_ROOT_PROBE = """
import json, os, socket
from netwatch.backends.collector import Collector
mine = socket.create_server(("127.0.0.1", 0))
snapshot = Collector("procfs").snapshot()
visibility = snapshot.visibility
owners = {s.inode: [[o.pid, o.fd] for o in s.owners] for s in snapshot.sockets.values() if s.inode}
print(json.dumps({
    "unreadable": visibility.unreadable_processes,
    "hidden": visibility.hidden_sockets,
    "owners": owners,
    "own_socket_owned": owners.get(os.fstat(mine.fileno()).st_ino) == [[os.getpid(), mine.fileno()]],
}))
"""


@pytest.fixture
def count_own_readlinks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every readlink of this process's fds."""
    calls: list[str] = []
    real_readlink = os.readlink

    def counting(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).startswith(f"/proc/{PID}/"):
            calls.append(str(path))
        return real_readlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "readlink", counting)
    return calls


def test_warm_call_does_not_readlink_unchanged_fds(count_own_readlinks: list[str]) -> None:
    pairs = [socket.socketpair() for _ in range(200)]
    try:
        inodes = {inode_of(sock) for pair in pairs for sock in pair}
        resolver = OwnerResolver(revalidate_every=float("inf"))  # no rolling re-validation: tested on its own
        cold = resolver.owners_of(inodes)
        assert len(cold) == 400 and len(count_own_readlinks) >= 400
        count_own_readlinks.clear()
        assert resolver.owners_of(inodes) == cold
        assert count_own_readlinks == []
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()


def test_an_unreadable_process_is_listed_again_only_once_it_changed(
    tcp_pair: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process whose fd directory lists but whose links may not be read (as a sandbox's pid 1 is, on some hosts):
    each call counts it as unreadable, and lists its fds again only once its fd count changed."""
    _, client, _ = tcp_pair
    with child(lambda: None, lambda: os.open(os.devnull, os.O_RDONLY)) as forked:
        fd_dir = f"/proc/{forked.pid}/fd"
        listings: list[str] = []
        real_listdir, real_readlink = os.listdir, os.readlink

        def listdir(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if path == fd_dir:
                listings.append(path)
            return real_listdir(path, *args, **kwargs)

        def readlink(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if str(path).startswith(f"{fd_dir}/"):
                raise PermissionError(errno.EACCES, "denied", path)
            return real_readlink(path, *args, **kwargs)

        monkeypatch.setattr(os, "listdir", listdir)
        monkeypatch.setattr(os, "readlink", readlink)
        resolver = OwnerResolver(revalidate_every=float("inf"))  # no rolling re-listing: tested on its own
        for step, listed in enumerate((1, 1, 2, 2)):
            if step == 2:
                forked.advance()  # the child opens a file
            owners = resolver.owners_of({inode_of(client)})
            assert owners[inode_of(client)] == (Owner(PID, client.fileno()),)  # not the child's share of it
            assert forked.pid not in resolver.processes()
            assert resolver.visibility(0).unreadable_processes >= 1
            assert len(listings) == listed, step


def test_with_process_events_a_call_reads_only_the_fd_counts_of_processes_without_one(
    tcp_pair: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch, process_events: Callable[..., ProcessEvents]
) -> None:
    """Where the proc connector reports no event for a process, a warm call neither lists /proc nor reads its
    ``stat``: its fd count alone tells whether its table stands (another process may open or close a file meanwhile,
    e.g. a sibling test worker: its moved count has it listed and read)."""
    from netwatch.backends.owners import resolver as resolver_module

    events = process_events()
    resolver = OwnerResolver(revalidate_every=float("inf"), events=events.reader())  # no rolling re-listing
    watcher = events.reader()
    watcher.take()  # its first take is unknown: from here on, it sees every event the resolver's takes see
    wanted = {inode_of(sock) for sock in tcp_pair}
    resolver.owners_of(wanted)  # the first take is unknown: a whole pass
    resolver.owners_of(wanted)
    stats: list[str] = []
    counts: dict[int, int] = {}
    real_read_stat, real_scandir, real_fd_count = resolver_module.read_stat, os.scandir, resolver_module._fd_count

    def read_stat(base: str) -> proc_files.ProcStat:
        stats.append(base)
        return real_read_stat(base)

    def scandir(path):  # type: ignore[no-untyped-def]
        assert path != "/proc", "/proc listed"
        return real_scandir(path)

    def fd_count(base: str) -> int:
        counts[int(base.rsplit("/", 1)[1])] = count = real_fd_count(base)
        return count

    monkeypatch.setattr(resolver_module, "read_stat", read_stat)
    monkeypatch.setattr(resolver_module, "_fd_count", fd_count)
    cached = {pid: len(table.fd_inodes) for pid, table in resolver._pids.items() if table is not None}
    monkeypatch.setattr(os, "scandir", scandir)
    before = watcher.take()  # the host's other processes may change meanwhile: those are read
    assert before is not None
    owners = resolver.owners_of(wanted)
    after = watcher.take()
    assert after is not None
    changed = before | after
    assert all(owners[inode_of(sock)] == (Owner(PID, sock.fileno()),) for sock in tcp_pair)
    moved = {pid for pid, count in counts.items() if count != cached.get(pid)}
    assert {int(base.rsplit("/", 1)[1]) for base in stats} <= changed | moved | {PID}  # its own count is no check
    assert len(counts) > len(changed | moved | {PID})  # the others' counts were read, and their tables stood


def test_with_process_events_a_rename_and_an_exec_are_seen(
    tcp_pair: tuple[socket.socket, ...], process_events: Callable[..., ProcessEvents]
) -> None:
    """A process renamed (comm) or exec'd keeps its sockets and pid: the events alone tell the resolver to read its
    identity again, and its record changes."""
    _, client, _ = tcp_pair
    resolver = OwnerResolver(revalidate_every=float("inf"), events=process_events().reader())
    code = (
        "import os, sys; sys.stdin.readline(); open('/proc/self/comm', 'w').write('renamed'); sys.stdin.readline(); "
        "os.execv('/bin/sleep', ['sleep', '30'])"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, pass_fds=(client.fileno(),))
    assert holder.stdin is not None

    def next_step(comm: str) -> None:
        assert holder.stdin is not None
        holder.stdin.write(b"go\n")
        holder.stdin.flush()
        for _ in range(500):  # until it got there (bounded: 5 s)
            if Path(f"/proc/{holder.pid}/comm").read_text() == f"{comm}\n":
                return
            time.sleep(0.01)
        raise AssertionError(f"the child never became {comm}")

    try:
        wanted = {inode_of(client)}
        resolver.owners_of(wanted)
        both = tuple(sorted((Owner(PID, client.fileno()), Owner(holder.pid, client.fileno())), key=lambda o: o.pid))
        assert resolver.owners_of(wanted)[inode_of(client)] == both
        assert resolver.processes()[holder.pid].name.startswith("python")
        next_step("renamed")
        assert resolver.owners_of(wanted)[inode_of(client)] == both
        assert resolver.processes()[holder.pid].name == "renamed"
        next_step("sleep")
        assert resolver.owners_of(wanted)[inode_of(client)] == both
        assert resolver.processes()[holder.pid].name == "sleep"
        assert resolver.processes()[holder.pid].cmdline == ("sleep", "30")
    finally:
        holder.kill()
        holder.wait()


def test_warm_call_rereads_only_the_fds_of_shared_sockets(count_own_readlinks: list[str]) -> None:
    pairs = [socket.socketpair() for _ in range(100)]
    kept = pairs[0][0]

    def keep_one() -> None:  # in the child: only ``kept`` stays shared with the parent
        for pair in pairs:
            for sock in pair:
                if sock is not kept:
                    sock.close()

    try:
        with child(keep_one):
            inodes = {inode_of(sock) for pair in pairs for sock in pair}
            resolver = OwnerResolver(revalidate_every=float("inf"))
            cold = resolver.owners_of(inodes)
            count_own_readlinks.clear()
            assert resolver.owners_of(inodes) == cold
            assert count_own_readlinks == [f"/proc/{PID}/fd/{kept.fileno()}"]
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()


def test_fd_number_reused_by_a_new_socket(shared_resolver: OwnerResolver) -> None:
    resolver = shared_resolver
    first = socket.socket()
    fd = first.fileno()
    assert resolver.owners_of({inode_of(first)})[inode_of(first)] == (Owner(PID, fd),)
    first.close()
    with socket.socket(socket.AF_INET6) as second:
        assert second.fileno() == fd
        assert resolver.owners_of({inode_of(second)}) == {inode_of(second): (Owner(PID, fd),)}


def test_file_fd_number_reused_by_a_socket(tcp_pair: tuple[socket.socket, ...]) -> None:
    listener, _, _ = tcp_pair
    resolver = OwnerResolver()
    file_fd = os.open(sys.executable, os.O_RDONLY)
    resolver.owners_of({inode_of(listener)})  # caches file_fd as "not a socket"
    os.close(file_fd)
    with socket.socket() as sock:
        assert sock.fileno() == file_fd
        owners = resolver.owners_of({inode_of(listener), inode_of(sock)})
        assert owners[inode_of(sock)] == (Owner(PID, file_fd),)


def test_process_record_follows_a_comm_change(
    tcp_pair: tuple[socket.socket, ...], shared_resolver: OwnerResolver
) -> None:
    _, client, _ = tcp_pair

    def rename(name: str) -> Callable[[], None]:
        return lambda: Path("/proc/self/comm").write_text(name)

    with child(rename("nw-before"), rename("nw-after")) as forked:
        resolver = shared_resolver
        resolver.owners_of({inode_of(client)})
        assert resolver.processes()[forked.pid].name == "nw-before"
        forked.advance()
        resolver.owners_of({inode_of(client)})
        assert resolver.processes()[forked.pid].name == "nw-after"


def test_prefetched_cold_scan_finds_the_same_owners(tcp_pair: tuple[socket.socket, ...]) -> None:
    wanted = {inode_of(sock) for sock in tcp_pair}
    with child() as forked:  # a second owner of every socket (fork-shared)
        plain = OwnerResolver().owners_of(wanted)
        resolver = OwnerResolver()
        resolver.prefetch()
        assert resolver._cold_scan is not None
        assert resolver.owners_of(wanted) == plain
        assert all(Owner(PID, sock.fileno()) in plain[inode_of(sock)] for sock in tcp_pair)
        assert all(any(owner.pid == forked.pid for owner in plain[inode]) for inode in wanted)
        assert resolver.processes()[PID].name == Path("/proc/self/comm").read_text()[:-1]
        resolver.prefetch()  # warm now: nothing to prefetch
        assert resolver._cold_scan is None


def test_failing_prefetch_falls_back_to_an_own_scan(tcp_pair: tuple[socket.socket, ...]) -> None:
    resolver = OwnerResolver(proc_root="/nonexistent-proc")
    resolver.prefetch()  # the helper fails (no such directory)...
    resolver.proc_root = "/proc"
    listener = tcp_pair[0]
    assert resolver.owners_of({inode_of(listener)}) == {inode_of(listener): (Owner(PID, listener.fileno()),)}


# -- fd numbers closed and reused while the old socket lives on ------------------------------------------------


def owners_in(snapshot: Snapshot, inode: int) -> tuple[Owner, ...]:
    """The owners the snapshot gives the socket with ``inode`` (it must be listed)."""
    matches = [sock.owners for sock in snapshot.sockets.values() if sock.inode == inode]
    assert len(matches) == 1, f"inode {inode} listed {len(matches)} times"
    return matches[0]


@pytest.fixture
def live_source() -> Iterator[LiveSource]:
    """The TUI's source: one warm collector (and owner cache) across snapshots, as in the app. Its threads are gone
    when the test ends: the tests after it fork (the resolver's children), which a threaded process does not do."""
    source = LiveSource("netlink")
    source.snapshot()
    yield source
    source.close()
    deadline = time.monotonic() + 10
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == 1, f"threads left: {[thread.name for thread in threading.enumerate()]}"


def _onto(fd: int, opened: int) -> int:
    """``opened`` moved to fd number ``fd`` (closed just before): the lowest free number is usually ``fd``, but
    the collector may have closed a lower one meanwhile (its own netlink or pipe fds)."""
    if opened != fd:
        os.dup2(opened, fd)
        os.close(opened)
    return fd


def reuse_for_listener(sock: socket.socket) -> socket.socket | int:
    fd = sock.fileno()
    sock.close()
    server = socket.create_server(("127.0.0.1", 0))
    return socket.socket(fileno=_onto(fd, server.detach()))


def reuse_for_file(sock: socket.socket) -> socket.socket | int:
    fd = sock.fileno()
    sock.close()
    return _onto(fd, os.open(sys.executable, os.O_RDONLY))


@pytest.mark.parametrize("reuse", [reuse_for_listener, reuse_for_file])
def test_live_source_after_fork_close_and_reuse_of_the_fd(
    reuse: Callable[[socket.socket], socket.socket | int], live_source: LiveSource
) -> None:
    """Issue 7: the parent closes fd N of a listener its forked child keeps, and N is reused (by a new listener, or
    a file): within 2 refreshes the old listener is the child's only, the new one the parent's, and it stays so."""
    old = socket.create_server(("127.0.0.1", 0))
    fd, old_inode = old.fileno(), inode_of(old)
    with child() as forked:
        both = (Owner(PID, fd), Owner(forked.pid, fd))
        assert owners_in(live_source.snapshot(), old_inode) == tuple(sorted(both, key=lambda o: o.pid))
        new = reuse(old)
        try:
            live_source.snapshot()
            for _ in range(2):
                snapshot = live_source.snapshot()
                assert owners_in(snapshot, old_inode) == (Owner(forked.pid, fd),)
                if isinstance(new, socket.socket):
                    assert owners_in(snapshot, inode_of(new)) == (Owner(PID, fd),)
                assert snapshot.processes[forked.pid].pid == forked.pid
        finally:
            if isinstance(new, int):
                os.close(new)
            else:
                new.close()


def test_live_source_after_dup_close_and_reuse(live_source: LiveSource) -> None:
    """A socket dup()-ed, its first fd closed and reused for a new socket: each has its one true owner."""
    live_source.snapshot()
    first = socket.create_server(("127.0.0.1", 0))
    fd, first_inode = first.fileno(), inode_of(first)
    live_source.snapshot()
    copy = os.dup(fd)
    first.close()
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as second:
        try:
            second.bind(("::1", 0))
            assert second.fileno() == fd
            live_source.snapshot()
            for _ in range(2):
                snapshot = live_source.snapshot()
                assert owners_in(snapshot, first_inode) == (Owner(PID, copy),)
                assert owners_in(snapshot, inode_of(second)) == (Owner(PID, fd),)
        finally:
            os.close(copy)


def test_resolver_corrects_a_fork_reuse_in_the_next_call() -> None:
    """The shared-socket re-validation catches the fork/close/reuse sequence at once, even when the fork, the close
    and the reuse all happen between two calls."""
    resolver = OwnerResolver()
    old = socket.create_server(("127.0.0.1", 0))
    fd, old_inode = old.fileno(), inode_of(old)
    assert resolver.owners_of({old_inode}) == {old_inode: (Owner(PID, fd),)}
    with child() as forked:
        old.close()
        with socket.create_server(("127.0.0.1", 0)) as new:
            assert new.fileno() == fd
            owners = resolver.owners_of({old_inode, inode_of(new)})
            assert owners == {old_inode: (Owner(forked.pid, fd),), inode_of(new): (Owner(PID, fd),)}


def test_dup_onto_a_reused_file_fd_number_is_found_by_the_rolling_revalidation(
    tcp_pair: tuple[socket.socket, ...],
) -> None:
    """Nothing cheap shows a socket dup()-ed onto a file's reused fd number while it has an owner already: the
    rolling re-validation finds it within ``revalidate_every`` seconds."""
    listener, _, _ = tcp_pair
    resolver = OwnerResolver(revalidate_every=1.0)
    file_fd = os.open(sys.executable, os.O_RDONLY)
    try:
        resolver.owners_of({inode_of(listener)})  # caches file_fd as "not a socket"
        os.close(file_fd)
        assert os.dup(listener.fileno()) == file_fd
        time.sleep(1.0)  # a whole period: every cached fd is re-read
        owners = resolver.owners_of({inode_of(listener)})
        assert owners[inode_of(listener)] == (Owner(PID, listener.fileno()), Owner(PID, file_fd))
    finally:
        os.close(file_fd)


def test_reuse_while_the_old_socket_is_in_flight_is_corrected_by_the_rolling_revalidation() -> None:
    """The old socket's only other holder is an SCM_RIGHTS message not yet received: no fd shows it, so the stale
    owner and the missing new one last until the rolling re-validation re-reads that fd."""
    resolver = OwnerResolver(revalidate_every=1.0)
    sender, receiver = socket.socketpair()
    old = socket.create_server(("127.0.0.1", 0))
    fd, old_inode = old.fileno(), inode_of(old)
    try:
        resolver.owners_of({old_inode, inode_of(sender), inode_of(receiver)})
        socket.send_fds(sender, [b"x"], [fd])
        old.close()
        with socket.create_server(("127.0.0.1", 0)) as new:
            assert new.fileno() == fd
            time.sleep(1.0)
            owners = resolver.owners_of({old_inode, inode_of(new), inode_of(sender), inode_of(receiver)})
            assert old_inode not in owners
            assert owners[inode_of(new)] == (Owner(PID, fd),)
    finally:
        sender.close()
        receiver.close()


def test_new_socket_on_a_reused_file_fd_number_shared_with_a_new_child_has_both_owners() -> None:
    """Created on a file's old fd number and forked, both between two calls: the child is new (read whole), and
    its parent's fds cached as other files are re-read, so the parent is not left out."""
    resolver = OwnerResolver()
    file_fd = os.open(sys.executable, os.O_RDONLY)
    resolver.owners_of(set())  # caches file_fd as "not a socket"
    os.close(file_fd)
    with socket.socket() as sock:
        assert sock.fileno() == file_fd
        with child() as forked:
            owners = resolver.owners_of({inode_of(sock)})
            both = sorted([Owner(PID, file_fd), Owner(forked.pid, file_fd)], key=lambda owner: owner.pid)
            assert owners == {inode_of(sock): tuple(both)}


# -- the warm pass trusts an unchanged fd count (the size of /proc/<pid>/fd) -----------------------------------


@pytest.fixture
def listed_fd_dirs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids whose fd directory is listed (every ``os.listdir`` of a <proc root>/<pid>/fd)."""
    pids: list[int] = []
    real_listdir = os.listdir

    def counting(path):  # type: ignore[no-untyped-def]
        parts = str(path).split("/")
        if len(parts) >= 4 and parts[-1] == "fd" and parts[-2].isdigit():
            pids.append(int(parts[-2]))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", counting)
    return pids


def fd_count(pid: int) -> int:
    return os.stat(f"/proc/{pid}/fd").st_size


@contextmanager
def idle_children(count: int) -> Iterator[list[Child]]:
    with ExitStack() as stack:
        yield [stack.enter_context(child()) for _ in range(count)]


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_warm_pass_does_not_list_the_fd_directories_of_idle_processes(
    listed_fd_dirs: list[int], tcp_pair: tuple[socket.socket, ...]
) -> None:
    inodes = {inode_of(sock) for sock in tcp_pair}
    with idle_children(20) as children:
        resolver = OwnerResolver(revalidate_every=float("inf"))  # no rolling re-listing: tested on its own
        cold = resolver.owners_of(inodes)
        assert {forked.pid for forked in children} <= set(listed_fd_dirs)
        listed_fd_dirs.clear()
        assert resolver.owners_of(inodes) == cold
        assert set(listed_fd_dirs).isdisjoint(forked.pid for forked in children)


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_rolling_relisting_lists_every_process_within_revalidate_every(listed_fd_dirs: list[int]) -> None:
    with idle_children(4) as children:
        resolver = OwnerResolver(revalidate_every=0.5)
        resolver.owners_of(set())
        listed_fd_dirs.clear()
        time.sleep(0.6)
        resolver.owners_of(set())
        assert {forked.pid for forked in children} <= set(listed_fd_dirs)


@contextmanager
def socket_moving_at_an_unchanged_count() -> Iterator[tuple[Child, Callable[[], int], int]]:
    """A child that, when advanced, closes fd A and opens a socket on fd B != A (its fd count stays); yields the
    child, a function that advances it and returns the new socket's inode, and fd B."""
    report_read, report_write = os.pipe()
    placeholder = os.open(os.devnull, os.O_RDONLY)  # fd A, in the child too
    target = max(os.listdir(f"/proc/{PID}/fd"), key=int)
    target_fd = int(target) + 100  # fd B: free in the child (forked from us)

    def swap() -> None:
        with socket.socket() as sock:
            os.dup2(sock.fileno(), target_fd)
        os.close(placeholder)
        os.write(report_write, os.fstat(target_fd).st_ino.to_bytes(8, "little"))  # the inode of the new socket

    def move() -> int:
        before = fd_count(forked.pid)
        forked.advance()
        assert fd_count(forked.pid) == before
        return int.from_bytes(os.read(report_read, 8), "little")

    try:
        with child(lambda: None, swap) as forked:
            yield forked, move, target_fd
    finally:
        for fd in (report_read, report_write, placeholder):
            os.close(fd)


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_socket_on_another_fd_number_at_an_unchanged_fd_count_is_found(listed_fd_dirs: list[int]) -> None:
    """Closed fd A, opened a socket on fd B != A: the count alone cannot tell, the new orphan makes the pass list
    the processes it skipped."""
    with socket_moving_at_an_unchanged_count() as (forked, move, target_fd), idle_children(3) as idle:
        resolver = OwnerResolver(revalidate_every=float("inf"))
        resolver.owners_of(set())
        inode = move()
        listed_fd_dirs.clear()
        assert resolver.owners_of({inode}) == {inode: (Owner(forked.pid, target_fd),)}
        assert listed_fd_dirs.count(forked.pid) == 1  # by the safety net
        assert {other.pid for other in idle} <= set(listed_fd_dirs)
        listed_fd_dirs.clear()
        assert resolver.owners_of({inode}) == {inode: (Owner(forked.pid, target_fd),)}  # cached
        assert forked.pid not in listed_fd_dirs


@pytest.fixture
def merges_by_the_safety_net(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tables' owners each safety net merged again (one entry per net run)."""
    from netwatch.backends.owners import resolver as resolver_module

    merged: list[int] = []
    runs: list[int] = []
    real_merge, real_list_unlisted = resolver_module._merge, OwnerResolver._list_unlisted

    def merge(*args):  # type: ignore[no-untyped-def]
        merged.append(1)
        return real_merge(*args)

    def list_unlisted(self, *args):  # type: ignore[no-untyped-def]
        before = len(merged)
        real_list_unlisted(self, *args)
        runs.append(len(merged) - before)

    monkeypatch.setattr(resolver_module, "_merge", merge)
    monkeypatch.setattr(OwnerResolver, "_list_unlisted", list_unlisted)
    return runs


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_a_safety_net_that_changes_no_table_merges_no_owner_again(
    listed_fd_dirs: list[int], merges_by_the_safety_net: list[int], tcp_pair: tuple[socket.socket, ...],
    tmp_path: Path,
) -> None:
    """A new orphan (an inode no process holds) makes the pass list every fd directory; where that finds every table
    as it was, the owners already found stand. Where it changes one, every table's owners are merged again."""
    inodes = {inode_of(sock) for sock in tcp_pair}
    with idle_children(3) as idle, socket_moving_at_an_unchanged_count() as (forked, move, target_fd):
        # a /proc of these processes alone: another one's fds (e.g. a parallel test's) may change meanwhile
        for pid in (PID, forked.pid, *(other.pid for other in idle)):
            (tmp_path / str(pid)).symlink_to(f"/proc/{pid}")
        resolver = OwnerResolver(str(tmp_path), revalidate_every=float("inf"))
        cold = resolver.owners_of(inodes)
        assert {PID} | {other.pid for other in idle} <= {owner.pid for owners in cold.values() for owner in owners}
        listed_fd_dirs.clear()
        assert resolver.owners_of(inodes | {1}) == cold  # inode 1: no socket
        assert {other.pid for other in idle} <= set(listed_fd_dirs)  # by the safety net
        assert merges_by_the_safety_net == [0]
        inode = move()
        found = resolver.owners_of(inodes | {1, inode})
        assert found == {**cold, inode: (Owner(forked.pid, target_fd),)}
        assert merges_by_the_safety_net[0] == 0 and merges_by_the_safety_net[1] > 0


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_a_call_adopting_a_cold_scan_leaves_the_safety_net_to_the_next_call(listed_fd_dirs: list[int]) -> None:
    """The prefetching child listed every fd directory moments before: a live resolver's first call does not list
    them again, so a socket that moved at an unchanged count in between gets its owner one call later; a one-off
    resolver's only call runs the safety net."""
    with socket_moving_at_an_unchanged_count() as (forked, move, target_fd), idle_children(3) as idle:
        scanned = read_fd_tables("/proc")  # what the prefetching child reads (forking here may be unsafe)
        inode = move()
        owner = {inode: (Owner(forked.pid, target_fd),)}
        resolvers = [OwnerResolver(revalidate_every=float("inf"), live=live) for live in (True, False)]
        for resolver in resolvers:
            resolver._cold_scan = SimpleNamespace(tables=lambda: fd_tables(scanned))  # type: ignore[assignment]
        live, one_off = resolvers
        listed_fd_dirs.clear()
        assert live.owners_of({inode}) == {}
        assert set(listed_fd_dirs).isdisjoint([forked.pid, *(other.pid for other in idle)])
        assert live.owners_of({inode}) == owner
        assert listed_fd_dirs.count(forked.pid) == 1  # by the safety net, one call later
        assert one_off.owners_of({inode}) == owner


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_a_one_off_safety_net_takes_the_fd_directories_a_child_listed_after_the_dump(
    listed_fd_dirs: list[int], tmp_path: Path
) -> None:
    """A one-off resolver's adopting call finds a socket that moved at an unchanged count after the cold scan,
    through the fd directories a second child listed once the dump was done: this process lists none of them. A
    live resolver starts no such child (its next call runs the net)."""
    with socket_moving_at_an_unchanged_count() as (forked, move, target_fd), idle_children(3) as idle:
        for pid in (PID, forked.pid, *(other.pid for other in idle)):  # a /proc of these processes alone
            (tmp_path / str(pid)).symlink_to(f"/proc/{pid}")
        scanned = read_fd_tables(str(tmp_path))  # what the prefetching child reads
        inode = move()
        resolvers = [OwnerResolver(str(tmp_path), revalidate_every=float("inf"), live=live) for live in (True, False)]
        for resolver in resolvers:
            resolver._cold_scan = SimpleNamespace(tables=lambda: fd_tables(scanned))  # type: ignore[assignment]
            resolver.prefetch_listing()  # the dump is done
        live, one_off = resolvers
        assert live._listing is None and one_off._listing is not None
        listed_fd_dirs.clear()
        assert one_off.owners_of({inode}) == {inode: (Owner(forked.pid, target_fd),)}
        assert set(listed_fd_dirs).isdisjoint([forked.pid, *(other.pid for other in idle)])
        assert one_off._listing is None


def test_listing_children_list_when_told_and_not_before(tmp_path: Path) -> None:
    """The listing children are forked early and list the fd directories as they are when told to (processes that
    appeared in between are listed), each child its own pids; ones cancelled before they are told list nothing and
    are reaped."""
    listing = FdListing.start(str(tmp_path))
    cancelled = FdListing.start(str(tmp_path))
    assert listing is not None and cancelled is not None
    assert len(listing.parts) == LISTING_CHILDREN
    with idle_children(LISTING_CHILDREN) as idle:
        pids = {PID, *(child.pid for child in idle)}
        for pid in pids:
            (tmp_path / str(pid)).symlink_to(f"/proc/{pid}")
        listing.go()
        assert [set(part.listed()) for part in listing.parts] == [
            {pid for pid in pids if pid % LISTING_CHILDREN == part} for part in range(LISTING_CHILDREN)
        ]
    child_pids = [part._child.pid for part in cancelled.parts]
    cancelled.cancel()
    for child_pid in child_pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(child_pid, os.WNOHANG)


def test_a_listing_child_the_safety_net_does_not_need_is_ended(
    tcp_pair: tuple[socket.socket, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every socket asked for has an owner: no safety net, and the listing child is ended (reaped), not waited
    for."""
    monkeypatch.setattr(FdListing, "listed", lambda self: pytest.fail("the listing was waited for"))
    resolver = OwnerResolver()
    resolver.prefetch()
    resolver.prefetch_listing()
    assert resolver._listing is not None
    child_pids = [part._child.pid for part in resolver._listing.parts]
    found = resolver.owners_of({inode_of(sock) for sock in tcp_pair})
    assert all(Owner(PID, sock.fileno()) in found[inode_of(sock)] for sock in tcp_pair)
    for child_pid in child_pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(child_pid, os.WNOHANG)


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_new_socket_in_a_process_whose_fd_count_grew_is_found(listed_fd_dirs: list[int]) -> None:
    report_read, report_write = os.pipe()
    held: list[socket.socket] = []

    def open_socket() -> None:
        held.append(socket.socket())
        os.write(report_write, inode_of(held[0]).to_bytes(8, "little") + held[0].fileno().to_bytes(8, "little"))

    try:
        with child(lambda: None, open_socket) as forked, idle_children(3) as idle:
            resolver = OwnerResolver(revalidate_every=float("inf"))
            resolver.owners_of(set())
            before = fd_count(forked.pid)
            forked.advance()
            assert fd_count(forked.pid) == before + 1
            report = os.read(report_read, 16)
            inode, fd = int.from_bytes(report[:8], "little"), int.from_bytes(report[8:], "little")
            listed_fd_dirs.clear()
            assert resolver.owners_of({inode}) == {inode: (Owner(forked.pid, fd),)}
            assert listed_fd_dirs.count(forked.pid) == 1  # for its new count
            assert set(listed_fd_dirs).isdisjoint(other.pid for other in idle)  # no safety net needed
    finally:
        for fd in (report_read, report_write):
            os.close(fd)


_FD_LESS_CHILD = """
import os, signal, socket, time
held = []
signal.signal(signal.SIGUSR1, lambda *_: held.append(socket.socket()))
for fd in range(3):
    os.close(fd)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
"""


@pytest.mark.skipif(fd_count(PID) == 0, reason="this kernel does not report fd counts")
def test_kernel_threads_are_passed_over_but_a_process_without_fds_is_not(listed_fd_dirs: list[int]) -> None:
    """kthreadd (pid 2) holds no fd: once known as a kernel thread its fd directory is not listed again. A process
    whose fd table is empty is listed at every call all the same, and its first socket found."""
    process = subprocess.Popen([sys.executable, "-c", _FD_LESS_CHILD], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(200):
            if fd_count(process.pid) == 0:
                break
            time.sleep(0.05)
        assert fd_count(process.pid) == 0
        resolver = OwnerResolver(revalidate_every=float("inf"))
        resolver.owners_of(set())
        listed_fd_dirs.clear()
        resolver.owners_of(set())
        assert process.pid in listed_fd_dirs
        if is_kernel_thread("/proc/2"):
            assert 2 not in listed_fd_dirs
        process.send_signal(signal.SIGUSR1)
        for _ in range(200):
            if fd_count(process.pid) == 1:
                break
            time.sleep(0.05)
        inode = int(os.readlink(f"/proc/{process.pid}/fd/0").removeprefix("socket:[").removesuffix("]"))
        assert resolver.owners_of({inode}) == {inode: (Owner(process.pid, 0),)}
    finally:
        process.kill()
        process.wait()
