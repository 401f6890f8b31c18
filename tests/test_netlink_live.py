"""NetlinkSource against real sockets on loopback, cross-checked with pyroute2's decoder and ``ss``.

All sockets are opened once (module fixture) and collected once, from a plain thread: a dump of a busy
host (other benchmarks may hold 100,000 sockets) is the slow part.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator

import pytest
from pyroute2.netlink.diag import inet_diag_msg

from netwatch.backends.model.records import Socket
from netwatch.backends.model.source_result import SourceResult
from netwatch.backends.sources.netlink import NetlinkSource, inet
from netwatch.backends.sources.netlink.transport import NLMSG_HEADER_LEN, DiagSocket
from tests.compiled_paths import decoded_by
from tests.fixtures.recorded_dumps import dump_messages
from tests.socket_zoo import Zoo, socket_zoo

INODE_OFFSET = 68  # idiag_inode inside struct inet_diag_msg
STABLE_FIELDS = ("state", "ca_state", "options", "snd_wscale", "rcv_wscale", "rto", "snd_mss", "rcv_mss", "pmtu",
                 "advmss", "reordering", "snd_ssthresh", "rcv_space")  # fmt: skip
"""tcp_info fields of an idle loopback connection that do not change between two dumps."""


def _inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


class World:
    """Every socket the tests look at, and one NetlinkSource collection of them made in a plain thread."""

    def __init__(self, directory: str, zoo: Zoo) -> None:
        self.zoo = zoo
        self.unix_path = os.path.join(directory, "live.sock")
        self.unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix_listener.bind(self.unix_path)
        self.unix_listener.listen()
        self.unix_client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix_client.connect(self.unix_path)
        self.unix_server, _ = self.unix_listener.accept()
        self.unix_client.sendall(b"12345")
        self.abstract_name = f"@netwatch-live-{os.getpid()}"
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.abstract.bind("\0" + self.abstract_name[1:])
        self.left, self.right = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp4.bind(("127.0.0.1", 0))
        self.udp4.sendto(b"abc", self.udp4.getsockname())
        self.peer6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.peer6.bind(("::1", 0))
        self.connected6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.connected6.connect(self.peer6.getsockname())
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.client = socket.create_connection(self.listener.getsockname())
        self.server, _ = self.listener.accept()
        self.client.sendall(b"x" * 4000)
        self.server.recv(4000)
        try:
            self.raw: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError:
            self.raw = None
        results: list[SourceResult] = []
        worker = threading.Thread(target=lambda: results.append(NetlinkSource().collect()))
        worker.start()
        worker.join(timeout=60)
        (self.result,) = results
        self.found = {sock.inode: sock for sock in self.result.sockets.values() if sock.inode}

    def sockets(self) -> list[socket.socket]:
        return [value for value in vars(self).values() if isinstance(value, socket.socket)]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with socket_zoo() as zoo, tempfile.TemporaryDirectory() as directory:
        opened = World(directory, zoo)
        try:
            yield opened
        finally:
            for sock in opened.sockets():
                sock.close()


def _endpoints(sock: Socket, expected_remote: str | None = None) -> tuple:
    """The zoo's endpoint tuple; an unconnected socket's wildcard peer counts as "" when ``expected_remote`` is."""
    remote = sock.remote_address
    if expected_remote == "" and sock.remote_port == 0 and remote in ("0.0.0.0", "::"):
        remote = ""
    return (sock.proto, sock.family, sock.local_address, sock.local_port, remote, sock.remote_port)


def test_every_zoo_socket_is_reported_with_state_addresses_and_inode(world: World) -> None:
    by_endpoints: dict[tuple, list[Socket]] = {}
    for sock in world.result.sockets.values():
        if sock.local_port in world.zoo.ports:
            by_endpoints.setdefault(_endpoints(sock), []).append(sock)
    for expected in world.zoo.expected:
        if expected.inode:
            found = world.found[expected.inode]
            if expected.family != "unix":
                assert _endpoints(found, expected.remote_address) == expected.endpoints
        else:  # TIME_WAIT: no inode, found by its endpoints
            (found,) = by_endpoints[expected.endpoints]
            assert found.timer is not None and found.timer.name == "timewait"
        assert (found.proto, found.family, found.state) == (expected.proto, expected.family, expected.state)
        if expected.path is not None and expected.state != "ESTABLISHED":
            assert found.path == expected.path


def test_keys_are_unique_cookies_and_records_come_without_owners(world: World) -> None:
    assert all(key == sock.key for key, sock in world.result.sockets.items())
    sockets, unavailable = world.result.sockets.values(), world.result.unavailable
    from_netlink = [sock for sock in sockets if (sock.proto, sock.family) not in unavailable]
    own = os.stat("/proc/self/ns/net").st_ino
    # other namespaces' sockets may be there too (a parallel test's): each keyed by its own namespace
    assert all(sock.key == (sock.proto, sock.cookie, sock.netns_inode) for sock in from_netlink)
    assert any(sock.netns_inode == own for sock in from_netlink)
    assert all(sock.owners == () for sock in world.result.sockets.values())  # the collector attaches them


def test_unix_pairs_path_abstract_and_socketpair(world: World) -> None:
    found = world.found
    listener = found[_inode(world.unix_listener)]
    assert (listener.state, listener.path, listener.sock_type) == ("LISTEN", world.unix_path, "stream")
    client, server = found[_inode(world.unix_client)], found[_inode(world.unix_server)]
    assert (client.peer_inode, server.peer_inode) == (_inode(world.unix_server), _inode(world.unix_client))
    assert (server.state, server.path, server.recv_q) == ("ESTABLISHED", world.unix_path, 5)
    assert client.path is None
    abstract = found[_inode(world.abstract)]
    assert (abstract.path, abstract.state, abstract.sock_type) == (world.abstract_name, "UNCONN", "dgram")
    left = found[_inode(world.left)]
    assert (left.sock_type, left.peer_inode) == ("seqpacket", _inode(world.right))
    unix_sockets = [found[_inode(sock)] for sock in world.sockets() if sock.family == socket.AF_UNIX]
    assert all(sock.uid == os.getuid() and sock.key[0] == "unix" for sock in unix_sockets)


def test_udp_bound_and_connected_v4_v6(world: World) -> None:
    udp4 = world.found[_inode(world.udp4)]
    assert (udp4.proto, udp4.family, udp4.state) == ("udp", "ipv4", "UNCONN")
    assert (udp4.local_address, udp4.local_port) == world.udp4.getsockname()
    assert (udp4.remote_address, udp4.remote_port) == ("0.0.0.0", 0)
    assert udp4.recv_q > 0 and udp4.tcp_info is None
    udp6 = world.found[_inode(world.connected6)]
    assert (udp6.family, udp6.state, udp6.local_address) == ("ipv6", "ESTABLISHED", "::1")
    assert (udp6.remote_address, udp6.remote_port) == world.peer6.getsockname()[:2]


def test_raw_sockets_are_reported_or_declared_unavailable(world: World) -> None:
    """Dumped by netlink where the kernel can, else read from /proc/net, and the result says so."""
    if ("raw", "ipv4") in world.result.unavailable:
        assert any("raw/ipv4" in warning and "/proc/net" in warning for warning in world.result.warnings)
    assert world.raw is None or world.found[_inode(world.raw)].proto == "raw"


def test_tcp_pair_fields(world: World) -> None:
    client = world.found[_inode(world.client)]
    assert (client.state, client.local_address, client.remote_port) == (
        "ESTABLISHED", "127.0.0.1", world.listener.getsockname()[1]
    )  # fmt: skip
    assert client.tcp_info.bytes_acked >= 4001 and client.tcp_info.state == 1
    assert client.skmem is not None and client.meminfo is not None and client.timer is not None
    assert client.extensions["sockopt"]["is_icsk"] is True and client.shutdown == 0


def _raw_message(inode: int) -> bytes:
    """The kernel's inet_diag message (nlmsghdr included) for the IPv4 TCP socket with ``inode``."""
    found = dump_messages(inet.build_request("tcp", "ipv4"), {inode}, INODE_OFFSET)
    assert found, "socket not in the dump"
    return found[0]


def test_tcp_info_agrees_with_pyroute2_decoder(world: World) -> None:
    raw = bytearray(_raw_message(_inode(world.client)))
    message = inet_diag_msg(bytes(raw))
    message.decode()
    theirs = dict(message.get_attr("INET_DIAG_INFO"))
    decoded: dict = {}
    inet.InetDecoder(lambda cgroup_id: None).decode([(raw, NLMSG_HEADER_LEN, len(raw))], "tcp", decoded)
    (ours,) = decoded.values()
    for field in ours.tcp_info._fields:  # the same bytes: every field pyroute2 knows must agree...
        if f"tcpi_{field}" in theirs and field != "rcv_wscale":  # ...but its rcv_wscale repeats the low nibble
            assert getattr(ours.tcp_info, field) == theirs[f"tcpi_{field}"], field
    assert ours.cookie == message["idiag_cookie"] and ours.local_port == message["idiag_sport"]
    assert ours.remote_port == message["idiag_dport"] and ours.inode == message["idiag_inode"]
    assert ours.congestion == message.get_attr("INET_DIAG_CONG")
    collected = world.found[_inode(world.client)].tcp_info  # and the collection saw the same connection
    for field in STABLE_FIELDS:
        assert getattr(collected, field) == getattr(ours.tcp_info, field), field


@pytest.mark.parametrize("live", [False, True], ids=["one-off", "live"])
def test_compiled_decoder_builds_the_records_of_the_python_loop(
    world: World, live: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's messages (every extension asked for) of the world's TCP and UDP sockets, both families."""
    if inet._decode is None:
        pytest.skip("the compiled inet_diag decoder is not built here (no compiler at install)")
    inodes = {_inode(sock) for sock in world.sockets()}
    for proto in ("tcp", "udp"):
        messages = [
            message[NLMSG_HEADER_LEN:]
            for family in inet.FAMILIES
            for message in dump_messages(inet.build_request(proto, family), inodes, INODE_OFFSET)
        ]
        ours, python_decoded = decoded_by("compiled", messages, live, monkeypatch, proto)
        theirs, _ = decoded_by("pure-python", messages, live, monkeypatch, proto)
        assert python_decoded == 0 and len(ours) == len(messages) >= 3
        assert list(ours) == list(theirs)
        for key, record in ours.items():
            assert record == theirs[key] and record.digest == theirs[key].digest
            assert type(record.extensions) is type(theirs[key].extensions)


def test_tcp_info_agrees_with_ss(world: World) -> None:
    ours = world.found[_inode(world.client)]
    info = subprocess.run(
        ["ss", "-tniH", "state", "established", f"( sport = :{world.client.getsockname()[1]} )"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout  # fmt: skip
    with open("/proc/sys/net/ipv4/tcp_congestion_control") as default:
        congestion = default.read().strip()
    assert ours.congestion == congestion and re.search(rf"\s{congestion}\s", info)
    numbers = {name: int(value) for name, value in re.findall(r"\b(mss|rcvmss|advmss|cwnd|pmtu):(\d+)\b", info)}
    tcp = ours.tcp_info
    assert numbers == {"mss": tcp.snd_mss, "rcvmss": tcp.rcv_mss, "advmss": tcp.advmss, "cwnd": tcp.snd_cwnd,
                       "pmtu": tcp.pmtu}  # fmt: skip
    snd_wscale, rcv_wscale = re.search(r"wscale:(\d+),(\d+)", info).groups()
    assert (tcp.snd_wscale, tcp.rcv_wscale) == (int(snd_wscale), int(rcv_wscale))
    if "bbr" in ours.extensions:
        assert "bbr:(" in info


def test_socket_cgroup_is_the_process_cgroup(world: World) -> None:
    ours = world.found[_inode(world.client)]
    with open("/proc/self/cgroup") as cgroups:
        unified = [line.split(":", 2)[2].strip() for line in cgroups if line.startswith("0::")]
    if ours.cgroup is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    assert [ours.cgroup] == unified


def test_tcp_of_both_families_comes_in_one_dump_or_per_family_where_refused(monkeypatch) -> None:
    """One legacy TCPDIAG_GETSOCK dump gives IPv4 and IPv6 TCP sockets alike; a kernel refusing it (here: a request
    too short to read, EINVAL) gets the per-family dumps instead, with nothing to warn about."""
    with socket.create_server(("127.0.0.1", 0)) as v4, socket.create_server(("::1", 0), family=socket.AF_INET6) as v6:
        inodes = {os.fstat(sock.fileno()).st_ino for sock in (v4, v6)}
        for request in (inet.build_tcp_request(), b"\0"):
            monkeypatch.setattr(inet, "build_tcp_request", lambda _extensions, request=request: request)
            result = NetlinkSource().collect()
            found = {sock.inode: sock.family for sock in result.sockets.values() if sock.inode in inodes}
            assert sorted(found.values()) == ["ipv4", "ipv6"], request
            assert not [warning for warning in result.warnings if "tcp" in warning], result.warnings


def test_lookups_answered_in_many_datagrams_are_all_received() -> None:
    """One query of 1,200 lookups (each reply a datagram of its own, filling more than one receive chunk): every
    socket asked for comes back once, and the two of a connection reset meanwhile are counted as missing."""
    with socket.create_server(("127.0.0.1", 0), backlog=700) as server:
        address = server.getsockname()
        ends = []
        try:
            for _ in range(600):
                ends.append(socket.create_connection(address))
                ends.append(server.accept()[0])
            own = os.stat("/proc/self/ns/net").st_ino
            inodes = {os.fstat(end.fileno()).st_ino for end in ends}
            asked = [
                sock for sock in NetlinkSource().collect(None).sockets.values()
                if sock.proto == "tcp" and sock.netns_inode == own and sock.inode in inodes
            ]  # fmt: skip (by inode: a TIME_WAIT left by another test may hold the server's port number)
            assert len(asked) == 1200
            for end in (ends.pop(), ends.pop()):  # the last connection, reset: its ends' lookups find nothing
                end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                end.close()
            diag = DiagSocket()
            try:
                found, missing = diag.query([inet.build_lookup(sock) for sock in asked])
            finally:
                diag.close()
        finally:
            for end in ends:
                end.close()
    low_high = [struct.unpack_from("=II", data, start + 44) for data, start, _end in found]  # idiag_cookie
    cookies = {low | high << 32 for low, high in low_high}
    assert missing == 2 and len(found) == 1198 and len(cookies) == 1198 and cookies < {s.cookie for s in asked}


@pytest.mark.parametrize("live", [True, False])
def test_a_collection_freezes_what_it_built_only_when_it_built_many(live: bool, monkeypatch) -> None:
    """The collector is off during a collection; enabling it again, a collection that built many records moves them
    to the oldest generation (frozen for a live view, which freezes itself at that size), and a smaller one leaves
    them to the young collection, freezing nothing."""
    import gc

    from netwatch.backends.sources.netlink import source as source_module

    gc.unfreeze()  # what other tests may have left
    sources = [NetlinkSource(reuse_records=live) for _ in range(2)]
    try:
        sources[0].collect()
        assert gc.get_freeze_count() == 0 and gc.isenabled()
        monkeypatch.setattr(source_module, "FREEZE_BUILT_FROM", 1)
        sources[1].collect()
        assert (gc.get_freeze_count() > 0) == live and gc.isenabled()
    finally:
        gc.unfreeze()
        for source in sources:
            source.close()  # a live source's close-event reader
