"""Row models for the socket and process tables: which rows a view shows, their cells, sort values and
highlights.

Socket views hold no per-row records: a model over the frame formats the cells of the rows on screen when they
are drawn and gives a column's sort values when the table sorts (at 100,000 sockets, prebuilt rows took
~90 MB). Nothing here needs the app, so rows are built on a worker thread and in tests.
"""

from __future__ import annotations

import socket as socket_module
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from netwatch.backends.model.endpoints import format_endpoint, unmap_ipv4
from netwatch.backends.model.names import INET_PROTOS, PROTOS, STATES, UNCONN, short_state, state_rank
from netwatch.backends.model.records import Process, Socket, owner_pids
from netwatch.tui.view import format as fmt
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.key_order import Descending
from netwatch.tui.view.resolve import HostResolver, service_name
from netwatch.tui.view.table_model import Column, Row, RowModel, TableRows

SocketPredicate = Callable[[Socket], bool]

VIEWS = ("connections", "listeners", "processes", "unix", "remotes", "namespaces")

# hide_order: on a narrow terminal the least useful columns make way (lowest first) for full endpoints.
# Endpoints and process labels are cut in the middle (the port and a shared socket's "+N" stay), paths keep their
# end (the file name).
_PROCESS = Column("process", "process", 14, flex=True, cut="middle")
_SEEN = Column("seen", "seen", 7, align="right", hide_order=3)
"""Time since netwatch first saw the socket, "≥" for sockets already there at its first snapshot."""
_NETNS = Column("netns", "netns", 19, cut="middle", hide_order=-1)
"""The network namespace, and the container or unit of the owner (else of the namespace): hidden first."""
_CONTAINER = Column("container", "container", 19, cut="middle", hide_order=0)
_RECV_Q = Column("recv_q", "recv-q", 6, align="right", hide_order=2)
_SEND_Q = Column("send_q", "send-q", 6, align="right", hide_order=1)

SOCKET_COLUMNS = (
    Column("proto", "proto", 5),
    Column("state", "state", 10),
    Column("local", "local", 18, flex=True, cut="middle"),
    Column("peer", "peer", 18, flex=True, cut="middle"),
    _PROCESS,
    Column("send", "send", 6, align="right", hide_order=6),
    Column("recv", "recv", 6, align="right", hide_order=5),
    Column("rtt", "rtt", 7, align="right", hide_order=4),
    _RECV_Q,
    _SEND_Q,
    _SEEN,
    _NETNS,
    _CONTAINER,
)

LISTENER_COLUMNS = (
    Column("proto", "proto", 5),
    Column("state", "state", 6),
    Column("local", "local", 22, flex=True, cut="middle"),
    _PROCESS,
    replace(_RECV_Q, hide_order=None),
    replace(_SEND_Q, hide_order=None),
    _SEEN,
    _NETNS,
    _CONTAINER,
)
"""Listeners have no peer and move no bytes: the space goes to their queues (for a TCP listener the accept queue
and its backlog, as ``ss`` shows them)."""

PID_SOCKET_COLUMNS = tuple(
    replace(_PROCESS, label="shared with", hide_order=7) if column.key == "process" else column
    for column in SOCKET_COLUMNS
)
"""One process's sockets (the drill-down): the process column names the other processes holding the socket."""

UNIX_COLUMNS = (
    Column("type", "type", 9),
    Column("state", "state", 11),
    Column("path", "path", 20, flex=True, cut="start"),
    Column("peer", "peer", 9, align="right", hide_order=5),
    _PROCESS,
    _RECV_Q,
    _SEND_Q,
    Column("inode", "inode", 9, align="right", hide_order=3),
    replace(_SEEN, hide_order=4),
    _NETNS,
    _CONTAINER,
)

PROCESS_COLUMNS = (
    Column("pid", "pid", 7, align="right"),
    Column("name", "process", 12, flex=True, cut="middle"),
    Column("user", "user", 8, hide_order=4),
    Column("sockets", "socks", 6, align="right"),
    Column("estab", "estab", 6, align="right", hide_order=3),
    Column("listen", "listen", 6, align="right", hide_order=2),
    Column("unix", "unix", 6, align="right", hide_order=1),
    Column("shared", "shared", 6, align="right", hide_order=5),
    Column("send", "send", 6, align="right"),
    Column("recv", "recv", 6, align="right"),
    Column("ports", "listening", 12, flex=True),
    Column("sent", "sent", 7, align="right", hide_order=0),
    Column("received", "rcvd", 7, align="right", hide_order=0),
    _NETNS,
    _CONTAINER,
)
"""``sent`` and ``rcvd``: bytes since netwatch started, closed and short-lived connections included."""

REMOTE_COLUMNS = (
    Column("remote", "remote host", 18, flex=True, cut="middle"),
    Column("connections", "conns", 6, align="right"),
    Column("states", "states", 14, flex=True, hide_order=2),
    Column("send", "send", 6, align="right"),
    Column("recv", "recv", 6, align="right"),
    Column("processes", "processes", 14, flex=True, hide_order=1, cut="middle"),
)
"""The Remote hosts view (rows: :mod:`netwatch.tui.view.remotes`)."""

NAMESPACE_COLUMNS = (
    Column("name", "namespace", 14, flex=True, cut="middle"),
    Column("inode", "inode", 10, align="right", hide_order=1),
    Column("container", "container", 19, cut="middle", hide_order=2),
    Column("processes", "procs", 5, align="right", hide_order=3),
    Column("sockets", "socks", 6, align="right"),
    Column("states", "states", 14, flex=True, hide_order=4),
    Column("send", "send", 6, align="right"),
    Column("recv", "recv", 6, align="right"),
    Column("ports", "listening", 12, flex=True, hide_order=5),
)
"""The Namespaces view (rows: :mod:`netwatch.tui.view.namespaces`)."""

COLUMNS_OF_VIEW = {
    "connections": SOCKET_COLUMNS,
    "listeners": LISTENER_COLUMNS,
    "processes": PROCESS_COLUMNS,
    "unix": UNIX_COLUMNS,
    "remotes": REMOTE_COLUMNS,
    "namespaces": NAMESPACE_COLUMNS,
}

VIEW_NOUNS = {"connections": "connections", "listeners": "listeners", "processes": "processes",
              "unix": "unix sockets", "remotes": "remote hosts", "namespaces": "network namespaces"}
"""What the rows of each view are, for "3 of 40 connections shown"."""

DEFAULT_SORT = {  # (column, reverse): newest connections first, busiest processes first
    "connections": ("seen", False),
    "listeners": ("local", False),
    "processes": ("sockets", True),
    "unix": ("path", False),
    "remotes": ("connections", True),
    "namespaces": ("sockets", True),
}

_NO_RTT = -1
NO_COUNTERS = "n/a"
"""A rate of a socket the kernel keeps no byte counters for (UDP, Unix, raw), never shown as 0."""
UNKNOWN = "-"
"""The cell of a number the backend cannot know (its sort value is None: last either way)."""
_ADDRESS_KEYS_LIMIT = 400_000
"""Addresses whose sort key :class:`RowBuilder` keeps before the cache is dropped and rebuilt."""


class _ProcessLabels:
    """:func:`process_label` of sockets, the ``pid/name`` part computed once per pid."""

    def __init__(self, processes: Mapping[int, Process]) -> None:
        self._processes = processes
        self._labels: dict[int, str] = {}

    def of(self, sock: Socket) -> str:
        owners = sock.owners
        if not owners:
            return ""
        pid = owners[0].pid
        label = self._labels.get(pid)
        if label is None:
            process = self._processes.get(pid)
            label = self._labels[pid] = f"{pid}/{process.name}" if process else str(pid)
        if len(owners) == 1:
            return label
        others = len(owner_pids(sock)) - 1
        return f"{label} +{others}" if others else label


def shown_text(view: str, rows: TableRows) -> str | None:
    """``3 of 40 connections shown`` for filtered rows; None for unfiltered ones."""
    if rows.total is None:
        return None
    return f"{fmt.count(len(rows.keys))} of {fmt.count(rows.total)} {VIEW_NOUNS[view]} shown"


def is_listener(sock: Socket) -> bool:
    """A TCP socket in LISTEN, or a bound, unconnected UDP/raw socket."""
    return sock.state == "LISTEN" or (sock.state == UNCONN and sock.proto != "tcp")


def in_view(view: str, sock: Socket) -> bool:
    """Whether ``sock`` belongs in socket view ``view``."""
    if view == "unix":
        return sock.proto == "unix"
    if sock.proto == "unix":
        return False
    return is_listener(sock) if view == "listeners" else not is_listener(sock)


def _shown_by_name(view: str) -> dict[str, dict[str, bool]]:
    """:func:`in_view` of a socket of each protocol and state name (by protocol, then state), for view ``view``."""

    def shown(proto: str, state: str) -> bool:
        return in_view(view, Socket(key=None, proto=proto, family="", state=state, local_address="", local_port=0,
                                    remote_address="", remote_port=0, recv_q=None, send_q=None, inode=None))

    return {proto: {state: shown(proto, state) for state in STATES} for proto in PROTOS}


_SHOWN = {view: _shown_by_name(view) for view in ("connections", "listeners")}
"""Whether these socket views show a socket, by its protocol and state name: all that :func:`in_view` reads."""


def _view_keys(view: str, sockets: Mapping[Hashable, Socket]) -> list[Hashable]:
    """The keys of the ``sockets`` in socket view ``view``, in order: :func:`in_view` looked up in :data:`_SHOWN`
    instead of called (no Python call per socket: ~55% less time, measured at 20,000 sockets); the unix view
    compares the protocol alone (cheaper still)."""
    if view == "unix":
        return [key for key, sock in sockets.items() if sock.proto == "unix"]
    shown = _SHOWN[view]
    try:
        return [key for key, sock in sockets.items() if shown[sock.proto][sock.state]]
    except KeyError:  # a protocol or state name the table does not have
        return [key for key, sock in sockets.items() if in_view(view, sock)]


def process_label(sock: Socket, processes: Mapping[int, Process]) -> str:
    """``pid/name`` of the first owner, ``+N`` when more processes share the socket ("" when unknown)."""
    return _ProcessLabels(processes).of(sock)


class _FrameRows:
    """A :class:`RowModel` of sockets of one frame, keyed by socket key.

    Cells are formatted when the table draws a row; the sort value of column ``c`` is the method named after
    the key of ``COLUMNS[c]`` (``_seen``, ``_local``...), which the cells show formatted.
    """

    COLUMNS: tuple[Column, ...] = ()

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self._sockets = frame.sockets
        self._labels = _ProcessLabels(frame.snapshot.processes)

    def status(self, key: Hashable) -> str | None:
        return self.frame.statuses.get(key)

    def sort_value(self, column: int) -> Callable[[Hashable], Any]:
        if self.COLUMNS[column].key == "seen":  # newest first: the latest first-seen time (no Python call per key)
            # from a copy: the frame's read-only view looks its dict's get() up at every call (copying costs less)
            return Descending(self.frame.first_seen.copy().get)  # type: ignore[attr-defined]
        value_of: Callable[[Socket], Any] = getattr(self, f"_{self.COLUMNS[column].key}")
        sockets = self._sockets
        return lambda key: value_of(sockets[key])

    @staticmethod
    def _state(sock: Socket) -> int:
        return state_rank(sock.state)

    def _process(self, sock: Socket) -> str:
        return self._labels.of(sock)

    @staticmethod
    def _recv_q(sock: Socket) -> int | None:
        return sock.recv_q

    @staticmethod
    def _send_q(sock: Socket) -> int | None:
        return sock.send_q

    def _seen(self, sock: Socket) -> float:
        """Seconds since the socket was first seen, at the frame's time."""
        frame = self.frame
        return frame.now - frame.first_seen.get(sock.key, frame.now)

    def _seen_cell(self, sock: Socket) -> str:
        return seen_text(self.frame, sock.key)

    @staticmethod
    def _netns(sock: Socket) -> str:
        return sock.netns or ""

    def _container(self, sock: Socket) -> str:
        container = self.frame.snapshot.container_of(sock)
        return container.name if container is not None else ""


class SocketRows(_FrameRows):
    """Rows with :data:`SOCKET_COLUMNS` (a Unix socket shows its path as local and its peer's inode as peer)."""

    COLUMNS = SOCKET_COLUMNS

    def __init__(self, frame: Frame, builder: RowBuilder) -> None:
        super().__init__(frame)
        self._builder = builder
        self._rates = frame.diff.rates

    def cells(self, key: Hashable) -> tuple[str, ...]:
        sock = self._sockets[key]
        rtt = self._rtt(sock)
        if sock.proto == "unix":
            local, peer = sock.path or "", str(sock.peer_inode or "")
        else:
            endpoint = self._builder.endpoint
            local = endpoint(sock.local_address, sock.local_port, sock.family, sock.proto)
            peer = endpoint(sock.remote_address, sock.remote_port, sock.family, sock.proto)
        if sock.proto == "tcp":  # blank when nothing moved (or a TIME_WAIT socket, which has no counters left)
            send, recv = fmt.rate_cell(self._send(sock)), fmt.rate_cell(self._recv(sock))
        else:
            send = recv = NO_COUNTERS
        return (
            sock.proto,
            short_state(sock.state),
            local,
            peer,
            self._process(sock),
            send,
            recv,
            fmt.duration_us(rtt) if rtt >= 0 else "",
            _quantity(sock.recv_q),
            _quantity(sock.send_q),
            self._seen_cell(sock),
            self._netns(sock),
            self._container(sock),
        )

    @staticmethod
    def _proto(sock: Socket) -> str:
        return sock.proto

    def _local(self, sock: Socket) -> object:
        if sock.proto == "unix":
            return sock.path or ""
        return (self._builder.address_key(sock.local_address), sock.local_port)

    def _peer(self, sock: Socket) -> object:
        if sock.proto == "unix":
            return str(sock.peer_inode or "")
        return (self._builder.address_key(sock.remote_address), sock.remote_port)

    def _send(self, sock: Socket) -> float:
        rates = self._rates.get(sock.key)
        return rates.send_bps if rates is not None else 0.0

    def _recv(self, sock: Socket) -> float:
        rates = self._rates.get(sock.key)
        return rates.recv_bps if rates is not None else 0.0

    @staticmethod
    def _rtt(sock: Socket) -> int:
        """Smoothed RTT in µs; -1 (shown blank, sorted first) without one."""
        info = sock.tcp_info
        return info.rtt if info is not None and sock.proto == "tcp" and info.rtt else _NO_RTT


class ListenerRows(SocketRows):
    """Rows with :data:`LISTENER_COLUMNS`."""

    COLUMNS = LISTENER_COLUMNS

    def cells(self, key: Hashable) -> tuple[str, ...]:
        sock = self._sockets[key]
        local = self._builder.endpoint(sock.local_address, sock.local_port, sock.family, sock.proto)
        return (sock.proto, short_state(sock.state), local, self._process(sock), _quantity(sock.recv_q),
                _quantity(sock.send_q), self._seen_cell(sock), self._netns(sock), self._container(sock))


class PidSocketRows(SocketRows):
    """Rows with :data:`PID_SOCKET_COLUMNS`: the sockets of process ``pid``, whose pid is said once, above them."""

    COLUMNS = PID_SOCKET_COLUMNS

    def __init__(self, frame: Frame, builder: RowBuilder, pid: int) -> None:
        super().__init__(frame, builder)
        self._pid = pid
        self._processes = frame.snapshot.processes

    def _process(self, sock: Socket) -> str:
        """The other processes holding ``sock`` (blank when it is this process's alone)."""
        if len(sock.owners) < 2:
            return ""
        processes = self._processes
        return " ".join(f"{pid}/{processes[pid].name}" if pid in processes else str(pid)
                        for pid in owner_pids(sock) if pid != self._pid)


class UnixRows(_FrameRows):
    """Rows with :data:`UNIX_COLUMNS`."""

    COLUMNS = UNIX_COLUMNS

    def cells(self, key: Hashable) -> tuple[str, ...]:
        sock = self._sockets[key]
        peer = self._peer(sock)
        return (
            self._type(sock),
            short_state(sock.state),
            self._path(sock),
            str(peer) if peer else "",
            self._process(sock),
            _quantity(sock.recv_q),
            _quantity(sock.send_q),
            _number(sock.inode),
            self._seen_cell(sock),
            self._netns(sock),
            self._container(sock),
        )

    @staticmethod
    def _type(sock: Socket) -> str:
        return sock.sock_type or ""

    @staticmethod
    def _path(sock: Socket) -> str:
        return sock.path or ""

    @staticmethod
    def _peer(sock: Socket) -> int:
        return sock.peer_inode or 0

    @staticmethod
    def _inode(sock: Socket) -> int | None:
        return sock.inode


def _accepted(model: RowModel, keys: list[Hashable], frame: Frame, accept: SocketPredicate | None) -> TableRows:
    """Rows of ``model`` for the ``keys`` whose socket ``accept`` takes (all when None; else with their total)."""
    empty = empty_columns(frame)
    if accept is None:
        return TableRows(model, keys, empty_columns=empty)
    sockets = frame.sockets
    return TableRows(model, [key for key in keys if accept(sockets[key])], total=len(keys), empty_columns=empty)


def empty_columns(frame: Frame) -> frozenset[str]:
    """The namespace column where one network namespace is listed, the container column where no socket's owner
    or namespace is in a container or unit: columns with nothing to tell."""
    snapshot = frame.snapshot
    empty = set()
    if len(snapshot.namespaces) <= 1:
        empty.add(_NETNS.key)
    if not any(namespace.container for namespace in snapshot.namespaces.values()) and not any(
        process.container for process in snapshot.processes.values()
    ):
        empty.add(_CONTAINER.key)
    return frozenset(empty)


def _number(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


def _quantity(value: int | None) -> str:
    return UNKNOWN if value is None else fmt.quantity_cell(value)


def seen_text(frame: Frame, key: Hashable, precise: bool = False) -> str:
    """How long netwatch has seen the socket: ``42s``, ``12m``, or ``≥12m`` when it was there at the first
    snapshot (so it is at least that old: its real age is unknown). To the minute from a minute on unless
    ``precise`` (the detail pane's ``12m05s``), so that an idle table does not change at every refresh."""
    first_seen = frame.first_seen.get(key, frame.now)
    elapsed = frame.now - first_seen
    text = fmt.age(elapsed) if precise else fmt.coarse_age(elapsed)
    return f"≥{text}" if first_seen <= frame.started_at else text


@dataclass
class RowBuilder:
    """Builds the rows of the tables from frames; keeps per-address sort keys across refreshes.

    With a ``resolver`` set, addresses are shown as host names once reverse DNS answered, and ports as
    service names from /etc/services.
    """

    resolver: HostResolver | None = None
    _address_keys: dict[str, bytes] = field(default_factory=dict)

    def socket_rows(self, frame: Frame, view: str, accept: SocketPredicate | None) -> TableRows:
        """Rows of socket view ``view`` ("connections", "listeners", "unix") for the accepted sockets (all of them
        when ``accept`` is None; else the rows say how many the view has unfiltered)."""
        if view == "unix":
            model: RowModel = UnixRows(frame)
        else:
            model = ListenerRows(frame, self) if view == "listeners" else SocketRows(frame, self)
        return _accepted(model, _view_keys(view, frame.sockets), frame, accept)

    def rows_of_sockets(self, frame: Frame, sockets: Iterable[Socket], accept: SocketPredicate | None) -> TableRows:
        """The accepted ones of ``sockets`` (of ``frame``) as rows with the socket columns."""
        return _accepted(SocketRows(frame, self), [sock.key for sock in sockets], frame, accept)

    def host_name(self, address: str) -> str:
        """``address`` as the tables show a host: its name once reverse DNS answered, while resolving."""
        name = self.resolver.name(address) if self.resolver is not None else None
        return name or address

    def rows_of_pid(self, frame: Frame, pid: int, accept: SocketPredicate | None) -> TableRows:
        """Every accepted socket (inet and unix) owned by ``pid``, as rows with :data:`PID_SOCKET_COLUMNS`."""
        keys = [sock.key for sock in frame.sockets_by_pid.get(pid, ())]
        return _accepted(PidSocketRows(frame, self, pid), keys, frame, accept)

    def process_rows(self, frame: Frame, accept: SocketPredicate | None, only_pid: int | None = None) -> TableRows:
        """One row per process owning at least one accepted (current) socket (any, when ``accept`` is None; else
        the rows say how many processes own a current socket)."""
        totals = aggregate_processes(frame.snapshot.sockets.values(), accept)
        processes = frame.snapshot.processes
        rows = []
        for pid, total in totals.items():
            if only_pid is not None and pid != only_pid:
                continue
            process = processes.get(pid)
            name = process.name if process else ""
            user = process.user if process else ""
            rates = frame.diff.process_rates.get(pid)
            send = rates.send_bps if rates else 0.0
            recv = rates.recv_bps if rates else 0.0
            ports = total.ports_text()
            netns = ",".join(sorted(total.namespaces))
            container = process.container.name if process is not None and process.container is not None else ""
            moved = frame.process_totals.get(pid)
            sent_total, received_total = (moved.sent, moved.received) if moved is not None else (0.0, 0.0)
            rows.append(
                Row(
                    key=pid,
                    cells=(
                        str(pid),
                        name,
                        user,
                        str(total.sockets),
                        str(total.established),
                        str(total.listening),
                        str(total.unix),
                        str(total.shared) if total.shared else "",
                        fmt.rate_cell(send),
                        fmt.rate_cell(recv),
                        ports,
                        fmt.compact_size(sent_total) if sent_total >= 1 else "",
                        fmt.compact_size(received_total) if received_total >= 1 else "",
                        netns,
                        container,
                    ),
                    sort_values=(
                        pid,
                        name,
                        user,
                        total.sockets,
                        total.established,
                        total.listening,
                        total.unix,
                        total.shared,
                        send,
                        recv,
                        ports,
                        sent_total,
                        received_total,
                        netns,
                        container,
                    ),
                )
            )
        empty = empty_columns(frame)
        if accept is None:
            return replace(TableRows.of(rows), empty_columns=empty)
        current = frame.snapshot.sockets
        owning = sum(1 for owned in frame.sockets_by_pid.values() if any(sock.key in current for sock in owned))
        return replace(TableRows.of(rows), total=owning, empty_columns=empty)

    def endpoint(self, address: str, port: int, family: str, proto: str) -> str:
        """``addr:port`` (IPv6 in brackets, ``::ffff:`` mapped as IPv4), with names when resolving."""
        if self.resolver is None:
            return format_endpoint(address, port, family)
        shown = unmap_ipv4(address)
        host = self.resolver.name(shown) if shown else None
        service = service_name(port, proto) if port else None
        if host is None and service is None:
            return format_endpoint(address, port, family)
        if host is None:
            host = f"[{shown}]" if ":" in shown else (shown or "*")
        return f"{host}:{service or port}"

    def address_key(self, address: str) -> bytes:
        """A sort key ordering addresses numerically (IPv4 before IPv6)."""
        try:
            return self._address_keys[address]
        except KeyError:
            pass
        shown = unmap_ipv4(address)
        try:
            key = b"4" + socket_module.inet_pton(socket_module.AF_INET, shown)
        except OSError:
            try:
                key = b"6" + socket_module.inet_pton(socket_module.AF_INET6, shown)
            except OSError:
                key = b"9" + shown.encode("utf-8", "surrogateescape")
        if len(self._address_keys) > _ADDRESS_KEYS_LIMIT:
            self._address_keys.clear()
        self._address_keys[address] = key
        return key


@dataclass
class ProcessTotals:
    """Counts over one process's sockets."""

    sockets: int = 0
    established: int = 0
    listening: int = 0
    unix: int = 0
    shared: int = 0
    """Sockets this process shares with other processes (counted for each of them here, once in host totals)."""
    states: dict[str, int] = field(default_factory=dict)
    listen_ports: set[tuple[str, int]] = field(default_factory=set)
    unix_listeners: set[str] = field(default_factory=set)
    """Paths (or ``@abstract`` names) of listening Unix sockets."""
    namespaces: set[str] = field(default_factory=set)
    """The network namespaces its sockets are in."""

    def add(self, sock: Socket, shared: bool = False) -> None:
        self.sockets += 1
        self.shared += shared
        self.states[sock.state] = self.states.get(sock.state, 0) + 1
        if sock.netns is not None:
            self.namespaces.add(sock.netns)
        if sock.proto == "unix":
            self.unix += 1
            if sock.state == "LISTEN":
                self.unix_listeners.add(sock.path or f"inode {sock.inode}")
        elif sock.state == "ESTABLISHED":
            self.established += 1
        elif is_listener(sock):
            self.listening += 1
            self.listen_ports.add((sock.proto, sock.local_port))

    def ports_text(self) -> str:
        """Listening ports and Unix paths like ``tcp:22,80 udp:53 unix:/run/app.sock,@name`` (paths are
        untrusted text)."""
        parts = []
        for proto in INET_PROTOS:
            ports = sorted(port for kind, port in self.listen_ports if kind == proto)
            if ports:
                parts.append(f"{proto}:{','.join(map(str, ports))}")
        if self.unix_listeners:
            parts.append(f"unix:{','.join(sorted(self.unix_listeners))}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class ProcessFacts:
    """One process as of a frame, for its summary: counts, rates (and how much of them is on shared sockets), the
    other processes it shares sockets with, its parent and children (among the processes owning sockets)."""

    totals: ProcessTotals
    send_bps: float
    recv_bps: float
    shared_send_bps: float
    shared_recv_bps: float
    shares_with: tuple[int, ...]
    parent: int | None
    children: tuple[int, ...]


def process_facts(pid: int, frame: Frame) -> ProcessFacts:
    """What :class:`ProcessFacts` says about ``pid`` in ``frame`` (its current sockets, not the lingering ones)."""
    current = frame.snapshot.sockets
    processes = frame.snapshot.processes
    total = ProcessTotals()
    shared_send = shared_recv = 0.0
    others: set[int] = set()
    for sock in frame.sockets_by_pid.get(pid, ()):
        if sock.key not in current:
            continue
        pids = owner_pids(sock)
        total.add(sock, len(pids) > 1)
        if len(pids) > 1:
            others.update(pids)
            rates = frame.diff.rates.get(sock.key)
            if rates is not None:
                shared_send += rates.send_bps
                shared_recv += rates.recv_bps
    others.discard(pid)
    rates = frame.diff.process_rates.get(pid)
    process = processes.get(pid)
    return ProcessFacts(
        totals=total,
        send_bps=rates.send_bps if rates else 0.0,
        recv_bps=rates.recv_bps if rates else 0.0,
        shared_send_bps=shared_send,
        shared_recv_bps=shared_recv,
        shares_with=tuple(sorted(others)),
        parent=process.ppid if process is not None else None,
        children=tuple(sorted(child.pid for child in processes.values() if child.ppid == pid)),
    )


def aggregate_processes(sockets: Iterable[Socket], accept: SocketPredicate | None) -> dict[int, ProcessTotals]:
    """Per-pid totals over the accepted sockets (all when ``accept`` is None; a socket shared by several pids
    counts for each, as shared)."""
    totals: dict[int, ProcessTotals] = {}
    for sock in sockets:
        if not sock.owners or (accept is not None and not accept(sock)):
            continue
        pids = owner_pids(sock)
        shared = len(pids) > 1
        for pid in pids:
            total = totals.get(pid)
            if total is None:
                total = totals[pid] = ProcessTotals()
            total.add(sock, shared)
    return totals
