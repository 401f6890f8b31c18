"""Memory across snapshots: first-seen times, change highlights, lingering closed sockets, events, series.

Every timing decision uses the snapshots' monotonic clock (``Snapshot.monotonic``), never the current time,
so the same snapshots always give the same answers; wall-clock times (``Snapshot.taken_at``) are for display.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import chain, islice, repeat
from types import MappingProxyType

from netwatch.backends.history.diff import ZERO_RATES, SnapshotDiff, diff
from netwatch.backends.model.records import NO_EXTENSIONS, Process, Socket, SocketKey, owner_pids
from netwatch.backends.model.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Event:
    """A socket opened, closed or changed state."""

    at: float
    """Wall-clock time of the snapshot that showed the change."""
    kind: str
    """``"opened"``, ``"closed"``, ``"state"`` or ``"short-lived"`` (opened and closed between two snapshots: seen
    only by its close event)."""
    socket: Socket
    """The socket's record (for ``"closed"``: its last record) without its kernel details (``tcp_info``, memory,
    timer, extensions: a log of minutes must not keep them)."""
    old_state: str | None
    """The state before a ``"state"`` event; None otherwise."""
    processes: Mapping[int, Process]
    """The socket's owning processes as they were (a closed socket's may be gone since)."""
    monotonic: float
    """Monotonic time of the snapshot (the log's age limit is measured with it)."""
    moved: tuple[int, int] | None = None
    """A ``"short-lived"`` connection's bytes (acknowledged by the peer, received) over its whole life."""
    within: float | None = None
    """A ``"short-lived"`` connection lived less than this many seconds (the time between the two snapshots)."""


@dataclass(slots=True)
class ProcessTotal:
    """What one process moved since netwatch started, its closed and short-lived connections included."""

    sent: float = 0.0
    """Bytes acknowledged by the peers."""
    received: float = 0.0
    retransmitted: float = 0.0
    """Segments."""
    opened: int = 0
    """TCP connections (not listeners) opened..."""
    closed: int = 0
    """...and closed..."""
    short_lived: int = 0
    """...and of those, opened and closed between two snapshots."""


def _moved(sock: Socket) -> tuple[int, int] | None:
    info = sock.tcp_info
    return None if info is None else (info.bytes_acked, info.bytes_received)


def _event_record(sock: Socket) -> Socket:
    """``sock`` without what an event never shows (the bulk of a TCP socket's record)."""
    if sock.tcp_info is None and sock.skmem is None and sock.timer is None and not sock.extensions:
        return sock
    return replace(sock, tcp_info=None, timer=None, meminfo=None, skmem=None, extensions=NO_EXTENSIONS)


def _owning(sock: Socket, processes: Mapping[int, Process]) -> Mapping[int, Process]:
    """The processes of ``sock``'s owners found in ``processes``."""
    if not sock.owners:
        return _NO_PROCESSES
    return {pid: processes[pid] for pid in owner_pids(sock) if pid in processes}


_NO_PROCESSES: Mapping[int, Process] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _Closed:
    socket: Socket
    closed_at: float
    """Monotonic time of the snapshot in which the socket was gone."""
    first_seen: float


MAX_EVENTS = 1000
"""Events the log keeps at most: minutes of them at a few connections a second. Each lives long among the short-lived
records of its snapshot and keeps their memory pages from being given back, so the bound is on RSS too."""
EVENT_SECONDS = 900.0
"""Seconds an event stays in the log at most."""

_COMPACT_ABOVE_ROWS = 4096
"""The series store shrinks when it has at least this many rows and three quarters of them are free."""
_DENSE_SHARE = 16
"""A throughput column is kept as a full array when more than 1/16 of the rows moved, else as a dict of those."""

_Column = array | dict[int, float] | None
"""A column of samples by row: a full array; a dict of some rows (rtt: the rows that changed since the column
before, throughput: the rows that moved, the others 0); None: no sample at all (throughput of the first update)."""


class _SeriesStore:
    """Recent RTT and throughput samples of the present sockets that have tcp_info.

    One column per update, ``depth`` columns kept; each socket owns a row while it is present; a closed socket's
    row is freed and reused, and a row is only read from the update at which its current socket took it, so a
    socket never sees another's samples. Most sockets of a large host are idle, so columns hold what changed:
    the oldest rtt column is a full array and each later one the rows whose rtt changed (a socket's record
    kept by the source did not change at all); a throughput column the rows that moved. Memory follows the
    changes, not sockets x depth (that was ~48 MB at 100,000 sockets).
    """

    def __init__(self, depth: int) -> None:
        self._columns: deque[tuple[int, _Column, _Column]] = deque()
        self._depth = depth
        self._rtt_now = array("f")
        """Per row: the latest rtt (ms), the base of the next column."""
        self._rows: dict[SocketKey, int] = {}
        self._since = array("q")
        """Per row: the number of the update from which the row is its present key's."""
        self._free_rows: list[int] = []
        self._row_count = 0
        self._update = 0
        self._deferred: SnapshotDiff | None = None
        """The first update, until the next one records it."""

    def record(self, change: SnapshotDiff) -> None:
        """Record one update. The first waits for the next one: it gives every socket a row (~70 ms at 100,000
        sockets), which would delay the first table (:meth:`series` reads its one sample meanwhile)."""
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self._record(deferred)
        if self._update:
            self._record(change)
        else:
            self._deferred = change

    def _record(self, change: SnapshotDiff) -> None:
        self._update += 1
        update = self._update
        for key in change.closed:
            freed = self._rows.pop(key, None)
            if freed is not None:
                self._free_rows.append(freed)
        if self._row_count >= _COMPACT_ABOVE_ROWS and len(self._free_rows) * 4 > self._row_count * 3:
            self._compact()
        rows, rtt_now = self._rows, self._rtt_now
        rtt_changes: dict[int, float] = {}
        sockets = change.current.sockets
        new_keys: list[SocketKey] = []
        new_rtts: list[float] = []
        for key in change.renewed:
            info = sockets[key].tcp_info
            if info is None:
                continue
            row = rows.get(key)
            if row is None:
                new_keys.append(key)
                new_rtts.append(info.rtt / 1000.0)
            else:
                rtt_changes[row] = rtt_now[row] = info.rtt / 1000.0
        if new_keys:
            rtt_changes.update(zip(self._take_rows(new_keys, new_rtts, update), new_rtts, strict=True))
        moved: dict[int, float] = {}
        for key, rate in change.rates.items():
            row = rows.get(key)
            if row is not None:
                moved[row] = rate.send_bps + rate.recv_bps
        throughput: _Column = moved if change.elapsed else None
        if len(moved) * _DENSE_SHARE > self._row_count:
            throughput = array("f", bytes(4 * self._row_count))
            for row, value in moved.items():
                throughput[row] = value
        if not self._columns:
            self._columns.append((update, array("f", rtt_now), throughput))
        else:
            self._columns.append((update, rtt_changes, throughput))
        if len(self._columns) > self._depth:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        """Forget the oldest column; the next one becomes the full array (its changes applied to the old one)."""
        _update, base, _throughput = self._columns.popleft()
        update, changes, throughput = self._columns[0]
        assert isinstance(base, array) and isinstance(changes, dict)
        for row, value in changes.items():
            if row >= len(base):
                base.extend([math.nan] * (row + 1 - len(base)))
            base[row] = value
        self._columns[0] = (update, base, throughput)

    def _take_rows(self, keys: list[SocketKey], rtts: list[float], update: int) -> list[int]:
        """Rows for ``keys``, sockets new to the store, their latest rtt ``rtts``, from update ``update`` on: freed
        rows first, then new ones, the arrays grown at once (the first update gives every socket one)."""
        free = self._free_rows
        reused = [free.pop() for _ in range(min(len(keys), len(free)))]
        for row, rtt in zip(reused, rtts, strict=False):
            self._rtt_now[row] = rtt
            self._since[row] = update
        grown = len(keys) - len(reused)
        self._rtt_now.extend(rtts[len(reused) :])
        self._since.extend(repeat(update, grown))
        rows = reused + list(range(self._row_count, self._row_count + grown))
        self._row_count += grown
        self._rows.update(zip(keys, rows, strict=True))
        return rows

    def _compact(self) -> None:
        """Renumber the rows of present sockets 0..n-1 and shrink the columns (after many sockets left)."""
        old_rows = list(self._rows.values())
        new_row = {old: new for new, old in enumerate(old_rows)}
        self._rows = dict(zip(self._rows, range(len(old_rows)), strict=True))
        self._since = array("q", [self._since[row] for row in old_rows])
        self._rtt_now = _shrunk(self._rtt_now, old_rows)

        def renumbered(column: _Column) -> _Column:
            if isinstance(column, array):
                return _shrunk(column, old_rows)
            if column is None:
                return None
            return {new_row[row]: value for row, value in column.items() if row in new_row}

        self._columns = deque(
            (update, renumbered(rtt_ms), renumbered(total_bps)) for update, rtt_ms, total_bps in self._columns
        )
        self._free_rows = []
        self._row_count = len(self._rows)

    def series(self, key: SocketKey, which: int) -> list[float]:
        """Samples of column ``which`` (1: rtt ms, 2: bytes/s) for ``key``, oldest first."""
        if self._deferred is not None:  # the first update alone: its one rtt sample, read without giving rows
            sock = self._deferred.current.sockets.get(key)
            info = None if sock is None else sock.tcp_info
            return list(array("f", [info.rtt / 1000.0])) if which == 1 and info is not None else []
        row = self._rows.get(key)
        if row is None:
            return []
        since = self._since[row]
        samples = []
        rtt = math.nan
        for column in self._columns:
            values = column[which]
            if which == 1:
                if isinstance(values, array):
                    rtt = values[row] if row < len(values) else math.nan
                else:
                    rtt = values.get(row, rtt)
                value = rtt
            elif values is None:
                value = math.nan
            elif isinstance(values, array):
                value = values[row] if row < len(values) else 0.0
            else:
                value = values.get(row, 0.0)
            if column[0] >= since and value == value:  # not NaN
                samples.append(value)
        return samples


def _shrunk(column: array, rows: list[int]) -> array:
    size = len(column)
    return array("f", [column[row] if row < size else math.nan for row in rows])


class History:
    """Feeds on successive snapshots and remembers what the UI needs to show change over time.

    ``linger``: seconds a closed socket stays visible; ``highlight``: seconds a socket stays "new" or
    "changed"; ``samples``: length of the rtt/throughput series; the event log keeps at most ``max_events``
    events and none older than ``event_seconds``.
    Not thread-safe: use it from one thread at a time.
    """

    def __init__(self, linger: float = 5.0, highlight: float = 3.0, samples: int = 60,
                 max_events: int = MAX_EVENTS, event_seconds: float = EVENT_SECONDS):
        self.linger = linger
        self.highlight = highlight
        self.event_seconds = event_seconds
        self._events: deque[Event] = deque(maxlen=max_events)
        self._previous: Snapshot | None = None
        self.started_at = math.inf
        """Wall-clock time of the first snapshot (sockets first seen then were there before: their age is
        unknown)."""
        self._first_seen: dict[SocketKey, float] = {}
        """Wall-clock time of the snapshot in which each present socket was first seen."""
        self._first_seen_times: Mapping[SocketKey, float] | None = None
        """:meth:`first_seen_times` as of the last change (shared by the frames until sockets come or go)."""
        self.proto_counts: Counter[str] = Counter()
        """Present sockets per protocol (kept up to date from the diffs, not recounted)."""
        self.tcp_state_counts: Counter[str] = Counter()
        """Present TCP sockets per state."""
        self._opened_at: dict[SocketKey, float] = {}
        """Sockets opened less than ``highlight`` s ago (not those of the first snapshot), oldest first."""
        self._changed_at: dict[SocketKey, float] = {}
        """Sockets whose state changed less than ``highlight`` s ago, oldest first."""
        self._closed: dict[SocketKey, _Closed] = {}
        """Lingering closed sockets, oldest first."""
        self._series = _SeriesStore(samples)
        self._totals: dict[int, ProcessTotal] = {}
        """Per pid, what it moved since netwatch started (a process gone for ``event_seconds`` is forgotten)."""
        self._totals_seen: dict[int, float] = {}

    def update(self, snapshot: Snapshot) -> SnapshotDiff:
        """Diff ``snapshot`` against the previous one and record what changed.

        Only ``snapshot`` is kept for the next diff (which holds the records of the sockets that closed), so a
        live view holds one snapshot, not two (at 100,000 sockets that is ~140 MB), while the next one is
        collected."""
        previous = self._previous
        change = diff(previous, snapshot)
        now = snapshot.monotonic
        if previous is None:
            self.started_at = snapshot.taken_at
            self._first_seen = dict.fromkeys(snapshot.sockets, snapshot.taken_at)
            self.proto_counts = Counter(sock.proto for sock in snapshot.sockets.values())
            self.tcp_state_counts = Counter(sock.state for sock in snapshot.sockets.values() if sock.proto == "tcp")
        else:
            self._record_changes(change, snapshot.taken_at, now, previous.processes)
            self._count_changes(change)
            self._add_totals(change)
        if self._expire(now) or previous is None or change.opened or change.closed:
            self._first_seen_times = None
        self._series.record(change)
        self._previous = snapshot
        return change

    def _record_changes(self, change: SnapshotDiff, taken_at: float, now: float,
                        old_processes: Mapping[int, Process]) -> None:
        first_seen, opened_at, changed_at, closed = self._first_seen, self._opened_at, self._changed_at, self._closed
        for key, sock in change.closed.items():
            opened_at.pop(key, None)
            changed_at.pop(key, None)
            closed[key] = _Closed(sock, now, first_seen.pop(key, taken_at))
        for key in change.opened:
            first_seen[key] = taken_at
            opened_at[key] = now
            closed.pop(key, None)
        for key in change.state_changed:
            changed_at.pop(key, None)  # re-insert: keep the dict ordered by time
            changed_at[key] = now
        self._log_events(change, taken_at, now, old_processes)

    def _count_changes(self, change: SnapshotDiff) -> None:
        protos, states = self.proto_counts, self.tcp_state_counts
        for sock in change.closed.values():
            protos[sock.proto] -= 1
            if sock.proto == "tcp":
                states[sock.state] -= 1
        sockets = change.current.sockets
        for key in change.opened:
            sock = sockets[key]
            protos[sock.proto] += 1
            if sock.proto == "tcp":
                states[sock.state] += 1
        for key, (old, new) in change.state_changed.items():
            if sockets[key].proto == "tcp":
                states[old] -= 1
                states[new] += 1
        for counts in (protos, states):
            for name in [name for name, count in counts.items() if count <= 0]:
                del counts[name]

    def _log_events(self, change: SnapshotDiff, at: float, now: float, old_processes: Mapping[int, Process]) -> None:
        sockets, processes = change.current.sockets, change.current.processes
        changes: Iterator[tuple[str, Socket, str | None, Mapping[int, Process]]] = chain(
            (("opened", sockets[key], None, processes) for key in change.opened),
            (("state", sockets[key], old, processes) for key, (old, _new) in change.state_changed.items()),
            (("closed", sock, None, old_processes) for sock in change.closed.values()),
        )
        count = len(change.opened) + len(change.state_changed) + len(change.closed)
        skipped = max(0, count - (self._events.maxlen or 0))  # those would fall out of the log anyway
        self._events.extend(
            Event(at, kind, _event_record(sock), old, _owning(sock, owners), now)
            for kind, sock, old, owners in islice(changes, skipped, None)
        )
        self._events.extend(
            Event(short.closed_at, "short-lived", _event_record(short.socket), None,
                  {pid: processes[pid] for pid in short.owners if pid in processes}, now,
                  _moved(short.socket), change.elapsed)
            for short in change.short_lived[-(self._events.maxlen or 0):]
        )  # fmt: skip

    def _add_totals(self, change: SnapshotDiff) -> None:
        """Add what moved between the two snapshots to the processes' totals."""
        totals, elapsed, sockets = self._totals, change.elapsed, change.current.sockets
        for pid, rate in change.process_rates.items():
            if rate is not ZERO_RATES:
                total = totals.get(pid) or totals.setdefault(pid, ProcessTotal())
                total.sent += rate.send_bps * elapsed
                total.received += rate.recv_bps * elapsed
                total.retransmitted += rate.retrans_ps * elapsed
        counted = ((sockets[key], "opened") for key in change.opened)
        for sock, what in chain(counted, ((sock, "closed") for sock in change.closed.values())):
            if sock.proto == "tcp" and sock.state != "LISTEN":
                for pid in owner_pids(sock):
                    total = totals.get(pid) or totals.setdefault(pid, ProcessTotal())
                    setattr(total, what, getattr(total, what) + 1)
        for short in change.short_lived:
            for pid in short.owners:
                total = totals.get(pid) or totals.setdefault(pid, ProcessTotal())
                total.opened += 1
                total.closed += 1
                total.short_lived += 1
        now, seen = change.current.monotonic, self._totals_seen
        for pid in change.current.processes:
            seen[pid] = now
        for pid in [pid for pid, at in seen.items() if now - at > self.event_seconds]:
            del seen[pid]
            totals.pop(pid, None)

    def process_totals(self) -> dict[int, ProcessTotal]:
        """Per pid, what it moved since netwatch started (its closed sockets included): copies, as of now."""
        return {pid: replace(total) for pid, total in self._totals.items()}

    def _expire(self, now: float) -> bool:
        """Forget what is older than the linger and highlight times and the event log's span; returns whether a
        closed socket left."""
        events = self._events
        while events and now - events[0].monotonic > self.event_seconds:
            events.popleft()
        closed = self._closed
        lingering = len(closed)
        while closed:
            key = next(iter(closed))
            if now - closed[key].closed_at < self.linger:
                break
            del closed[key]
        for since in (self._opened_at, self._changed_at):
            while since:
                key = next(iter(since))
                if now - since[key] < self.highlight:
                    break
                del since[key]
        return len(closed) != lingering

    def first_seen(self, key: SocketKey) -> float | None:
        """Wall-clock time of the snapshot in which the socket (present or lingering) was first seen."""
        seen = self._first_seen.get(key)
        if seen is None:
            gone = self._closed.get(key)
            seen = gone.first_seen if gone is not None else None
        return seen

    def first_seen_times(self) -> Mapping[SocketKey, float]:
        """:meth:`first_seen` of every present and lingering socket, read-only: a copy (at C speed) made when
        sockets came or went, else the same one as last time (at 100,000 sockets each copy is ~5 MB)."""
        if self._first_seen_times is None:
            times = self._first_seen.copy()
            for key, gone in self._closed.items():
                times[key] = gone.first_seen
            self._first_seen_times = MappingProxyType(times)
        return self._first_seen_times

    def status(self, key: SocketKey) -> str | None:
        """``"closed"`` while lingering, ``"changed"`` / ``"new"`` within ``highlight`` s, else None.

        Sockets of the very first snapshot are never "new"; a state change is more recent than the
        socket's opening, so "changed" wins over "new".
        """
        if key in self._closed:
            return "closed"
        if key in self._changed_at:
            return "changed"
        if key in self._opened_at:
            return "new"
        return None

    def statuses(self) -> dict[SocketKey, str]:
        """:meth:`status` of every socket that has one (cheap: only changed sockets are visited)."""
        result = dict.fromkeys(self._opened_at, "new")
        result.update(dict.fromkeys(self._changed_at, "changed"))
        result.update(dict.fromkeys(self._closed, "closed"))
        return result

    def lingering(self) -> Mapping[SocketKey, Socket]:
        """Closed sockets still to be shown, by key (their last records)."""
        return {key: gone.socket for key, gone in self._closed.items()}

    @property
    def events(self) -> Sequence[Event]:
        """The event log, newest last, at most ``max_events`` long and ``event_seconds`` old."""
        return self._events

    def rtt_series(self, key: SocketKey) -> list[float]:
        """Recent smoothed RTT samples of a present socket, in ms, oldest first."""
        return self._series.series(key, 1)

    def throughput_series(self, key: SocketKey) -> list[float]:
        """Recent send+receive rates of a present socket, in bytes/s, oldest first."""
        return self._series.series(key, 2)
