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
from dataclasses import dataclass

from netwatch.backends.model.records import CloseEvent
from netwatch.backends.small_files import read_whole
from netwatch.backends.sources.netlink import inet
from netwatch.backends.sources.netlink.transport import NETLINK_SOCK_DIAG, SO_RCVBUFFORCE, parse_datagram
from netwatch.backends.waking_event import WakingEvent

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
BATCH_DELAY = 0.01
"""Seconds the reader lets events gather after a read (measured: at 1,000 closes/s, 11% of a core read one by one)."""
BATCH_BUFFER = 4 << 20
"""Bytes of events read before they are decoded together."""
MAX_DATAGRAM = 1 << 16
"""Room kept for the next datagram (an event is a few hundred bytes)."""


@dataclass
class _Subscription:
    """The subscription sockets of one network namespace, and how its events are decoded."""

    sockets: dict[str, socket.socket]
    decoder: inet.InetDecoder
    proc_net: str
    """Its /proc/<pid>/net (where the sockets' drop counters are)."""
    overrun: bool = False
    """Whether a socket's receive buffer has overflowed (ENOBUFS): before, the kernel dropped none of its events."""


class CloseEvents:
    """Subscribes to the destroy groups of network namespaces (netwatch's own at once, others with
    :meth:`subscribe`) and buffers their events for :meth:`take`; one reader thread for all of them.

    ``netns`` and ``netns_name``: netwatch's own namespace's inode and name (part of each event's key)."""

    def __init__(self, netns: int | None = None, netns_name: str | None = None,
                 receive_buffer: int = RECEIVE_BUFFER) -> None:  # fmt: skip
        self._receive_buffer = receive_buffer
        self._subscriptions: dict[int | None, _Subscription] = {}
        self._selector = selectors.DefaultSelector()
        self._events: deque[CloseEvent] = deque()
        self._arrived = threading.Condition()
        self._stop = WakingEvent()
        self._selector.register(self._stop.fileno, selectors.EVENT_READ)  # the reader waits with no timeout
        self.overflowed = 0
        """Events dropped because the reader's buffer was full."""
        self._lost_before = 0
        """Events the kernel dropped for subscriptions since ended."""
        self.subscribe(netns, netns_name, diag_socket, "/proc/self/net")
        self._thread = threading.Thread(target=self._read, name="netwatch-close-events", daemon=True)
        self._thread.start()

    def subscribe(self, netns: int | None, netns_name: str | None, make_socket: Callable[[], socket.socket],
                  proc_net: str) -> None:  # fmt: skip
        """Read the close events of namespace ``netns`` too: ``make_socket`` makes a NETLINK_SOCK_DIAG socket
        bound to it, ``proc_net`` is its /proc/<pid>/net. Raises OSError if the sockets cannot be made."""
        sockets = {"tcp": _subscribed(make_socket(), TCP_GROUPS, self._receive_buffer)}
        try:
            sockets["udp"] = _subscribed(make_socket(), UDP_GROUPS, self._receive_buffer)
        except BaseException:
            sockets["tcp"].close()
            raise
        decoder = inet.InetDecoder(lambda _cgroup_id: None)
        decoder.start_namespace(netns, netns_name)
        subscription = self._subscriptions[netns] = _Subscription(sockets, decoder, proc_net)
        for proto, sock in sockets.items():
            self._selector.register(sock, selectors.EVENT_READ, (subscription, proto))

    def subscribed(self) -> set[int | None]:
        """The namespaces whose close events are read."""
        return set(self._subscriptions)

    def unsubscribe(self, netns: int | None) -> None:
        """Stop reading namespace ``netns``'s events (it is gone: its sockets would keep it alive)."""
        subscription = self._subscriptions.pop(netns, None)
        if subscription is None:
            return
        if subscription.overrun:
            self._lost_before += self._kernel_drops(subscription)
        for sock in subscription.sockets.values():
            self._selector.unregister(sock)
            sock.close()

    @property
    def lost(self) -> int:
        """Close events lost so far: dropped by the kernel (receive buffer full) or by the reader's buffer. The
        kernel's drop counters are read only once a buffer overflowed (its first drop is reported as ENOBUFS):
        before, reading them was one more file at every refresh."""
        drops = sum(self._kernel_drops(subscription) for subscription in list(self._subscriptions.values())
                    if subscription.overrun)  # fmt: skip
        return self._lost_before + drops + self.overflowed

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
        """Stop reading and close the sockets."""
        self._stop.set()
        self._thread.join(timeout=2)
        for netns in list(self._subscriptions):
            self.unsubscribe(netns)
        self._selector.close()
        self._stop.close()

    def __enter__(self) -> CloseEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        buffer = bytearray(BATCH_BUFFER)
        while not self._stop.is_set():
            try:
                ready = self._selector.select()
            except (OSError, ValueError):  # closed under it at shutdown
                return
            for key, _mask in ready:
                if key.data is None:  # stopped
                    continue
                subscription, proto = key.data
                while self._drain(key.fileobj, proto, subscription, buffer):
                    pass
            if ready:
                self._stop.wait(BATCH_DELAY)  # let the next events gather: one wake-up and decode for many

    def _drain(self, sock: socket.socket, proto: str, subscription: _Subscription, buffer: bytearray) -> bool:
        """Read the datagrams waiting on ``sock`` into ``buffer`` (as many as it holds) and decode their events in
        one go; returns whether more may be waiting (the buffer filled up)."""
        view = memoryview(buffer)
        messages: list = []
        used, full = 0, True
        while len(buffer) - used >= MAX_DATAGRAM:
            try:
                size = sock.recv_into(view[used:], MAX_DATAGRAM, socket.MSG_DONTWAIT)
            except BlockingIOError:
                full = False
                break
            except OSError as error:
                if error.errno == errno.ENOBUFS:  # the kernel dropped some: counted from its drop counter
                    subscription.overrun = True
                    continue
                full = False
                break
            parse_datagram(buffer, used, used + size, 0, messages)
            used = (used + size + 7) & ~7
        if not messages:
            return full
        decoded: dict = {}
        subscription.decoder.decode(messages, proto, decoded)
        now, wall = time.monotonic(), time.time()
        events = [CloseEvent(record, now, wall) for record in decoded.values() if record is not None]
        with self._arrived:
            room = max(BUFFERED - len(self._events), 0)
            if len(events) > room:
                self.overflowed += len(events) - room
                events = events[:room]
            self._events.extend(events)
            self._arrived.notify_all()
        return full

    @staticmethod
    def _kernel_drops(subscription: _Subscription) -> int:
        """The subscription sockets' drop counters (the Drops column of its /proc/<pid>/net/netlink)."""
        inodes = {str(os.fstat(sock.fileno()).st_ino) for sock in subscription.sockets.values() if sock.fileno() >= 0}
        try:
            lines = read_whole(f"{subscription.proc_net}/netlink").decode("ascii", "replace").splitlines()[1:]
        except OSError:
            return 0
        return sum(int(fields[8]) for fields in map(str.split, lines) if len(fields) > 9 and fields[9] in inodes)


def diag_socket() -> socket.socket:
    """A NETLINK_SOCK_DIAG socket (of the calling thread's network namespace)."""
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
