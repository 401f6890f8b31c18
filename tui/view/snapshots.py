"""Where the app's snapshots come from: the live collector, or a recorded sequence (tests, screenshots)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, TypeVar

from netwatch.backends.model.records import Socket
from netwatch.backends.model.snapshot import Snapshot

if TYPE_CHECKING:
    from netwatch.backends.collector import Collector
    from netwatch.backends.model.namespaces import Selection

T = TypeVar("T")


class SnapshotSource(Protocol):
    """Something the app can ask for the next snapshot (from a worker thread, never the UI thread)."""

    @property
    def backend_name(self) -> str:
        """The backend in use (or requested), for the header."""
        ...

    @property
    def light(self) -> bool:
        """Whether snapshots leave out sock_diag extensions the tables do not show (memory, congestion, BBR...),
        which :meth:`details` then reads."""
        ...

    def snapshot(self) -> Snapshot:
        """Take the next snapshot (may block for as long as collection takes)."""
        ...

    def details(self, sockets: Sequence[Socket]) -> list[Socket]:
        """``sockets`` (of the snapshots handed out) with everything known about them, in order (may block)."""
        ...

    def close(self) -> None:
        """Release resources; called once when the app exits."""
        ...


class LiveSource:
    """Snapshots of this machine from :class:`netwatch.backends.collector.Collector`.

    The collector (and its netlink sockets) is used on ONE dedicated thread, whichever thread calls
    :meth:`snapshot`: collection never runs inside the app's asyncio loop, and its state (netlink socket, owner
    cache) never hops between threads. The app runs its refreshes on that thread too (:attr:`executor`), so that a
    refresh takes its snapshot without waiting on another thread.
    """

    light = True
    """The tables' snapshots are light (see ``Collector``): the detail pane and a save ask for the rest."""

    def __init__(self, backend: str = "auto", netns: Selection | None = None) -> None:
        self.requested = backend
        self._netns = netns
        self._collector = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-refresh",
                                          initializer=self._note_thread)
        self._thread_id: int | None = None
        self._first: Future[Snapshot] | None = None

    def begin(self) -> None:
        """Take the first snapshot now, in the background, so that it overlaps with the app's start (the first
        :meth:`snapshot` returns it). Call it before the process starts other threads: the owners' cold scan is then
        forked off, which a threaded process cannot do (see ``OwnerResolver.prefetch``)."""
        self._collector = self._new_collector()
        self._collector.prefetch_owners()
        self._first = self._thread.submit(self._collect)

    @property
    def backend_name(self) -> str:
        return self._collector.backend_name if self._collector is not None else self.requested

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The collector's thread, for work that takes snapshots (a hop between two threads cost an idle refresh
        ~0.4 ms: both woke, cold)."""
        return self._thread

    def snapshot(self) -> Snapshot:
        first, self._first = self._first, None
        return first.result() if first is not None else self._on_thread(self._collect)

    def _note_thread(self) -> None:
        self._thread_id = threading.get_ident()

    def _on_thread(self, call: Callable[..., T], *args: object) -> T:
        """``call(*args)`` on the collector's thread: directly when already on it."""
        if threading.get_ident() == self._thread_id:
            return call(*args)
        return self._thread.submit(call, *args).result()

    def _new_collector(self) -> Collector:
        from netwatch.backends.collector import Collector

        return Collector(self.requested, live=True, light=True, netns=self._netns)

    def details(self, sockets: Sequence[Socket]) -> list[Socket]:
        """On the collector's thread, like a snapshot (after the one in progress, if any)."""
        return self._on_thread(self._details, sockets)

    def _details(self, sockets: Sequence[Socket]) -> list[Socket]:
        return self._collector.details(sockets) if self._collector is not None else list(sockets)

    def _collect(self) -> Snapshot:
        if self._collector is None:
            self._collector = self._new_collector()
        return self._collector.snapshot()

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        if self._collector is not None:  # its close-event reader (thread-safe to stop)
            self._collector.close()


class ReplaySource:
    """Recorded snapshots, returned in order; after the last one it keeps returning the last one.

    ``snapshot()`` is deterministic, so tests and screenshots can step through a scenario.
    """

    def __init__(self, snapshots: Sequence[Snapshot], backend_name: str = "replay") -> None:
        if not snapshots:
            raise ValueError("ReplaySource needs at least one snapshot")
        self._snapshots = list(snapshots)
        self._next = 0
        self._lock = threading.Lock()
        self._backend_name = backend_name

    @property
    def backend_name(self) -> str:
        return self._backend_name

    light = False
    """A recording holds what it recorded."""

    def details(self, sockets: Sequence[Socket]) -> list[Socket]:
        return list(sockets)

    @property
    def position(self) -> int:
        """How many snapshots have been handed out (capped at the number recorded)."""
        return self._next

    def snapshot(self) -> Snapshot:
        with self._lock:
            index = min(self._next, len(self._snapshots) - 1)
            self._next = min(self._next + 1, len(self._snapshots))
            return self._snapshots[index]

    def seek(self, index: int) -> Snapshot:
        """Make snapshot ``index`` (clamped to the recording) the next one handed out; returns it."""
        with self._lock:
            self._next = max(0, min(index, len(self._snapshots) - 1))
            return self._snapshots[self._next]

    def index_at(self, seconds: float) -> int:
        """The index of the last snapshot taken at most ``seconds`` after the first."""
        start = self._snapshots[0].taken_at
        return max(0, sum(1 for snapshot in self._snapshots if snapshot.taken_at - start <= seconds + 1e-6) - 1)

    @property
    def shown(self) -> int:
        """The index of the snapshot handed out last."""
        return max(0, self._next - 1)

    def close(self) -> None:
        """Nothing to release."""
