"""Memory across snapshots: first-seen times, change highlights, lingering closed sockets, events, series.

Every timing decision uses the snapshots' monotonic clock (``Snapshot.monotonic``), never the current time,
so the same snapshots always give the same answers; wall-clock times (``Snapshot.taken_at``) are for display.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice

from netwatch.backends.history.diff import SnapshotDiff, diff
from netwatch.backends.model.records import Socket, SocketKey
from netwatch.backends.model.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Event:
    """A socket opened, closed or changed state."""

    at: float
    """Wall-clock time of the snapshot that showed the change."""
    kind: str
    """``"opened"``, ``"closed"`` or ``"state"``."""
    socket: Socket
    """The socket's record (for ``"closed"``: its last record)."""
    old_state: str | None
    """The state before a ``"state"`` event; None otherwise."""


@dataclass(frozen=True, slots=True)
class _Closed:
    socket: Socket
    closed_at: float
    """Monotonic time of the snapshot in which the socket was gone."""
    first_seen: float


_COMPACT_ABOVE_ROWS = 4096
"""The series store shrinks when it has at least this many rows and three quarters of them are free."""


class _SeriesStore:
    """Recent RTT and throughput samples of the present sockets that have tcp_info.

    One column (a compact float array) per update, ``depth`` columns kept. Each socket owns a row while it
    is present; a closed socket's row is freed and reused, and a row is only read from the update at which
    its current socket took it, so a socket never sees another's samples.
    """

    def __init__(self, depth: int) -> None:
        self._columns: deque[tuple[int, array, array]] = deque(maxlen=depth)
        self._rows: dict[SocketKey, int] = {}
        self._since = array("q")
        """Per row: the number of the update from which the row is its present key's."""
        self._free_rows: list[int] = []
        self._row_count = 0
        self._update = 0

    def record(self, change: SnapshotDiff) -> None:
        self._update += 1
        update = self._update
        for key in change.closed:
            freed = self._rows.pop(key, None)
            if freed is not None:
                self._free_rows.append(freed)
        if self._row_count >= _COMPACT_ABOVE_ROWS and len(self._free_rows) * 4 > self._row_count * 3:
            self._compact()
        rows, since = self._rows, self._since
        # A kept record's rtt is the one recorded last time: copy the column, then write the renewed sockets'.
        rtt_ms = array("f", self._columns[-1][1]) if self._columns else array("f", [math.nan]) * self._row_count
        total_bps = array("f", [0.0 if change.elapsed else math.nan]) * self._row_count
        sockets = change.current.sockets
        for key in change.renewed:
            info = sockets[key].tcp_info
            if info is None:
                continue
            row = rows.get(key)
            if row is None:
                row = rows[key] = self._take_row(rtt_ms, total_bps)
                since[row] = update
            rtt_ms[row] = info.rtt / 1000.0
        for key, rate in change.rates.items():
            row = rows.get(key)
            if row is not None:
                total_bps[row] = rate.send_bps + rate.recv_bps
        self._columns.append((update, rtt_ms, total_bps))

    def _take_row(self, *columns: array) -> int:
        if self._free_rows:
            return self._free_rows.pop()
        for column in columns:
            column.append(math.nan)
        self._since.append(0)
        self._row_count += 1
        return self._row_count - 1

    def _compact(self) -> None:
        """Renumber the rows of present sockets 0..n-1 and shrink the columns (after many sockets left)."""
        old_rows = list(self._rows.values())
        self._rows = {key: new_row for new_row, key in enumerate(self._rows)}
        self._since = array("q", [self._since[row] for row in old_rows])

        def shrunk(column: array) -> array:
            size = len(column)
            return array("f", [column[row] if row < size else math.nan for row in old_rows])

        self._columns = deque(
            ((update, shrunk(rtt_ms), shrunk(total_bps)) for update, rtt_ms, total_bps in self._columns),
            maxlen=self._columns.maxlen,
        )
        self._free_rows = []
        self._row_count = len(self._rows)

    def series(self, key: SocketKey, which: int) -> list[float]:
        """Samples of column ``which`` (1: rtt ms, 2: bytes/s) for ``key``, oldest first."""
        row = self._rows.get(key)
        if row is None:
            return []
        since = self._since[row]
        samples = []
        for column in self._columns:
            if column[0] >= since:
                value = column[which][row]
                if value == value:  # not NaN
                    samples.append(value)
        return samples


class History:
    """Feeds on successive snapshots and remembers what the UI needs to show change over time.

    ``linger``: seconds a closed socket stays visible; ``highlight``: seconds a socket stays "new" or
    "changed"; ``samples``: length of the rtt/throughput series; ``max_events``: length of the event log.
    Not thread-safe: use it from one thread at a time.
    """

    def __init__(self, linger: float = 5.0, highlight: float = 3.0, samples: int = 60, max_events: int = 500):
        self.linger = linger
        self.highlight = highlight
        self._events: deque[Event] = deque(maxlen=max_events)
        self._previous: Snapshot | None = None
        self._first_seen: dict[SocketKey, float] = {}
        """Wall-clock time of the snapshot in which each present socket was first seen."""
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

    def update(self, snapshot: Snapshot) -> SnapshotDiff:
        """Diff ``snapshot`` against the previous one and record what changed.

        Only ``snapshot`` is kept for the next diff (which holds the records of the sockets that closed), so a
        live view holds one snapshot, not two (at 100,000 sockets that is ~140 MB), while the next one is
        collected."""
        previous = self._previous
        change = diff(previous, snapshot)
        now = snapshot.monotonic
        if previous is None:
            self._first_seen = dict.fromkeys(snapshot.sockets, snapshot.taken_at)
            self.proto_counts = Counter(sock.proto for sock in snapshot.sockets.values())
            self.tcp_state_counts = Counter(sock.state for sock in snapshot.sockets.values() if sock.proto == "tcp")
        else:
            self._record_changes(change, snapshot.taken_at, now)
            self._count_changes(change)
        self._expire(now)
        self._series.record(change)
        self._previous = snapshot
        return change

    def _record_changes(self, change: SnapshotDiff, taken_at: float, now: float) -> None:
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
        self._log_events(change, taken_at)

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

    def _log_events(self, change: SnapshotDiff, at: float) -> None:
        sockets = change.current.sockets
        changes: Iterator[tuple[str, Socket, str | None]] = chain(
            (("opened", sockets[key], None) for key in change.opened),
            (("state", sockets[key], old) for key, (old, _new) in change.state_changed.items()),
            (("closed", sock, None) for sock in change.closed.values()),
        )
        count = len(change.opened) + len(change.state_changed) + len(change.closed)
        skipped = max(0, count - (self._events.maxlen or 0))  # those would fall out of the log anyway
        self._events.extend(Event(at, kind, sock, old) for kind, sock, old in islice(changes, skipped, None))

    def _expire(self, now: float) -> None:
        closed = self._closed
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

    def first_seen(self, key: SocketKey) -> float | None:
        """Wall-clock time of the snapshot in which the socket (present or lingering) was first seen."""
        seen = self._first_seen.get(key)
        if seen is None:
            gone = self._closed.get(key)
            seen = gone.first_seen if gone is not None else None
        return seen

    def first_seen_times(self) -> dict[SocketKey, float]:
        """:meth:`first_seen` of every present and lingering socket, as a new dict (a copy at C speed)."""
        times = self._first_seen.copy()
        for key, gone in self._closed.items():
            times[key] = gone.first_seen
        return times

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
        """The event log, newest last, at most ``max_events`` long."""
        return self._events

    def rtt_series(self, key: SocketKey) -> list[float]:
        """Recent smoothed RTT samples of a present socket, in ms, oldest first."""
        return self._series.series(key, 1)

    def throughput_series(self, key: SocketKey) -> list[float]:
        """Recent send+receive rates of a present socket, in bytes/s, oldest first."""
        return self._series.series(key, 2)
