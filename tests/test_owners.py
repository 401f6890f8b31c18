"""Process attribution on real processes: own sockets, fork-shared sockets, exiting processes, non-root, caching."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

import netwatch.backends
from netwatch.backends.model import Owner
from netwatch.backends.owners import OwnerResolver

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
    cgroup_lines = [line for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::")]
    assert process.cgroup == (cgroup_lines[0][3:] if cgroup_lines else None)


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


def test_process_gone_between_listing_and_reading() -> None:
    gone = exited_pid()

    class ListsADeadPid(OwnerResolver):
        def _list_pids(self) -> list[int]:
            return sorted([*super()._list_pids(), gone])

    resolver = ListsADeadPid()
    with socket.socket() as sock:
        owners = resolver.owners_of({inode_of(sock)})
        assert owners[inode_of(sock)] == (Owner(PID, sock.fileno()),)
    assert resolver.visibility([]).vanished_processes >= 1


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
    assert resolver.visibility([]).vanished_processes >= 1  # other processes on the host may exit too


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
    """Run a resolver as uid 65534 (setpriv) with system Python and a world-readable view of the package."""
    if os.getuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists():
        pytest.skip("needs root, setpriv and /usr/bin/python3")
    listener, _, _ = tcp_pair
    view = Path(tempfile.mkdtemp(prefix="netwatch-nonroot-"))
    try:
        view.chmod(0o755)
        (view / "netwatch").mkdir(mode=0o755)
        (view / "netwatch" / "backends").symlink_to(Path(netwatch.backends.__file__).parent)
        script = view / "probe.py"
        script.write_text(NON_ROOT_PROBE)
        script.chmod(0o644)
        completed = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-B", str(script)],
            env={"PYTHONPATH": str(view), "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
            cwd=view,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        shutil.rmtree(view)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["unreadable"] > 0 and seen["hidden"] > 0
    assert seen["owners"][str(inode_of(listener))] == []  # root's socket: listed, owner unknown
    assert seen["own_socket_owned"]


NON_ROOT_PROBE = """
import json, os, socket
from netwatch.backends.owners import OwnerResolver
from netwatch.backends.procfs import ProcfsSource
mine = socket.create_server(("127.0.0.1", 0))
resolver = OwnerResolver()
sockets = ProcfsSource().collect(resolver.owners_of).sockets
visibility = resolver.visibility(sockets)
owners = {s.inode: [[o.pid, o.fd] for o in s.owners] for s in sockets if s.inode}
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
        resolver = OwnerResolver()
        cold = resolver.owners_of(inodes)
        assert len(cold) == 400 and len(count_own_readlinks) >= 400
        count_own_readlinks.clear()
        assert resolver.owners_of(inodes) == cold
        assert count_own_readlinks == []
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
        assert resolver._prefetching is not None
        assert resolver.owners_of(wanted) == plain
        assert all(Owner(PID, sock.fileno()) in plain[inode_of(sock)] for sock in tcp_pair)
        assert all(any(owner.pid == forked.pid for owner in plain[inode]) for inode in wanted)
        assert resolver.processes()[PID].name == OwnerResolver()._stat(f"/proc/{PID}")[1]
        resolver.prefetch()  # warm now: nothing to prefetch
        assert resolver._prefetching is None


def test_failing_prefetch_falls_back_to_an_own_scan(tcp_pair: tuple[socket.socket, ...]) -> None:
    resolver = OwnerResolver(proc_root="/nonexistent-proc")
    resolver.prefetch()  # the helper fails (no such directory)...
    resolver.proc_root = "/proc"
    listener = tcp_pair[0]
    assert resolver.owners_of({inode_of(listener)}) == {inode_of(listener): (Owner(PID, listener.fileno()),)}
