"""``struct tcp_info`` (linux 6.18 include/uapi/linux/tcp.h) decoded with one precompiled struct layout."""

from __future__ import annotations

import struct
from typing import NamedTuple


class TcpInfo(NamedTuple):
    """Every field of the kernel's ``struct tcp_info``, without the ``tcpi_`` prefix, in kernel units."""

    state: int
    ca_state: int
    retransmits: int
    probes: int
    backoff: int
    options: int
    snd_wscale: int
    rcv_wscale: int
    delivery_rate_app_limited: int
    fastopen_client_fail: int
    rto: int
    ato: int
    snd_mss: int
    rcv_mss: int
    unacked: int
    sacked: int
    lost: int
    retrans: int
    fackets: int
    last_data_sent: int
    last_ack_sent: int
    last_data_recv: int
    last_ack_recv: int
    pmtu: int
    rcv_ssthresh: int
    rtt: int
    rttvar: int
    snd_ssthresh: int
    snd_cwnd: int
    advmss: int
    reordering: int
    rcv_rtt: int
    rcv_space: int
    total_retrans: int
    pacing_rate: int
    max_pacing_rate: int
    bytes_acked: int
    bytes_received: int
    segs_out: int
    segs_in: int
    notsent_bytes: int
    min_rtt: int
    data_segs_in: int
    data_segs_out: int
    delivery_rate: int
    busy_time: int
    rwnd_limited: int
    sndbuf_limited: int
    delivered: int
    delivered_ce: int
    bytes_sent: int
    bytes_retrans: int
    dsack_dups: int
    reord_seen: int
    rcv_ooopack: int
    snd_wnd: int
    rcv_wnd: int
    rehash: int
    total_rto: int
    total_rto_recoveries: int
    total_rto_time: int
    received_ce: int
    delivered_e1_bytes: int
    delivered_e0_bytes: int
    delivered_ce_bytes: int
    received_e1_bytes: int
    received_e0_bytes: int
    received_ce_bytes: int
    accecn_fail_mode: int
    accecn_opt_seen: int


# Bytes 6 and 7 hold bitfields (snd_wscale:4 in the low nibble, rcv_wscale:4 in the high one;
# delivery_rate_app_limited:1, fastopen_client_fail:2): they are unpacked as whole bytes and split
# through 256-entry tables, so the 68 unpacked values become the 70 fields.
TAIL_FORMAT = (
    "24I"  # rto .. total_retrans
    "4Q"  # pacing_rate, max_pacing_rate, bytes_acked, bytes_received
    "6I"  # segs_out .. data_segs_out
    "4Q"  # delivery_rate, busy_time, rwnd_limited, sndbuf_limited
    "2I"  # delivered, delivered_ce
    "2Q"  # bytes_sent, bytes_retrans
    "6I"  # dsack_dups, reord_seen, rcv_ooopack, snd_wnd, rcv_wnd, rehash
    "2H"  # total_rto, total_rto_recoveries
    "8I"  # total_rto_time, received_ce, 6 AccECN byte counters
    "2H"  # accecn_fail_mode, accecn_opt_seen
)
RAW_FORMAT = "8B" + TAIL_FORMAT
"""struct format (without byte order) of tcp_info as raw values, for embedding in larger layouts."""
TCP_INFO_LAYOUT = struct.Struct("=" + RAW_FORMAT)
TCP_INFO_SIZE = TCP_INFO_LAYOUT.size
"""Bytes of struct tcp_info in linux 6.18 (280)."""
RAW_VALUES = len(TCP_INFO_LAYOUT.unpack(bytes(TCP_INFO_SIZE)))
"""How many values RAW_FORMAT unpacks to (68)."""

_WSCALE = tuple((byte & 0xF, byte >> 4) for byte in range(256))
_RATE_FLAGS = tuple((byte & 1, (byte >> 1) & 3) for byte in range(256))
_unpack_from = TCP_INFO_LAYOUT.unpack_from
_new = tuple.__new__


def tcp_info_from_raw(values: tuple, start: int) -> TcpInfo:
    """The TcpInfo for the RAW_VALUES values at ``values[start:]`` (unpacked with RAW_FORMAT)."""
    return _new(
        TcpInfo,
        values[start : start + 6]
        + _WSCALE[values[start + 6]]
        + _RATE_FLAGS[values[start + 7]]
        + values[start + 8 : start + RAW_VALUES],
    )


def decode_tcp_info_from(buffer: bytes | bytearray | memoryview, offset: int, length: int) -> TcpInfo:
    """Decode the ``length`` bytes of tcp_info at ``offset``: shorter (older kernel) is zero-padded,
    longer (newer kernel) is truncated to the fields known here."""
    if length < TCP_INFO_SIZE:
        buffer = bytes(buffer[offset : offset + max(length, 0)]).ljust(TCP_INFO_SIZE, b"\0")
        offset = 0
    return tcp_info_from_raw(_unpack_from(buffer, offset), 0)


def decode_tcp_info(payload: bytes | bytearray | memoryview) -> TcpInfo:
    """Decode a whole INET_DIAG_INFO / getsockopt(TCP_INFO) payload (length-checked, see above)."""
    return decode_tcp_info_from(payload, 0, len(payload))
