"""One precompiled struct per *shape* of inet_diag message: the hot path of the TCP/UDP decoder.

The kernel emits the attributes of a given kind of socket in a fixed order with fixed sizes (only the
congestion name varies), so messages come in a handful of shapes. For each shape a single
``struct.Struct`` unpacks the message header, every attribute header and every payload in one C call;
the attribute headers among the values are compared with the shape's (one tuple comparison) to check
that a message really has that shape, and the values are then picked by index. A message of a new
shape is walked once, attribute by attribute, to learn it.

Kernel versions differ in the sizes of their structs (``tcp_info`` is 104 bytes in linux 3.x, 232 in 5.4, 280 in
6.18): the struct of a shape is made for the sizes the kernel sends, so every version takes the same path. A
struct longer than the one known here is cut to it there; a shorter one is zero-padded when it is decoded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter

from netwatch.backends.model.extensions import LayeredExtensions
from netwatch.backends.model.tcp_info import CLOCKS_OFFSET, CLOCKS_SIZE, TCP_INFO_SIZE
from netwatch.backends.sources.netlink.attributes import (
    BBR_LAYOUT,
    DCTCP_LAYOUT,
    MEMINFO_LAYOUT,
    NLA_HEADER,
    NLA_HEADER_LEN,
    NLA_TYPE_MASK,
    SKMEMINFO_LAYOUT,
    VEGAS_LAYOUT,
    BbrExtensions,
    DctcpExtensions,
    VegasExtensions,
    decode_ulp,
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

TCP_CA_NAME_MAX = 16
"""Bytes of a congestion control name, its NUL included (linux/tcp.h)."""

HEADER_FORMAT = "BBBBHH16s16sIIIIIIII"
"""struct inet_diag_msg (ports are big-endian: swapped by the decoder)."""
HEADER_SIZE = struct.calcsize("=" + HEADER_FORMAT)  # 72
HEADER_VALUES = 16
EXPIRES_OFFSET = 52
"""Offset of idiag_expires (u32, a countdown) in struct inet_diag_msg."""

Decoder = Callable[[bytes, int, int], object]

RAW: dict[int, tuple[str, int]] = {
    INET_DIAG_INFO: ("info", TCP_INFO_SIZE),  # TcpInfo decodes on access
    INET_DIAG_MEMINFO: ("meminfo", MEMINFO_LAYOUT.size),  # decoded once per distinct value
    INET_DIAG_SKMEMINFO: ("skmem", SKMEMINFO_LAYOUT.size),
    INET_DIAG_CONG: ("cong", TCP_CA_NAME_MAX),
    INET_DIAG_BBRINFO: ("own", BBR_LAYOUT.size),  # see OWN_EXTENSIONS
    INET_DIAG_DCTCPINFO: ("own", DCTCP_LAYOUT.size),
    INET_DIAG_VEGASINFO: ("own", VEGAS_LAYOUT.size),
}
"""Attributes kept as their raw payload, cut to the size known here: type -> (slot, size)."""

SCALARS: dict[int, tuple[str, str]] = {
    INET_DIAG_SHUTDOWN: ("shutdown", "B"),
    INET_DIAG_TOS: ("tos", "B"),
    INET_DIAG_TCLASS: ("tclass", "B"),
    INET_DIAG_MARK: ("mark", "I"),
    INET_DIAG_CGROUP_ID: ("cgroup", "Q"),
    INET_DIAG_SOCKOPT: ("sockopt", "H"),
    INET_DIAG_PROTOCOL: ("protocol", "B"),
    INET_DIAG_SKV6ONLY: ("v6only", "B"),
    INET_DIAG_CLASS_ID: ("class_id", "I"),
}
"""Integer attributes unpacked in place: type -> (slot, struct code). A longer payload is cut to the integer; a
shorter one (no kernel sends one) is left out."""

OWN_EXTENSIONS: dict[int, type[LayeredExtensions]] = {
    INET_DIAG_BBRINFO: BbrExtensions,
    INET_DIAG_DCTCPINFO: DctcpExtensions,
    INET_DIAG_VEGASINFO: VegasExtensions,
}
"""The congestion control's info (at most one per socket): its own entry in ``Socket.extensions``."""

RARE_EXTENSIONS: dict[int, tuple[str, Decoder]] = {INET_DIAG_ULP_INFO: ("ulp", decode_ulp)}
"""Attributes few sockets have, decoded into their own ``Socket.extensions`` mapping: type -> (name, decoder)."""

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
    info_padding: bytes = b""
    """The zero bytes that complete the message's tcp_info to TCP_INFO_SIZE (an older kernel's is shorter)."""
    meminfo: int = 0
    skmem: int = 0
    cong: int = 0
    shutdown: int = 0
    tos: int = 0
    tclass: int = 0
    mark: int = 0
    cgroup: int = 0
    own: int = 0
    """The congestion control's info..."""
    own_extensions: type[LayeredExtensions] | None = None
    """...and the extensions mapping that holds it (see OWN_EXTENSIONS)."""
    shared: tuple[tuple[int, str], ...] = ()
    """(value index, slot name) of the SHARED_EXTENSIONS present, in message order..."""
    pick_shared: Callable[[tuple], object] | None = None
    """...and a picker of those values (the key of the shared extensions mapping)."""
    rare: tuple[tuple[int, str, Decoder], ...] = ()
    """(raw payload index, extension name, decoder) of the RARE_EXTENSIONS present."""
    clocks: int = 0
    """Offset in the message of tcp_info's four ``last_*`` clocks (:data:`CLOCKS_SIZE` bytes), 0 without them."""
    size: int = HEADER_SIZE
    """Bytes of a message of this shape."""
    checks: tuple[tuple[int, int, int], ...] = ()
    """(offset, length, type) of each attribute header: what the compiled decoder checks (see ``_decode.c``)..."""
    places: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """...and (offset, bytes) of each slot's value in the message, by slot name (``info``, ``sockopt``...)."""


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
    """The Layout (one struct over the whole message) for messages of ``family`` with ``shape``.

    An attribute that fills a slot already filled (no kernel repeats one) is skipped."""
    formats = ["=", HEADER_FORMAT]
    count = HEADER_VALUES
    check = [0]
    expected: list[int] = [family]
    slots: dict[str, object] = {}
    rare: list[tuple[int, str, Decoder]] = []
    checks: list[tuple[int, int, int]] = []
    places: dict[str, tuple[int, int]] = {}
    position = HEADER_SIZE
    for atype, length, padding in shape:
        start, position = position, position + length + padding
        if atype < 0:
            formats.append(f"{length}x")
            continue
        payload = length - NLA_HEADER_LEN
        formats.append("HH")
        check += [count, count + 1]
        expected += [length, atype]
        checks.append((start, length, atype))
        count += 2
        kind = atype & NLA_TYPE_MASK
        slot, read = _payload_format(kind, payload)
        if slot is not None and slot not in slots:
            formats.append(read)
            slots[slot] = count
            count += 1
            size = struct.calcsize("=" + read)
            places[slot] = (start + NLA_HEADER_LEN, size)
            payload -= size
            if kind == INET_DIAG_INFO:
                slots["info_padding"] = bytes(TCP_INFO_SIZE - size)
                if size >= CLOCKS_OFFSET + CLOCKS_SIZE:
                    slots["clocks"] = start + NLA_HEADER_LEN + CLOCKS_OFFSET
            elif kind in OWN_EXTENSIONS:
                slots["own_extensions"] = OWN_EXTENSIONS[kind]
        elif kind in RARE_EXTENSIONS and payload > 0:
            formats.append(f"{payload}s")
            rare.append((count, *RARE_EXTENSIONS[kind]))
            count += 1
            payload = 0
        if payload + padding:
            formats.append(f"{payload + padding}x")
    if len(check) < 2:
        check.append(0)
        expected.append(family)
    layout = struct.Struct("".join(formats))
    shared = tuple(sorted((slots.pop(name), name) for name in SHARED_EXTENSIONS if name in slots))
    return Layout(
        unpack=layout.unpack_from,
        headers=itemgetter(*check),
        expected=tuple(expected),
        shared=shared,
        pick_shared=itemgetter(*(index for index, _name in shared)) if shared else None,
        rare=tuple(rare),
        size=position,
        checks=tuple(checks),
        places=places,
        **slots,
    )


def _payload_format(kind: int, payload: int) -> tuple[str | None, str]:
    """(slot, struct format) of an attribute's value read in place, (None, "") when it is not."""
    if kind in RAW and payload > 0:
        slot, size = RAW[kind]
        return slot, f"{min(payload, size)}s"
    if kind in SCALARS:
        slot, code = SCALARS[kind]
        if payload >= struct.calcsize("=" + code):
            return slot, code
    return None, ""
