"""The NETLINK_SOCK_DIAG socket: send one dump request, receive the raw reply messages.

A plain stdlib ``socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG)`` is used rather than
pyroute2's ``DiagSocket``: pyroute2 0.9 sockets run their own event loop and decode every message
with its generic (slow) decoder, while here the replies are received with ``recv_into`` straight
into large preallocated buffers and handed to struct-based decoders without any copy.
(The module is not called ``socket.py`` so that it never shadows the stdlib module.)
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Callable

from netwatch.backends.compiled import SPLITTER, load

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18
"""The legacy request (struct inet_diag_req) that dumps TCP sockets of both families in one dump; its replies
carry this type too."""
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_DUMP_INTR = 0x10
SO_RCVBUFFORCE = 33

NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLMSG_HEADER_LEN = NLMSG_HEADER.size
ERROR_CODE = struct.Struct("=i")

RECEIVE_BUFFER = 4 << 20
"""Socket receive buffer asked for (the kernel's dump skbs are at most a few tens of KiB each)."""
CHUNK_SIZE = 1 << 20
"""Size of each preallocated buffer the replies are received into."""
MIN_FREE = 1 << 16
"""A new chunk is started when less than this is left (a netlink datagram never exceeds it here)."""
TIMEOUT = 10.0
"""Seconds to wait for the kernel's next reply datagram before giving up."""
scan = load(SPLITTER)
"""The compiled splitter (``_scan.c``), or None: the pure-Python path."""

Message = tuple[bytearray, int, int]
"""One reply message: (buffer, offset of its payload, offset of its end)."""

Consumer = Callable[[list[Message], "list[int] | None"], object]
"""Takes a receive buffer's worth of messages and, where the compiled splitter kept unchanged sockets' records
(see :meth:`DiagSocket.stream`), the fingerprint of each message, else None."""


class DumpFailed(OSError):
    """The kernel refused or aborted a dump (NLMSG_ERROR, or NLMSG_DONE carrying an error)."""


class DiagSocket:
    """A NETLINK_SOCK_DIAG socket. Usable from any thread, one dump at a time; close() when done."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:  # not CAP_NET_ADMIN: the plain option, capped by net.core.rmem_max
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self._sock.bind((0, 0))
        self._sock.settimeout(TIMEOUT)
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> DiagSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, requests: list[bytes]) -> tuple[list[Message], int]:
        """Send each of ``requests`` (a request for one socket: no dump) and return the messages of the sockets found
        and how many were not (gone: the kernel answered with an error). The messages' buffer is the caller's."""
        if not requests:
            return [], 0
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        self._sock.send(b"".join(
            NLMSG_HEADER.pack(NLMSG_HEADER_LEN + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq, 0) + request
            for request in requests
        ))  # fmt: skip
        found: list[Message] = []
        missing = 0
        chunk = view = None
        used = CHUNK_SIZE
        while len(found) + missing < len(requests):
            if CHUNK_SIZE - used < MIN_FREE:  # each reply is a datagram of its own: many share a chunk (a chunk
                chunk = bytearray(CHUNK_SIZE)  # each, zeroed, cost ~40 us per socket)
                view = memoryview(chunk)
                used = 0
            offset = used
            end = used + self._sock.recv_into(view[used:], MIN_FREE)
            used = (end + 7) & ~7
            while offset + NLMSG_HEADER_LEN <= end:
                length, msg_type, _flags, msg_seq, _pid = NLMSG_HEADER.unpack_from(chunk, offset)
                if length < NLMSG_HEADER_LEN or offset + length > end:
                    break
                if msg_seq == seq:
                    if msg_type == SOCK_DIAG_BY_FAMILY:
                        found.append((chunk, offset + NLMSG_HEADER_LEN, offset + length))
                    elif msg_type == NLMSG_ERROR:
                        missing += 1
                offset += (length + 3) & ~3
        return found, missing

    def stream(self, request: bytes, consume: Consumer, reuse: tuple | None = None,
               request_type: int = SOCK_DIAG_BY_FAMILY) -> bool:
        """Send a dump ``request`` of ``request_type`` (the payload after the nlmsghdr) and hand the reply's
        messages to ``consume``, one receive buffer's worth at a time (so a dump of 100,000 sockets never holds
        its ~60 MB of replies at once). Returns whether the kernel flagged the dump as interrupted.

        ``reuse`` (inet dumps): (proto, netns, previous, into, order) for the compiled splitter, which keeps the
        records of unchanged sockets itself (see ``_scan.c``) and hands ``consume`` the others with their
        fingerprints; without the compiled module it is ignored (the decoder does the same).

        ``consume`` must not keep the messages' buffers. Raises DumpFailed when the kernel answers with an
        error, OSError (e.g. TimeoutError) on I/O failure.
        """
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        seq = self._seq
        header = NLMSG_HEADER.pack(
            NLMSG_HEADER_LEN + len(request), request_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
        )
        self._sock.send(header + request)
        fingerprinted = scan is not None and reuse is not None
        messages: list[Message] = []
        fingerprints: list[int] | None = [] if fingerprinted else None
        interrupted = False
        chunk = bytearray(CHUNK_SIZE)
        view = memoryview(chunk)
        used = 0
        while True:
            if CHUNK_SIZE - used < MIN_FREE:
                consume(messages, fingerprints)
                messages = []
                fingerprints = [] if fingerprinted else None
                chunk = bytearray(CHUNK_SIZE)
                view = memoryview(chunk)
                used = 0
            size = self._sock.recv_into(view[used:], CHUNK_SIZE - used, socket.MSG_TRUNC)
            if size > CHUNK_SIZE - used:
                raise DumpFailed(errno.EMSGSIZE, "netlink reply datagram larger than the receive buffer")
            if scan is not None:
                done, flagged, code = scan.split(
                    chunk, used, used + size, seq, messages, (*reuse, fingerprints) if fingerprinted else None
                )
                if code:
                    raise DumpFailed(code, os.strerror(code))
            else:
                done, flagged = parse_datagram(chunk, used, used + size, seq, messages)
            interrupted = interrupted or flagged
            if done:
                consume(messages, fingerprints)
                return interrupted
            used = (used + size + 7) & ~7


def parse_datagram(buffer: bytearray, offset: int, end: int, seq: int, messages: list[Message]) -> tuple[bool, bool]:
    """Split one received datagram ``buffer[offset:end]`` into messages of dump ``seq``.

    Appends the data messages to ``messages``; returns (the dump ended, NLM_F_DUMP_INTR was seen).
    Messages of other sequence numbers (left over from an abandoned dump) are ignored, a malformed
    header ends the datagram. Raises DumpFailed for an NLMSG_ERROR / NLMSG_DONE carrying an errno.
    """
    unpack_header = NLMSG_HEADER.unpack_from
    append = messages.append
    interrupted = False
    while offset + NLMSG_HEADER_LEN <= end:
        length, msg_type, flags, msg_seq, _pid = unpack_header(buffer, offset)
        if length < NLMSG_HEADER_LEN or offset + length > end:
            break
        if msg_seq == seq:
            if flags & NLM_F_DUMP_INTR:
                interrupted = True
            if msg_type in (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK):
                append((buffer, offset + NLMSG_HEADER_LEN, offset + length))
            elif msg_type in (NLMSG_DONE, NLMSG_ERROR):  # an ERROR with errno 0 is an ACK
                _raise_for_error(buffer, offset, length)
                return True, interrupted
        offset += (length + 3) & ~3
    return False, interrupted


def _raise_for_error(buf: bytearray, offset: int, length: int) -> None:
    """Raise DumpFailed if the DONE/ERROR message at ``offset`` carries a negative errno."""
    if length >= NLMSG_HEADER_LEN + ERROR_CODE.size:
        (code,) = ERROR_CODE.unpack_from(buf, offset + NLMSG_HEADER_LEN)
        if code < 0:
            raise DumpFailed(-code, os.strerror(-code))
