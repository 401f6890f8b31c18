"""One precompiled struct per *shape* of inet_diag message: the hot path of the TCP/UDP decoder.

The kernel emits the attributes of a given kind of socket in a fixed order with fixed sizes (only the
congestion name varies), so messages come in a handful of shapes. For each shape a single
``struct.Struct`` unpacks the message header, every attribute header and every payload in one C call;
the attribute headers among the values are compared with the shape's (one tuple comparison) to check
that a message really has that shape, and the values are then picked by index. A message of a new
shape is walked once, attribute by attribute, to learn it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from netwatch.backends.model.tcp_info import TCP_INFO_SIZE, decode_tcp_info_from
from netwatch.backends.sources.netlink.attributes import (
    NLA_HEADER,
    NLA_HEADER_LEN,
    NLA_TYPE_MASK,
    decode_bbr,
    decode_dctcp,
    decode_meminfo,
    decode_skmeminfo,
    decode_sockopt,
    decode_u8,
    decode_u32,
    decode_ulp,
    decode_vegas,
)

# enum in linux/inet_diag.h
INET_DIAG_MEMINFO = 1
INET_DIAG_INFO = 2
INET_DIAG_VEGASINFO = 3
INET_DIAG_CONG = 4
INET_DIAG_TOS = 5
INET_DIAG_TCLASS = 6
INET_DIAG_SKMEMINFO = 7
INET_DIAG_SHUTDOWN = 8
INET_DIAG_DCTCPINFO = 9
INET_DIAG_PROTOCOL = 10
INET_DIAG_SKV6ONLY = 11
INET_DIAG_MARK = 15
INET_DIAG_BBRINFO = 16
INET_DIAG_CLASS_ID = 17
INET_DIAG_ULP_INFO = 19
INET_DIAG_CGROUP_ID = 21
INET_DIAG_SOCKOPT = 22

HEADER_FORMAT = "BBBBHH16s16sIIIIIIII"
"""struct inet_diag_msg (ports are big-endian: swapped by the decoder)."""
HEADER_SIZE = struct.calcsize("=" + HEADER_FORMAT)  # 72
HEADER_VALUES = 16

Decoder = Callable[[bytes, int, int], object]

INLINE: dict[int, tuple[str, int, str]] = {
    INET_DIAG_INFO: ("info", TCP_INFO_SIZE, f"{TCP_INFO_SIZE}s"),  # kept raw: TcpInfo decodes on access
    INET_DIAG_MEMINFO: ("meminfo", 16, "4I"),
    INET_DIAG_SKMEMINFO: ("skmem", 36, "9I"),
    INET_DIAG_SHUTDOWN: ("shutdown", 1, "B"),
    INET_DIAG_TOS: ("tos", 1, "B"),
    INET_DIAG_TCLASS: ("tclass", 1, "B"),
    INET_DIAG_MARK: ("mark", 4, "I"),
    INET_DIAG_CGROUP_ID: ("cgroup", 8, "Q"),
    INET_DIAG_SOCKOPT: ("sockopt", 2, "H"),
    INET_DIAG_BBRINFO: ("bbr", 20, "20s"),  # kept raw: BbrExtensions decodes on access
    INET_DIAG_PROTOCOL: ("protocol", 1, "B"),
    INET_DIAG_SKV6ONLY: ("v6only", 1, "B"),
    INET_DIAG_CLASS_ID: ("class_id", 4, "I"),
}
"""Attributes unpacked in place when their payload has the expected size: type -> (slot, size, format)."""

ODD_SIZED: dict[int, tuple[str, Decoder]] = {
    INET_DIAG_INFO: ("tcp_info", lambda raw, start, stop: decode_tcp_info_from(raw, start, stop - start)),
    INET_DIAG_MEMINFO: ("meminfo", decode_meminfo),
    INET_DIAG_SKMEMINFO: ("skmem", decode_skmeminfo),
    INET_DIAG_SHUTDOWN: ("shutdown", decode_u8),
    INET_DIAG_TOS: ("tos", decode_u8),
    INET_DIAG_TCLASS: ("tclass", decode_u8),
    INET_DIAG_MARK: ("mark", decode_u32),
}
"""The same attributes with an unexpected payload size (kernel version skew): Socket field, padded decoder.
(CGROUP_ID, SOCKOPT and BBRINFO of an odd size are treated like extensions below.)"""

EXTENSIONS: dict[int, tuple[str, str | None, Decoder]] = {
    INET_DIAG_VEGASINFO: ("vegas", None, decode_vegas),
    INET_DIAG_DCTCPINFO: ("dctcp", None, decode_dctcp),
    INET_DIAG_BBRINFO: ("bbr", None, decode_bbr),
    INET_DIAG_SOCKOPT: ("sockopt", None, decode_sockopt),
    INET_DIAG_ULP_INFO: ("ulp", None, decode_ulp),
    INET_DIAG_PROTOCOL: ("inet", "protocol", decode_u8),
    INET_DIAG_SKV6ONLY: ("inet", "v6only", lambda raw, start, stop: bool(decode_u8(raw, start, stop))),
    INET_DIAG_CLASS_ID: ("inet", "class_id", decode_u32),
}
"""Attributes kept in Socket.extensions[name] (or in extensions[name][key]), from their raw payload."""

SHARED_EXTENSIONS = ("sockopt", "protocol", "v6only", "class_id")
"""Inline slots whose few distinct values make up a Socket.extensions mapping shared between sockets."""


@dataclass(frozen=True, slots=True, eq=False)
class Layout:
    """How to read one message shape. Slot indexes point into the unpacked values; 0 means absent.
    Compared and hashed by identity (it keys caches on the hot path)."""

    unpack: Callable[[bytes, int], tuple]
    headers: Callable[[tuple], tuple]
    """Picks the family and every attribute's (length, type) from the unpacked values..."""
    expected: tuple
    """...which must equal these for a message to have this shape."""
    info: int = 0
    meminfo: int = 0
    skmem: int = 0
    cong: int = 0
    shutdown: int = 0
    tos: int = 0
    tclass: int = 0
    mark: int = 0
    cgroup: int = 0
    bbr: int = 0
    shared: tuple[tuple[int, str], ...] = ()
    """(value index, slot name) of the SHARED_EXTENSIONS present, in message order..."""
    pick_shared: Callable[[tuple], object] | None = None
    """...and a picker of those values (the key of the shared extensions mapping)."""
    odd_fields: tuple[tuple[int, str, Decoder], ...] = ()
    """(raw payload index, Socket field, decoder) for common attributes of an unexpected size."""
    extensions: tuple[tuple[int, str, str | None, Decoder], ...] = ()
    """(raw payload index, extension name, key within it or None, decoder)."""


Shape = tuple[tuple[int, int, int], ...]
"""((attribute type, length, padding bytes after it), ...) in message order; a malformed tail is
(-1, its length, 0)."""


def learn_shape(buffer: bytes, offset: int, end: int) -> Shape:
    """Walk the attributes of the message at ``buffer[offset:end]`` (a malformed one ends the walk)."""
    shape = []
    position = offset + HEADER_SIZE
    unpack = NLA_HEADER.unpack_from
    while position + NLA_HEADER_LEN <= end:
        length, atype = unpack(buffer, position)
        if length < NLA_HEADER_LEN or position + length > end:
            break
        padded = min((length + 3) & ~3, end - position)
        shape.append((atype, length, padded - length))
        position += padded
    if position < end:
        shape.append((-1, end - position, 0))
    return tuple(shape)


def compile_layout(family: int, shape: Shape) -> Layout:
    """The Layout (one struct over the whole message) for messages of ``family`` with ``shape``."""
    formats = ["=", HEADER_FORMAT]
    count = HEADER_VALUES
    check = [0]
    expected: list[int] = [family]
    slots: dict[str, int] = {}
    odd_fields: list[tuple[int, str, Decoder]] = []
    extensions: list[tuple[int, str, str | None, Decoder]] = []
    for atype, length, padding in shape:
        if atype < 0:
            formats.append(f"{length}x")
            continue
        payload = length - NLA_HEADER_LEN
        formats.append("HH")
        check += [count, count + 1]
        expected += [length, atype]
        count += 2
        kind = atype & NLA_TYPE_MASK
        inline = INLINE.get(kind)
        if inline is not None and inline[1] == payload and inline[0] not in slots:
            slot, _size, payload_format = inline
            formats.append(payload_format)
            slots[slot] = count
            count += len(struct.unpack("=" + payload_format, bytes(payload)))
        elif (kind in ODD_SIZED or kind in EXTENSIONS) and payload > 0:
            formats.append(f"{payload}s")
            if kind in ODD_SIZED:
                odd_fields.append((count, *ODD_SIZED[kind]))
            else:
                extensions.append((count, *EXTENSIONS[kind]))
            count += 1
        elif kind == INET_DIAG_CONG and payload > 0 and "cong" not in slots:
            formats.append(f"{payload}s")
            slots["cong"] = count
            count += 1
        elif payload:
            formats.append(f"{payload}x")
        if padding:
            formats.append(f"{padding}x")
    if len(check) < 2:
        check.append(0)
        expected.append(family)
    layout = struct.Struct("".join(formats))
    shared = tuple(sorted((slots.pop(name), name) for name in SHARED_EXTENSIONS if name in slots))
    return Layout(
        unpack=layout.unpack_from,
        headers=itemgetter(*check),
        expected=tuple(expected),
        odd_fields=tuple(odd_fields),
        extensions=tuple(extensions),
        shared=shared,
        pick_shared=itemgetter(*(index for index, _name in shared)) if shared else None,
        **slots,
    )
