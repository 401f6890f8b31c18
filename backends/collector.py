"""Choose a backend, take snapshots with it, and attach owners: the one entry point of the data layer.

Sources return socket records without owners; the collector alone attaches them, as the last step of building
the records and before it publishes the snapshot: from the source's result where the source reports them
(psutil), else from /proc through the :class:`~netwatch.backends.owners.resolver.OwnerResolver`. The procfs
source asks the collector which inodes processes hold as Unix sockets, to tell forged ``/proc/net/unix`` lines
from sockets: that looks the owners up during the dump, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence, Set
from dataclasses import replace
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

from netwatch.backends.model.records import BY_INODE, Owner, Process, Socket, SocketKey, attach_owners
from netwatch.backends.model.snapshot import OwnerVisibility, Snapshot
from netwatch.backends.model.source_result import BackendUnavailable, CloseEventFeed, SocketSource, SourceResult
from netwatch.backends.owners.proc_mount import hiding_hidepid
from netwatch.backends.owners.resolver import OwnerResolver
from netwatch.backends.owners.unix_sockets import UnixSockets
from netwatch.backends.sources.netns import NamespaceUnavailable

if TYPE_CHECKING:
    from netwatch.backends.model.namespaces import Selection
    from netwatch.backends.process_events import EventReader, ProcessEvents
    from netwatch.backends.sources.procfs_parse import UnixCheck, UnixVerifier

BACKEND_NAMES = ("auto", "netlink", "procfs", "psutil")
T = TypeVar("T")
__all__ = ["BACKEND_NAMES", "Collector", "NamespaceUnavailable", "implementation", "inside_namespace",
           "snapshot_warnings", "visibility_warning"]


def _netlink(
    _verify_unix: UnixVerifier, live: bool, light: bool, netns: Selection | None, events: EventReader | None
) -> SocketSource:
    from netwatch.backends.sources.netlink import NetlinkSource, inet

    extensions = inet.TABLE_EXTENSIONS if light else inet.ALL_EXTENSIONS
    return NetlinkSource(reuse_records=live, netns=netns, extensions=extensions, process_events=events)


def _procfs(
    verify_unix: UnixVerifier, _live: bool, _light: bool, netns: Selection | None, _events: EventReader | None
) -> SocketSource:
    from netwatch.backends.model.namespaces import Selection
    from netwatch.backends.sources.procfs import ProcfsSource

    return ProcfsSource(verify_unix=verify_unix, namespaces=netns or Selection())


def _psutil(
    _verify_unix: UnixVerifier, _live: bool, _light: bool, _netns: Selection | None, _events: EventReader | None
) -> SocketSource:
    from netwatch.backends.sources.psutil_source import PsutilSource

    return PsutilSource()


_FACTORIES: dict[str, Callable[[UnixVerifier, bool, bool, Selection | None, EventReader | None], SocketSource]] = {
    "netlink": _netlink,
    "procfs": _procfs,
    "psutil": _psutil,
}
_AUTO_ORDER = ("netlink", "procfs", "psutil")
_KEY = attrgetter("key")
PRESSURE_EVERY = 10.0
"""Seconds a live collector keeps its ephemeral-port warning: one destination's share of the port range moves
slowly, and counting it walks every socket (~11 ms of a refresh at 20,000 sockets)."""


class Collector:
    """Takes :class:`Snapshot`s from one backend; ``backend="auto"`` picks netlink, then procfs, then psutil.

    Use a collector from one plain thread (it may be created on another): the netlink backend must not run inside
    an asyncio loop.
    """

    def __init__(
        self, backend: str = "auto", *, live: bool = False, light: bool = False, netns: Selection | None = None
    ) -> None:
        """``live``: snapshots follow each other (a live view), so the source may keep the records of sockets that
        did not change from one snapshot to the next; a one-off snapshot decodes everything once. ``light``: the
        snapshots are for tables, which show tcp_info but not the other sock_diag extensions (memory,
        congestion, BBR...): netlink leaves those out of its dumps, and :meth:`details` reads them for the few
        sockets that need them. ``netns``: the network namespaces to list (default: every one; only netlink
        lists others than netwatch's own)."""
        if backend not in BACKEND_NAMES:
            raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKEND_NAMES)})")
        self.requested = backend
        self._live = live
        self._light = light
        self._netns = netns
        self._last: dict[SocketKey, Socket] | None = None
        """The last snapshot's sockets, for a live collector's source to keep the unchanged ones' records."""
        self._last_monotonic: float | None = None
        """The last snapshot's ``monotonic`` (its id for the next one's ``Snapshot.base``)."""
        self._source: SocketSource | None = None
        self._reason = ""
        self._notes: list[str] = []
        self._failed: set[str] = set()
        self._owners: OwnerResolver | None = None
        self._process_events: ProcessEvents | None = None
        self._events_tried = not live
        """Whether :meth:`_event_reader` subscribed already, or will not (a one-off collector reads no events)."""
        self._owners_found: tuple[dict[int, tuple[Owner, ...]], dict[int, Process]] | None = None
        """The owners, and their processes, looked up while the source checked its Unix sockets
        (:meth:`_verify_unix`, once per namespace), if it did."""
        self._unix_sockets = UnixSockets()
        self._pressure: str | None = None
        self._pressure_due = 0.0

    def prefetch_owners(self) -> None:
        """Start the owners' cold /proc scan now, unless the backend reports owners itself (psutil): it is forked
        off, so call this while the process has no other thread (see :meth:`OwnerResolver.prefetch`)."""
        if self.requested != "psutil":
            self._resolver().prefetch()

    @property
    def backend_name(self) -> str:
        """The backend in use (after the first snapshot), else the one requested."""
        return self._source.name if self._source else self.requested

    def snapshot(self) -> Snapshot:
        """Read every socket now, with owners and processes."""
        started = time.monotonic()
        taken_at = time.time()
        self._owners_found = None
        result = self._collect()
        by_key, processes, visibility, renewed = self._attach_owners(result)
        base = self._last_monotonic if self._last is not None and renewed is not None else None
        if self._live:
            self._last = by_key
            self._last_monotonic = started
        warnings = filter(None, [visibility_warning(visibility), self._pressure_warning(by_key.values(), started)])
        return Snapshot(
            taken_at=taken_at,
            monotonic=started,
            backend=self.backend_name,
            backend_reason=self._reason,
            sockets=by_key,
            processes=processes,
            warnings=(*self._notes, *result.warnings, *warnings),
            visibility=visibility,
            duration=time.monotonic() - started,
            namespaces={namespace.inode: namespace for namespace in result.namespaces},
            closes=result.closes,
            closes_lost=result.closes_lost,
            base=base,
            renewed=renewed,
        )

    def details(self, sockets: Sequence[Socket]) -> list[Socket]:
        """``sockets`` (records of this collector's snapshots) with every sock_diag extension, in order: a light
        collector's netlink sockets looked up again (with the same owners); any other socket as it is (also one
        gone meanwhile)."""
        from netwatch.backends.sources.netlink import NetlinkSource

        if not self._light or not isinstance(self._source, NetlinkSource):
            return list(sockets)
        found = self._source.details(sockets)
        return [replace(found[sock.key], owners=sock.owners) if sock.key in found else sock for sock in sockets]

    @property
    def close_events(self) -> CloseEventFeed | None:
        """The live netlink source's subscription to close events, once its first snapshot made it."""
        return self._source.close_events if self._source is not None else None

    def close(self) -> None:
        """Stop reading close and process events and let go of the source's sockets (from any thread)."""
        if self._source is not None:
            self._source.close()
        if self._process_events is not None:
            self._process_events.close()

    def _pressure_warning(self, sockets: Collection[Socket], now: float) -> str | None:
        """The ephemeral-port warning (see the port inspector); a live collector counts at most every
        :data:`PRESSURE_EVERY` seconds."""
        if not self._live or now >= self._pressure_due:
            from netwatch.backends.actions.pressure import pressure_warning

            self._pressure = pressure_warning(sockets)
            self._pressure_due = now + PRESSURE_EVERY
        return self._pressure

    def _collect(self) -> SourceResult:
        while True:
            source = self._source or self._select()
            if not source.reports_owners:  # its owners come from /proc: start the resolver's cold scan now
                self._resolver().prefetch()
            try:
                result = source.collect(self._last)
            except BackendUnavailable as error:
                if self.requested != "auto" or source.name == _AUTO_ORDER[-1]:
                    raise
                self._fall_back(source.name, str(error))
                continue
            if not source.reports_owners:  # the dump is done: a one-off snapshot's safety net can list now
                self._resolver().prefetch_listing()
            return result

    def _attach_owners(
        self, result: SourceResult
    ) -> tuple[dict[SocketKey, Socket], dict[int, Process], OwnerVisibility, frozenset[SocketKey] | None]:
        """Attach the owners to the result's records (the last step of building them; kept records are replaced by
        copies where their owners changed), from the source where it reports them, else from /proc by inode; returns
        the records, the owning processes, what could not be seen, and the keys of the records that are not the
        previous snapshot's (``Snapshot.renewed``; None: unknown)."""
        known = result.known_owners
        sockets = result.sockets
        if known is not None:
            attach_owners(sockets, known.by_key, _KEY, result.observed_at)
            visibility = known.visibility
            if visibility.hidden_sockets:  # psutil reads /proc too, where there is one
                visibility = replace(visibility, hidepid=hiding_hidepid())
            return sockets, known.processes, visibility, None
        resolver = self._resolver()
        looked_up, self._owners_found = self._owners_found, None
        if looked_up is not None:  # by the Unix check: every record is looked at
            owners, processes = looked_up
            ownerless = attach_owners(sockets, owners, BY_INODE, result.observed_at)
            return sockets, processes, resolver.visibility(ownerless), None
        inodes = frozenset(filter(None, map(BY_INODE, sockets.values())))  # not None or 0; the set owners_of keeps
        owners = resolver.owners_of(inodes)
        renewed = _attach_found(result, inodes, owners, resolver.changed)
        return sockets, resolver.processes(), resolver.visibility(len(inodes) - len(owners)), renewed

    def _verify_unix(self, inodes: Set[int]) -> UnixCheck:
        """The procfs source's check of the Unix socket lines that may be forged: whether a process holds an inode
        as a Unix socket. Looks up the owners of every inode listed, as this snapshot needs anyway: they are kept
        for :meth:`_attach_owners` (over every namespace the source reads, one call each)."""
        resolver = self._resolver()
        found = resolver.owners_of(inodes)
        if self._owners_found is None:
            self._owners_found = found, resolver.processes()
        else:  # another namespace's: the processes of every call, not the last one's alone
            owners, processes = self._owners_found
            self._owners_found = {**owners, **found}, {**processes, **resolver.processes()}
        return self._unix_sockets.check(resolver.proc_root, found)

    def _select(self) -> SocketSource:
        if self.requested != "auto":
            self._source = _FACTORIES[self.requested](
                self._verify_unix, self._live, self._light, self._netns, self._event_reader()
            )
            self._reason = "chosen with --backend"
            return self._source
        for name in _AUTO_ORDER:
            if name in self._failed:
                continue
            try:
                self._source = _FACTORIES[name](
                    self._verify_unix, self._live, self._light, self._netns, self._event_reader()
                )
            except BackendUnavailable as error:
                self._fall_back(name, str(error))
                continue
            if not self._reason:
                self._reason = "netlink sock_diag available" if name == "netlink" else f"{name} available"
            return self._source
        raise BackendUnavailable("no backend can read sockets here")

    def _fall_back(self, name: str, why: str) -> None:
        """Record that backend ``name`` cannot run, so the next one in the auto order is tried."""
        note = f"{name} unavailable ({why}); falling back"
        self._failed.add(name)
        self._notes.append(note)
        self._reason = note
        self._source = None

    def _resolver(self) -> OwnerResolver:
        if self._owners is None:
            self._owners = OwnerResolver(live=self._live, events=self._event_reader())
        return self._owners

    def _event_reader(self) -> EventReader | None:
        """A new reader of a live collector's proc connector events (subscribed at the first call, on the thread
        that collects: in netwatch's own network namespace), None where there are none."""
        if self._process_events is None and not self._events_tried:
            from netwatch.backends.process_events import ProcessEvents

            self._events_tried = True
            self._process_events = ProcessEvents.subscribe()
        return self._process_events.reader() if self._process_events is not None else None


def _attach_found(
    result: SourceResult, inodes: Set[int], owners: dict[int, tuple[Owner, ...]], changed: Set[int] | None
) -> frozenset[SocketKey] | None:
    """Attach the resolver's ``owners`` of ``inodes`` (those of the result's records) and return the keys of the
    records that are not the previous snapshot's own (``Snapshot.renewed``): the records the source built, and the
    kept ones replaced by copies as their owners changed. When no kept record's owners may have changed (no inode
    of one is ``changed``, see ``OwnerResolver.changed``: the common case, as new sockets are built records), only
    the built records are looked at: a pass over every record took ~30 ms of each refresh at 100,000 sockets.
    Where the source does not say which it built, every record is looked at and None returned (any may be new)."""
    sockets = result.sockets
    if result.built is None:
        attach_owners(sockets, owners, BY_INODE, result.observed_at)
        return None
    if changed is not None:
        built = {key: sock for key in result.built if (sock := sockets.get(key)) is not None}
        moved = changed & inodes
        if not moved or moved.issubset(map(BY_INODE, built.values())):
            attach_owners(built, owners, BY_INODE, result.observed_at)
            sockets.update(built)  # a kept record listed (a dump redone) may be replaced by a copy
            return frozenset(built)
    copied: list[SocketKey] = []
    attach_owners(sockets, owners, BY_INODE, result.observed_at, copied)
    renewed = frozenset(result.built)
    if not renewed.issubset(sockets):  # a record dropped since
        renewed = renewed.intersection(sockets)
    return renewed.union(copied)


def inside_namespace(inode: int | None, make: Callable[[], T]) -> T:
    """``make()`` run inside the network namespace of ``inode`` (None, or netwatch's own: right here), e.g. to open
    a sock_diag socket there. Raises :class:`NamespaceUnavailable` when it is gone or cannot be entered."""
    from netwatch.backends.sources.netns import Namespaces, open_inside, own_netns

    if inode is None or inode == own_netns():
        return make()
    found = Namespaces().enumerate().found.get(inode)
    if found is None:
        raise NamespaceUnavailable(f"network namespace {inode} is gone", gone=True)
    return open_inside(found, make)


def implementation() -> str:
    """Which path runs, compiled parts or pure Python (``netwatch --version``)."""
    from netwatch.backends.compiled import description

    return description()


def visibility_warning(visibility: OwnerVisibility) -> str | None:
    """One line saying how many sockets have no visible owner and why, or None when every owner is known.

    What is known for sure is that no fd table we could read holds them; /proc hiding other users' processes
    (``hidepid``) and unreadable fd tables are named as possible reasons only when so (as root, unreadable tables
    are e.g. processes of another user namespace)."""
    hidden = visibility.hidden_sockets
    if not hidden:
        return None
    unreadable = visibility.unreadable_processes
    sockets = f"{hidden} socket{'s' if hidden != 1 else ''} with no visible owner"
    reasons = []
    if visibility.hidepid:
        reasons.append(f"/proc is mounted with hidepid={visibility.hidepid}, which hides other users' processes")
    if unreadable:
        reasons.append(f"the fd tables of {unreadable} process{'es' if unreadable != 1 else ''} are unreadable")
    if not reasons:
        return f"{sockets}: held by no process (in flight between processes, held by the kernel, or just exited)"
    why = "; ".join(reasons)
    if visibility.as_root:
        return f"{sockets}: held by no readable process ({why}, even as root)"
    return f"{sockets}: held by no readable process ({why}); run as root to see them"


def snapshot_warnings(snapshot: Snapshot) -> list[str]:
    """What the snapshot cannot show, one line each: hidden owners first, then the backend's warnings."""
    hidden = visibility_warning(snapshot.visibility)
    return [*([hidden] if hidden else []), *(warning for warning in snapshot.warnings if warning != hidden)]
