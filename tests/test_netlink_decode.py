"""Decoders of sock_diag replies, on recorded kernel bytes (tests/fixtures/netlink_*; see netlink_record.py)."""

from __future__ import annotations

import dataclasses
import errno
import json
import socket
import struct
from pathlib import Path
from types import MappingProxyType

import pytest

from netwatch.backends.model.records import Owner, Socket
from netwatch.backends.model.tcp_info import TCP_INFO_SIZE
from netwatch.backends.sources.netlink import attributes, inet, inet_layout, unix
from netwatch.backends.sources.netlink.records import new_socket, set_owners
from netwatch.backends.sources.netlink.transport import NLMSG_HEADER_LEN, DumpFailed, parse_datagram

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "netlink_dumps.json").read_text())
NLMSG = struct.Struct("=IHHII")
NLA = struct.Struct("=HH")


def _fixture(name: str) -> tuple[bytearray, int]:
    data = bytearray((FIXTURES / name).read_bytes())
    return data, NLMSG.unpack_from(data, 0)[3]


def _messages(data: bytearray, seq: int) -> list:
    messages: list = []
    done, interrupted = parse_datagram(data, 0, len(data), seq, messages)
    assert done and not interrupted
    return messages


def _decode_tcp(data: bytearray, seq: int) -> dict:
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}").decode(_messages(data, seq), "tcp", into) == 0
    return into


def test_tcp_dump_decodes_to_the_recorded_sockets() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    decoded = {record.inode: record for record in _decode_tcp(data, seq).values()}
    expected = EXPECTED["tcp"]
    assert set(decoded) == {int(inode) for inode in expected}
    for inode, want in expected.items():
        got = decoded[int(inode)]
        assert (got.local_address, got.local_port) == tuple(want["local"])
        assert (got.remote_address, got.remote_port) == tuple(want["remote"])
        assert (got.proto, got.family, got.state) == ("tcp", "ipv4", want["state"])
        assert got.key == ("tcp", got.cookie) and got.cookie > 0
        assert got.congestion == EXPECTED["congestion"]
        assert got.cgroup.startswith("cgroup-")
        assert {field: getattr(got.tcp_info, field) for field in want["tcp_info"]} == want["tcp_info"]
        assert got.skmem.rcvbuf > 0 and got.shutdown == 0 and got.timer.name in ("off", "on")
        assert got.extensions["sockopt"]["is_icsk"] is True
        assert type(got) is Socket and got.owners == ()


def test_unix_dump_decodes_to_the_recorded_sockets() -> None:
    data, seq = _fixture("netlink_unix_dump.bin")
    into: dict = {}
    assert unix.decode_unix(_messages(data, seq), into) == 0
    decoded = {record.inode: record for record in into.values()}
    assert set(decoded) == {int(inode) for inode in EXPECTED["unix"]}
    for inode, want in EXPECTED["unix"].items():
        got = decoded[int(inode)]
        assert (got.state, got.sock_type, got.path, got.peer_inode) == (
            want["state"], want["type"], want["path"], want["peer"]
        )  # fmt: skip
        assert got.key == ("unix", got.cookie) and got.uid == 0


def _rewrite_info_length(data: bytearray, new_payload: int) -> bytearray:
    """The first message of ``data`` with its INET_DIAG_INFO attribute cut to ``new_payload`` bytes."""
    length = NLMSG.unpack_from(data, 0)[0]
    message = bytearray(data[:length])
    position = NLMSG_HEADER_LEN + inet_layout.HEADER_SIZE
    while position < length:
        attr_length, attr_type = NLA.unpack_from(message, position)
        if attr_type == inet_layout.INET_DIAG_INFO:
            new_attr = NLA.pack(4 + new_payload, attr_type) + message[position + 4 : position + 4 + new_payload]
            new_attr += bytes(-len(new_attr) % 4)
            message[position : position + ((attr_length + 3) & ~3)] = new_attr
            struct.pack_into("=I", message, 0, len(message))
            return message + data[length:]
        position += (attr_length + 3) & ~3
    raise AssertionError("no INET_DIAG_INFO in the fixture")


def test_shorter_tcp_info_is_zero_padded() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    full = next(iter(_decode_tcp(data, seq).values())).tcp_info
    short = next(iter(_decode_tcp(_rewrite_info_length(data, 104), seq).values())).tcp_info
    fields = type(full)._fields
    kept = fields.index("total_retrans") + 1  # 104 bytes reach up to total_retrans
    assert short.values()[:kept] == full.values()[:kept]
    assert all(value == 0 for value in short.values()[kept:])
    assert TCP_INFO_SIZE == 280


def test_short_message_is_skipped_and_counted() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    messages = _messages(data, seq)
    buffer, start, _end = messages[0]
    truncated = [(buffer, start, start + inet_layout.HEADER_SIZE - 1), *messages[1:]]
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: None).decode(truncated, "tcp", into) == 1
    assert len(into) == len(messages) - 1


def test_bogus_attribute_length_stops_the_attribute_walk_without_crashing() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    buffer, start, end = _messages(data, seq)[0]
    broken = bytearray(buffer[start:end])
    struct.pack_into("=H", broken, inet_layout.HEADER_SIZE, 0xFFF0)  # first attribute claims to run past the message
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: None).decode([(broken, 0, len(broken))], "tcp", into) == 0
    (record,) = into.values()
    assert record.tcp_info is None and record.local_port > 0


def test_message_of_another_shape_with_the_same_size_is_relearned() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    buffer, start, end = _messages(data, seq)[1]
    message = bytearray(buffer[start:end])
    position = inet_layout.HEADER_SIZE
    while NLA.unpack_from(message, position)[1] != inet_layout.INET_DIAG_TOS:
        position += (NLA.unpack_from(message, position)[0] + 3) & ~3
    other = bytearray(message)
    struct.pack_into("=H", other, position + 2, 30)  # an attribute type unknown here, same size
    struct.pack_into("=I", other, 68, 4242)  # another inode...
    struct.pack_into("=I", other, 44, 4242)  # ...and cookie
    into: dict = {}
    decoder = inet.InetDecoder(lambda cgroup_id: None)
    assert decoder.decode([(message, 0, len(message)), (other, 0, len(other))], "tcp", into) == 0
    by_inode = {record.inode: record for record in into.values()}
    assert by_inode[4242].tos is None
    assert by_inode[struct.unpack_from("=I", message, 68)[0]].tos == 0
    assert by_inode[4242].tcp_info == next(f for i, f in by_inode.items() if i != 4242).tcp_info


def test_malformed_netlink_header_ends_the_datagram() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    broken = bytearray(data)
    struct.pack_into("=I", broken, 0, 8)  # shorter than a nlmsghdr
    messages: list = []
    assert parse_datagram(broken, 0, len(broken), seq, messages) == (False, False)
    assert messages == []


def test_done_with_an_error_raises_and_interrupted_flag_is_seen() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    flagged = bytearray(data)
    struct.pack_into("=H", flagged, 6, NLMSG.unpack_from(flagged, 0)[2] | 0x10)  # NLM_F_DUMP_INTR
    assert parse_datagram(flagged, 0, len(flagged), seq, []) == (True, True)
    failing = NLMSG.pack(20, 3, 2, seq, 0) + struct.pack("=i", -errno.ENOENT)
    with pytest.raises(DumpFailed) as failure:
        parse_datagram(bytearray(failing), 0, len(failing), seq, [])
    assert failure.value.errno == errno.ENOENT
    other_dump = NLMSG.pack(20, 3, 2, seq + 1, 0) + struct.pack("=i", -errno.ENOENT)
    assert parse_datagram(bytearray(other_dump), 0, len(other_dump), seq, []) == (False, False)


def test_records_equal_constructed_sockets() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    for record in _decode_tcp(data, seq).values():
        fields = {field.name: getattr(record, field.name) for field in dataclasses.fields(Socket)}
        assert record == Socket(**fields) == new_socket(**fields)
        assert isinstance(record, Socket) and not hasattr(record, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.state = "CLOSE"  # type: ignore[misc]
        set_owners(record, (Owner(1, 3),))
        assert record.owners == (Owner(1, 3),)


def test_extensions_are_shared_read_only_mappings() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    records = list(_decode_tcp(data, seq).values())
    for record in records:
        extensions = record.extensions
        assert extensions.get("inet", {}).get("class_id", 1) != 0  # the default class id 0 is left out
        assert {name: dict(values) for name, values in extensions.items()}["sockopt"]["is_icsk"] is True
        if "bbr" in extensions:
            assert set(extensions["bbr"]) == {"bw", "min_rtt", "pacing_gain", "cwnd_gain"}
    without_bbr = [record.extensions for record in records if "bbr" not in record.extensions]
    assert all(extensions is without_bbr[0] for extensions in without_bbr)
    with_bbr = [record.extensions for record in records if "bbr" in record.extensions]
    assert with_bbr and all(type(extensions) is attributes.BbrExtensions for extensions in with_bbr)
    assert all(extensions.shared is with_bbr[0].shared == without_bbr[0] for extensions in with_bbr)
    with pytest.raises(TypeError):
        without_bbr[0]["sockopt"] = {}  # type: ignore[index]


def test_bbr_info_is_a_mapping() -> None:
    info = attributes.bbr_info(5, 1, 100, 739, 512)
    assert dict(info) == {"bw": 1 << 32 | 5, "min_rtt": 100, "pacing_gain": 739, "cwnd_gain": 512}
    assert info == dict(info) and info["min_rtt"] == info.min_rtt == 100 and "bw" in info and "x" not in info
    with pytest.raises(KeyError):
        info["__class__"]


def test_ports_and_uids_are_shared_ints() -> None:
    data, seq = _fixture("netlink_tcp_dump.bin")
    messages = []
    for buffer, start, end in _messages(data, seq):
        message = bytearray(buffer[start:end])
        struct.pack_into("=I", message, 64, 1000)  # idiag_uid
        messages.append((message, 0, len(message)))
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: None).decode(messages, "tcp", into) == 0
    records = list(into.values())
    assert all(record.uid is records[0].uid == 1000 for record in records)
    for record in records:
        for port in (record.local_port, record.remote_port):
            assert port is inet.PORTS[socket.htons(port)]


def test_bbr_extensions_read_as_the_dict_they_stand_for() -> None:
    shared = MappingProxyType({"sockopt": attributes.sockopt_flags(3)})
    extensions = attributes.BbrExtensions(shared, attributes.BBR_LAYOUT.pack(5, 1, 100, 739, 512))
    plain = {"sockopt": shared["sockopt"], "bbr": attributes.bbr_info(5, 1, 100, 739, 512)}
    assert extensions == plain and list(extensions) == ["sockopt", "bbr"] and len(extensions) == 2
    assert "bbr" in extensions and "sockopt" in extensions and "inet" not in extensions
    assert extensions["bbr"]["pacing_gain"] == 739 and extensions.get("inet") is None
    assert repr(extensions) == f"BbrExtensions({plain})"
    with pytest.raises(TypeError):
        extensions["bbr"] = {}  # type: ignore[index]


def test_abstract_and_undecodable_unix_names() -> None:
    assert unix.decode_name(b"\0abc\0def") == "@abc\0def"
    assert unix.decode_name(b"/tmp/x\0\0") == "/tmp/x"
    assert unix.decode_name(b"/tmp/\xff").encode("utf-8", "surrogateescape") == b"/tmp/\xff"
