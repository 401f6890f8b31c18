"""What changed between two snapshots: opened, closed and changed sockets, and rates from TCP counters."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from netwatch.backends.model.records import Socket, SocketKey, owner_pids
from netwatch.backends.model.snapshot import Snapshot
from netwatch.backends.model.tcp_info import TcpInfo

Counters = tuple[int, int, int, int, int]
_COUNTERS = struct.Struct("=100xI16xQQII")
"""tcpi_total_retrans, then bytes_acked, bytes_received, segs_out, segs_in (struct tcp_info offsets 100, 120..144):
one unpack instead of five attribute reads (those an older kernel does not send read 0)."""


def _read_counters(info: TcpInfo) -> Counters:
    """(bytes_acked, bytes_received, segs_out, segs_in, total_retrans) of ``info``."""
    retrans, acked, received, segs_out, segs_in = _COUNTERS.unpack_from(info.raw)
    return acked, received, segs_out, segs_in, retrans


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rates from tcp_info counter deltas (never negative)."""

    send_bps: float
    """Bytes/s acknowledged by the peer (``bytes_acked``)."""
    recv_bps: float
    """Bytes/s received (``bytes_received``)."""
    segs_out_ps: float
    segs_in_ps: float
    retrans_ps: float
    """Retransmitted segments/s (``total_retrans``)."""

    @property
    def total_bps(self) -> float:
        """Bytes/s in both directions."""
        return self.send_bps + self.recv_bps


ZERO_RATES = Rates(0.0, 0.0, 0.0, 0.0, 0.0)


def has_counters(sock: Socket) -> bool:
    """Whether ``sock`` has byte counters to take rates from: a TCP socket with its ``tcp_info`` (the kernel keeps
    none for UDP, Unix and raw sockets; the /proc and psutil fallbacks read none)."""
    return sock.tcp_info is not None


def no_counters_reason(sock: Socket) -> str:
    """Why ``sock`` has no rates (see :func:`has_counters`), e.g. ``no counters for UDP``."""
    if sock.proto == "tcp":
        return "no tcp_info from this backend"
    return f"no counters for {sock.proto if sock.proto == 'unix' else sock.proto.upper()}"


@dataclass(frozen=True, slots=True)
class HostTotals:
    """The host's TCP traffic and churn between two snapshots (what bandwhich and nethogs show on top)."""

    send_bps: float
    """Bytes/s acknowledged over every TCP socket, each counted once (a socket shared by processes too)."""
    recv_bps: float
    opened_ps: float
    """TCP connections (not listeners) opened per second."""
    closed_ps: float
    """TCP connections closed per second."""


NO_TOTALS = HostTotals(0.0, 0.0, 0.0, 0.0)

_set_send, _set_recv, _set_segs_out, _set_segs_in, _set_retrans = (
    Rates.__dict__[name].__set__ for name in ("send_bps", "recv_bps", "segs_out_ps", "segs_in_ps", "retrans_ps")
)


def _new_rates(send: float, recv: float, segs_out: float, segs_in: float, retrans: float) -> Rates:
    """``Rates(...)`` through the slot descriptors: half the cost of the frozen ``__init__`` (hot path)."""
    rates = object.__new__(Rates)
    _set_send(rates, send)
    _set_recv(rates, recv)
    _set_segs_out(rates, segs_out)
    _set_segs_in(rates, segs_in)
    _set_retrans(rates, retrans)
    return rates


_ZERO_COUNTERS: Counters = (0, 0, 0, 0, 0)
_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ShortLived:
    """A TCP connection born and gone between two snapshots: its final record (final ``tcp_info``) and owners (those
    of the listener it was accepted on, where its local port is a listener's; else unknown: empty)."""

    socket: Socket
    owners: tuple[int, ...]
    closed_at: float
    """Wall-clock time its close event was read."""


@dataclass(frozen=True)
class SnapshotDiff:
    """The changes from the previous snapshot to ``current`` (all empty when there is none)."""

    current: Snapshot
    elapsed: float
    """Seconds between the two snapshots (monotonic clock); 0.0 without a previous one."""
    opened: frozenset[SocketKey]
    closed: Mapping[SocketKey, Socket]
    """The closed sockets' last records (from the previous snapshot)."""
    state_changed: Mapping[SocketKey, tuple[str, str]]
    """(old state, new state) of sockets present in both snapshots."""
    queue_changed: frozenset[SocketKey]
    """Sockets present in both snapshots whose recv-q or send-q changed."""
    renewed: tuple[SocketKey, ...]
    """Current sockets whose record is not the previous snapshot's (every one without a previous snapshot): a
    source that keeps the records of unchanged sockets lets the rest be skipped."""
    rates: Mapping[SocketKey, Rates]
    """Rates of the current sockets with tcp_info that moved (opened sockets count from zero); the others' are
    :data:`ZERO_RATES` (read them with ``rates.get(key, ZERO_RATES)``)."""
    process_rates: Mapping[int, Rates]
    """Per pid, the sum of the rates of the sockets it owns (each socket counted once per pid), including the last
    bytes of the sockets that closed (from their close events) and of short-lived ones."""
    totals: HostTotals = NO_TOTALS
    short_lived: tuple[ShortLived, ...] = ()
    """TCP connections opened and closed between the two snapshots (known from their close events only)."""
    finals: Mapping[SocketKey, Socket] = field(default_factory=dict)
    """The final records (close events) of sockets present in the previous snapshot."""


def _rates_between(old: Counters, new: Counters, per_second: float) -> Rates:
    """Rates from two counter readings; a counter that went down (reset, reused key) gives 0."""
    sent = new[0] - old[0]
    received = new[1] - old[1]
    segs_out = new[2] - old[2]
    segs_in = new[3] - old[3]
    retrans = new[4] - old[4]
    return _new_rates(
        sent * per_second if sent > 0 else 0.0,
        received * per_second if received > 0 else 0.0,
        segs_out * per_second if segs_out > 0 else 0.0,
        segs_in * per_second if segs_in > 0 else 0.0,
        retrans * per_second if retrans > 0 else 0.0,
    )


def _process_rates(processes: Iterable[int], moving: list[tuple[tuple[int, ...], Rates]]) -> dict[int, Rates]:
    """Sum the rates of ``moving`` (owner pids, non-zero rates) sockets per pid; ``processes`` get ZERO_RATES."""
    sums: dict[int, list[float]] = {}
    for pids, rate in moving:
        for pid in pids:
            total = sums.get(pid)
            if total is None:
                sums[pid] = [rate.send_bps, rate.recv_bps, rate.segs_out_ps, rate.segs_in_ps, rate.retrans_ps]
            else:
                total[0] += rate.send_bps
                total[1] += rate.recv_bps
                total[2] += rate.segs_out_ps
                total[3] += rate.segs_in_ps
                total[4] += rate.retrans_ps
    result = dict.fromkeys(processes, ZERO_RATES)
    result.update((pid, Rates(*total)) for pid, total in sums.items())
    return result


def diff(previous: Snapshot | None, current: Snapshot) -> SnapshotDiff:
    """Compare two snapshots of the same host; ``previous`` None means there is nothing to compare with."""
    if previous is None:
        return SnapshotDiff(current, 0.0, frozenset(), _EMPTY, _EMPTY, frozenset(), tuple(current.sockets), _EMPTY,
                            _EMPTY)  # fmt: skip
    before = previous.sockets
    now = current.sockets
    elapsed = current.monotonic - previous.monotonic
    per_second = 1.0 / elapsed if elapsed > 0 else 0.0
    opened: list[SocketKey] = []
    state_changed: dict[SocketKey, tuple[str, str]] = {}
    queue_changed: list[SocketKey] = []
    renewed: list[SocketKey] = []
    rates: dict[SocketKey, Rates] = {}
    moving: list[tuple[tuple[int, ...], Rates]] = []
    sent = received = 0.0
    previous_socket = before.get
    if current.renewed is not None and current.base == previous.monotonic:  # the rest are previous's own records
        looked_at: Iterable[tuple[SocketKey, Socket]] = (
            (key, sock) for key in current.renewed if (sock := now.get(key)) is not None
        )
    else:
        looked_at = now.items()
    for key, sock in looked_at:
        old = previous_socket(key)
        if old is sock:  # kept by the source: nothing about it changed
            continue
        renewed.append(key)
        if old is None:
            opened.append(key)
        else:
            if old.state != sock.state:
                state_changed[key] = (old.state, sock.state)
            if old.recv_q != sock.recv_q or old.send_q != sock.send_q:
                queue_changed.append(key)
        info = sock.tcp_info
        if info is None:
            continue
        new_counters = _read_counters(info)
        if old is None:
            old_counters = _ZERO_COUNTERS
        elif old.tcp_info is None:  # no baseline (e.g. another backend ran before)
            old_counters = new_counters
        else:
            old_counters = _read_counters(old.tcp_info)
        if new_counters != old_counters and per_second:
            rate = rates[key] = _rates_between(old_counters, new_counters, per_second)
            sent += rate.send_bps
            received += rate.recv_bps
            if sock.owners:
                moving.append((owner_pids(sock), rate))
    if len(now) - len(opened) == len(before):  # every previous socket is still there
        closed = {}
    else:
        closed = {key: sock for key, sock in before.items() if key not in now}
    finals: dict[SocketKey, Socket] = {}
    short_lived: list[ShortLived] = []
    listeners: dict[tuple[int | None, int], tuple[int, ...]] | None = None
    for event in current.closes:  # their last bytes count in this interval's rates
        final = event.socket
        info = final.tcp_info
        if info is None:
            continue
        key = final.key
        still = now.get(key)
        if still is not None and still.tcp_info is not None:
            continue
        old = before.get(key)
        if old is not None:
            finals[key] = final
            pids = owner_pids(old)
            old_counters = _read_counters(old.tcp_info) if old.tcp_info is not None else _read_counters(info)
        else:
            if listeners is None:
                listeners = _listener_owners(current, previous)
            pids = listeners.get((final.netns_inode, final.local_port), ())
            short_lived.append(ShortLived(final, pids, event.wall))
            old_counters = _ZERO_COUNTERS
        if per_second:
            rate = _rates_between(old_counters, _read_counters(info), per_second)
            sent += rate.send_bps
            received += rate.recv_bps
            if pids:
                moving.append((pids, rate))
    return SnapshotDiff(
        current=current,
        elapsed=elapsed,
        opened=frozenset(opened),
        closed=closed,
        state_changed=state_changed,
        queue_changed=frozenset(queue_changed),
        renewed=tuple(renewed),
        rates=rates,
        process_rates=_process_rates(current.processes, moving),
        totals=HostTotals(sent, received, (_connections(now[key] for key in opened) + len(short_lived)) * per_second,
                          (_connections(closed.values()) + len(short_lived)) * per_second),
        short_lived=tuple(short_lived),
        finals=finals,
    )


def _listener_owners(*snapshots: Snapshot | None) -> dict[tuple[int | None, int], tuple[int, ...]]:
    """(namespace, port) -> owner pids of the TCP listeners of ``snapshots`` (the later ones win)."""
    owners: dict[tuple[int | None, int], tuple[int, ...]] = {}
    for snapshot in reversed([snapshot for snapshot in snapshots if snapshot is not None]):
        for sock in snapshot.sockets.values():
            if sock.proto == "tcp" and sock.state == "LISTEN" and sock.owners:
                owners[(sock.netns_inode, sock.local_port)] = owner_pids(sock)
    return owners


def _connections(sockets: Iterable[Socket]) -> int:
    """How many of ``sockets`` are TCP connections (not listeners)."""
    return sum(1 for sock in sockets if sock.proto == "tcp" and sock.state != "LISTEN")
