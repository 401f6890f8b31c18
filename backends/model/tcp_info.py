"""``struct tcp_info`` (linux 6.18 include/uapi/linux/tcp.h), kept as the kernel's bytes and decoded on access.

A snapshot of 100,000 TCP sockets would otherwise hold seven million Python ints: keeping the 280 raw bytes
per socket and unpacking a field when it is read costs a tenth of the memory and none of the decoding time for
fields nobody looks at.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from netwatch.backends.compiled import STRUCT_JSON, load

# (name, struct code) in kernel order. Bytes 6 and 7 are bitfields: snd_wscale:4 (low nibble) and
# rcv_wscale:4 (high nibble); delivery_rate_app_limited:1 and fastopen_client_fail:2.
_LAYOUT = (
    ("state", "B"), ("ca_state", "B"), ("retransmits", "B"), ("probes", "B"), ("backoff", "B"),
    ("options", "B"), ("wscale", "B"), ("rate_flags", "B"),
    ("rto", "I"), ("ato", "I"), ("snd_mss", "I"), ("rcv_mss", "I"), ("unacked", "I"), ("sacked", "I"),
    ("lost", "I"), ("retrans", "I"), ("fackets", "I"), ("last_data_sent", "I"), ("last_ack_sent", "I"),
    ("last_data_recv", "I"), ("last_ack_recv", "I"), ("pmtu", "I"), ("rcv_ssthresh", "I"), ("rtt", "I"),
    ("rttvar", "I"), ("snd_ssthresh", "I"), ("snd_cwnd", "I"), ("advmss", "I"), ("reordering", "I"),
    ("rcv_rtt", "I"), ("rcv_space", "I"), ("total_retrans", "I"),
    ("pacing_rate", "Q"), ("max_pacing_rate", "Q"), ("bytes_acked", "Q"), ("bytes_received", "Q"),
    ("segs_out", "I"), ("segs_in", "I"), ("notsent_bytes", "I"), ("min_rtt", "I"), ("data_segs_in", "I"),
    ("data_segs_out", "I"),
    ("delivery_rate", "Q"), ("busy_time", "Q"), ("rwnd_limited", "Q"), ("sndbuf_limited", "Q"),
    ("delivered", "I"), ("delivered_ce", "I"), ("bytes_sent", "Q"), ("bytes_retrans", "Q"),
    ("dsack_dups", "I"), ("reord_seen", "I"), ("rcv_ooopack", "I"), ("snd_wnd", "I"), ("rcv_wnd", "I"),
    ("rehash", "I"), ("total_rto", "H"), ("total_rto_recoveries", "H"), ("total_rto_time", "I"),
    ("received_ce", "I"), ("delivered_e1_bytes", "I"), ("delivered_e0_bytes", "I"),
    ("delivered_ce_bytes", "I"), ("received_e1_bytes", "I"), ("received_e0_bytes", "I"),
    ("received_ce_bytes", "I"), ("accecn_fail_mode", "H"), ("accecn_opt_seen", "H"),
)  # fmt: skip
_BITFIELDS = {
    "wscale": (("snd_wscale", 0, 0xF), ("rcv_wscale", 4, 0xF)),
    "rate_flags": (("delivery_rate_app_limited", 0, 0x1), ("fastopen_client_fail", 1, 0x3)),
}
TCP_INFO_LAYOUT = struct.Struct("=" + "".join(code for _name, code in _LAYOUT))
TCP_INFO_SIZE = TCP_INFO_LAYOUT.size
"""Bytes of struct tcp_info in linux 6.18 (280)."""


def _placed_fields() -> Iterator[tuple[str, int, str, int, int]]:
    """(name, offset, struct code, bit shift, bit mask (0: the whole value)) of every field, in kernel order."""
    offset = 0
    for name, code in _LAYOUT:
        for field, shift, mask in _BITFIELDS.get(name, ((name, 0, 0),)):
            yield field, offset, code, shift, mask
        offset += struct.calcsize("=" + code)


FIELDS: tuple[str, ...] = tuple(name for name, *_place in _placed_fields())
"""Every field name, without the ``tcpi_`` prefix, in kernel order (70)."""

CLOCKS = ("last_data_sent", "last_ack_sent", "last_data_recv", "last_ack_recv")
"""Milliseconds since an event: the fields of an idle socket's tcp_info that change with time alone (adjacent)."""
_CLOCKS_INDEX = [name for name, _code in _LAYOUT].index(CLOCKS[0])
CLOCKS_OFFSET = struct.calcsize("=" + "".join(code for _name, code in _LAYOUT[:_CLOCKS_INDEX]))
"""Offset of the first of :data:`CLOCKS` in struct tcp_info (44)."""
CLOCKS_SIZE = 4 * len(CLOCKS)

_CLOCK_FIELDS = slice(FIELDS.index(CLOCKS[0]), FIELDS.index(CLOCKS[0]) + len(CLOCKS))
_JSON_TEMPLATE = ("{" + ",".join(f'"{name}":%d' for name in FIELDS) + "}").encode()
_struct_json = load(STRUCT_JSON)
COMPILED_JSON = _struct_json and _struct_json.layout(
    [(f'"{name}":'.encode(), offset, struct.calcsize("=" + code), shift, mask, name in CLOCKS)
     for name, offset, code, shift, mask in _placed_fields()]
)  # fmt: skip
"""The layout :meth:`TcpInfo.json` hands the compiled encoder (``_struct_json.c``), or None: the pure-Python path."""

_WSCALE = tuple((byte & 0xF, byte >> 4) for byte in range(256))
_RATE_FLAGS = tuple((byte & 1, (byte >> 1) & 3) for byte in range(256))


class TcpInfo:
    """Every field of the kernel's ``struct tcp_info`` as attributes, in kernel units (``rtt`` in µs...).

    Immutable. Holds the raw struct (zero-padded when the kernel sent a shorter one); each attribute read
    unpacks just that field. ``TcpInfo(**fields)`` builds one from values (missing ones are 0).
    """

    __slots__ = ("raw",)
    _fields = FIELDS
    raw: bytes

    def __init__(self, raw: bytes = b"", /, **values: int) -> None:
        if values:
            raw = _pack(values)
        elif len(raw) != TCP_INFO_SIZE:
            raw = bytes(raw[:TCP_INFO_SIZE]).ljust(TCP_INFO_SIZE, b"\0")
        object.__setattr__(self, "raw", bytes(raw))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TcpInfo is immutable (cannot set {name})")

    def values(self) -> tuple[int, ...]:
        """All field values in :data:`FIELDS` order."""
        raw = TCP_INFO_LAYOUT.unpack(self.raw)
        return raw[:6] + _WSCALE[raw[6]] + _RATE_FLAGS[raw[7]] + raw[8:]

    def json(self, moved: int = 0) -> bytes:
        """The JSON object of every field (``orjson.dumps(self._asdict())``), the clocks read ``moved`` (>= 0) ms
        later (as :func:`netwatch.backends.model.records.tcp_info_at` does)."""
        if COMPILED_JSON is not None:
            return _struct_json.encode(COMPILED_JSON, self.raw, moved)
        values = self.values()
        if moved:
            clocks = _CLOCK_FIELDS
            values = values[: clocks.start] + tuple(value + moved for value in values[clocks]) + values[clocks.stop :]
        return _JSON_TEMPLATE % values

    def _asdict(self) -> dict[str, int]:
        return dict(zip(FIELDS, self.values(), strict=True))

    def __iter__(self) -> Iterator[int]:
        return iter(self.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TcpInfo) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value}" for name, value in self._asdict().items() if value)
        return f"TcpInfo({shown})"


def _pack(values: dict[str, int]) -> bytes:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown tcp_info fields: {', '.join(sorted(unknown))}")
    packed = []
    for name, _code in _LAYOUT:
        if name in _BITFIELDS:
            packed.append(sum((values.get(bit, 0) & mask) << shift for bit, shift, mask in _BITFIELDS[name]))
        else:
            packed.append(values.get(name, 0))
    return TCP_INFO_LAYOUT.pack(*packed)


def _install_field_properties() -> None:
    for name, offset, code, shift, mask in _placed_fields():
        getter = _bit_getter(offset, shift, mask) if mask else _field_getter(offset, code)
        setattr(TcpInfo, name, property(getter, doc=f"tcpi_{name}"))


def _field_getter(offset: int, code: str) -> Callable[[TcpInfo], int]:
    unpack_from = struct.Struct("=" + code).unpack_from

    def get(info: TcpInfo) -> int:
        return unpack_from(info.raw, offset)[0]

    return get


def _bit_getter(offset: int, shift: int, mask: int) -> Callable[[TcpInfo], int]:
    def get(info: TcpInfo) -> int:
        return (info.raw[offset] >> shift) & mask

    return get


_install_field_properties()


_new_object = object.__new__
_set_raw = TcpInfo.raw.__set__  # type: ignore[attr-defined]


def raw_json() -> object:
    """How the compiled socket encoder writes a TcpInfo from its ``raw`` bytes: the compiled layout itself where it is
    built (the encoder then writes the JSON without a call, see ``struct_json.h``), else :meth:`TcpInfo.json` as a
    function of ``raw`` and ``moved``."""
    if COMPILED_JSON is not None:
        return COMPILED_JSON
    return lambda raw, moved: TcpInfo(raw).json(moved)


def tcp_info_from_exact(raw: bytes) -> TcpInfo:
    """A TcpInfo over ``raw``, which must be exactly :data:`TCP_INFO_SIZE` bytes (the decoder's hot path:
    skips ``__init__``'s checks and copy)."""
    info = _new_object(TcpInfo)
    _set_raw(info, raw)
    return info
