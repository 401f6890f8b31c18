"""Parsers for the text tables in ``/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}``.

Pure functions from file text to :class:`~netwatch.backends.model.Socket` records (without owners), so they can
be tested on recorded text. Malformed lines are skipped and counted, never raised.

Facts about the kernel's format (net/ipv4/tcp_ipv4.c, udp.c, raw.c, net/ipv6/*, net/unix/af_unix.c):

- Addresses are the in-memory ``__be32`` words printed with ``%08X``, i.e. each 32-bit word in *host* byte order
  (IPv6: four such words). Ports are printed after ``ntohs``: plain hex numbers.
- ``tx_queue:rx_queue`` become ``send_q``/``recv_q``. For a TCP LISTEN socket ``rx_queue`` is the accept queue
  (as ``ss``'s Recv-Q) but ``tx_queue`` is *not* the backlog limit ``ss`` shows as Send-Q: procfs does not expose it.
  For UDP/RAW both are the allocated receive/send buffer memory in bytes.
- ``tr:tm->when`` is the pending timer (0 off, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe) and
  its expiry in clock ticks (USER_HZ); ``retrnsmt`` is the retransmission/probe count.
- UDP and RAW sockets report ``TCP_CLOSE`` (7) when unconnected (``UNCONN`` here) and ``TCP_ESTABLISHED`` when
  connected. RAW's "port" is the IP protocol number (as ``ss`` shows it).
- Request sockets (NEW_SYN_RECV) are listed as SYN_RECV with inode 0, TIME_WAIT sockets with inode 0.
- Unix: ``Num RefCount Protocol Flags Type St Inode [Path]``; ``St`` is the ``struct socket`` state (SS_*),
  ``Flags & 0x10000`` (``__SO_ACCEPTCON``) marks a listener; abstract names already start with ``@``.
  Peers and queues are not exposed. A path containing a newline splits its line: the tail is counted as malformed.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from typing import Any

from netwatch.backends.model.names import UNCONN, UNIX_TYPES, state_names
from netwatch.backends.model.records import Socket, Timer

TIMER_NAMES = {0: "off", 1: "on", 2: "keepalive", 3: "timewait", 4: "persist"}
"""procfs/inet_diag timer numbers -> the names ``ss -o`` prints."""

UNIX_LISTENING_FLAG = 0x10000  # __SO_ACCEPTCON
# SS_* (include/uapi/linux/net.h) -> kernel state names. SS_CONNECTING is only shown for an embryo connection
# that is established but not yet accepted (no struct socket yet), SS_DISCONNECTING for a socket-less one
# that is not established: so they map to the sk_state that unix_diag would report.
UNIX_STATES = {0: "CLOSE", 1: UNCONN, 2: "ESTABLISHED", 3: "ESTABLISHED", 4: "CLOSE"}

_MS_PER_TICK = 1000 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
_LITTLE_ENDIAN = sys.byteorder == "little"

# Num: RefCount Protocol Flags Type St Inode[ Path]
_UNIX_LINE = re.compile(
    r"([0-9a-fA-F]+): ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{4}) ([0-9A-Fa-f]{2}) +(\d+)"
    r"(?: (.*))?",
    re.DOTALL,
)


def _ipv4_from_hex(word: str) -> str:
    raw = bytes.fromhex(word)
    if len(raw) != 4:
        raise ValueError(f"bad IPv4 address {word!r}")
    return socket.inet_ntop(socket.AF_INET, raw[::-1] if _LITTLE_ENDIAN else raw)


def _ipv6_from_hex(words: str) -> str:
    raw = bytes.fromhex(words)
    if len(raw) != 16:
        raise ValueError(f"bad IPv6 address {words!r}")
    if _LITTLE_ENDIAN:
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, raw)


def _timer(timer: str, retransmits: str) -> Timer:
    """``tr:tm->when`` and ``retrnsmt`` -> Timer."""
    code, when = timer.split(":")
    return Timer(TIMER_NAMES.get(int(code, 16), "unknown"), round(int(when, 16) * _MS_PER_TICK), int(retransmits, 16))


def _inet_state(proto: str, number_hex: str) -> str:
    number = int(number_hex, 16)
    states = state_names(proto)
    return states[number] if number < len(states) else "UNKNOWN"


def _data_lines(text: str) -> list[str]:
    """The lines after the header, without blank ones."""
    return [line for line in text.split("\n")[1:] if line.strip()]


Row = dict[str, Any]
"""The keyword arguments of one :class:`Socket` (without owners): built once owners are known."""


def parse_inet(text: str, proto: str, family: str) -> tuple[list[Socket], int]:
    """Parse ``/proc/net/{tcp,udp,raw}[6]`` text; returns the sockets and the number of malformed lines skipped."""
    rows, malformed = inet_rows(text, proto, family)
    return [Socket(**row) for row in rows], malformed


def parse_unix(text: str) -> tuple[list[Socket], int]:
    """Parse ``/proc/net/unix`` text; returns the sockets and the number of malformed lines skipped."""
    rows, malformed = unix_rows(text)
    return [Socket(**row) for row in rows], malformed


def inet_rows(text: str, proto: str, family: str) -> tuple[list[Row], int]:
    """Like :func:`parse_inet`, but socket fields as rows."""
    decode_address = _ipv4_from_hex if family == "ipv4" else _ipv6_from_hex
    # Per-parse memos: busy hosts repeat a few addresses, states and timer values many times.
    addresses: dict[str, str] = {}
    states: dict[str, str] = {}
    timers: dict[tuple[str, str], Timer] = {}
    sockets: list[Row] = []
    malformed = 0
    for line in _data_lines(text):
        try:
            fields = line.split()
            if len(fields) < 10 or not fields[0].endswith(":"):
                raise ValueError("too few fields")
            local_hex, local_port_hex = fields[1].split(":")
            remote_hex, remote_port_hex = fields[2].split(":")
            if len(local_port_hex) != 4 or len(remote_port_hex) != 4:
                raise ValueError("bad port")
            local_address = addresses.get(local_hex) or addresses.setdefault(local_hex, decode_address(local_hex))
            remote_address = addresses.get(remote_hex) or addresses.setdefault(remote_hex, decode_address(remote_hex))
            local_port, remote_port = int(local_port_hex, 16), int(remote_port_hex, 16)
            state = states.get(fields[3]) or states.setdefault(fields[3], _inet_state(proto, fields[3]))
            timer_fields = (fields[5], fields[6])
            timer = timers.get(timer_fields) or timers.setdefault(timer_fields, _timer(*timer_fields))
            tx_queue, rx_queue = fields[4].split(":")
            inode = int(fields[9])
            sockets.append(
                {
                    "key": (proto, family, local_address, local_port, remote_address, remote_port, inode),
                    "proto": proto,
                    "family": family,
                    "state": state,
                    "local_address": local_address,
                    "local_port": local_port,
                    "remote_address": remote_address,
                    "remote_port": remote_port,
                    "recv_q": int(rx_queue, 16),
                    "send_q": int(tx_queue, 16),
                    "inode": inode,
                    "uid": int(fields[7]),
                    "timer": timer,
                }
            )
        except ValueError:
            malformed += 1
    return sockets, malformed


def unix_rows(text: str) -> tuple[list[Row], int]:
    """Like :func:`parse_unix`, but socket fields as rows.

    Sockets without an inode (embryo connections not yet accepted) are keyed by the kernel's (hashed) pointer.
    """
    sockets: list[Row] = []
    malformed = 0
    for line in _data_lines(text):
        match = _UNIX_LINE.fullmatch(line)
        if match is None:
            malformed += 1
            continue
        pointer, _refs, _protocol, flags, sock_type, state, inode_text, path = match.groups()
        inode = int(inode_text)
        listening = int(flags, 16) & UNIX_LISTENING_FLAG
        sockets.append(
            dict(
                key=("unix", "unix", "", 0, "", 0, inode) if inode else ("unix", "unix", "", 0, "", 0, 0, pointer),
                proto="unix",
                family="unix",
                state="LISTEN" if listening else UNIX_STATES.get(int(state, 16), "UNKNOWN"),
                local_address="",
                local_port=0,
                remote_address="",
                remote_port=0,
                recv_q=0,
                send_q=0,
                inode=inode,
                path=path or None,
                sock_type=UNIX_TYPES.get(int(sock_type, 16)),
            )
        )
    return sockets, malformed
