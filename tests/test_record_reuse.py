"""A live collector keeps the record of every socket whose kernel values did not change (but for an idle socket's
clocks): on recorded dumps and on live sockets, through the compiled splitter and the pure-Python path alike."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import pytest

from netwatch.backends import compiled
from netwatch.backends.collector import Collector
from netwatch.backends.history.diff import diff
from netwatch.backends.model.records import Socket, Timer, clocks_moved, tcp_info_at, timer_at
from netwatch.backends.model.tcp_info import TcpInfo
from netwatch.backends.sources.netlink import inet, source, transport
from netwatch.backends.sources.netlink.inet_layout import CLOCKS_OFFSET, EXPIRES_OFFSET, INET_DIAG_INFO
from netwatch.backends.sources.netlink.transport import NLMSG_HEADER, NLMSG_HEADER_LEN, SOCK_DIAG_BY_FAMILY
from tests.compiled_paths import compiled_or_pure
from tests.fixtures.recorded_dumps import KERNEL_TCP_INFO_SIZES, load, split, with_tcp_info_size
from tests.socket_zoo import dup_to_new_number

NLA = struct.Struct("=HH")
U32 = struct.Struct("=I")
U64 = struct.Struct("=Q")
BYTES_ACKED = 120
"""Offset of tcpi_bytes_acked in struct tcp_info."""

path = compiled_or_pure(transport, "scan", "splitter")
"""Runs a test through the compiled splitter or the pure-Python path."""


def _dump(
    decoder: inet.InetDecoder, data: bytearray, seq: int, path: str, previous: dict | None
) -> tuple[dict, dict, dict]:
    """(new records, kept records, all records in the kernel's order) of one recorded TCP dump, as a live
    collection reads it after a snapshot that had the sockets ``previous``."""
    now = time.monotonic()
    decoder.start_dump(now, previous)
    into: dict = {}
    if path == "compiled":
        messages: list = []
        fingerprints: list[int] = []
        done, interrupted, error = transport.scan.split(
            data, 0, len(data), seq, messages, (*decoder.splitter_reuse("tcp", "tcp", into), fingerprints)
        )
        assert (done, interrupted, error) == (True, False, 0)
        assert decoder.decode(messages, "tcp", into, fingerprints) == 0
    else:
        assert decoder.decode(split(data, seq), "tcp", into) == 0
    in_kernel_order = [record.cookie for record in _dump_in_order(data, seq)]
    assert [record.cookie for record in into.values()] == in_kernel_order
    kept = {key: record for key, record in into.items() if record.observed_at != now}
    return {key: record for key, record in into.items() if key not in kept}, kept, into


def _dump_in_order(data: bytearray, seq: int) -> list:
    into: dict = {}
    inet.InetDecoder(lambda cgroup_id: None).decode(split(data, seq), "tcp", into)
    return list(into.values())


def _messages(data: bytearray) -> Iterator[tuple[int, int | None]]:
    """(payload offset, offset of its tcp_info or None) of each inet_diag message of a dump."""
    offset = 0
    while offset < len(data):
        length, msg_type, *_rest = NLMSG_HEADER.unpack_from(data, offset)
        if msg_type == SOCK_DIAG_BY_FAMILY:
            payload = offset + NLMSG_HEADER_LEN
            info = None
            position = payload + 72
            while position + NLA.size <= offset + length:
                size, atype = NLA.unpack_from(data, position)
                if atype == INET_DIAG_INFO:
                    info = position + NLA.size
                position += (size + 3) & ~3
            yield payload, info
        offset += (length + 3) & ~3


def _tick(data: bytearray, milliseconds: int) -> bytearray:
    """``data`` as the kernel would dump the same idle sockets ``milliseconds`` later: expires counts down, the
    ``last_*`` clocks count up (where the tcp_info is long enough to hold them)."""
    ticked = bytearray(data)
    for payload, info in _messages(ticked):
        (expires,) = U32.unpack_from(ticked, payload + EXPIRES_OFFSET)
        U32.pack_into(ticked, payload + EXPIRES_OFFSET, max(0, expires - milliseconds))
        if info is not None and NLA.unpack_from(ticked, info - NLA.size)[0] - NLA.size >= CLOCKS_OFFSET + 16:
            for clock in range(4):
                at = info + CLOCKS_OFFSET + 4 * clock
                U32.pack_into(ticked, at, U32.unpack_from(ticked, at)[0] + milliseconds)
    return ticked


@pytest.mark.parametrize("info_size", KERNEL_TCP_INFO_SIZES)
def test_idle_sockets_keep_their_records_and_a_changed_one_is_decoded_again(path: str, info_size: int) -> None:
    data, seq = load("netlink_tcp_dump.bin")
    data = with_tcp_info_size(data, info_size)
    decoder = inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}")
    first, reused, _ = _dump(decoder, data, seq, path, None)
    assert first and not reused and all(record.digest is not None for record in first.values())

    later = _tick(data, 1500)
    fresh, reused, every = _dump(decoder, later, seq, path, first)
    clocks_fit = info_size >= CLOCKS_OFFSET + 16
    if clocks_fit:  # only the clocks moved: every record is kept, the very same object
        assert not fresh and reused.keys() == first.keys()
        assert all(reused[key] is first[key] for key in first)
    else:  # tcp_info too short to hold the clocks: nothing moved at all but the timers
        assert not fresh and reused.keys() == first.keys()

    moved = bytearray(later)
    payload, info = list(_messages(moved))[1]
    if info is None or info_size < BYTES_ACKED + 8:
        return
    acked = U64.unpack_from(moved, info + BYTES_ACKED)[0] + 4096
    U64.pack_into(moved, info + BYTES_ACKED, acked)
    fresh, reused, _ = _dump(decoder, moved, seq, path, every)
    assert len(fresh) == 1 and len(reused) == len(first) - 1
    (record,) = fresh.values()
    assert record.tcp_info.bytes_acked == acked and record.key in first and record is not first[record.key]
    fresh_decoder = inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}")
    assert record == _dump(fresh_decoder, moved, seq, path, None)[0][record.key]


def test_a_change_of_any_byte_but_the_clocks_renews_the_record(path: str) -> None:
    """Every byte of the fixed message (but the first four, whose flip may make it unreadable, and expires) and of
    its tcp_info (but the last_* clocks) is in the fingerprint."""
    data, seq = load("netlink_tcp_dump.bin")
    decoder = inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}")
    first, _, _ = _dump(decoder, data, seq, path, None)
    payload, info = list(_messages(data))[1]
    assert info is not None
    info_size = NLA.unpack_from(data, info - NLA.size)[0] - NLA.size
    clocks = range(info + CLOCKS_OFFSET, info + CLOCKS_OFFSET + 16)
    expires = range(payload + EXPIRES_OFFSET, payload + EXPIRES_OFFSET + 4)
    positions = [*range(payload + 4, payload + 72), *range(info, info + info_size)]
    positions = [at for at in positions if at not in clocks and at not in expires]
    assert len(positions) == 68 - 4 + info_size - 16
    for at in positions:
        flipped = bytearray(data)
        flipped[at] ^= 0x10
        fresh, kept, _ = _dump(decoder, flipped, seq, path, first)
        assert len(kept) == len(first) - 1 and len(fresh) == 1, f"byte {at - payload} of the message"


def test_a_record_is_kept_only_from_the_snapshot_given(path: str) -> None:
    data, seq = load("netlink_tcp_dump.bin")
    decoder = inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}")
    first, _, _ = _dump(decoder, data, seq, path, None)
    fresh, reused, _ = _dump(decoder, data, seq, path, {})  # a snapshot that had none of them
    assert fresh.keys() == first.keys() and not reused
    one_off = inet.InetDecoder(lambda cgroup_id: None)  # not a live dump: no digest, nothing kept
    into: dict = {}
    one_off.decode(split(data, seq), "tcp", into)
    assert all(record.digest is None and record.observed_at is None for record in into.values())


def test_compiled_and_pure_python_splits_agree_on_recorded_dumps() -> None:
    if transport.scan is None:
        pytest.skip("the compiled splitter is not built here (no compiler at install)")
    for name in ("netlink_tcp_dump.bin", "netlink_unix_dump.bin"):
        data, seq = load(name)
        messages: list = []
        assert transport.scan.split(data, 0, len(data), seq, messages, None) == (True, False, 0)
        assert messages == split(data, seq)
        other: list = []  # another dump's sequence number: nothing of it is ours, and it has not ended
        assert transport.scan.split(data, 0, len(data), seq + 1, other, None) == (False, False, 0)
        assert other == []


def test_compiled_split_keeps_records_of_any_class_alike() -> None:
    """The compiled splitter reads a Socket's digest and key from their slots, and another record's by getattr."""
    if transport.scan is None:
        pytest.skip("the compiled splitter is not built here (no compiler at install)")
    data, seq = load("netlink_tcp_dump.bin")
    decoder = inet.InetDecoder(lambda cgroup_id: None)
    first, _, _ = _dump(decoder, data, seq, "compiled", None)
    stand_ins = {key: SimpleNamespace(digest=record.digest, key=record.key) for key, record in first.items()}
    order = transport.scan.Order()  # remembers `first`'s records: the others are checked by their digest
    for previous in (first, stand_ins, {**first, **dict(list(stand_ins.items())[::2])}, first):
        into: dict = {}
        messages: list = []
        order.begin()
        reuse = ("tcp", decoder.netns, previous, into, order, [])
        assert transport.scan.split(data, 0, len(data), seq, messages, reuse) == (True, False, 0)
        assert not messages and list(into) == list(first)
        assert all(into[key] is previous[key] for key in first)


def _reassembled(data: bytearray, order: list[int]) -> bytearray:
    """The dump ``data`` with its inet_diag messages in ``order`` (indexes; some may be left out), then NLMSG_DONE."""
    messages, offset = [], 0
    while offset < len(data):
        length = NLMSG_HEADER.unpack_from(data, offset)[0]
        messages.append(data[offset : offset + ((length + 3) & ~3)])
        offset += (length + 3) & ~3
    body, done = messages[:-1], messages[-1]
    return bytearray(b"".join(body[index] for index in order) + done)


def _split_live(decoder: inet.InetDecoder, dump: bytearray, seq: int, previous: dict, order: object) -> dict:
    """The records of the live TCP dump ``dump`` after a snapshot that had ``previous``: split through ``order``
    (begun here; or None) and decoded."""
    into: dict = {}
    messages: list = []
    fingerprints: list[int] = []
    if order is not None:
        order.begin()  # type: ignore[attr-defined]
    reuse = ("tcp", decoder.netns, previous, into, order, fingerprints)
    assert transport.scan.split(dump, 0, len(dump), seq, messages, reuse) == (True, False, 0)
    decoder.start_dump(time.monotonic(), previous)
    assert decoder.decode(messages, "tcp", into, fingerprints) == 0
    return into


def _numbered(data: bytearray, count: int) -> bytearray:
    """A dump of ``count`` sockets: the first message of ``data`` with cookies 1 to ``count``, then NLMSG_DONE."""
    length = NLMSG_HEADER.unpack_from(data, 0)[0]
    message = data[: (length + 3) & ~3]
    copies = []
    for cookie in range(1, count + 1):
        copy = bytearray(message)
        U64.pack_into(copy, NLMSG_HEADER_LEN + 44, cookie)  # idiag_cookie
        copies.append(copy)
    return bytearray(b"".join(copies)) + _reassembled(data, [])


def test_an_order_follows_the_kernels_order_past_sockets_gone() -> None:
    """The Order finds a dump's messages at its cursor: every one of an unchanged dump, all but those gone when
    sockets closed (one here and there, or a run longer than its look-ahead); new sockets are not in it."""
    if transport.scan is None:
        pytest.skip("the compiled splitter is not built here (no compiler at install)")
    data, seq = load("netlink_tcp_dump.bin")
    dump = _numbered(data, 100)
    decoder = inet.InetDecoder(lambda cgroup_id: None)
    order = transport.scan.Order()
    previous: dict = {}
    gone = {*range(10, 40), 50, 52, 60}
    found = []
    for run in (range(100), range(100), [index for index in range(100) if index not in gone], range(100)):
        previous = _split_live(decoder, _reassembled(dump, list(run)), seq, previous, order)
        found.append(order.found())
    assert found == [0, 100, 100 - len(gone), 100 - len(gone)]


def test_an_order_finds_the_same_records_as_a_lookup_when_sockets_come_go_and_move() -> None:
    """The splitter's Order (the last dump's messages in the kernel's order) only finds keys: through any run of
    dumps whose sockets were dropped, added back or listed in another order, the split keeps and lists the very same
    records and messages as a split without one."""
    if transport.scan is None:
        pytest.skip("the compiled splitter is not built here (no compiler at install)")
    data, seq = load("netlink_tcp_dump.bin")
    decoder = inet.InetDecoder(lambda cgroup_id: None)
    first, _, _ = _dump(decoder, data, seq, "compiled", None)
    count = len(first)
    runs = [range(count), range(0, count, 3), range(count), range(count - 1, -1, -1), [*range(1, count), 0],
            range(count)]  # fmt: skip
    order = transport.scan.Order()
    previous = {with_order: dict(first) for with_order in (True, False)}
    for run in runs:
        dump = _reassembled(data, list(run))
        results = {}
        for with_order in (True, False):
            results[with_order] = previous[with_order] = _split_live(
                decoder, dump, seq, previous[with_order], order if with_order else None
            )
        assert list(results[True]) == list(results[False]) == [list(first)[index] for index in run]
        kept = [key for key, record in results[True].items() if record is first.get(key)]
        assert kept == [key for key, record in results[False].items() if record is first.get(key)]
    assert order.remembered() == count


def test_compiled_split_reports_the_kernels_error() -> None:
    if transport.scan is None:
        pytest.skip("the compiled splitter is not built here (no compiler at install)")
    error = NLMSG_HEADER.pack(NLMSG_HEADER_LEN + 4, transport.NLMSG_ERROR, 0, 7, 0) + struct.pack("=i", -13)
    assert transport.scan.split(bytearray(error), 0, len(error), 7, [], None) == (True, False, 13)
    with pytest.raises(ValueError):
        transport.scan.split(bytearray(error), 0, len(error) + 1, 7, [], None)


@pytest.fixture
def closing_collector(monkeypatch: pytest.MonkeyPatch):
    """Makes live netlink collectors, closed after the test (each reads close events on a thread of its own). Their
    namespace is dumped at every snapshot: on a quiet host it would be read by lookups from the second one on,
    whose messages are not the dump's (tested on their own in test_namespaces.py)."""
    monkeypatch.setattr(source, "LOOKUPS_AT_MOST", 0)
    made: list[Collector] = []

    def make() -> Collector:
        made.append(Collector("netlink", live=True))
        return made[-1]

    yield make
    for collector in made:
        collector.close()


def _ours(snapshot, ports: set[int]) -> dict:
    """The test's TCP sockets on ``ports``: held by this process (a TIME_WAIT left by an earlier test on a reused
    port number, or a socket of another namespace, is not)."""
    return {
        key: sock
        for key, sock in snapshot.sockets.items()
        if sock.proto == "tcp" and (sock.local_port in ports or sock.remote_port in ports)
        and any(owner.pid == os.getpid() for owner in sock.owners)
    }


@contextlib.contextmanager
def _connection() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    """A loopback listener and a connection accepted on it: (listener, client, server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with client, server:
            yield listener, client, server


def _send(client: socket.socket, server: socket.socket) -> None:
    """5,000 bytes from ``client`` to ``server``, received."""
    client.sendall(b"x" * 5000)
    server.settimeout(10)
    assert len(server.recv(5000, socket.MSG_WAITALL)) == 5000


def test_live_records_are_kept_while_idle_and_renewed_when_data_moves(path: str, closing_collector) -> None:
    with _connection() as (listener, client, server):
        port = listener.getsockname()[1]
        collector = closing_collector()
        first = _ours(collector.snapshot(), {port})
        assert len(first) == 3 and all(sock.owners[0].pid == os.getpid() for sock in first.values())
        time.sleep(0.05)
        second = _ours(collector.snapshot(), {port})
        assert all(second[key] is first[key] for key in first)
        # the snapshot keeps its sources' mapping: a kept record is there under its own key object, not a copy
        assert all(key is sock.key for key, sock in second.items())

        _send(client, server)
        third = _ours(collector.snapshot(), {port})
        renewed = {key for key in third if third[key] is not second[key]}
        client_key = next(key for key, sock in third.items() if sock.local_port == client.getsockname()[1])
        server_key = next(key for key, sock in third.items() if sock.remote_port == client.getsockname()[1])
        assert renewed == {client_key, server_key}
        assert third[client_key].tcp_info.bytes_acked >= 5000
        assert third[server_key].tcp_info.bytes_received >= 5000
        assert third[client_key].observed_at > first[client_key].observed_at


decoder = compiled_or_pure(inet, "_decode", "inet_diag decoder")
"""Runs a test through the compiled decoder or the Python loop."""


def test_a_snapshot_says_which_records_are_new_and_each_is_under_its_own_key_object(
    path: str, decoder: str, closing_collector
) -> None:
    with _connection() as (listener, client, server):
        port = listener.getsockname()[1]
        collector = closing_collector()
        first = collector.snapshot()
        time.sleep(0.05)
        second = collector.snapshot()
        _send(client, server)
        late = socket.create_connection(("127.0.0.1", port))
        with late, listener.accept()[0]:
            third = collector.snapshot()
        ours = _ours(third, {port})
        assert len(ours) == 5
        moved = {key for key, sock in ours.items() if second.sockets.get(key) is not sock}
        assert len(moved) == 4  # the two ends that moved data, and the two of the new connection
        assert third.base == second.monotonic and moved <= third.renewed
        assert all(third.sockets.get(key) is sock for key, sock in second.sockets.items()
                   if key not in third.renewed and key in third.sockets)  # fmt: skip
        # one key object per socket, the record's own (a renewed one's too): the history keeps it
        assert all(key is sock.key for key, sock in third.sockets.items())
        # a diff looking at the renewed records alone finds what one looking at every record finds
        fast, full = diff(second, third), diff(second, replace(third, renewed=None))
        assert (fast.opened, fast.closed, fast.state_changed, fast.queue_changed, fast.rates, set(fast.renewed)) \
            == (full.opened, full.closed, full.state_changed, full.queue_changed, full.rates, set(full.renewed))
        assert moved <= set(fast.renewed) and len(fast.opened & ours.keys()) == 2
        # against another snapshot than its base, every record is looked at
        assert set(diff(first, third).renewed) == set(diff(first, replace(third, renewed=None)).renewed)


def test_a_kept_record_whose_owners_changed_is_copied_never_changed(path: str, closing_collector) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        collector = closing_collector()
        first = _ours(collector.snapshot(), {port})
        (key,) = first
        assert [owner.pid for owner in first[key].owners] == [os.getpid()]
        # a child inherits the listener: the socket is the same in the kernel, its owners are not
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, pass_fds=(listener.fileno(),)
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                snapshot = collector.snapshot()
                second = _ours(snapshot, {port})
                if len(second[key].owners) == 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert sorted(owner.pid for owner in second[key].owners) == sorted([os.getpid(), child.pid])
            assert second[key] is not first[key] and second[key] == _with_owners(first[key], second[key].owners)
            assert snapshot.base is not None and key in snapshot.renewed  # the copy is a renewed record
            assert [owner.pid for owner in first[key].owners] == [os.getpid()]  # the published record is unchanged
        finally:
            child.stdin.close()
            child.wait(timeout=10)
        third = _ours(collector.snapshot(), {port})
        assert [owner.pid for owner in third[key].owners] == [os.getpid()]


def test_kept_records_follow_their_owners_fd_by_fd(path: str, closing_collector) -> None:
    """A live collector attaches owners to the records it built and to the kept ones whose owners changed alone:
    a dup of a kept socket's fd, and its close, show at the next snapshot; an untouched socket keeps its record."""
    with socket.socket() as listener, socket.socket() as bystander:
        for sock in (listener, bystander):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        port, other = listener.getsockname()[1], bystander.getsockname()[1]
        collector = closing_collector()
        first = _ours(collector.snapshot(), {port, other})
        (key,) = (key for key, sock in first.items() if sock.local_port == port)
        (other_key,) = first.keys() - {key}
        fds = [listener.fileno()]
        for step in range(3):
            if step == 1:
                fds.append(dup_to_new_number(listener.fileno()))
            elif step == 2:
                os.close(fds.pop())
            snapshot = _ours(collector.snapshot(), {port, other})
            assert [(owner.pid, owner.fd) for owner in snapshot[key].owners] == [(os.getpid(), fd) for fd in fds]
            assert snapshot[other_key] is first[other_key]


def _with_owners(sock: Socket, owners: tuple) -> Socket:
    import dataclasses

    return dataclasses.replace(sock, owners=owners)


def test_clocks_of_a_kept_record_move_with_time() -> None:
    sock = Socket(("tcp", 1), "tcp", "ipv4", "ESTABLISHED", "127.0.0.1", 1, "127.0.0.1", 2, 0, 0, 1,
                  tcp_info=TcpInfo(last_data_recv=300, last_ack_recv=20, rtt=900), timer=Timer("keepalive", 5000, 0),
                  observed_at=100.0)  # fmt: skip
    assert clocks_moved(sock, 102.5) == 2500
    assert clocks_moved(sock, 99.0) == 0
    assert clocks_moved(Socket(("tcp", 2), "tcp", "ipv4", "LISTEN", "", 1, "", 0, 0, 0, 1), 5.0) == 0
    info = tcp_info_at(sock, 102.5)
    assert (info["last_data_recv"], info["last_ack_recv"], info["rtt"]) == (2800, 2520, 900)
    assert timer_at(sock, 102.5) == Timer("keepalive", 2500, 0)
    assert timer_at(sock, 110.0).expires_ms == 0
    assert tcp_info_at(sock, 100.0) == sock.tcp_info._asdict()


def test_a_one_off_collector_keeps_nothing() -> None:
    collector = Collector("netlink")
    collector.snapshot()
    assert all(sock.observed_at is None for sock in collector.snapshot().sockets.values())


def test_version_says_which_path_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "netwatch.tui", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert compiled.description() in result.stdout
    env = {**os.environ, "NETWATCH_PURE_PYTHON": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "netwatch.tui", "--version"], capture_output=True, text=True, env=env
    )
    assert "pure Python" in result.stdout


def test_json_of_a_kept_record_has_its_clocks_moved_on() -> None:
    from netwatch.tui.cli.serialize import SocketJsonEncoder, socket_to_dict

    sock = Socket(("tcp", 1), "tcp", "ipv4", "ESTABLISHED", "127.0.0.1", 1, "127.0.0.1", 2, 0, 0, 1,
                  tcp_info=TcpInfo(last_data_recv=300, rtt=900), timer=Timer("keepalive", 5000, 0),
                  observed_at=100.0)  # fmt: skip
    document = socket_to_dict(sock, {}, now=101.0)
    assert document["tcp_info"]["last_data_recv"] == 1300 and document["timer"]["expires_ms"] == 4000
    assert json.loads(SocketJsonEncoder({}, now=101.0).encode(sock)) == json.loads(json.dumps(document))
    assert socket_to_dict(sock, {})["tcp_info"]["last_data_recv"] == 300  # no time given: as read
