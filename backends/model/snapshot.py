"""A snapshot: every socket at one moment, the processes that own them, and what could not be seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netwatch.backends.model.containers import Container
from netwatch.backends.model.namespaces import Namespace
from netwatch.backends.model.records import CloseEvent, Process, Socket, SocketKey


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
    closes: tuple[CloseEvent, ...] = ()
    """The close events read since the previous snapshot (a live collector's, with the netlink backend)."""
    closes_lost: int | None = None
    """Close events lost so far (the kernel's buffer overflowed); None: no close events are read."""
    namespaces: Mapping[int, Namespace] = field(default_factory=dict)
    """The network namespaces whose sockets are listed, by inode (empty: the backend cannot tell them apart)."""
    base: float | None = None
    """The ``monotonic`` of the snapshot this one was built from (the same live collector's previous one), where
    :attr:`renewed` says what differs from it; None: none (or not known)."""
    renewed: frozenset[SocketKey] | None = None
    """With :attr:`base`: every key whose record is not the base snapshot's own object (new and changed sockets;
    a few others may be among them); every other record is (a live collector keeps the records of unchanged
    sockets), so a diff against the base looks at these alone. None: any record may be new."""

    def container_of(self, sock: Socket) -> Container | None:
        """See :func:`socket_container`."""
        return socket_container(sock, self.processes, self.namespaces)


def socket_container(
    sock: Socket, processes: Mapping[int, Process], namespaces: Mapping[int, Namespace]
) -> Container | None:
    """The container or unit of ``sock``: its first owner's that is in one, else (no owner in one, e.g. TIME_WAIT)
    its namespace's."""
    for owner in sock.owners:
        process = processes.get(owner.pid)
        if process is not None and process.container is not None:
            return process.container
    namespace = namespaces.get(sock.netns_inode) if sock.netns_inode is not None else None
    return namespace.container if namespace is not None else None
