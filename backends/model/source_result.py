"""What a source hands the collector, and how a source says it cannot run here."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from netwatch.backends.model.records import Owner, Socket

OwnerLookup = Callable[[Collection[int]], Mapping[int, tuple[Owner, ...]]]
"""Maps socket inodes (those a dump found) to their owning (pid, fd)s."""


@dataclass(frozen=True)
class SourceResult:
    """What one backend's collection produced."""

    sockets: list[Socket]
    warnings: tuple[str, ...] = ()
    unavailable: tuple[tuple[str, str], ...] = ()
    """(proto, family) pairs this source could not dump itself, e.g. ``("raw", "ipv4")`` (netlink reads them from
    /proc/net instead)."""


class SocketSource(Protocol):
    """A backend: reads every socket the kernel (or OS) exposes."""

    name: str

    def collect(self, owners_of: OwnerLookup) -> SourceResult:
        """Dump all sockets, attaching owners via ``owners_of`` (called once with all inodes)."""
        ...


class BackendUnavailable(Exception):
    """Raised by a backend that cannot run here (the message says why, in one line)."""
