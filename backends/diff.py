"""What changed between two snapshots: opened, closed and changed sockets, and rates from TCP counters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from .model import Snapshot, Socket, SocketKey

_COUNTERS = ("bytes_acked", "bytes_received", "segs_out", "segs_in", "total_retrans")
"""tcp_info counters behind :class:`Rates`, in field order (``bytes_sent`` stands in for a missing ``bytes_acked``)."""

Counters = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rates from tcp_info counter deltas (never negative)."""

    send_bps: float
    """Bytes/s acknowledged by the peer (``bytes_acked``, else ``bytes_sent``)."""
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
_ZERO_COUNTERS: Counters = (0, 0, 0, 0, 0)


@dataclass(frozen=True)
class SnapshotDiff:
    """The changes from ``previous`` to ``current`` (all empty when there is no previous snapshot)."""

    previous: Snapshot | None
    current: Snapshot
    elapsed: float
    """Seconds between the two snapshots (monotonic clock); 0.0 without a previous one."""
    opened: frozenset[SocketKey]
    closed: Mapping[SocketKey, Socket]
    """The closed sockets' last records (from ``previous``)."""
    state_changed: Mapping[SocketKey, tuple[str, str]]
    """(old state, new state) of sockets present in both snapshots."""
    queue_changed: frozenset[SocketKey]
    """Sockets present in both snapshots whose recv-q or send-q changed."""
    rates: Mapping[SocketKey, Rates]
    """Rates of every current socket with tcp_info (opened sockets count from zero)."""
    process_rates: Mapping[int, Rates]
    """Per pid, the sum of the rates of the sockets it owns (each socket counted once per pid)."""


_readers: dict[type, Callable[[Any], Counters]] = {}


def _counter_reader(tcp_info_type: type) -> Callable[[Any], Counters]:
    """A fast reader of the :data:`_COUNTERS` of one tcp_info type (missing fields read as 0)."""
    reader = _readers.get(tcp_info_type)
    if reader is None:
        fields = getattr(tcp_info_type, "_fields", ())
        sent = "bytes_acked" if "bytes_acked" in fields or "bytes_sent" not in fields else "bytes_sent"
        names = (sent, *_COUNTERS[1:])
        if all(name in fields for name in names):
            reader = attrgetter(*names)
        else:
            def reader(info: Any, names: tuple[str, ...] = names) -> Counters:
                return tuple(getattr(info, name, 0) or 0 for name in names)  # type: ignore[return-value]
        _readers[tcp_info_type] = reader
    return reader


def _rates_between(old: Counters, new: Counters, per_second: float) -> Rates:
    """Rates from two counter readings; a counter that went down (reset, reused key) gives 0."""
    sent = new[0] - old[0]
    received = new[1] - old[1]
    segs_out = new[2] - old[2]
    segs_in = new[3] - old[3]
    retrans = new[4] - old[4]
    return Rates(
        sent * per_second if sent > 0 else 0.0,
        received * per_second if received > 0 else 0.0,
        segs_out * per_second if segs_out > 0 else 0.0,
        segs_in * per_second if segs_in > 0 else 0.0,
        retrans * per_second if retrans > 0 else 0.0,
    )


class _ProcessTotals:
    """Accumulates socket rates per owning pid."""

    def __init__(self) -> None:
        self._sums: dict[int, list[float]] = {}

    def add(self, sock: Socket, rates: Rates) -> None:
        owners = sock.owners
        if not owners:
            return
        pids = (owners[0].pid,) if len(owners) == 1 else {owner.pid for owner in owners}
        sums = self._sums
        for pid in pids:
            total = sums.get(pid)
            if total is None:
                sums[pid] = total = [0.0, 0.0, 0.0, 0.0, 0.0]
            if rates is not ZERO_RATES:
                total[0] += rates.send_bps
                total[1] += rates.recv_bps
                total[2] += rates.segs_out_ps
                total[3] += rates.segs_in_ps
                total[4] += rates.retrans_ps

    def result(self) -> dict[int, Rates]:
        return {pid: Rates(*total) for pid, total in self._sums.items()}


def diff(previous: Snapshot | None, current: Snapshot) -> SnapshotDiff:
    """Compare two snapshots of the same host; ``previous`` None means there is nothing to compare with."""
    if previous is None:
        empty: dict = {}
        return SnapshotDiff(None, current, 0.0, frozenset(), empty, empty, frozenset(), empty, empty)
    before = previous.sockets
    now = current.sockets
    elapsed = current.monotonic - previous.monotonic
    per_second = 1.0 / elapsed if elapsed > 0 else 0.0
    closed = {key: before[key] for key in before.keys() - now.keys()}
    opened: list[SocketKey] = []
    state_changed: dict[SocketKey, tuple[str, str]] = {}
    queue_changed: list[SocketKey] = []
    rates: dict[SocketKey, Rates] = {}
    totals = _ProcessTotals()
    reader_type: type | None = None
    read = _counter_reader(tuple)
    for key, sock in now.items():
        old = before.get(key)
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
        if type(info) is not reader_type:
            reader_type = type(info)
            read = _counter_reader(reader_type)
        if old is None:
            old_counters = _ZERO_COUNTERS
        elif old.tcp_info is None:  # no baseline (e.g. another backend ran before)
            old_counters = read(info)
        else:
            old_info = old.tcp_info
            old_counters = read(old_info) if type(old_info) is reader_type else _counter_reader(
                type(old_info))(old_info)
        new_counters = read(info)
        rate = ZERO_RATES if new_counters == old_counters or not per_second else _rates_between(
            old_counters, new_counters, per_second)
        rates[key] = rate
        totals.add(sock, rate)
    return SnapshotDiff(
        previous=previous,
        current=current,
        elapsed=elapsed,
        opened=frozenset(opened),
        closed=closed,
        state_changed=state_changed,
        queue_changed=frozenset(queue_changed),
        rates=rates,
        process_rates=totals.result(),
    )
