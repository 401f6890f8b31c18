"""One refresh as the UI sees it: a snapshot plus what the history says about it, immutable.

A :class:`Frame` is built on the collector worker thread (where :class:`History` is updated), so the UI thread
never reads the history while it is being changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from netwatch.backends.history.diff import ZERO_RATES, Rates, SnapshotDiff
from netwatch.backends.history.tracker import Event, History, ProcessTotal
from netwatch.backends.model.records import Socket, SocketKey, owner_pids
from netwatch.backends.model.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything the UI shows for one refresh."""

    snapshot: Snapshot
    diff: SnapshotDiff
    sockets: Mapping[SocketKey, Socket]
    """Current sockets plus the closed ones still lingering on screen."""
    statuses: Mapping[SocketKey, str]
    """"new" / "changed" / "closed" for the sockets that have one."""
    first_seen: Mapping[SocketKey, float]
    started_at: float
    """Wall-clock time of the history's first snapshot: a socket first seen then may be older (its age is
    "at least")."""
    events: tuple[Event, ...]
    """The whole event log at this refresh (oldest first)."""
    new_events: tuple[Event, ...]
    """Events recorded by this refresh (oldest first)."""
    proto_counts: Mapping[str, int]
    """Current sockets per protocol."""
    tcp_state_counts: Mapping[str, int]
    """Current TCP sockets per state."""
    process_totals: Mapping[int, ProcessTotal] = field(default_factory=dict)
    """Per pid, what it moved since netwatch started, closed and short-lived connections included."""
    _by_pid: dict[int, list[Socket]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def sockets_by_pid(self) -> Mapping[int, Sequence[Socket]]:
        """The :attr:`sockets` of each owning pid, grouped on first use (a process view or the detail pane of a
        process asks; most refreshes never do)."""
        by_pid = self._by_pid
        if not by_pid and self.sockets:
            by_pid.update(_sockets_by_pid(self.sockets))
        return by_pid

    @property
    def now(self) -> float:
        """Wall-clock time of the snapshot (ages are measured against it)."""
        return self.snapshot.taken_at

    def rates(self, key: SocketKey) -> Rates:
        return self.diff.rates.get(key, ZERO_RATES)


def frame_from(history: History, snapshot: Snapshot) -> Frame:
    """Feed ``snapshot`` to ``history`` and capture the result (call with the history's lock held)."""
    last_event = history.events[-1] if history.events else None
    diff = history.update(snapshot)
    lingering = history.lingering()
    sockets: Mapping[SocketKey, Socket] = (
        {**lingering, **snapshot.sockets} if lingering else snapshot.sockets
    )
    return Frame(
        snapshot=snapshot,
        diff=diff,
        sockets=sockets,
        statuses=history.statuses(),
        first_seen=history.first_seen_times(),
        started_at=history.started_at,
        events=tuple(history.events),
        new_events=_events_after(history.events, last_event),
        proto_counts=dict(history.proto_counts),
        tcp_state_counts=dict(history.tcp_state_counts),
        process_totals=history.process_totals(),
    )


def _sockets_by_pid(sockets: Mapping[SocketKey, Socket]) -> dict[int, list[Socket]]:
    by_pid: dict[int, list[Socket]] = {}
    for sock in sockets.values():
        if not sock.owners:
            continue
        for pid in owner_pids(sock):
            group = by_pid.get(pid)
            if group is None:
                by_pid[pid] = [sock]
            else:
                group.append(sock)
    return by_pid


def _events_after(events: Sequence[Event], last_seen: Event | None) -> tuple[Event, ...]:
    """The events appended after ``last_seen`` (by identity; ``events`` is newest-last and bounded)."""
    fresh: list[Event] = []
    for event in reversed(events):
        if event is last_seen:
            break
        fresh.append(event)
    fresh.reverse()
    return tuple(fresh)
