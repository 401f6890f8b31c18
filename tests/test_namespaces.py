"""Every network namespace on the host: real namespaces made by the tests (``ip netns add``, ``unshare -n``), real
listeners on each namespace's own loopback, a process moved into a fabricated Docker cgroup; removed after."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netwatch.backends.actions.destroy import CLOSED, destroy_all
from netwatch.backends.collector import Collector
from netwatch.backends.filter import compile_filter
from netwatch.backends.history.tracker import History
from netwatch.backends.model.containers import Container, cgroup_path, container_of
from netwatch.backends.model.namespaces import HOST, INIT_NET_INODE, Namespace, Selection, default_name
from netwatch.backends.model.records import Owner, Process
from netwatch.backends.model.snapshot import Snapshot
from netwatch.backends.process_events import ProcessEvents
from netwatch.backends.sources.cgroups import find_cgroup2_root
from netwatch.backends.sources.netlink import NetlinkSource
from netwatch.backends.sources.netns import Found, Namespaces, NamespaceUnavailable, open_inside
from tests.as_nobody import run_as_nobody
from tests.socket_records import make_socket

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2")
LISTENER = """
import socket, sys, time
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
client = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
accepted, _ = server.accept()
print("ready", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""
"""A listener on ``argv[1]`` of the namespace's own loopback and one established connection to it."""
HEX_ID = "0123456789abcdef" * 4


@dataclass
class InNamespace:
    """A child process listening inside a network namespace of its own."""

    process: subprocess.Popen[str]
    inode: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=10)


def _start(prefix: list[str], port: int, before: str = "") -> InNamespace:
    """Run :data:`LISTENER` under ``prefix`` (a command that enters a namespace), after ``before`` (shell)."""
    command = [*prefix, "sh", "-c", f'{before}exec "$0" -c "$1" "$2"', sys.executable, LISTENER, str(port)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return InNamespace(process, os.stat(f"/proc/{process.pid}/ns/net").st_ino)


@pytest.fixture
def free_port() -> Iterator[tuple[socket.socket, int]]:
    """A listener of the test's own on 127.0.0.1 (the root namespace) and its port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server, server.getsockname()[1]


@pytest.fixture
def ip_netns(free_port: tuple[socket.socket, int]) -> Iterator[tuple[str, InNamespace]]:
    """``ip netns add`` (lo up) and a child listening in it on the port of the test's own listener."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2")
    name = f"nw-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        child = _start(["ip", "netns", "exec", name], free_port[1], before="ip link set lo up && ")
        yield name, child
        child.stop()
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _snapshot(netns: str = "all") -> Snapshot:
    return Collector("netlink", netns=Selection(netns)).snapshot()


def _listeners(snapshot: Snapshot, port: int) -> dict[int | None, list]:
    found: dict[int | None, list] = {}
    for sock in snapshot.sockets.values():
        if sock.proto == "tcp" and sock.state == "LISTEN" and sock.local_port == port:
            found.setdefault(sock.netns_inode, []).append(sock)
    return found


def test_the_same_port_in_two_namespaces_is_two_sockets_with_their_own_namespace_and_owner(
    free_port: tuple[socket.socket, int], ip_netns: tuple[str, InNamespace]
) -> None:
    server, port = free_port
    name, child = ip_netns
    own = os.stat("/proc/self/ns/net").st_ino
    snapshot = _snapshot()
    listeners = _listeners(snapshot, port)
    (mine,) = listeners[own]
    (theirs,) = listeners[child.inode]
    assert mine.key != theirs.key and mine.cookie != theirs.cookie
    assert [owner.pid for owner in mine.owners] == [os.getpid()]
    assert [owner.pid for owner in theirs.owners] == [child.pid]
    assert (theirs.netns, mine.netns) == (name, snapshot.namespaces[own].name)
    connections = [sock for sock in snapshot.sockets.values()
                   if sock.netns_inode == child.inode and sock.state == "ESTABLISHED" and port in
                   (sock.local_port, sock.remote_port)]  # fmt: skip
    assert len(connections) == 2 and all([o.pid for o in sock.owners] == [child.pid] for sock in connections)
    namespace = snapshot.namespaces[child.inode]
    assert (namespace.name, namespace.pids, namespace.own) == (name, (child.pid,), False)
    assert snapshot.namespaces[own].own


def test_selection_picks_one_namespace_by_name_inode_pid_or_self(
    free_port: tuple[socket.socket, int], ip_netns: tuple[str, InNamespace]
) -> None:
    _server, port = free_port
    name, child = ip_netns
    own = os.stat("/proc/self/ns/net").st_ino
    for selection in (name, str(child.inode), f"pid:{child.pid}"):
        snapshot = _snapshot(selection)
        assert list(snapshot.namespaces) == [child.inode], selection
        assert set(_listeners(snapshot, port)) == {child.inode}
    assert set(_listeners(_snapshot("self"), port)) == {own}


def test_filter_terms_and_bare_words_find_the_namespace(
    free_port: tuple[socket.socket, int], ip_netns: tuple[str, InNamespace]
) -> None:
    _server, port = free_port
    name, child = ip_netns
    snapshot = _snapshot()
    for text in (f"netns {name}", f"netns {child.inode}", name):
        socket_filter = compile_filter(f"({text}) and state listening and sport = :{port}")
        matched = [sock for sock in snapshot.sockets.values() if socket_filter.matches(sock, snapshot.processes)]
        assert [sock.netns_inode for sock in matched] == [child.inode], text


def test_once_shows_a_namespace_column_and_json_lists_the_namespaces(
    free_port: tuple[socket.socket, int], ip_netns: tuple[str, InNamespace]
) -> None:
    _server, port = free_port
    name, child = ip_netns
    netwatch = [sys.executable, "-m", "netwatch.tui", "--once", "-q", "--filter", f"sport = :{port}"]
    table = subprocess.run(netwatch, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    assert table[0].split()[0] == "Netns"
    assert sorted(line.split()[0] for line in table[1:] if "LISTEN" in line) == sorted([name, _own_name()])
    document = json.loads(subprocess.run([*netwatch, "--format", "json"], capture_output=True, check=True,
                                         timeout=60).stdout)  # fmt: skip
    by_name = {namespace["name"]: namespace for namespace in document["namespaces"]}
    assert by_name[name]["inode"] == child.inode and by_name[name]["pids"] == [child.pid]
    assert by_name[name]["sockets"] >= 3 and by_name[name]["container"] is None
    (theirs,) = [sock for sock in document["sockets"] if sock["netns"] == name and sock["state"] == "LISTEN"]
    assert theirs["netns_inode"] == child.inode and theirs["owners"][0]["pid"] == child.pid
    assert "container" in theirs


def _own_name() -> str:
    own = os.stat("/proc/self/ns/net").st_ino
    return default_name(own)


@ROOT_ONLY
def test_a_namespace_made_by_unshare_is_found_through_proc_and_dropped_when_it_is_gone() -> None:
    port = 2024
    child = _start(["unshare", "-n"], port, before="ip link set lo up && ")
    source = NetlinkSource(reuse_records=True)
    try:
        result = source.collect()
        sockets = result.sockets.values()
        (theirs,) = [sock for sock in sockets if sock.netns_inode == child.inode and sock.state == "LISTEN"]
        assert theirs.netns == f"net:[{child.inode}]" and theirs.local_port == port
        assert child.inode in source._diag  # one sock_diag socket inside it...
        child.stop()
        previous = {sock.key: sock for sock in result.sockets.values()}
        after = source.collect(previous)
        assert not [sock for sock in after.sockets.values() if sock.netns_inode == child.inode]  # no stale socket kept
        assert child.inode not in source._diag  # ...closed once the namespace is gone (it kept it alive)
        assert child.inode not in {namespace.inode for namespace in after.namespaces}
    finally:
        child.stop()
        source.close()


@ROOT_ONLY
def test_the_last_enumeration_is_kept_while_no_process_comes_or_goes_and_for_max_age_at_most(tmp_path: Path) -> None:
    """``enumerate(max_age)`` gives the last enumeration again while the processes under /proc (here a /proc of
    netwatch and its children) are the same and it is younger than ``max_age``; a process that came or went, or an
    older enumeration, makes it read them all again. ``max_age`` 0 always reads them."""
    (tmp_path / "self").symlink_to("/proc/self")
    (tmp_path / str(os.getpid())).symlink_to(f"/proc/{os.getpid()}")
    namespaces = Namespaces(str(tmp_path), bind_dirs=())
    first = namespaces.enumerate(60)
    assert namespaces.enumerate(60) is first
    assert namespaces.enumerate(0) is not first
    kept = namespaces.enumerate(60)
    assert namespaces.enumerate(1e-9) is not kept
    child = _start(["unshare", "-n"], 2026, before="ip link set lo up && ")
    try:
        before = namespaces.enumerate(60)
        assert child.inode not in before.found
        (tmp_path / str(child.process.pid)).symlink_to(f"/proc/{child.process.pid}")
        came = namespaces.enumerate(60)
        assert child.inode in came.found and came.found[child.inode].namespace.pids == (child.process.pid,)
        (tmp_path / str(child.process.pid)).unlink()
        assert child.inode not in namespaces.enumerate(60).found
    finally:
        child.stop()


@ROOT_ONLY
def test_with_process_events_the_last_enumeration_stands_without_listing_proc_until_a_process_comes(
    monkeypatch: pytest.MonkeyPatch, process_events: Callable[..., ProcessEvents]
) -> None:
    """With the proc connector's events, no event since the last enumeration means no process came or went: it
    stands without /proc being listed; a process new in a new namespace is found at the next call."""
    events = process_events()
    listings: list[str] = []
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        listings.append(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    namespaces, watcher = Namespaces(events=events.reader()), events.reader()
    namespaces.enumerate(60)
    for _ in range(100):  # the host's other processes come and go too: until a quiet moment
        watcher.take()
        last = namespaces.enumerate(60)
        quiet = watcher.take()
        listings.clear()
        kept = namespaces.enumerate(60)
        if quiet == set() and watcher.take() == set():  # no event between the two calls' takes
            assert kept is last and "/proc" not in listings
            break
    else:
        pytest.skip("the host never went quiet for two calls")
    child = _start(["unshare", "-n"], 2027, before="ip link set lo up && ")
    try:
        assert child.inode in namespaces.enumerate(60).found
    finally:
        child.stop()


@ROOT_ONLY
def test_a_namespace_gone_between_enumeration_and_dump_is_skipped_without_a_trace() -> None:
    child = _start(["unshare", "-n"], 2024, before="ip link set lo up && ")
    enumeration = Namespaces().enumerate()
    child.stop()
    found = enumeration.found[child.inode]
    with pytest.raises(NamespaceUnavailable) as gone:
        open_inside(found, lambda: None)
    assert gone.value.gone

    source = NetlinkSource()
    source._namespaces.enumerate = lambda _max_age: enumeration  # made before the namespace went away
    try:
        result = source.collect()
    finally:
        source.close()
    assert child.inode not in {namespace.inode for namespace in result.namespaces}
    assert not [sock for sock in result.sockets.values() if sock.netns_inode == child.inode]
    assert any(namespace.own for namespace in result.namespaces)


@pytest.fixture
def docker_cgroup() -> Iterator[Path]:
    """A cgroup v2 directory named as Docker's systemd driver names a container's."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = find_cgroup2_root()
    if root is None or not os.access(root, os.W_OK):
        pytest.skip("no writable cgroup v2 hierarchy here")
    directory = Path(root) / f"docker-{HEX_ID}.scope"
    try:
        directory.mkdir()
    except OSError as error:
        pytest.skip(f"cannot make a cgroup under {root}: {error.strerror}")
    yield directory
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            directory.rmdir()
            break
        except OSError:  # its process is still exiting
            time.sleep(0.05)


def test_a_process_in_a_docker_cgroup_is_attributed_to_the_container(docker_cgroup: Path) -> None:
    procs = docker_cgroup / "cgroup.procs"
    child = _start(["unshare", "-n"], 2024, before=f"echo $$ > {procs} && ip link set lo up && ")
    try:
        snapshot = _snapshot()
        container = Container("docker", HEX_ID[:12], f"docker:{HEX_ID[:12]}")
        assert snapshot.processes[child.pid].container == container
        namespace = snapshot.namespaces[child.inode]
        assert (namespace.name, namespace.container) == (container.name, container)
        sockets = [sock for sock in snapshot.sockets.values() if sock.netns_inode == child.inode]
        assert len(sockets) == 3 and all(snapshot.container_of(sock) == container for sock in sockets)
        socket_filter = compile_filter(f"container {HEX_ID[:12]}")
        assert {sock.key for sock in snapshot.sockets.values() if socket_filter.matches(sock, snapshot.processes)} \
            == {sock.key for sock in sockets}  # fmt: skip
    finally:
        child.stop()


def test_without_the_rights_to_enter_namespaces_they_are_counted_and_explained(
    ip_netns: tuple[str, InNamespace],
) -> None:
    result = run_as_nobody(
        "import sys; sys.argv = ['netwatch', '--once', '--format', 'json']\n"
        "from netwatch.tui.cli.main import main; sys.exit(main())"
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    warnings = " ".join(document["warnings"])
    assert "CAP_SYS_ADMIN" in warnings or "run as root to see them" in warnings
    assert len(document["namespaces"]) == 1  # its own, the only one it may enter


@pytest.mark.parametrize("argument", ["pid:abc", "pid:0", ""])
def test_a_bad_netns_selection_is_one_line_and_exit_2(argument: str) -> None:
    result = subprocess.run([sys.executable, "-m", "netwatch.tui", "--once", "--netns", argument],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_netns_that_does_not_exist_is_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "-m", "netwatch.tui", "--once", "--netns", "no-such-namespace"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "netwatch: --netns no-such-namespace: no such network namespace"


@pytest.mark.parametrize(
    ("cgroup", "expected"),
    [
        (f"/system.slice/docker-{HEX_ID}.scope", Container("docker", HEX_ID[:12], f"docker:{HEX_ID[:12]}")),
        (f"/docker/{HEX_ID}", Container("docker", HEX_ID[:12], f"docker:{HEX_ID[:12]}")),
        (f"/machine.slice/libpod-{HEX_ID}.scope", Container("podman", HEX_ID[:12], f"podman:{HEX_ID[:12]}")),
        (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234abcd_1111_2222_3333_444455556666"
         f".slice/cri-containerd-{HEX_ID}.scope",
         Container("containerd", HEX_ID[:12], f"containerd:{HEX_ID[:12]}", "1234abcd-1111-2222-3333-444455556666")),
        (f"/kubepods/burstable/pod1234abcd-1111-2222-3333-444455556666/{HEX_ID}",
         Container("kubernetes", HEX_ID[:12], f"kubernetes:{HEX_ID[:12]}", "1234abcd-1111-2222-3333-444455556666")),
        (f"/system.slice/crio-{HEX_ID}.scope", Container("cri-o", HEX_ID[:12], f"cri-o:{HEX_ID[:12]}")),
        ("/system.slice/nginx.service", Container("systemd", "nginx.service", "nginx.service")),
        ("/user.slice/user-1000.slice/session-3.scope", Container("systemd", "session-3.scope", "session-3.scope")),
        ("/", None),
        ("/process_api/583ee374df46239e32f944c3b7b64dc0", None),
    ],
)  # fmt: skip
def test_containers_and_units_from_cgroup_paths(cgroup: str, expected: Container | None) -> None:
    assert container_of(cgroup) == expected


def test_the_cgroup_path_is_v2_else_the_first_v1_hierarchy_that_is_not_the_root() -> None:
    assert cgroup_path(b"0::/system.slice/a.service\n") == "/system.slice/a.service"
    assert cgroup_path(b"4:memory:/docker/abc\n1:cpu:/\n0::/\n") == "/docker/abc"
    assert cgroup_path(b"1:cpu:/\n0::/\n") == "/"
    assert cgroup_path(b"") is None


def test_terms_for_units_and_ownerless_sockets_of_a_container_namespace() -> None:
    unit = Container("systemd", "nginx.service", "nginx.service")
    processes = {7: make_process(7, unit)}
    served = make_socket(("tcp", 1, 5), owners=owned(7), netns="host", netns_inode=INIT_NET_INODE)
    waiting = make_socket(("tcp", 2, 9), netns=f"docker:{HEX_ID[:12]}", netns_inode=9)
    assert compile_filter("unit nginx").matches(served, processes)
    assert compile_filter("unit nginx.service").matches(served, processes)
    assert not compile_filter("unit nginx").matches(waiting, processes)
    assert compile_filter(f"container {HEX_ID[:6]}").matches(waiting, processes)  # a TIME_WAIT left in it
    assert not compile_filter(f"container {HEX_ID[:6]}").matches(served, processes)
    assert compile_filter("netns host").matches(served, processes) and default_name(INIT_NET_INODE) == HOST
    snapshot = Snapshot(0.0, 0.0, "netlink", "", {}, processes,
                        namespaces={9: Namespace(9, "x", Container("docker", "c", "docker:c"))})  # fmt: skip
    assert snapshot.container_of(waiting) == Container("docker", "c", "docker:c")
    assert snapshot.container_of(served) == unit


def make_process(pid: int, container: Container | None) -> Process:
    return Process(pid, "nginx", ("nginx",), 0, "root", None, container=container)


def owned(pid: int) -> tuple[Owner, ...]:
    return (Owner(pid, 3),)


def test_found_paths_of_another_namespace_never_enter_it() -> None:
    """A pid reused by a process of another namespace (here: our own) is not entered in its place."""
    own = os.stat("/proc/self/ns/net").st_ino
    found = Found(Namespace(own + 1, "elsewhere"), (f"/proc/{os.getpid()}/ns/net",))
    with pytest.raises(NamespaceUnavailable) as gone:
        open_inside(found, lambda: None)
    assert gone.value.gone


def test_a_socket_of_another_namespace_is_closed_through_a_socket_of_that_namespace(
    free_port: tuple[socket.socket, int], ip_netns: tuple[str, InNamespace]
) -> None:
    _server, port = free_port
    _name, child = ip_netns
    (theirs,) = [
        sock for sock in _snapshot().sockets.values()
        if sock.netns_inode == child.inode and sock.state == "ESTABLISHED" and sock.remote_port == port
    ]  # fmt: skip
    (result,) = destroy_all([theirs])
    assert result.outcome == CLOSED, result.reason
    assert theirs.key not in _snapshot().sockets


TALKER = """
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
accepted, _ = server.accept()
held = []
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "send":
        client.sendall(b"x" * 100_000)
        accepted.recv(100_000, socket.MSG_WAITALL)
    elif line.strip() == "burst":
        with socket.create_connection(server.getsockname()) as short:
            peer = server.accept()[0]
            short.sendall(b"x" * 100_000)
            peer.recv(100_000, socket.MSG_WAITALL)
            peer.close()
    else:
        held.append(socket.create_connection(server.getsockname()))
        held.append(server.accept()[0])
    print("done", flush=True)
"""
"""A listener and a connection to it in the namespace; ``send`` moves 100 KB over it, ``burst`` opens a connection,
moves 100 KB and closes it, another line opens one more."""


IN_NEW_NAMESPACE = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -c "$1"', sys.executable]
"""Runs ``python -c CODE`` (CODE appended) in a new network namespace with its loopback up."""


@contextlib.contextmanager
def talker() -> Iterator[tuple[subprocess.Popen, int]]:
    """:data:`TALKER` running in a namespace of its own, and the namespace's inode."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    process = subprocess.Popen([*IN_NEW_NAMESPACE, TALKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        yield process, os.stat(f"/proc/{process.pid}/ns/net").st_ino
    finally:
        process.stdin.close()
        process.wait(timeout=10)


def test_an_idle_namespace_is_read_by_lookups_yet_sees_bytes_move_and_new_sockets_come() -> None:
    with talker() as (process, inode), contextlib.closing(NetlinkSource(reuse_records=True)) as source:

        def collect(previous: dict) -> dict:
            return {sock.key: sock for sock in source.collect(previous).sockets.values() if sock.netns_inode == inode}

        def tell(command: str) -> None:
            process.stdin.write(command + "\n")
            process.stdin.flush()
            assert process.stdout.readline().strip() == "done"

        first = collect({})
        second = collect(first)
        assert source._known_tcp[inode].age >= 1  # read by lookups, not dumped
        assert second.keys() == first.keys() and len(first) == 3
        tell("send")
        third = collect(second)
        assert source._known_tcp[inode].age >= 2  # no socket came or went: lookups still
        acked = [sock.tcp_info.bytes_acked for sock in third.values() if sock.tcp_info and sock.state == "ESTABLISHED"]
        assert max(acked) >= 100_000
        tell("open")
        fourth = collect(third)
        assert len(fourth) == 5  # the counters moved: dumped whole, the new connection is there


OWN_NAMESPACE_READER = """
import json, os, socket
from netwatch.backends.sources.netlink import NetlinkSource
server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname())
accepted, _ = server.accept()
source = NetlinkSource(reuse_records=True)
inode = os.stat("/proc/self/ns/net").st_ino
steps = []
for step in ("first", "idle", "send", "open"):
    if step == "send":
        client.sendall(b"x" * 100_000)
        accepted.recv(100_000, socket.MSG_WAITALL)
    elif step == "open":
        late = socket.create_connection(server.getsockname())
        late_accepted = server.accept()[0]
    tcp = [s for s in source.collect(None).sockets.values() if s.proto == "tcp" and s.netns_inode == inode]
    known = source._known_tcp.get(inode)
    if step == "first":  # (namespaces found together start at spread-out ages)
        known = source._known_tcp[inode] = known._replace(age=0)
    steps.append([len(tcp), known.age if known else None, max(s.tcp_info.bytes_acked for s in tcp if s.tcp_info)])
print(json.dumps(steps))
"""


def test_netwatchs_own_idle_namespace_is_read_by_lookups_too() -> None:
    """On an idle host the TCP dump's walk of the kernel's hash table is most of a refresh: netwatch's own
    namespace, holding few TCP sockets, is read by lookups while its counters stand still, as any other one."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    done = subprocess.run([*IN_NEW_NAMESPACE, OWN_NAMESPACE_READER], capture_output=True, text=True, timeout=60,
                          check=True)  # fmt: skip
    (first, idle, sent, opened) = json.loads(done.stdout)
    assert first[:2] == [3, 0] and idle[:2] == [3, 1]  # dumped, then looked up
    assert sent[:2] == [3, 2] and sent[2] >= 100_000  # lookups still see the bytes move
    assert opened[0] == 5 and opened[1] == 0  # a new connection moved the counters: dumped whole


def test_a_namespace_with_more_tcp_sockets_than_lookups_pay_for_is_dumped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netwatch.backends.sources.netlink.source.LOOKUPS_AT_MOST", 2)
    with talker() as (_process, inode), contextlib.closing(NetlinkSource(reuse_records=True)) as source:
        for _ in range(2):
            ours = [sock for sock in source.collect(None).sockets.values() if sock.netns_inode == inode]
            assert len(ours) == 3 and inode not in source._known_tcp


def test_the_procfs_backend_reads_each_namespace_through_one_of_its_processes(
    free_port: tuple[socket.socket, int], ip_netns: tuple[str, InNamespace]
) -> None:
    _server, port = free_port
    name, child = ip_netns
    snapshot = Collector("procfs", netns=Selection("all")).snapshot()
    listeners = _listeners(snapshot, port)
    (theirs,) = listeners[child.inode]
    assert theirs.netns == name and [owner.pid for owner in theirs.owners] == [child.pid]
    (mine,) = listeners[os.stat("/proc/self/ns/net").st_ino]  # owners of every namespace read, not the last one's
    assert [owner.pid for owner in mine.owners] == [os.getpid()]
    assert {os.getpid(), child.pid} <= snapshot.processes.keys()  # and the processes of every namespace
    only = Collector("procfs", netns=Selection(name)).snapshot()
    assert set(_listeners(only, port)) == {child.inode} and list(only.namespaces) == [child.inode]


def test_close_events_of_another_namespace_show_its_short_lived_connections() -> None:
    history = History()
    with talker() as (process, inode), contextlib.closing(Collector("netlink", live=True)) as collector:
        history.update(collector.snapshot())
        history.update(collector.snapshot())  # subscribed to its close events since the first
        process.stdin.write("burst\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "done"
        time.sleep(0.3)
        change = history.update(collector.snapshot())
    short = [item for item in change.short_lived if item.socket.netns_inode == inode]
    assert len(short) == 2 and max(item.socket.tcp_info.bytes_acked for item in short) >= 100_000
    (accepted,) = [item for item in short if item.owners]
    assert accepted.owners == (process.pid,)  # accepted on its listener


def test_without_namespace_files_in_proc_netwatch_lists_its_own_namespace_alone(tmp_path: Path) -> None:
    enumeration = Namespaces(proc=str(tmp_path)).enumerate()
    (only,) = enumeration.found.values()
    assert only.namespace.own and only.namespace.name == "self"
