"""The snapshot model: immutable records of sockets, their owners and the processes behind them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, Protocol

SocketKey = Hashable
"""A socket's identity across snapshots: ``(proto, cookie)`` where the kernel gives a cookie, else the endpoints."""

PROTOS = ("tcp", "udp", "unix", "raw")
FAMILIES = ("ipv4", "ipv6", "unix")

# Kernel state names (include/net/tcp_states.h), indexed by the kernel's number.
TCP_STATES = (
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
    "BOUND_INACTIVE",
)
UNCONN = "UNCONN"
"""State of an unconnected datagram socket (the kernel reports it as CLOSE)."""


class MemInfo(NamedTuple):
    """INET_DIAG_MEMINFO: struct inet_diag_meminfo (bytes)."""

    rmem: int
    wmem: int
    fmem: int
    tmem: int


class SkMemInfo(NamedTuple):
    """INET_DIAG_SKMEMINFO / UNIX_DIAG_MEMINFO: the SK_MEMINFO_* array (bytes, drops is a count)."""

    rmem_alloc: int
    rcvbuf: int
    wmem_alloc: int
    sndbuf: int
    fwd_alloc: int
    wmem_queued: int
    optmem: int
    backlog: int
    drops: int


class Timer(NamedTuple):
    """The kernel timer pending on a socket (idiag_timer/expires/retrans)."""

    name: str  # "on", "keepalive", "timewait", "persist", "probe0", "off"
    expires_ms: int
    retrans: int


@dataclass(frozen=True, slots=True)
class Owner:
    """One open file descriptor of a process that refers to a socket."""

    pid: int
    fd: int


@dataclass(frozen=True, slots=True)
class Process:
    """A process that owns at least one socket."""

    pid: int
    name: str
    cmdline: tuple[str, ...]
    uid: int | None
    user: str
    cgroup: str | None


NO_EXTENSIONS: Mapping[str, Mapping[str, object]] = MappingProxyType({})
"""The (shared, read-only) ``Socket.extensions`` of a socket without any."""


def _no_extensions() -> Mapping[str, Mapping[str, object]]:
    return NO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class Socket:
    """One kernel socket and everything the backend knows about it.

    Addresses are strings (IPv4 dotted, IPv6 compressed; empty for Unix). ``tcp_info`` is a
    :class:`netwatch.backends.tcp_info.TcpInfo` (kernel field names without ``tcpi_``, kernel units)
    or ``None``. ``extensions`` holds further decoded sock_diag attributes (``bbr``, ``dctcp``,
    ``vegas``, ``sockopt``, ...) as read-only mappings, often shared between sockets.
    """

    key: SocketKey
    proto: str
    family: str
    state: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    recv_q: int
    send_q: int
    inode: int
    uid: int | None = None
    cookie: int | None = None
    path: str | None = None
    peer_inode: int | None = None
    sock_type: str | None = None
    owners: tuple[Owner, ...] = ()
    tcp_info: NamedTuple | None = None
    timer: Timer | None = None
    meminfo: MemInfo | None = None
    skmem: SkMemInfo | None = None
    congestion: str | None = None
    cgroup: str | None = None
    shutdown: int | None = None
    tos: int | None = None
    tclass: int | None = None
    mark: int | None = None
    interface: int | None = None
    extensions: Mapping[str, Mapping[str, object]] = field(default_factory=_no_extensions)


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
