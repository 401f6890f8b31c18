"""Row models for the socket and process tables: formatted cells, sort values and change status.

Pure functions of a :class:`Frame` (no Textual), so they run on a worker thread and in tests.
"""

from __future__ import annotations

import socket as socket_module
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from netwatch.backends.endpoints import format_endpoint, unmap_ipv4
from netwatch.backends.model import TCP_STATES, UNCONN, Process, Socket
from netwatch.tui import format as fmt
from netwatch.tui.frame import Frame
from netwatch.tui.resolve import HostResolver, service_name
from netwatch.tui.widgets.socket_table import Column, Row

SocketPredicate = Callable[[Socket], bool]

VIEWS = ("connections", "listeners", "processes", "unix")

SOCKET_COLUMNS = (
    Column("proto", "proto", 5),
    Column("state", "state", 9),
    Column("local", "local", 15, flex=True),
    Column("peer", "peer", 15, flex=True),
    Column("process", "process", 14, flex=True),
    Column("send", "send/s", 7, align="right"),
    Column("recv", "recv/s", 7, align="right"),
    Column("rtt", "rtt", 7, align="right"),
    Column("recv_q", "recv-q", 6, align="right"),
    Column("send_q", "send-q", 6, align="right"),
    Column("age", "age", 6, align="right"),
)

UNIX_COLUMNS = (
    Column("type", "type", 9),
    Column("state", "state", 11),
    Column("path", "path", 20, flex=True),
    Column("peer", "peer", 9, align="right"),
    Column("process", "process", 14, flex=True),
    Column("recv_q", "recv-q", 6, align="right"),
    Column("send_q", "send-q", 6, align="right"),
    Column("inode", "inode", 9, align="right"),
    Column("age", "age", 6, align="right"),
)

PROCESS_COLUMNS = (
    Column("pid", "pid", 7, align="right"),
    Column("name", "process", 12, flex=True),
    Column("user", "user", 8),
    Column("sockets", "socks", 6, align="right"),
    Column("estab", "estab", 6, align="right"),
    Column("listen", "listen", 6, align="right"),
    Column("unix", "unix", 6, align="right"),
    Column("send", "send/s", 7, align="right"),
    Column("recv", "recv/s", 7, align="right"),
    Column("ports", "listening", 12, flex=True),
)

COLUMNS_OF_VIEW = {
    "connections": SOCKET_COLUMNS,
    "listeners": SOCKET_COLUMNS,
    "processes": PROCESS_COLUMNS,
    "unix": UNIX_COLUMNS,
}

DEFAULT_SORT = {  # (column, reverse): newest connections first, busiest processes first
    "connections": ("age", False),
    "listeners": ("local", False),
    "processes": ("sockets", True),
    "unix": ("path", False),
}

_SHORT_STATES = {"ESTABLISHED": "ESTAB"}
_STATE_ORDER = {name: index for index, name in enumerate((*TCP_STATES, UNCONN))}
_NO_RTT = -1
_CACHE_LIMIT = 400_000
"""Entries kept by each formatting cache before it is dropped and rebuilt."""
_AGE_CELLS: dict[int, str] = {}
_RTT_CELLS: dict[int, str] = {}


def _age_cell(seconds: float) -> str:
    """``fmt.age`` memoized on whole seconds: most sockets of a busy host share a handful of ages."""
    whole = int(seconds)
    cell = _AGE_CELLS.get(whole)
    if cell is None:
        if len(_AGE_CELLS) > _CACHE_LIMIT:
            _AGE_CELLS.clear()
        cell = _AGE_CELLS[whole] = fmt.age(whole)
    return cell


def _rtt_cell(microseconds: int) -> str:
    cell = _RTT_CELLS.get(microseconds)
    if cell is None:
        if len(_RTT_CELLS) > _CACHE_LIMIT:
            _RTT_CELLS.clear()
        cell = _RTT_CELLS[microseconds] = fmt.duration_us(microseconds)
    return cell


class _ProcessLabels:
    """``pid/name`` labels computed once per pid for one build."""

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


def short_state(state: str) -> str:
    return _SHORT_STATES.get(state, state)


def owner_pids(sock: Socket) -> list[int]:
    """Distinct owning pids, in the order the backend listed the owners."""
    pids: list[int] = []
    for owner in sock.owners:
        if owner.pid not in pids:
            pids.append(owner.pid)
    return pids


def owned_by(pid: int) -> SocketPredicate:
    """A predicate: the socket has an owner with this pid."""
    return lambda sock: any(owner.pid == pid for owner in sock.owners)


def process_label(sock: Socket, processes: Mapping[int, Process]) -> str:
    """``pid/name`` of the first owner, ``+N`` when more processes share the socket ("" when unknown)."""
    pids = owner_pids(sock)
    if not pids:
        return ""
    process = processes.get(pids[0])
    label = f"{pids[0]}/{process.name}" if process else str(pids[0])
    return f"{label} +{len(pids) - 1}" if len(pids) > 1 else label


@dataclass
class RowBuilder:
    """Builds table rows from frames; caches per-address work across refreshes.

    With a ``resolver`` set, addresses are shown as host names once reverse DNS answered, and ports as
    service names from /etc/services.
    """

    resolver: HostResolver | None = None
    _address_keys: dict[str, bytes] = field(default_factory=dict)
    _endpoint_cache: dict[object, tuple[tuple, tuple[str, str, object, object]]] = field(default_factory=dict)

    def socket_rows(self, frame: Frame, view: str, accept: SocketPredicate) -> list[Row]:
        """Rows of socket view ``view`` ("connections", "listeners", "unix") for the accepted sockets."""
        if view == "unix":
            return [self.unix_row(frame, sock) for sock in frame.sockets.values()
                    if sock.proto == "unix" and accept(sock)]
        labels = _ProcessLabels(frame.snapshot.processes)
        make = self.socket_row
        return [make(frame, sock, labels) for sock in frame.sockets.values() if in_view(view, sock) and accept(sock)]

    def rows_of_pid(self, frame: Frame, pid: int) -> list[Row]:
        """Every socket (inet and unix) owned by ``pid``, as rows with the socket columns."""
        owned = owned_by(pid)
        labels = _ProcessLabels(frame.snapshot.processes)
        return [self.socket_row(frame, sock, labels) for sock in frame.sockets.values() if owned(sock)]

    def socket_row(self, frame: Frame, sock: Socket, labels: _ProcessLabels | None = None) -> Row:
        """One row with :data:`SOCKET_COLUMNS` (Unix sockets show their path as local, peer inode as peer)."""
        key = sock.key
        rates = frame.diff.rates.get(key)
        send, recv = (rates.send_bps, rates.recv_bps) if rates is not None else (0.0, 0.0)
        info = sock.tcp_info
        rtt = info.rtt if info is not None and sock.proto == "tcp" and info.rtt else _NO_RTT
        age = frame.now - frame.first_seen.get(key, frame.now)
        local, peer, local_sort, peer_sort = self._endpoints(sock)
        process = (labels or _ProcessLabels(frame.snapshot.processes)).of(sock)
        return Row(
            key=key,
            cells=(
                sock.proto,
                _SHORT_STATES.get(sock.state, sock.state),
                local,
                peer,
                process,
                fmt.rate_cell(send) if send >= 1 else "",
                fmt.rate_cell(recv) if recv >= 1 else "",
                _rtt_cell(rtt) if rtt >= 0 else "",
                str(sock.recv_q),
                str(sock.send_q),
                _age_cell(age),
            ),
            sort_values=(
                sock.proto,
                _STATE_ORDER.get(sock.state, 99),
                local_sort,
                peer_sort,
                process,
                send,
                recv,
                rtt,
                sock.recv_q,
                sock.send_q,
                age,
            ),
            status=frame.statuses.get(key),
        )

    def _endpoints(self, sock: Socket) -> tuple[str, str, object, object]:
        """(local, peer) cells and sort values; cached per socket key while its endpoints stay the same."""
        if sock.proto == "unix":
            path, peer = sock.path or "", str(sock.peer_inode or "")
            return path, peer, path, peer
        ident = (sock.local_address, sock.local_port, sock.remote_address, sock.remote_port)
        cached = self._endpoint_cache.get(sock.key) if self.resolver is None else None
        if cached is not None and cached[0] == ident:
            return cached[1]
        shown = (
            self.endpoint(sock.local_address, sock.local_port, sock.family, sock.proto),
            self.endpoint(sock.remote_address, sock.remote_port, sock.family, sock.proto),
            (self.address_key(sock.local_address), sock.local_port),
            (self.address_key(sock.remote_address), sock.remote_port),
        )
        if self.resolver is None:
            if len(self._endpoint_cache) > _CACHE_LIMIT:
                self._endpoint_cache.clear()
            self._endpoint_cache[sock.key] = (ident, shown)
        return shown

    def unix_row(self, frame: Frame, sock: Socket) -> Row:
        key = sock.key
        age = frame.now - frame.first_seen.get(key, frame.now)
        path = sock.path or ""
        process = process_label(sock, frame.snapshot.processes)
        peer = sock.peer_inode or 0
        return Row(
            key=key,
            cells=(
                sock.sock_type or "",
                short_state(sock.state),
                path,
                str(peer) if peer else "",
                process,
                str(sock.recv_q),
                str(sock.send_q),
                str(sock.inode),
                _age_cell(age),
            ),
            sort_values=(
                sock.sock_type or "",
                _STATE_ORDER.get(sock.state, 99),
                path,
                peer,
                process,
                sock.recv_q,
                sock.send_q,
                sock.inode,
                age,
            ),
            status=frame.statuses.get(key),
        )

    def process_rows(self, frame: Frame, accept: SocketPredicate, only_pid: int | None = None) -> list[Row]:
        """One row per process owning at least one accepted (current) socket."""
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
                        fmt.rate_cell(send),
                        fmt.rate_cell(recv),
                        ports,
                    ),
                    sort_values=(
                        pid,
                        name,
                        user,
                        total.sockets,
                        total.established,
                        total.listening,
                        total.unix,
                        send,
                        recv,
                        ports,
                    ),
                )
            )
        return rows

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
        if len(self._address_keys) > _CACHE_LIMIT:
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
    states: dict[str, int] = field(default_factory=dict)
    listen_ports: set[tuple[str, int]] = field(default_factory=set)

    def add(self, sock: Socket) -> None:
        self.sockets += 1
        self.states[sock.state] = self.states.get(sock.state, 0) + 1
        if sock.proto == "unix":
            self.unix += 1
        elif sock.state == "ESTABLISHED":
            self.established += 1
        elif is_listener(sock):
            self.listening += 1
            self.listen_ports.add((sock.proto, sock.local_port))

    def ports_text(self) -> str:
        """Listening ports like ``tcp:22,80 udp:53``."""
        parts = []
        for proto in ("tcp", "udp", "raw"):
            ports = sorted(port for kind, port in self.listen_ports if kind == proto)
            if ports:
                parts.append(f"{proto}:{','.join(map(str, ports))}")
        return " ".join(parts)


def aggregate_processes(sockets: Iterable[Socket], accept: SocketPredicate) -> dict[int, ProcessTotals]:
    """Per-pid totals over the accepted sockets (a socket shared by several pids counts for each)."""
    totals: dict[int, ProcessTotals] = {}
    for sock in sockets:
        if not sock.owners or not accept(sock):
            continue
        for pid in owner_pids(sock):
            total = totals.get(pid)
            if total is None:
                total = totals[pid] = ProcessTotals()
            total.add(sock)
    return totals
