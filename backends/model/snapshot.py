"""A snapshot: every socket at one moment, the processes that own them, and what could not be seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netwatch.backends.model.records import Process, Socket, SocketKey


@dataclass(frozen=True, slots=True)
class OwnerVisibility:
    """What process attribution could not see, and why."""

    hidden_sockets: int = 0
    """Sockets (with a non-zero inode) for which no owning process was found."""
    unreadable_processes: int = 0
    """Processes whose fd table could not be read (EACCES: not root)."""
    vanished_processes: int = 0
    """Processes that exited during the scan."""
    as_root: bool = False
    """Whether the scan ran as root (then unreadable fd tables are not a matter of privileges)."""
    hidepid: str | None = None
    """The ``hidepid`` option of /proc when it hides other users' processes from the scan (e.g. ``invisible``)."""


@dataclass(frozen=True)
class Snapshot:
    """Every socket on the host at one moment, with the processes that own them."""

    taken_at: float
    """Wall-clock time (seconds since the epoch)."""
    monotonic: float
    """time.monotonic() when taken: use this for rates."""
    backend: str
    backend_reason: str
    sockets: Mapping[SocketKey, Socket]
    processes: Mapping[int, Process]
    warnings: tuple[str, ...] = ()
    visibility: OwnerVisibility = OwnerVisibility()
    duration: float = 0.0
    """Seconds the snapshot took to collect."""
