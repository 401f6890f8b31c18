"""Decoders for the netlink attributes (struct nlattr payloads) of sock_diag replies.

Each decoder takes ``(buffer, start, stop)``: the payload's bounds inside a reply buffer. Fixed-size
payloads shorter than their struct are zero-padded, longer ones are truncated (kernel version skew).
Attributes that differ from socket to socket but are rarely read (congestion control info, a Unix socket's
VFS identity) stay raw bytes in an :class:`AttributeExtensions`, decoded on access.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

from netwatch.backends.model.extensions import LayeredExtensions, share
from netwatch.backends.model.records import MemInfo, SkMemInfo

NLA_HEADER = struct.Struct("=HH")  # nla_len, nla_type
NLA_HEADER_LEN = NLA_HEADER.size
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

U8 = struct.Struct("=B")
U32 = struct.Struct("=I")
MEMINFO_LAYOUT = struct.Struct("=4I")
SKMEMINFO_LAYOUT = struct.Struct("=9I")
VEGAS_LAYOUT = struct.Struct("=4I")
DCTCP_LAYOUT = struct.Struct("=HHIII")
BBR_LAYOUT = struct.Struct("=5I")
VFS_LAYOUT = struct.Struct("=II")

# INET_DIAG_SOCKOPT (struct inet_diag_sockopt): bit names in bit order over its two bytes (little-endian
# bitfield allocation, first member in the lowest bit).
SOCKOPT_FLAGS = (
    "recverr",
    "is_icsk",
    "freebind",
    "hdrincl",
    "mc_loop",
    "transparent",
    "mc_all",
    "nodefrag",
    "bind_address_no_port",
    "recverr_rfc4884",
    "defer_connect",
)

INET_ULP_INFO_NAME = 1

_sockopt_cache: dict[int, Mapping[str, object]] = {}


def unpack_padded(layout: struct.Struct, buffer: bytearray, start: int, stop: int) -> tuple:
    """``layout.unpack_from`` the payload, zero-padding it when the kernel sent fewer bytes."""
    if stop - start >= layout.size:
        return layout.unpack_from(buffer, start)
    return layout.unpack(bytes(buffer[start:stop]).ljust(layout.size, b"\0"))


def decode_cstring(buffer: bytearray, start: int, stop: int) -> str:
    """A NUL-terminated name (congestion control, ULP): text up to the first NUL."""
    return buffer[start:stop].split(b"\0", 1)[0].decode("utf-8", "replace")


def decode_meminfo(buffer: bytearray, start: int, stop: int) -> MemInfo:
    return tuple.__new__(MemInfo, unpack_padded(MEMINFO_LAYOUT, buffer, start, stop))


def decode_skmeminfo(buffer: bytearray, start: int, stop: int) -> SkMemInfo:
    return tuple.__new__(SkMemInfo, unpack_padded(SKMEMINFO_LAYOUT, buffer, start, stop))


def decode_vegas(buffer: bytearray, start: int, stop: int) -> dict[str, object]:
    enabled, rttcnt, rtt, minrtt = unpack_padded(VEGAS_LAYOUT, buffer, start, stop)
    return {"enabled": enabled, "rttcnt": rttcnt, "rtt": rtt, "minrtt": minrtt}


def decode_dctcp(buffer: bytearray, start: int, stop: int) -> dict[str, object]:
    enabled, ce_state, alpha, ab_ecn, ab_tot = unpack_padded(DCTCP_LAYOUT, buffer, start, stop)
    return {"enabled": enabled, "ce_state": ce_state, "alpha": alpha, "ab_ecn": ab_ecn, "ab_tot": ab_tot}


class BbrInfo(Mapping[str, int]):
    """struct tcp_bbr_info as a read-only mapping: bw in bytes/s, min_rtt in us, gains shifted left 8 bits
    (256 == 1.0). ``_fields`` names the slots, as for NamedTuples (serializers use it)."""

    __slots__ = ("bw", "min_rtt", "pacing_gain", "cwnd_gain")
    _fields = __slots__
    bw: int
    min_rtt: int
    pacing_gain: int
    cwnd_gain: int

    def __init__(self, bw: int, min_rtt: int, pacing_gain: int, cwnd_gain: int) -> None:
        self.bw = bw
        self.min_rtt = min_rtt
        self.pacing_gain = pacing_gain
        self.cwnd_gain = cwnd_gain

    def __getitem__(self, key: str) -> int:
        if key not in self.__slots__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__slots__)

    def __len__(self) -> int:
        return len(self.__slots__)

    def __repr__(self) -> str:
        return f"BbrInfo({dict(self)})"


def bbr_info(bw_lo: int, bw_hi: int, min_rtt: int, pacing_gain: int, cwnd_gain: int) -> BbrInfo:
    """A BbrInfo from the five u32 of struct tcp_bbr_info."""
    return BbrInfo(bw_hi << 32 | bw_lo, min_rtt, pacing_gain, cwnd_gain)


def decode_bbr(buffer: bytearray, start: int, stop: int) -> BbrInfo:
    return bbr_info(*unpack_padded(BBR_LAYOUT, buffer, start, stop))


def decode_vfs(buffer: bytearray, start: int, stop: int) -> dict[str, object]:
    """UNIX_DIAG_VFS: the inode and device of the file a Unix socket is bound to."""
    inode, device = unpack_padded(VFS_LAYOUT, buffer, start, stop)
    return {"inode": inode, "device": device}


class AttributeExtensions(LayeredExtensions):
    """``Socket.extensions``: a shared mapping, then the socket's own attribute ``name`` as its raw payload
    (any length), decoded on access by ``read``."""

    __slots__ = ()
    read: ClassVar[Callable[[bytes, int, int], Mapping[str, object]]]

    @classmethod
    def decode(cls, raw: bytes) -> Mapping[str, object]:
        return cls.read(raw, 0, len(raw))


class BbrExtensions(AttributeExtensions):
    """A BBR socket's extensions (BBR is the default congestion control): ``"bbr"`` is a BbrInfo."""

    __slots__ = ()
    name = "bbr"
    read = staticmethod(decode_bbr)


class DctcpExtensions(AttributeExtensions):
    """A DCTCP socket's extensions: ``"dctcp"`` is its struct tcp_dctcp_info."""

    __slots__ = ()
    name = "dctcp"
    read = staticmethod(decode_dctcp)


class VegasExtensions(AttributeExtensions):
    """A Vegas socket's extensions: ``"vegas"`` is its struct tcpvegas_info."""

    __slots__ = ()
    name = "vegas"
    read = staticmethod(decode_vegas)


class VfsExtensions(AttributeExtensions):
    """A bound Unix socket's extensions: ``"vfs"`` is the inode and device of its file."""

    __slots__ = ()
    name = "vfs"
    read = staticmethod(decode_vfs)


def sockopt_flags(bits: int) -> Mapping[str, object]:
    """INET_DIAG_SOCKOPT bits as {flag name: bool} (one shared read-only mapping per bit pattern)."""
    flags = _sockopt_cache.get(bits)
    if flags is None:
        flags = share({name: bool(bits >> bit & 1) for bit, name in enumerate(SOCKOPT_FLAGS)})
        _sockopt_cache[bits] = flags
    return flags


def decode_ulp(buffer: bytearray, start: int, stop: int) -> dict[str, object]:
    """INET_DIAG_ULP_INFO (nested): the upper-layer protocol's name ("tls", "mptcp", ...) only."""
    info: dict[str, object] = {}
    for atype, nested_start, nested_stop in iter_attributes(buffer, start, stop):
        if atype == INET_ULP_INFO_NAME:
            info["name"] = decode_cstring(buffer, nested_start, nested_stop)
    return info


def iter_attributes(buffer: bytearray, start: int, stop: int):
    """Yield (type, payload start, payload stop) for each well-formed attribute in ``buffer[start:stop]``."""
    unpack = NLA_HEADER.unpack_from
    while start + NLA_HEADER_LEN <= stop:
        length, atype = unpack(buffer, start)
        if length < NLA_HEADER_LEN or start + length > stop:
            return
        yield atype & NLA_TYPE_MASK, start + NLA_HEADER_LEN, start + length
        start += (length + 3) & ~3
