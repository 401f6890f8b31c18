"""Close events: sock_diag's multicast groups deliver one message for every TCP/UDP socket the kernel destroys.

What ``ss -E`` subscribes to. A destroy message is an ``inet_diag_msg`` (state CLOSE; uid and inode 0) with, for
TCP, the socket's final ``tcp_info``: decoded with the dump's struct layouts. Subscribing needs no capability, so
a user without privileges sees every user's close events, as with ``ss -E``. A thread of its own reads them
into a bounded buffer; what the kernel drops (ENOBUFS: the receive buffer overflowed) is counted, exactly, from
the socket's drop counter in ``/proc/<pid>/net/netlink``.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from netwatch.backends.model.records import CloseEvent
from netwatch.backends.sources.netlink import inet
from netwatch.backends.sources.netlink.transport import NETLINK_SOCK_DIAG, SO_RCVBUFFORCE, parse_datagram

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
TCP_GROUPS = (1, 3)
"""SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY (linux/sock_diag.h)."""
UDP_GROUPS = (2, 4)
"""SKNLGRP_INET_UDP_DESTROY, SKNLGRP_INET6_UDP_DESTROY."""
RECEIVE_BUFFER = 32 << 20
"""Receive buffer asked for: at ~1 KiB of kernel memory per event, a 30,000-event burst while the reader sleeps."""
BUFFERED = 200_000
"""Events held for the reader at most (the oldest make way, counted as lost)."""
POLL = 0.25
"""Seconds the reader thread waits for an event before it checks whether to stop."""


class CloseEvents:
    """Subscribes to the destroy groups of one network namespace and buffers the events for :meth:`take`.

    ``make_socket`` makes a NETLINK_SOCK_DIAG socket (in another namespace: one made inside it); ``netns`` and
    ``netns_name`` are the namespace's, ``proc_net`` its /proc/<pid>/net (for the drop counter)."""

    def __init__(
        self,
        make_socket: Callable[[], socket.socket] | None = None,
        netns: int | None = None,
        netns_name: str | None = None,
        proc_net: str = "/proc/self/net",
        receive_buffer: int = RECEIVE_BUFFER,
    ) -> None:
        make = make_socket or _diag_socket
        self._sockets = {"tcp": _subscribed(make(), TCP_GROUPS, receive_buffer),
                         "udp": _subscribed(make(), UDP_GROUPS, receive_buffer)}  # fmt: skip
        self._decoder = inet.InetDecoder(lambda _cgroup_id: None)
        self._decoder.start_namespace(netns, netns_name)
        self._proc_net = proc_net
        self._events: deque[CloseEvent] = deque()
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self.overflowed = 0
        """Events dropped because the reader's buffer was full."""
        self._thread = threading.Thread(target=self._read, name="netwatch-close-events", daemon=True)
        self._thread.start()

    @property
    def lost(self) -> int:
        """Close events lost so far: dropped by the kernel (receive buffer full) or by the reader's buffer."""
        return self._kernel_drops() + self.overflowed

    def take(self) -> list[CloseEvent]:
        """The events read since the last call, oldest first."""
        with self._arrived:
            events = list(self._events)
            self._events.clear()
        return events

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event; whether there is one."""
        with self._arrived:
            return self._arrived.wait_for(lambda: bool(self._events), timeout)

    def close(self) -> None:
        """Stop reading (within :data:`POLL` seconds) and close the sockets."""
        self._stop.set()
        self._thread.join(timeout=2 * POLL + 1)
        for sock in self._sockets.values():
            sock.close()

    def __enter__(self) -> CloseEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        buffer = bytearray(1 << 20)
        with selectors.DefaultSelector() as selector:
            for proto, sock in self._sockets.items():
                selector.register(sock, selectors.EVENT_READ, proto)
            while not self._stop.is_set():
                for key, _mask in selector.select(POLL):
                    self._drain(key.fileobj, key.data, buffer)

    def _drain(self, sock: socket.socket, proto: str, buffer: bytearray) -> None:
        """Read every datagram waiting on ``sock`` (bounded by what is there) and decode its events."""
        for _ in range(10_000):
            try:
                size = sock.recv_into(buffer, len(buffer), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as error:
                if error.errno == errno.ENOBUFS:  # the kernel dropped some: counted from its drop counter
                    continue
                return
            messages: list = []
            parse_datagram(buffer, 0, size, 0, messages)
            if not messages:
                continue
            decoded: dict = {}
            self._decoder.decode(messages, proto, decoded)
            now, wall = time.monotonic(), time.time()
            events = [CloseEvent(record, now, wall) for record in decoded.values() if record is not None]
            with self._arrived:
                room = max(BUFFERED - len(self._events), 0)
                if len(events) > room:
                    self.overflowed += len(events) - room
                    events = events[:room]
                self._events.extend(events)
                self._arrived.notify_all()

    def _kernel_drops(self) -> int:
        """The subscription sockets' drop counters (the Drops column of /proc/<pid>/net/netlink)."""
        inodes = {str(os.fstat(sock.fileno()).st_ino) for sock in self._sockets.values() if sock.fileno() >= 0}
        try:
            with open(f"{self._proc_net}/netlink", "rb") as table:
                lines = table.read().decode("ascii", "replace").splitlines()[1:]
        except OSError:
            return 0
        return sum(int(fields[8]) for fields in map(str.split, lines) if len(fields) > 9 and fields[9] in inodes)


def _diag_socket() -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)


def _subscribed(sock: socket.socket, groups: tuple[int, ...], receive_buffer: int) -> socket.socket:
    """``sock`` bound and joined to ``groups``, with a receive buffer of ``receive_buffer`` bytes where allowed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer)
    except OSError:  # not CAP_NET_ADMIN: the plain option, capped by net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((0, 0))
    for group in groups:
        sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
    return sock
