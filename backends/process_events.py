"""The kernel's proc connector: which processes forked, exec'd, exited or changed identity (comm, uid...) since a
reader last looked, so that a live refresh passes over the /proc entries of every other process (listing /proc twice
and reading each process's ``stat`` was ~1 ms of an idle refresh, most of it a cold cache's).

Events come over a ``NETLINK_CONNECTOR`` socket in the ``CN_IDX_PROC`` group, one datagram each, read without
blocking when a reader takes them: nothing wakes netwatch for them. The kernel reports them only in the initial
user, pid and network namespaces, and (before Linux 6.6) only to root: :meth:`ProcessEvents.subscribe` waits for
the kernel's acknowledgement of the subscription and returns None without one, and the readers then look at /proc
as before. A thread's creation and exit are not reported (they change no process). Events lost to a full receive
buffer (``ENOBUFS``), or more of them at once than a reader keeps, make that reader's next take unknown (None): it
looks at everything once.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import weakref
from dataclasses import dataclass, field

NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
PROC_EVENT_NONE, PROC_EVENT_FORK, PROC_EVENT_EXIT = 0, 1, 0x80000000
NLMSG_DONE = 3

_CONTROL = struct.Struct("=IHHII IIIIHH I")
"""nlmsghdr, cn_msg (idx, val, seq, ack, len, flags), then the multicast operation."""
_EVENT = struct.Struct("=I12x IIII")
"""At :data:`_EVENT_AT`: proc_event's ``what`` (cpu and timestamp skipped), then the first four u32 of its
``event_data``: (parent pid, parent tgid, child pid, child tgid) for a fork; (pid, tgid, ...) for the others; (err,
...) for an acknowledgement."""
_EVENT_AT = 16 + 20  # after nlmsghdr and cn_msg
_ACK_AT = 16 + 12  # cn_msg's ack
ACK_TIMEOUT = 0.05
"""Seconds :func:`listen` waits for the kernel's acknowledgement: it is queued before the subscribing ``send``
returns (the connector answers in the sender's call), or never (another pid or user namespace, as in a container,
where this wait is what a live collector's first snapshot pays)."""
MAX_DRAIN = 4096
"""Datagrams one drain reads at most (the default receive buffer holds ~300); more: the readers' takes are unknown."""
MAX_PENDING = 65536
"""Processes a reader keeps between two takes; more: its next take is unknown."""


def process_of(event: bytes | bytearray | memoryview) -> int | None:
    """The process (tgid) one proc connector datagram is about; None for a thread's creation or exit, an
    acknowledgement, or a datagram too short to tell."""
    if len(event) < _EVENT_AT + _EVENT.size:
        return None
    what, first, second, third, fourth = _EVENT.unpack_from(event, _EVENT_AT)
    if what == PROC_EVENT_FORK:
        return fourth if third == fourth else None  # child pid, child tgid
    if what == PROC_EVENT_NONE or (what == PROC_EVENT_EXIT and first != second):
        return None
    return second


@dataclass(eq=False)
class EventReader:
    """One reader's share of a :class:`ProcessEvents` subscription (each reader takes every event once)."""

    events: ProcessEvents
    pids: set[int] = field(default_factory=set)
    """The processes with an event since the last take."""
    lost: bool = True
    """Whether events since the last take went missing (nothing is known before the first take)."""

    def take(self) -> set[int] | None:
        """The processes (tgids) that forked off, exec'd, exited or changed identity since the previous take; None
        when that is not known (the first take, events lost): then look at every process."""
        self.events.drain()
        pids, lost = self.pids, self.lost
        self.pids, self.lost = set(), False
        return None if lost else pids


class ProcessEvents:
    """A subscription to the proc connector, shared by its :class:`EventReader`\\ s; use it from one thread."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        self._buffer = bytearray(256)
        self._readers: list[EventReader] = []
        self._finalizer = weakref.finalize(self, unsubscribe, sock)

    @classmethod
    def subscribe(cls, receive_buffer: int | None = None) -> ProcessEvents | None:
        """Listen to the proc connector (:func:`listen`); None where the kernel does not acknowledge that."""
        sock = listen(receive_buffer)
        return cls(sock) if sock is not None else None

    def reader(self) -> EventReader:
        """A new reader: its first take is unknown, then it takes the events after that."""
        reader = EventReader(self)
        self._readers.append(reader)
        return reader

    def drain(self) -> None:
        """Hand every datagram waiting to every reader (at most :data:`MAX_DRAIN`; beyond, events are lost)."""
        buffer, readers = self._buffer, self._readers
        for _ in range(MAX_DRAIN):
            try:
                size = self._socket.recv_into(buffer, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:  # ENOBUFS: events were dropped (the datagrams queued still come); EBADF: closed
                self._lose()
                if self._socket.fileno() < 0:
                    return
                continue
            pid = process_of(memoryview(buffer)[:size])
            if pid is None:
                continue
            for reader in readers:
                reader.pids.add(pid)
                if len(reader.pids) > MAX_PENDING:
                    reader.lost = True
                    reader.pids.clear()
        self._lose()

    def close(self) -> None:
        """Stop listening (the readers' takes are unknown from then on)."""
        self._finalizer()
        self._lose()

    def _lose(self) -> None:
        for reader in self._readers:
            reader.lost = True
            reader.pids.clear()


def listen(receive_buffer: int | None = None) -> socket.socket | None:
    """A socket the proc connector's events come to, one datagram each (see :func:`process_of`); None where the
    kernel does not acknowledge the subscription (no permission, not the initial namespaces, no CONFIG_PROC_EVENTS).
    ``receive_buffer``: SO_RCVBUF in bytes (default: the system's). Closing it without :func:`unsubscribe` leaves
    the kernel counting a listener."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_CONNECTOR)
    except OSError:
        return None
    try:
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((0, 1 << (CN_IDX_PROC - 1)))
        ack = int.from_bytes(os.urandom(4), "little") >> 1  # other subscribers' acknowledgements come too
        sock.send(_control(PROC_CN_MCAST_LISTEN, ack))
        if _acknowledged(sock, ack + 1):  # refused or ignored, the kernel counted no listener: nothing to undo
            return sock
    except OSError:
        pass
    sock.close()
    return None


def unsubscribe(sock: socket.socket) -> None:
    """Tell the kernel one listener less (it builds events while any listens), then close the socket."""
    with contextlib.suppress(OSError):
        sock.send(_control(PROC_CN_MCAST_IGNORE, 0))
    sock.close()


def _control(operation: int, ack: int) -> bytes:
    return _CONTROL.pack(_CONTROL.size, NLMSG_DONE, 0, 0, 0, CN_IDX_PROC, CN_VAL_PROC, 0, ack, 4, 0, operation)


def _acknowledged(sock: socket.socket, ack: int) -> bool:
    """Whether the kernel acknowledged the subscription whose cn_msg ack was ``ack - 1`` without error (events of
    other processes before it are dropped: nothing is known before a reader's first take anyway)."""
    buffer = bytearray(256)
    for _ in range(MAX_DRAIN):
        if not select.select([sock], [], [], ACK_TIMEOUT)[0]:
            return False
        size = sock.recv_into(buffer)
        if size < _EVENT_AT + _EVENT.size:
            continue
        what, error, *_ = _EVENT.unpack_from(buffer, _EVENT_AT)
        if what == PROC_EVENT_NONE and struct.unpack_from("=I", buffer, _ACK_AT)[0] == ack:
            return error == 0
    return False
