"""Parsers for the text tables in ``/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}``.

Pure functions from file text to :class:`~netwatch.backends.model.Socket` records (without owners), so they can
be tested on recorded text. Malformed lines are skipped and counted, never raised.

Facts about the kernel's format (net/ipv4/tcp_ipv4.c, udp.c, raw.c, net/ipv6/*, net/unix/af_unix.c):

- Addresses are the in-memory ``__be32`` words printed with ``%08X``, i.e. each 32-bit word in *host* byte order
  (IPv6: four such words). Ports are printed after ``ntohs``: plain hex numbers.
- ``tx_queue:rx_queue`` become ``send_q``/``recv_q``. For a TCP LISTEN socket ``rx_queue`` is the accept queue
  (as ``ss``'s Recv-Q) but ``tx_queue`` is *not* the backlog limit ``ss`` shows as Send-Q: procfs does not expose
  it (``send_q`` is None). For UDP/RAW both are the allocated receive/send buffer memory in bytes.
- ``tr:tm->when`` is the pending timer (0 off, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe) and
  its expiry in clock ticks (USER_HZ); ``retrnsmt`` is the retransmission/probe count.
- UDP and RAW sockets report ``TCP_CLOSE`` (7) when unconnected (``UNCONN`` here) and ``TCP_ESTABLISHED`` when
  connected. RAW's "port" is the IP protocol number (as ``ss`` shows it).
- Request sockets (NEW_SYN_RECV) are listed as SYN_RECV with inode 0, TIME_WAIT sockets with inode 0.
- Unix: ``Num RefCount Protocol Flags Type St Inode [Path]``; ``St`` is the ``struct socket`` state (SS_*),
  ``Flags & 0x10000`` (``__SO_ACCEPTCON``) marks a listener; abstract names already start with ``@``.
  Peers and queues are not exposed (``recv_q``/``send_q`` are None). A name is printed as it is, newlines
  included: whoever binds a name can write lines that look exactly like other sockets' (see :func:`unix_rows`).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections import Counter
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from enum import Enum
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

_LISTENING_FLAGS = f"{UNIX_LISTENING_FLAG:08X}"
_UNIX_STATE_NAMES = {f"{number:02X}": name for number, name in UNIX_STATES.items()}
_UNIX_TYPE_NAMES = {f"{number:04X}": name for number, name in UNIX_TYPES.items()}
"""The ``St`` and ``Type`` fields as printed -> names."""

UNIX_NAME_MAX = 108
"""The most bytes of a Unix socket's name the kernel prints (``sun_path``; an abstract name's NUL as ``@``)."""

# A socket's line exactly as the kernel prints it ("%pK: %08X %08X %08X %04X %02X %5lu" and " <name>"): a pointer
# (hashed, or zeros when hidden; 8 digits on 32-bit kernels), the reference count, the protocol (always 0), the
# flags (only __SO_ACCEPTCON), the type (stream, dgram, seqpacket), the SS_* state, the inode right-aligned (in 5
# columns; gVisor: 8).
_UNIX_LINE = re.compile(
    r"(?P<pointer>[0-9a-f]{16}|[0-9a-f]{8}): [0-9A-F]{8} 00000000 (?P<flags>00000000|00010000) (?P<type>000[125])"
    r" (?P<state>0[0-4]) +(?P<inode>0|[1-9][0-9]*)(?: (?P<path>.+))?"
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


def parse_unix(text: str, verify: UnixVerifier | None = None) -> tuple[list[Socket], int]:
    """Parse ``/proc/net/unix`` text; returns the sockets and the number of lines skipped (malformed, or ambiguous:
    see :func:`unix_rows`)."""
    table = unix_rows(text, verify=verify)
    return [Socket(**row) for row in table.rows], table.malformed + table.ambiguous


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
                    "send_q": None if state == "LISTEN" else int(tx_queue, 16),
                    "inode": inode,
                    "uid": int(fields[7]),
                    "timer": timer,
                }
            )
        except ValueError:
            malformed += 1
    return sockets, malformed


UnixCheck = Callable[[int], bool | None]
"""Whether the socket with this inode is a Unix socket: True or False as a process holding it says, None when no
process we can read holds it."""
UnixVerifier = Callable[[Set[int]], UnixCheck]
"""Given every inode the tables list, the :data:`UnixCheck` of any of them (the collector's owner lookup)."""


@dataclass
class UnixTable:
    """``/proc/net/unix`` read into rows."""

    rows: list[Row] = field(default_factory=list)
    malformed: int = 0
    """Lines that are neither a socket nor the rest of a name."""
    continued: int = 0
    """Lines that look like sockets but are the rest of a name containing a newline (read as part of it)."""
    ambiguous: int = 0
    """Lines that look like sockets and may also be the rest of a name: skipped (that name is shown up to its
    newline)."""


class _Reading(Enum):
    """What a line that looks like a socket but may be the rest of the name before it is taken for."""

    SOCKET = "a socket"
    NAME = "the rest of the name"
    UNKNOWN = "cannot tell: skipped"


def unix_rows(text: str, elsewhere: Set[int] = frozenset(), verify: UnixVerifier | None = None) -> UnixTable:
    """Like :func:`parse_unix`, but socket fields as rows, and the lines that are no sockets counted by why.

    The kernel prints a name's newlines as they are, so a name (at most :data:`UNIX_NAME_MAX` bytes) can go on over
    the next lines, and whoever binds it can make them look exactly like other sockets' lines. A line is a socket
    when no name before it can reach it. One that may be the rest of a name is that when it does not look like a
    socket, or when its inode is also listed by a socket sure to be one (or in ``elsewhere``, the other tables), or
    when a process holding it says it is no Unix socket; it is a socket when a process holds it as one (``verify``
    tells, given every inode listed) and its inode is listed once; else it is skipped as ambiguous.

    Sockets without an inode (embryo connections not yet accepted) are keyed by the kernel's (hashed) pointer.
    """
    lines = text.split("\n")[1:]
    if lines and not lines[-1]:
        lines.pop()
    matches = [_UNIX_LINE.fullmatch(line) for line in lines]
    sizes = [_size(line) + 1 for line in lines]  # with the newline before it
    # the bytes each line's own name may still take on the next lines (-1: it has none)
    rooms = [UNIX_NAME_MAX - _size(path) if match and (path := match["path"]) else -1 for match in matches]
    inodes = [int(match["inode"]) if match else 0 for match in matches]
    maybe_name = _maybe_name(sizes, rooms)
    listed = Counter(inode for inode, match in zip(inodes, matches, strict=True) if match)
    sure = {inode for inode, match, maybe in zip(inodes, matches, maybe_name, strict=True) if match and not maybe}
    check: UnixCheck = verify(listed.keys() | elsewhere) if verify is not None else _cannot_tell

    def reading(inode: int) -> _Reading:
        if inode and (inode in sure or inode in elsewhere):
            return _Reading.NAME
        if listed[inode] > 1:  # listed only by lines that may be names: which one is the socket is unknown
            return _Reading.UNKNOWN
        verdict = check(inode) if inode else None
        return _Reading.UNKNOWN if verdict is None else _Reading.SOCKET if verdict else _Reading.NAME

    table = UnixTable()
    name = _OpenName()
    for line, match, size, room, inode, maybe in zip(lines, matches, sizes, rooms, inodes, maybe_name, strict=True):
        if match is None:
            table.malformed += not name.take(line, size)
            continue
        taken = reading(inode) if maybe else _Reading.SOCKET
        if taken is _Reading.NAME:
            if name.take(line, size):
                table.continued += 1
            else:
                table.ambiguous += 1
        elif taken is _Reading.UNKNOWN:
            table.ambiguous += 1
            name = _OpenName(None, max(room, name.room - size))  # the next lines go on this line's name or the last
        else:
            row = _unix_row(match, inode)
            table.rows.append(row)
            name = _OpenName(row, room)
    return table


@dataclass
class _OpenName:
    """The name the next line may go on: its row (None: a skipped line's) and the bytes it may still take."""

    row: Row | None = None
    room: int = -1

    def take(self, line: str, size: int) -> bool:
        """Add ``line`` (``size`` bytes with the newline before it) to the name if it fits; whether it did."""
        if size > self.room:
            return False
        self.room -= size
        if self.row is not None:
            self.row["path"] += "\n" + line
        return True


def _maybe_name(sizes: list[int], own_rooms: list[int]) -> list[bool]:
    """Per line (of ``sizes`` bytes, whose own names leave ``own_rooms``), whether it may be the rest of a name
    begun on a line before it: that name, the lines between and this one fit in :data:`UNIX_NAME_MAX` bytes."""
    rooms: list[int] = []  # of the names begun so far that may still go on
    maybe: list[bool] = []
    for size, own_room in zip(sizes, own_rooms, strict=True):
        if rooms:
            rooms = [room - size for room in rooms if room >= size]
        maybe.append(bool(rooms))
        if own_room >= 0:
            rooms.append(own_room)
    return maybe


def _size(text: str) -> int:
    """The bytes the kernel printed for ``text``."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))


def _cannot_tell(_inode: int) -> bool | None:
    return None


def _unix_row(match: re.Match[str], inode: int) -> Row:
    pointer, flags, sock_type, state, path = match.group("pointer", "flags", "type", "state", "path")
    return dict(
        key=("unix", "unix", "", 0, "", 0, inode) if inode else ("unix", "unix", "", 0, "", 0, 0, pointer),
        proto="unix",
        family="unix",
        state="LISTEN" if flags == _LISTENING_FLAGS else _UNIX_STATE_NAMES[state],
        local_address="",
        local_port=0,
        remote_address="",
        remote_port=0,
        recv_q=None,
        send_q=None,
        inode=inode,
        path=path,
        sock_type=_UNIX_TYPE_NAMES[sock_type],
    )
