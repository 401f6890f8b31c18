"""What a source hands the collector, and how a source says it cannot run here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from netwatch.backends.model.namespaces import Namespace
from netwatch.backends.model.records import CloseEvent, Owner, Process, Socket, SocketKey
from netwatch.backends.model.snapshot import OwnerVisibility


@dataclass(frozen=True)
class KnownOwners:
    """The owners a source learnt together with the sockets (psutil reports each connection's pid and fd)."""

    by_key: dict[SocketKey, tuple[Owner, ...]]
    """The owners of each socket that has any, by ``Socket.key``."""
    processes: dict[int, Process]
    """The processes owning at least one of the sockets."""
    visibility: OwnerVisibility


@dataclass(frozen=True)
class SourceResult:
    """What one backend's collection produced."""

    sockets: dict[SocketKey, Socket]
    """Records by key (the snapshot's own mapping, once their owners are attached), without owners (the collector
    attaches them: :func:`netwatch.backends.model.records.attach_owners`), but for the records of the previous
    snapshot a source kept for sockets whose kernel values did not change."""
    observed_at: float | None = None
    """Monotonic time of this collection, where the source keeps records: a kept one was observed before."""
    built: list[SocketKey] | None = None
    """Where the source keeps records: the keys of those it built in this collection (the others are kept; a key
    may be listed twice, or be of a record dropped since), so that owners are attached to these alone. None: every
    record is to be looked at."""
    warnings: tuple[str, ...] = ()
    unavailable: tuple[tuple[str, str], ...] = ()
    """(proto, family) pairs this source could not dump itself, e.g. ``("raw", "ipv4")`` (netlink reads them from
    /proc/net instead)."""
    closes: tuple[CloseEvent, ...] = ()
    """The close events read since the previous collection (a live netlink source)."""
    closes_lost: int | None = None
    """Close events lost so far; None: close events are not read."""
    namespaces: tuple[Namespace, ...] = ()
    """The network namespaces whose sockets are listed (none: the source cannot tell namespaces apart)."""
    known_owners: KnownOwners | None = None
    """The owners, from a source that reports them itself (:attr:`SocketSource.reports_owners`); None: the
    collector finds them from the sockets' inodes."""


class CloseEventFeed(Protocol):
    """Close events as they arrive (the netlink source's subscription)."""

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event; whether there is one."""
        ...

    def take(self) -> list[CloseEvent]:
        """The events read since the last call, oldest first."""
        ...


class SocketSource(Protocol):
    """A backend: reads every socket the kernel (or OS) exposes."""

    name: str
    reports_owners: bool
    """Whether :meth:`collect` reports the owners itself (``SourceResult.known_owners``); if not, the collector
    finds them in /proc from the sockets' inodes, and starts reading /proc before the dump."""

    close_events: CloseEventFeed | None
    """Its subscription to the kernel's close events, if it reads them."""

    def collect(self, previous: Mapping[SocketKey, Socket] | None = None) -> SourceResult:
        """Dump all sockets, as records without owners; a source may keep the ``previous`` snapshot's record (with
        its owners) of a socket that did not change."""
        ...

    def close(self) -> None:
        """Let go of what the source holds open (sockets, threads)."""
        ...


class BackendUnavailable(Exception):
    """Raised by a backend that cannot run here (the message says why, in one line)."""
