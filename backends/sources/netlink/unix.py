"""unix_diag (AF_UNIX sockets): the dump request and the decoding of its replies."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable

from netwatch.backends.model.extensions import Extensions
from netwatch.backends.model.names import DATAGRAM_STATES, UNIX_TYPES
from netwatch.backends.model.records import NO_EXTENSIONS
from netwatch.backends.sources.netlink.attributes import (
    NLA_HEADER,
    NLA_HEADER_LEN,
    NLA_TYPE_MASK,
    U8,
    U32,
    VfsExtensions,
    decode_skmeminfo,
)
from netwatch.backends.sources.netlink.records import socket_builder
from netwatch.backends.sources.netlink.transport import Message

UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_VFS = 0x02
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_RQLEN = 0x10
UDIAG_SHOW_MEMINFO = 0x20
UDIAG_SHOW_UID = 0x40
SHOW_ALL = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_MEMINFO | UDIAG_SHOW_UID
"""Everything but ICONS (the inodes of a listener's pending connections: unbounded, not shown)."""

UNIX_DIAG_NAME = 0
UNIX_DIAG_VFS = 1
UNIX_DIAG_PEER = 2
UNIX_DIAG_RQLEN = 4
UNIX_DIAG_MEMINFO = 5
UNIX_DIAG_SHUTDOWN = 6
UNIX_DIAG_UID = 7

UNIX_DIAG_REQ = struct.Struct("=BBHIII2I")
UNIX_DIAG_MSG = struct.Struct("=BBBBIII")
MSG_SIZE = UNIX_DIAG_MSG.size  # 16
TWO_U32 = struct.Struct("=II")

new_unix_socket = socket_builder(
    "key", "state", "recv_q", "send_q", "inode", "uid", "cookie", "path", "peer_inode", "sock_type", "skmem",
    "shutdown", "netns", "netns_inode", "extensions",
    proto="unix", family="unix", local_address="", local_port=0, remote_address="", remote_port=0, owners=(),
    tcp_info=None, timer=None, meminfo=None, congestion=None, cgroup=None, tos=None, tclass=None, mark=None,
    interface=None, observed_at=None, digest=None,
)  # fmt: skip
"""A Socket from the values of a unix_diag message, in this order (owners are attached after the dump)."""


def build_request(show: int = SHOW_ALL) -> bytes:
    """A struct unix_diag_req dumping every Unix socket in every state."""
    return UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, show, 0, 0)


def decode_name(raw: bytes) -> str:
    """A sun_path as text: abstract names (leading NUL) get a leading "@"; undecodable bytes kept
    via surrogateescape (like os.fsdecode), so the text maps back to the exact bytes."""
    if raw[:1] == b"\0":
        return "@" + raw[1:].decode("utf-8", "surrogateescape")
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def decode_unix(
    messages: Iterable[Message], into: dict, netns: int | None = None, netns_name: str | None = None
) -> int:
    """Add one Socket per well-formed unix_diag message of the network namespace of inode ``netns`` called
    ``netns_name`` to ``into`` (key ("unix", cookie, netns)).

    Returns the number of malformed (too short) messages skipped.
    """
    unpack_msg = UNIX_DIAG_MSG.unpack_from
    unpack_nla = NLA_HEADER.unpack_from
    unpack_u8 = U8.unpack_from
    unpack_u32 = U32.unpack_from
    unpack_two = TWO_U32.unpack_from
    state_count = len(DATAGRAM_STATES)
    skipped = 0
    for buffer, offset, end in messages:
        if end - offset < MSG_SIZE:
            skipped += 1
            continue
        _family, sock_type, state, _pad, inode, cookie_lo, cookie_hi = unpack_msg(buffer, offset)
        path = peer = uid = skmem = shutdown = None
        recv_q = send_q = 0
        extensions: Extensions = NO_EXTENSIONS
        position = offset + MSG_SIZE
        while position + NLA_HEADER_LEN <= end:
            length, atype = unpack_nla(buffer, position)
            if length < NLA_HEADER_LEN or position + length > end:
                break
            start = position + NLA_HEADER_LEN
            size = length - NLA_HEADER_LEN
            position += (length + 3) & ~3
            atype &= NLA_TYPE_MASK
            if atype == UNIX_DIAG_NAME:
                if size:
                    path = decode_name(bytes(buffer[start : start + size]))
            elif atype == UNIX_DIAG_RQLEN and size >= 8:
                recv_q, send_q = unpack_two(buffer, start)
            elif atype == UNIX_DIAG_PEER and size >= 4:
                peer = unpack_u32(buffer, start)[0]
            elif atype == UNIX_DIAG_UID and size >= 4:
                uid = unpack_u32(buffer, start)[0]
            elif atype == UNIX_DIAG_MEMINFO:
                skmem = decode_skmeminfo(buffer, start, start + size)
            elif atype == UNIX_DIAG_SHUTDOWN and size >= 1:
                shutdown = unpack_u8(buffer, start)[0]
            elif atype == UNIX_DIAG_VFS and size >= 8:
                extensions = VfsExtensions(NO_EXTENSIONS, bytes(buffer[start : start + size]))
        cookie = cookie_hi << 32 | cookie_lo
        key = ("unix", cookie, netns)
        into[key] = new_unix_socket(
            key,
            DATAGRAM_STATES[state] if state < state_count else "UNKNOWN",
            recv_q,
            send_q,
            inode,
            uid,
            cookie,
            path,
            peer,
            UNIX_TYPES.get(sock_type, f"type{sock_type}"),
            skmem,
            shutdown,
            netns_name,
            netns,
            extensions,
        )
    return skipped
