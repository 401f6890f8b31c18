"""The refresh pipeline, outside Textual: snapshot -> history -> frame -> rows, and its memory policy.

The app only asks and renders: a worker thread calls :meth:`Refresher.refresh` (or :meth:`Refresher.rows` when
the view, filter or sort changed) and posts the result to the UI thread. Everything that decides what stays in
memory lives here: the history (bounded by time and socket count), which frames are held and by whom
(:class:`FrameHolds`: the app's current frame, a table's rows, a running worker; a frame nobody holds is freed
on the collector thread), when the garbage collector runs (:class:`GcPolicy`), and the C heap's free memory going
back to the system (:func:`trim_heap`).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, replace
from functools import partial

from netwatch.backends.filter import SocketFilter, pid_filter
from netwatch.backends.history.tracker import Event, History
from netwatch.backends.model.records import Socket
from netwatch.tui.view.disposal import FrameHolds
from netwatch.tui.view.events import accepted_events
from netwatch.tui.view.frame import Frame, frame_from
from netwatch.tui.view.gc_policy import GcPolicy
from netwatch.tui.view.heap import trim_heap
from netwatch.tui.view.namespaces import namespace_rows, sockets_of_namespace
from netwatch.tui.view.remotes import remote_rows, sockets_of_host
from netwatch.tui.view.resolve import HostResolver
from netwatch.tui.view.rows import RowBuilder, SocketPredicate
from netwatch.tui.view.snapshots import SnapshotSource
from netwatch.tui.view.table_model import TableRows


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """Which rows the UI wants: the view, the filter and the pid restriction as of ``generation``."""

    generation: int
    view: str
    socket_filter: SocketFilter | None
    pid: int | None
    sort_index: int
    """The table's sort column when asked (its rows are sorted here, on a worker thread)."""
    sort_reverse: bool
    detail_keys: tuple[Hashable, ...] = ()
    """The sockets the detail panes show (the view's and each drill-down's): a light source's refresh looks them up
    again (:attr:`Refresh.details`)."""


@dataclass(frozen=True, slots=True)
class Refresh:
    """One refresh for the UI: the frame (with one hold for the receiver), the rows the request asked for and the
    events it recorded that pass the request's filter."""

    frame: Frame
    rows: TableRows
    new_events: list[Event]
    details: tuple[Socket, ...] = ()
    """The request's ``detail_keys`` sockets with everything known about them, looked up on the refresh's thread
    right after the snapshot (its caches still warm, no thread of its own), where the source is light."""


class Refresher:
    """Takes snapshots from ``source`` and turns them into frames and table rows.

    :meth:`refresh` runs on one worker thread at a time; :meth:`rows` may run on another concurrently (it only
    reads frames). Every frame handed out is held: whoever receives it calls :meth:`release` when done.
    """

    def __init__(self, source: SnapshotSource, *, linger: float = 5.0) -> None:
        self.source = source
        self.holds = FrameHolds()
        self.gc_policy = GcPolicy()
        self._history = History(linger=linger)
        self._history_lock = threading.Lock()
        self._builder = RowBuilder()
        self._resolver: HostResolver | None = None
        self._latest: Frame | None = None
        """The newest frame, held for the history (the next diff reads its snapshot)."""

    @property
    def backend_name(self) -> str:
        return self.source.backend_name

    # ----- the pipeline (worker threads) ------------------------------------------------------------------

    def refresh(self, request: ViewRequest) -> Refresh:
        """Free what nobody holds, take a snapshot, record it in the history and build the requested rows."""
        self.holds.free_unheld()
        snapshot = self.source.snapshot()
        with self._history_lock:
            frame = frame_from(self._history, snapshot)
        self.holds.hold(frame)
        if self._latest is not None:
            self.holds.release(self._latest)
        self._latest = frame
        rows = self.rows(frame, request)
        new_events = accepted_events(frame.new_events, _socket_filter(request))
        details = self._details([snapshot.sockets[key] for key in request.detail_keys if key in snapshot.sockets])
        self.gc_policy.after_refresh(len(snapshot.sockets))
        trim_heap()
        return Refresh(self.holds.hold(frame), rows, new_events, details)

    def _details(self, sockets: list[Socket]) -> tuple[Socket, ...]:
        """``sockets`` looked up again with everything known (a light source's); none on an error (then each pane
        looks its socket up, and shows the table's record meanwhile)."""
        if not sockets or not self.source.light:
            return ()
        try:
            return tuple(self.source.details(sockets))
        except Exception:
            return ()

    def rows(self, frame: Frame, request: ViewRequest) -> TableRows:
        """The rows ``request`` asks for, sorted; they hold ``frame`` until released (call on a worker)."""
        accept = _predicate(frame, request)
        builder = self._builder
        if request.view == "processes":
            rows = builder.process_rows(frame, accept, request.pid)
        elif request.view == "remotes":
            rows = remote_rows(frame, accept, builder.host_name, builder.address_key)
        elif request.view == "namespaces":
            rows = namespace_rows(frame, accept)
        else:
            rows = self._builder.socket_rows(frame, request.view, accept)
        return self._held(frame, rows.sorted(request.sort_index, request.sort_reverse))

    @staticmethod
    def events(frame: Frame, request: ViewRequest) -> list[Event]:
        """The events of ``frame``'s log that pass the request's filter, oldest first."""
        return accepted_events(frame.events, _socket_filter(request))

    def rows_of_pid(self, frame: Frame, pid: int, socket_filter: SocketFilter | None, sort_index: int,
                    reverse: bool) -> TableRows:
        """The sockets of ``pid`` in ``frame`` that pass ``socket_filter`` (the process screen), sorted; they hold
        ``frame``."""
        rows = self._builder.rows_of_pid(frame, pid, _matching(frame, socket_filter))
        return self._held(frame, rows.sorted(sort_index, reverse))

    def rows_of_host(self, frame: Frame, address: str, socket_filter: SocketFilter | None, sort_index: int,
                     reverse: bool) -> TableRows:
        """The sockets talking to remote host ``address`` that pass ``socket_filter``, sorted; they hold
        ``frame``."""
        rows = self._builder.rows_of_sockets(frame, sockets_of_host(frame, address), _matching(frame, socket_filter))
        return self._held(frame, rows.sorted(sort_index, reverse))

    def rows_of_namespace(self, frame: Frame, inode: int, socket_filter: SocketFilter | None, sort_index: int,
                          reverse: bool) -> TableRows:
        """The sockets of the network namespace of ``inode`` that pass ``socket_filter``, sorted; they hold
        ``frame``."""
        sockets = sockets_of_namespace(frame, inode)
        rows = self._builder.rows_of_sockets(frame, sockets, _matching(frame, socket_filter))
        return self._held(frame, rows.sorted(sort_index, reverse))

    def host_name(self, address: str) -> str:
        """``address``, or its name while resolving."""
        return self._builder.host_name(address)

    def _held(self, frame: Frame, rows: TableRows) -> TableRows:
        self.holds.hold(frame)
        return replace(rows, release=partial(self.holds.release, frame))

    # ----- for the UI thread -------------------------------------------------------------------------------

    def hold(self, frame: Frame) -> Frame:
        """Count one more holder of ``frame`` (e.g. a worker about to read it)."""
        return self.holds.hold(frame)

    def release(self, frame: Frame) -> None:
        """A holder is done with ``frame``."""
        self.holds.release(frame)

    def series(self, key: Hashable) -> tuple[list[float], list[float]] | None:
        """rtt and throughput samples of ``key`` for the sparklines; None while a refresh holds the history."""
        if not self._history_lock.acquire(blocking=False):
            return None
        try:
            return self._history.rtt_series(key), self._history.throughput_series(key)
        finally:
            self._history_lock.release()

    @property
    def resolving(self) -> bool:
        """Whether rows show host and service names."""
        return self._builder.resolver is not None

    def resolve_names(self, on: bool, on_resolved) -> None:
        """Turn name resolution on or off (``on_resolved`` is called from a pool thread when a name arrives)."""
        if on and self._resolver is None:
            self._resolver = HostResolver(on_resolved=on_resolved)
        self._builder.resolver = self._resolver if on else None

    def endpoint(self, address: str, port: int, family: str, proto: str) -> str:
        """An endpoint as the tables show it (with names while resolving)."""
        return self._builder.endpoint(address, port, family, proto)

    def close(self) -> None:
        if self._resolver is not None:
            self._resolver.close()
        self.source.close()


def _socket_filter(request: ViewRequest) -> SocketFilter | None:
    """The request's filter narrowed to its pid, joined as predicates (as ``--once`` does); None: no filter."""
    socket_filter = request.socket_filter
    if request.pid is not None:
        owned = pid_filter(request.pid)
        socket_filter = owned if socket_filter is None else owned & socket_filter
    return socket_filter


def _predicate(frame: Frame, request: ViewRequest) -> SocketPredicate | None:
    """:func:`_socket_filter` as a predicate on ``frame``'s sockets; None: no filter."""
    return _matching(frame, _socket_filter(request))


def _matching(frame: Frame, socket_filter: SocketFilter | None) -> SocketPredicate | None:
    """``socket_filter`` as a predicate on ``frame``'s sockets; None: no filter."""
    if socket_filter is None:
        return None
    return partial(socket_filter.matches, processes=frame.snapshot.processes)
