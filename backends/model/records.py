"""The records of a snapshot: sockets, their owners and the processes behind them (immutable)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import NamedTuple

from netwatch.backends.compiled import OWNERS, load
from netwatch.backends.model.containers import Container
from netwatch.backends.model.extensions import Extensions, share
from netwatch.backends.model.tcp_info import CLOCKS, TcpInfo

SocketKey = Hashable
"""A socket's identity across snapshots: ``(proto, cookie, netns_inode)`` where the kernel gives a cookie, else the
endpoints (and the namespace). The same 4-tuple exists in many network namespaces: keys never merge them."""

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
    ppid: int | None = None
    """The parent's pid (None: unknown)."""
    container: Container | None = None
    """The container or systemd unit it runs in (from its cgroup), if any."""


@dataclass(frozen=True, slots=True)
class CloseEvent:
    """A socket the kernel destroyed, as its close event told (its final ``tcp_info``; no inode, no owners)."""

    socket: Socket
    at: float
    """time.monotonic() when the event was read."""
    wall: float
    """time.time() when the event was read."""


NO_EXTENSIONS: Extensions = share({})
"""The ``Socket.extensions`` of a socket without any."""


def _no_extensions() -> Extensions:
    return NO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class Socket:
    """One kernel socket and everything the backend knows about it.

    Addresses are strings (IPv4 dotted, IPv6 compressed; empty for Unix). ``tcp_info`` is a
    :class:`netwatch.backends.model.tcp_info.TcpInfo` (kernel field names without ``tcpi_``, kernel units)
    or ``None``. ``extensions`` holds further decoded sock_diag attributes (``bbr``, ``dctcp``,
    ``vegas``, ``sockopt``, ...) as mappings, often shared between sockets (see :mod:`.extensions`).
    ``recv_q``, ``send_q`` and ``inode`` are ``None`` where the backend cannot know them (not 0).
    """

    key: SocketKey
    proto: str
    family: str
    state: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    recv_q: int | None
    send_q: int | None
    inode: int | None
    uid: int | None = None
    cookie: int | None = None
    path: str | None = None
    peer_inode: int | None = None
    sock_type: str | None = None
    owners: tuple[Owner, ...] = ()
    tcp_info: TcpInfo | None = None
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
    netns: str | None = None
    """The name of the network namespace the socket lives in (see :class:`.namespaces.Namespace`), None: the backend
    cannot tell."""
    netns_inode: int | None = None
    """The inode of that network namespace."""
    extensions: Extensions = field(default_factory=_no_extensions)
    observed_at: float | None = field(default=None, compare=False)
    """Monotonic time of the dump whose kernel values the record holds, where a source reuses the record of an
    unchanged socket across dumps (None: the snapshot's own time). ``tcp_info``'s ``last_*`` clocks and the
    ``timer``'s countdown are as of then: see :func:`clocks_moved`."""
    digest: int | None = field(default=None, compare=False, repr=False)
    """The source's fingerprint of the kernel values the record was decoded from (to tell an unchanged socket
    at the next dump), or None."""


SOCKET_FIELDS = tuple(item.name for item in fields(Socket) if item.name not in ("key", "observed_at", "digest"))
"""The fields of a socket's document (the JSON output's keys, the CSV output's columns), in record order."""


def clocks_moved(sock: Socket, now: float) -> int:
    """Milliseconds to add to ``sock``'s ``tcp_info`` ``last_*`` clocks (and take from its timer's countdown) to
    read them at monotonic time ``now``: a reused record is one whose other kernel values did not change, so its
    clocks only advanced with time."""
    observed = sock.observed_at
    return 0 if observed is None or now <= observed else int((now - observed) * 1000)


def tcp_info_at(sock: Socket, now: float) -> dict[str, int]:
    """The socket's tcp_info fields (empty without one) as the kernel would give them at monotonic time ``now``."""
    if sock.tcp_info is None:
        return {}
    fields = sock.tcp_info._asdict()
    moved = clocks_moved(sock, now)
    if moved:
        for name in CLOCKS:
            fields[name] += moved
    return fields


def timer_at(sock: Socket, now: float) -> Timer | None:
    """The socket's timer with the time left to run at monotonic time ``now``."""
    timer = sock.timer
    moved = clocks_moved(sock, now)
    if timer is None or not moved or timer.name == "off":
        return timer
    return timer._replace(expires_ms=max(0, timer.expires_ms - moved))


_set_owners = Socket.owners.__set__  # type: ignore[attr-defined]
BY_INODE = attrgetter("inode")
"""The key of owners read from /proc (``attach_owners``' ``key``; the one the compiled attacher takes)."""
_compiled_owners = load(OWNERS)
_ATTACH_LAYOUT = _compiled_owners and _compiled_owners.socket_layout(Socket)
"""The slots the compiled attacher (``_owners.c``) reads and writes, or None: the pure-Python loop."""


def _with_owners(sock: Socket, owners: tuple[Owner, ...]) -> Socket:
    """A copy of a kept record with other owners (both attaching paths make it here)."""
    return replace(sock, owners=owners)


def attach_owners(
    sockets: dict[SocketKey, Socket],
    owners: Mapping[Hashable, tuple[Owner, ...]],
    key: Callable[[Socket], Hashable],
    observed_at: float | None = None,
    copied: list[SocketKey] | None = None,
) -> int:
    """Give each of ``sockets`` its owners, ``owners[key(sock)]`` (a socket without an entry keeps none); returns
    how many sockets with a key (e.g. an inode) have none.

    The one place where records get their owners: the last step of building them, done by the collector before
    it publishes the snapshot (sources build records without owners). ``Socket`` is frozen: this stores into the
    slot directly (~0.17 us per socket with its lookup, where ``dataclasses.replace`` costs ~11 us). Raises
    ValueError for a record that has owners already, so that a record once published is never changed; but a
    record the source kept from the previous snapshot (``observed_at`` before the collection's ``observed_at``)
    keeps its owners, or is replaced in ``sockets`` by a copy where they changed (its place appended to
    ``copied``, if given).

    By inode (``key`` :data:`BY_INODE`), the compiled attacher (``_owners.c``) does the same, ~10x faster (it took
    ~35 ms of the first snapshot at 100,000 sockets).
    """
    if key is BY_INODE and _ATTACH_LAYOUT is not None and type(sockets) is dict and type(owners) is dict:
        ownerless = _compiled_owners.attach(_ATTACH_LAYOUT, sockets, owners, observed_at, copied, _with_owners)
        if ownerless is not None:  # None: a record of another type (a subclass), left to the loop below
            return ownerless
    get = owners.get
    ownerless = 0
    for place, sock in sockets.items():
        looked_up = key(sock)
        found = get(looked_up, ())
        have = sock.owners
        if found is have:
            if not found and looked_up:
                ownerless += 1
            continue
        if not found and looked_up:
            ownerless += 1
        if observed_at is not None and sock.observed_at is not None and sock.observed_at != observed_at:
            if found != have:
                sockets[place] = _with_owners(sock, found)
                if copied is not None:
                    copied.append(place)
        elif found:
            if have:
                raise ValueError(f"socket {sock.key!r} has owners already: a built record is never changed")
            _set_owners(sock, found)
    return ownerless


def owner_pids(sock: Socket) -> tuple[int, ...]:
    """The distinct pids of the socket's owners, in the order of its owners."""
    owners = sock.owners
    if len(owners) == 1:
        return (owners[0].pid,)
    return tuple(dict.fromkeys(owner.pid for owner in owners))
