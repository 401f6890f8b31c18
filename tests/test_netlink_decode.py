"""Decoders of sock_diag replies, on recorded kernel bytes (tests/fixtures/netlink_*; see netlink_record.py)."""

from __future__ import annotations

import dataclasses
import errno
import json
import socket
import struct
from collections.abc import Callable
from types import MappingProxyType

import pytest

from netwatch.backends.model.extensions import LayeredExtensions, is_shared
from netwatch.backends.model.records import MemInfo, SkMemInfo, Socket, Timer
from netwatch.backends.model.tcp_info import TCP_INFO_SIZE, TcpInfo
from netwatch.backends.sources.netlink import attributes, inet, inet_layout, unix
from netwatch.backends.sources.netlink.records import SOCKET_FIELDS, socket_builder
from netwatch.backends.sources.netlink.transport import DumpFailed, parse_datagram
from tests.compiled_paths import decoded_by
from tests.fixtures.recorded_dumps import FIXTURES, KERNEL_TCP_INFO_SIZES, load, split, with_tcp_info_size

EXPECTED = json.loads((FIXTURES / "netlink_dumps.json").read_text())
NLMSG = struct.Struct("=IHHII")
NLA = struct.Struct("=HH")


NETNS = 4026532999
"""A network namespace inode (a value no other field holds)."""


def _decode_tcp(data: bytearray, seq: int, decoder: inet.InetDecoder | None = None) -> dict:
    into: dict = {}
    decoder = decoder or inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}")
    assert decoder.decode(split(data, seq), "tcp", into) == 0
    return into


def test_tcp_dump_decodes_to_the_recorded_sockets() -> None:
    data, seq = load("netlink_tcp_dump.bin")
    decoded = {record.inode: record for record in _decode_tcp(data, seq).values()}
    expected = EXPECTED["tcp"]
    assert set(decoded) == {int(inode) for inode in expected}
    for inode, want in expected.items():
        got = decoded[int(inode)]
        assert (got.local_address, got.local_port) == tuple(want["local"])
        assert (got.remote_address, got.remote_port) == tuple(want["remote"])
        assert (got.proto, got.family, got.state) == ("tcp", "ipv4", want["state"])
        assert got.key == ("tcp", got.cookie, None) and got.cookie > 0  # a decoder not told its namespace
        assert got.congestion == EXPECTED["congestion"]
        assert got.cgroup.startswith("cgroup-")
        assert {field: getattr(got.tcp_info, field) for field in want["tcp_info"]} == want["tcp_info"]
        assert got.skmem.rcvbuf > 0 and got.shutdown == 0 and got.timer.name in ("off", "on")
        assert got.extensions["sockopt"]["is_icsk"] is True
        assert type(got) is Socket and got.owners == ()


def test_unix_dump_decodes_to_the_recorded_sockets() -> None:
    data, seq = load("netlink_unix_dump.bin")
    into: dict = {}
    assert unix.decode_unix(split(data, seq), into) == 0
    decoded = {record.inode: record for record in into.values()}
    assert set(decoded) == {int(inode) for inode in EXPECTED["unix"]}
    for inode, want in EXPECTED["unix"].items():
        got = decoded[int(inode)]
        assert (got.state, got.sock_type, got.path, got.peer_inode) == (
            want["state"], want["type"], want["path"], want["peer"]
        )  # fmt: skip
        assert got.key == ("unix", got.cookie, None) and got.uid == 0


LAST_FIELD_SENT = {104: "total_retrans", 192: "sndbuf_limited", 232: "snd_wnd", 248: "total_rto_time"}
"""The last tcp_info field of each older kernel's struct."""


@pytest.mark.parametrize("size", [*KERNEL_TCP_INFO_SIZES, TCP_INFO_SIZE + 40])
def test_tcp_info_of_any_kernel_size_is_decoded_on_the_fast_path(size: int) -> None:
    data, seq = load("netlink_tcp_dump.bin")
    full = {record.inode: record.tcp_info for record in _decode_tcp(data, seq).values()}
    decoder = inet.InetDecoder(lambda cgroup_id: f"cgroup-{cgroup_id}")
    resized = _decode_tcp(with_tcp_info_size(data, size), seq, decoder)
    kept = TcpInfo._fields.index(LAST_FIELD_SENT[size]) + 1 if size in LAST_FIELD_SENT else len(TcpInfo._fields)
    for record in resized.values():
        values, kernel_values = record.tcp_info.values(), full[record.inode].values()
        assert values[:kept] == kernel_values[:kept] and set(values[kept:]) <= {0}
        assert record.tcp_info.raw == full[record.inode].raw[:size].ljust(TCP_INFO_SIZE, b"\0")[:TCP_INFO_SIZE]
        assert _read_only(record.extensions)
    padding = bytes(max(TCP_INFO_SIZE - size, 0))
    assert {(layout.info > 0, layout.info_padding, layout.rare) for layout in decoder._layouts.values()} == {
        (True, padding, ())
    }


def test_short_message_is_skipped_and_counted() -> None:
    data, seq = load("netlink_tcp_dump.bin")
    messages = split(data, seq)
    buffer, start, _end = messages[0]
    truncated = [(buffer, start, start + inet_layout.HEADER_SIZE - 1), *messages[1:]]
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: None).decode(truncated, "tcp", into) == 1
    assert len(into) == len(messages) - 1


def test_bogus_attribute_length_stops_the_attribute_walk_without_crashing() -> None:
    data, seq = load("netlink_tcp_dump.bin")
    buffer, start, end = split(data, seq)[0]
    broken = bytearray(buffer[start:end])
    struct.pack_into("=H", broken, inet_layout.HEADER_SIZE, 0xFFF0)  # first attribute claims to run past the message
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: None).decode([(broken, 0, len(broken))], "tcp", into) == 0
    (record,) = into.values()
    assert record.tcp_info is None and record.local_port > 0


def test_message_of_another_shape_with_the_same_size_is_relearned() -> None:
    data, seq = load("netlink_tcp_dump.bin")
    buffer, start, end = split(data, seq)[1]
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
    data, seq = load("netlink_tcp_dump.bin")
    broken = bytearray(data)
    struct.pack_into("=I", broken, 0, 8)  # shorter than a nlmsghdr
    messages: list = []
    assert parse_datagram(broken, 0, len(broken), seq, messages) == (False, False)
    assert messages == []


def test_done_with_an_error_raises_and_interrupted_flag_is_seen() -> None:
    data, seq = load("netlink_tcp_dump.bin")
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
    data, seq = load("netlink_tcp_dump.bin")
    for record in _decode_tcp(data, seq).values():
        fields = {field.name: getattr(record, field.name) for field in dataclasses.fields(Socket)}
        assert record == Socket(**fields)
        assert type(record) is Socket and not hasattr(record, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.state = "CLOSE"  # type: ignore[misc]


def test_extensions_are_shared_read_only_mappings() -> None:
    data, seq = load("netlink_tcp_dump.bin")
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
    data, seq = load("netlink_tcp_dump.bin")
    messages = []
    for buffer, start, end in split(data, seq):
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


def _attributes(*attributes: tuple[int, bytes]) -> bytes:
    """Netlink attributes (type, payload), each padded to 4 bytes."""
    packed = b""
    for atype, payload in attributes:
        attribute = NLA.pack(NLA.size + len(payload), atype) + payload
        packed += attribute + bytes(-len(attribute) % 4)
    return packed


def _assert_fields(record: Socket, expected: Socket, builder: Callable[..., Socket]) -> None:
    """``record`` holds ``expected``'s value in every field, and the values the decoder passes to its ``builder``
    are distinct (any two swapped would show)."""
    assert {name: getattr(record, name) for name in SOCKET_FIELDS} == {
        name: getattr(expected, name) for name in SOCKET_FIELDS
    }
    passed = [getattr(expected, name) for name in builder.__code__.co_varnames[: builder.__code__.co_argcount]]
    passed = [value for value in passed if value is not None]
    assert all(a != b for number, a in enumerate(passed) for b in passed[number + 1 :])
    assert type(record) is Socket and _read_only(record.extensions)


def _read_only(extensions: object) -> bool:
    if isinstance(extensions, LayeredExtensions):
        return is_shared(extensions.shared)
    return is_shared(extensions)


FAMILY_ADDRESSES = [("ipv4", "10.1.2.3", "10.4.5.6"), ("ipv6", "2001:db8::1", "2001:db8::2")]


@pytest.mark.parametrize(("family", "local", "remote"), FAMILY_ADDRESSES)
def test_every_inet_field_is_decoded_into_its_place(family: str, local: str, remote: str) -> None:
    """A message whose every field and attribute holds a distinct value (Socket fields are set by name)."""
    message, expected = _every_field_message(family, local, remote)
    into: dict = {}
    decoder = inet.InetDecoder(lambda cgroup_id: f"/cgroup-{cgroup_id}")
    decoder.start_namespace(NETNS, "ns-name")
    assert decoder.decode([(bytearray(message), 0, len(message))], "tcp", into) == 0
    (record,) = into.values()
    _assert_fields(record, expected, inet.new_inet_socket)
    extensions = record.extensions
    assert type(extensions) is attributes.DctcpExtensions and type(extensions.shared) is MappingProxyType
    assert all(type(extensions.shared[name]) is MappingProxyType for name in ("sockopt", "inet", "ulp"))


def _every_field_message(family: str, local: str, remote: str, ulp: bool = True) -> tuple[bytes, Socket]:
    """An inet_diag message whose every field and attribute holds a distinct value (with an INET_DIAG_ULP_INFO
    unless not ``ulp``), and the record it stands for (decoded in namespace NETNS called "ns-name", with cgroup
    paths "/cgroup-<id>")."""
    address_family = inet.FAMILIES[family]
    header = struct.pack(
        "=" + inet_layout.HEADER_FORMAT, address_family, 1, 2, 7, socket.htons(1111), socket.htons(2222),
        socket.inet_pton(address_family, local).ljust(16, b"\0"),
        socket.inet_pton(address_family, remote).ljust(16, b"\0"), 42, 8888, 77, 9999, 3333, 4444, 6666, 5555,
    )  # fmt: skip
    info = TcpInfo(state=1, rtt=1234, snd_cwnd=10, bytes_acked=1 << 40)
    v6 = family == "ipv6"
    message = header + _attributes(
        (inet_layout.INET_DIAG_MEMINFO, attributes.MEMINFO_LAYOUT.pack(11, 12, 13, 14)),
        (inet_layout.INET_DIAG_SKMEMINFO, attributes.SKMEMINFO_LAYOUT.pack(*range(21, 30))),
        (inet_layout.INET_DIAG_INFO, info.raw),
        (inet_layout.INET_DIAG_CONG, b"dctcp\0"),
        (inet_layout.INET_DIAG_DCTCPINFO, attributes.DCTCP_LAYOUT.pack(1, 2, 300, 400, 500)),
        (inet_layout.INET_DIAG_SHUTDOWN, b"\x02"),
        (inet_layout.INET_DIAG_TOS, b"\x10"),
        *([(inet_layout.INET_DIAG_TCLASS, b"\x28"), (inet_layout.INET_DIAG_SKV6ONLY, b"\x01")] if v6 else []),
        (inet_layout.INET_DIAG_MARK, struct.pack("=I", 41)),
        (inet_layout.INET_DIAG_CLASS_ID, struct.pack("=I", 43)),
        (inet_layout.INET_DIAG_CGROUP_ID, struct.pack("=Q", 31)),
        (inet_layout.INET_DIAG_SOCKOPT, struct.pack("=H", 3)),
        (inet_layout.INET_DIAG_PROTOCOL, b"\x06"),
        *([(inet_layout.INET_DIAG_ULP_INFO, _attributes((attributes.INET_ULP_INFO_NAME, b"tls\0")))] if ulp else []),
    )
    cookie = 77 << 32 | 8888
    expected = Socket(
        key=("tcp", cookie, NETNS), proto="tcp", family=family, state="ESTABLISHED", local_address=local,
        local_port=1111, remote_address=remote, remote_port=2222, recv_q=3333, send_q=4444, inode=5555, uid=6666,
        cookie=cookie,
        path=None, peer_inode=None, sock_type=None, owners=(), tcp_info=info, timer=Timer("keepalive", 9999, 7),
        meminfo=MemInfo(11, 12, 13, 14), skmem=SkMemInfo(*range(21, 30)), congestion="dctcp",
        cgroup="/cgroup-31", shutdown=2, tos=16, tclass=40 if v6 else None, mark=41, interface=42,
        netns="ns-name", netns_inode=NETNS, extensions={
            "sockopt": attributes.sockopt_flags(3),
            "inet": {"protocol": 6, **({"v6only": True} if v6 else {}), "class_id": 43},
            **({"ulp": {"name": "tls"}} if ulp else {}),
            "dctcp": {"enabled": 1, "ce_state": 2, "alpha": 300, "ab_ecn": 400, "ab_tot": 500},
        },
    )  # fmt: skip
    return message, expected


def test_every_unix_field_is_decoded_into_its_place() -> None:
    message = unix.UNIX_DIAG_MSG.pack(socket.AF_UNIX, socket.SOCK_SEQPACKET, 1, 0, 101, 8888, 77) + _attributes(
        (unix.UNIX_DIAG_NAME, b"/run/x.sock"),
        (unix.UNIX_DIAG_VFS, struct.pack("=II", 106, 107)),
        (unix.UNIX_DIAG_PEER, struct.pack("=I", 102)),
        (unix.UNIX_DIAG_RQLEN, struct.pack("=II", 104, 105)),
        (unix.UNIX_DIAG_MEMINFO, attributes.SKMEMINFO_LAYOUT.pack(*range(21, 30))),
        (unix.UNIX_DIAG_SHUTDOWN, b"\x03"),
        (unix.UNIX_DIAG_UID, struct.pack("=I", 103)),
    )
    into: dict = {}
    assert unix.decode_unix([(bytearray(message), 0, len(message))], into, NETNS, "ns-name") == 0
    (record,) = into.values()
    cookie = 77 << 32 | 8888
    expected = Socket(
        key=("unix", cookie, NETNS), proto="unix", family="unix", state="ESTABLISHED", local_address="", local_port=0,
        remote_address="", remote_port=0, recv_q=104, send_q=105, inode=101, uid=103, cookie=cookie,
        path="/run/x.sock", peer_inode=102, sock_type="seqpacket", owners=(), tcp_info=None, timer=None,
        meminfo=None, skmem=SkMemInfo(*range(21, 30)), congestion=None, cgroup=None, shutdown=3, tos=None,
        tclass=None, mark=None, interface=None, netns="ns-name", netns_inode=NETNS,
        extensions={"vfs": {"inode": 106, "device": 107}},
    )  # fmt: skip
    _assert_fields(record, expected, unix.new_unix_socket)
    assert type(record.extensions) is attributes.VfsExtensions and record.extensions.shared == {}


def test_a_socket_builder_names_every_field_once() -> None:
    values = {name: f"value of {name}" for name in SOCKET_FIELDS}
    backwards = socket_builder(*reversed(SOCKET_FIELDS))
    assert backwards(*reversed(values.values())) == Socket(**values)
    with_constants = socket_builder(*SOCKET_FIELDS[2:], **dict(list(values.items())[:2]))
    assert with_constants(*list(values.values())[2:]) == Socket(**values)
    with pytest.raises(TypeError):
        socket_builder(*SOCKET_FIELDS[1:])
    with pytest.raises(TypeError):
        socket_builder(*SOCKET_FIELDS, key=None)


def test_attributes_of_other_sizes_are_padded_or_cut() -> None:
    """An older kernel's shorter structs read 0 beyond what it sent; a newer one's longer are cut."""
    header = struct.pack("=" + inet_layout.HEADER_FORMAT, socket.AF_INET, 1, 0, 0, 0, 0, b"", b"", *range(8))
    message = header + _attributes(
        (inet_layout.INET_DIAG_SKMEMINFO, attributes.SKMEMINFO_LAYOUT.pack(*range(21, 30))[:32]),
        (inet_layout.INET_DIAG_MEMINFO, attributes.MEMINFO_LAYOUT.pack(11, 12, 13, 14) + b"\xff" * 4),
        (inet_layout.INET_DIAG_BBRINFO, attributes.BBR_LAYOUT.pack(5, 1, 100, 739, 512) + b"\xff" * 4),
        (inet_layout.INET_DIAG_MARK, struct.pack("=Q", 41)),
        (inet_layout.INET_DIAG_TOS, b""),
    )
    into: dict = {}
    assert inet.InetDecoder(lambda cgroup_id: None).decode([(bytearray(message), 0, len(message))], "tcp", into) == 0
    (record,) = into.values()
    assert record.skmem == SkMemInfo(*range(21, 29), 0) and record.meminfo == MemInfo(11, 12, 13, 14)
    assert record.mark == 41 and record.tos is None and record.tcp_info is None
    assert dict(record.extensions) == {"bbr": attributes.bbr_info(5, 1, 100, 739, 512)}
    assert _read_only(record.extensions)


def _odd_messages() -> list[bytes]:
    """Messages the compiled decoder leaves to the Python loop (an unknown state, an unknown timer, a rare
    extension) and messages every decoder skips (too short, of another family), with recorded ones between them."""
    data, seq = load("netlink_tcp_dump.bin")
    recorded = [bytes(buffer[start:end]) for buffer, start, end in split(data, seq)]
    unknown_state, unknown_timer, other_family = (bytearray(recorded[0]) for _ in range(3))
    unknown_state[1] = 99
    unknown_timer[2] = 9
    other_family[0] = socket.AF_UNIX
    for number, message in enumerate((unknown_state, unknown_timer, other_family)):
        struct.pack_into("=I", message, 44, 1_000_000 + number)  # a cookie of its own
    with_ulp, _ = _every_field_message("ipv4", "10.1.2.3", "10.4.5.6")
    return [bytes(unknown_state), recorded[1], bytes(unknown_timer), recorded[0][:40], with_ulp, bytes(other_family)]


@pytest.mark.parametrize("live", [False, True], ids=["one-off", "live"])
def test_compiled_decoder_builds_the_records_of_the_python_loop(live: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every recorded message at every kernel's tcp_info size, synthetic ones with every field, of both families,
    and odd ones between them: the same records, in the same order, of the same types, with the same digests."""
    if inet._decode is None:
        pytest.skip("the compiled inet_diag decoder is not built here (no compiler at install)")
    data, seq = load("netlink_tcp_dump.bin")
    messages = []
    for number, size in enumerate((*KERNEL_TCP_INFO_SIZES, TCP_INFO_SIZE + 40)):
        for buffer, start, end in split(with_tcp_info_size(data, size), seq):
            message = bytearray(buffer[start:end])
            struct.pack_into("=I", message, 48, number)  # the cookie's high half: one socket per size
            messages.append(bytes(message))
    for number, (family, local, remote) in enumerate(FAMILY_ADDRESSES):
        message = bytearray(_every_field_message(family, local, remote, ulp=False)[0])
        struct.pack_into("=I", message, 44, 2_000_000 + number)
        messages.append(bytes(message))
    messages += _odd_messages()
    ours, python_decoded = decoded_by("compiled", messages, live, monkeypatch)
    theirs, _ = decoded_by("pure-python", messages, live, monkeypatch)
    assert python_decoded == 2 * 3  # the unknown state, the unknown timer, the ULP info, in each decode: no other
    assert list(ours) == list(theirs) and len(ours) == len(messages) - 3  # 2 skipped; 1 socket twice: later wins
    for key, record in ours.items():
        other = theirs[key]
        assert type(record) is Socket and record == other, key
        assert (record.digest, record.observed_at) == (other.digest, other.observed_at)
        assert [type(getattr(record, name)) for name in SOCKET_FIELDS] == [
            type(getattr(other, name)) for name in SOCKET_FIELDS
        ]
        assert dict(record.extensions) == dict(other.extensions) and _read_only(record.extensions)


def test_compiled_decoder_refuses_bad_plans_and_messages() -> None:
    if inet._decode is None:
        pytest.skip("the compiled inet_diag decoder is not built here (no compiler at install)")
    layout = inet_layout.compile_layout(socket.AF_INET, ())
    with pytest.raises(ValueError):  # a value beyond the message
        inet._decode.plan(layout, 72, socket.AF_INET, (), {"info": (72, 8)}, (), None)
    with pytest.raises(ValueError):  # shorter than struct inet_diag_msg
        inet._decode.plan(layout, 40, socket.AF_INET, (), {}, (), None)
    decoder = inet.InetDecoder(lambda cgroup_id: None)
    message = bytearray(_odd_messages()[1])
    with pytest.raises(ValueError):  # a message beyond its buffer
        decoder.decode([(message, 0, len(message) + 1)], "tcp", {})
