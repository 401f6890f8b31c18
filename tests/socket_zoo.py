"""Real sockets of every family and state netwatch claims to show, opened on loopback by the test process."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expected:
    """What netwatch should report for one socket the zoo opened."""

    proto: str
    family: str
    state: str
    local_address: str
    local_port: int
    remote_address: str = ""
    remote_port: int = 0
    inode: int = 0
    fd: int | None = None
    path: str | None = None

    @property
    def endpoints(self) -> tuple:
        return (self.proto, self.family, self.local_address, self.local_port, self.remote_address, self.remote_port)


@dataclass
class Zoo:
    expected: list[Expected] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    sockets: list[socket.socket] = field(default_factory=list)

    def add(self, sock: socket.socket, proto: str, state: str, **fields: object) -> socket.socket:
        family = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6", socket.AF_UNIX: "unix"}[sock.family]
        if family != "unix":
            address, port = sock.getsockname()[:2]
            fields.setdefault("local_address", address)
            fields.setdefault("local_port", port)
            self.ports.add(port)
            try:
                peer_address, peer_port = sock.getpeername()[:2]
            except OSError:  # not connected: the kernel reports the wildcard address
                peer_address, peer_port = ("0.0.0.0" if family == "ipv4" else "::"), 0
            fields.setdefault("remote_address", peer_address)
            fields.setdefault("remote_port", peer_port)
        else:
            fields.setdefault("local_address", "")
            fields.setdefault("local_port", 0)
        self.expected.append(
            Expected(proto, family, state, inode=os.fstat(sock.fileno()).st_ino, fd=sock.fileno(), **fields)
        )
        self.sockets.append(sock)
        return sock


def _tcp_pair(zoo: Zoo, family: socket.AddressFamily, host: str) -> None:
    listener = zoo.add(_listening(family, host), "tcp", "LISTEN")
    client = socket.socket(family)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    zoo.add(client, "tcp", "ESTABLISHED")
    zoo.add(server, "tcp", "ESTABLISHED")


def _listening(family: socket.AddressFamily, host: str) -> socket.socket:
    sock = socket.socket(family)
    sock.bind((host, 0))
    sock.listen()
    return sock


def _time_wait(zoo: Zoo, family: socket.AddressFamily, host: str) -> None:
    """The side that closes first lingers in TIME_WAIT, with inode 0 and no owner."""
    with _listening(family, host) as listener:
        client = socket.socket(family)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
        local, peer = client.getsockname()[:2], client.getpeername()[:2]
        client.close()
        server.recv(1)
        server.close()
    zoo.ports.add(local[1])
    zoo.expected.append(Expected("tcp", "ipv4" if family == socket.AF_INET else "ipv6", "TIME_WAIT", *local, *peer))


def _udp(zoo: Zoo) -> None:
    zoo.add(_bound(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "127.0.0.1"), "udp", "UNCONN")
    connected = _bound(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM), "::1")
    peer = _bound(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM), "::1")
    connected.connect(peer.getsockname())
    zoo.add(connected, "udp", "ESTABLISHED")
    zoo.add(peer, "udp", "UNCONN")


def _bound(sock: socket.socket, host: str) -> socket.socket:
    sock.bind((host, 0))
    return sock


def _unix(zoo: Zoo, directory: str) -> None:
    path = os.path.join(directory, "zoo.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    zoo.add(listener, "unix", "LISTEN", path=path)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    server, _ = listener.accept()
    zoo.add(server, "unix", "ESTABLISHED", path=path)
    zoo.add(client, "unix", "ESTABLISHED")
    abstract = f"netwatch-zoo-{os.getpid()}-{time.monotonic_ns()}"
    datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    datagram.bind("\0" + abstract)
    zoo.add(datagram, "unix", "UNCONN", path="@" + abstract)
    zoo.paths.update({path, "@" + abstract})


@contextlib.contextmanager
def socket_zoo() -> Iterator[Zoo]:
    """Open TCP (LISTEN, ESTABLISHED, TIME_WAIT; IPv4 and IPv6), UDP (bound, connected) and Unix sockets."""
    zoo = Zoo()
    with tempfile.TemporaryDirectory() as directory:
        try:
            _tcp_pair(zoo, socket.AF_INET, "127.0.0.1")
            _tcp_pair(zoo, socket.AF_INET6, "::1")
            _time_wait(zoo, socket.AF_INET, "127.0.0.1")
            _time_wait(zoo, socket.AF_INET6, "::1")
            _udp(zoo)
            _unix(zoo, directory)
            yield zoo
        finally:
            for sock in zoo.sockets:
                sock.close()


def named_sockets(unix_path: str, abstract_name: str) -> dict[str, socket.socket]:
    """Sockets by role, for backend tests that look each one up: ``listen4``, ``client4``, ``server4``,
    ``udp_bound4``, ``udp_connected4`` (and the same with ``6``), ``unix_listen`` (bound to ``unix_path``)
    and ``unix_abstract`` (a datagram socket bound to the abstract ``abstract_name``). The caller closes them."""
    opened: dict[str, socket.socket] = {}
    for family, host, tag in ((socket.AF_INET, "127.0.0.1", "4"), (socket.AF_INET6, "::1", "6")):
        listener = _listening(family, host)
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
        bound = _bound(socket.socket(family, socket.SOCK_DGRAM), host)
        connected = socket.socket(family, socket.SOCK_DGRAM)
        connected.connect(bound.getsockname()[:2])
        opened.update({f"listen{tag}": listener, f"client{tag}": client, f"server{tag}": server,
                       f"udp_bound{tag}": bound, f"udp_connected{tag}": connected})  # fmt: skip
    unix_listener = socket.socket(socket.AF_UNIX)
    unix_listener.bind(unix_path)
    unix_listener.listen(1)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind("\0" + abstract_name)
    opened.update({"unix_listen": unix_listener, "unix_abstract": abstract})
    return opened


def errno_of(call: Callable[[], object]) -> int:
    """The errno ``call()`` fails with (0: it did not)."""
    try:
        call()
    except OSError as error:
        return error.errno
    return 0


def dup_to_new_number(fd: int) -> int:
    """A copy of ``fd`` on a number above every one this process has open: never one an owner cache may hold as
    "not a socket" (e.g. the descriptor that listed this process's own fd directory)."""
    return os.dup2(fd, max(map(int, os.listdir("/proc/self/fd"))) + 100)
