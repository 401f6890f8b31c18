"""The port inspector: every socket holding a TCP or UDP port, and whether a new socket can bind it here.

The verdict is for a plain ``bind(("0.0.0.0", port))`` without ``SO_REUSEADDR`` by the caller, as Linux decides it
(``inet_csk_bind_conflict`` for TCP, ``udp_lib_lport_inuse`` for UDP): a holder collides when its address
overlaps the IPv4 wildcard (any IPv4 address, an IPv4-mapped IPv6 address, or ``[::]`` without ``IPV6_V6ONLY``).
Every TCP socket on the port counts, connected ones too (they share the port's bind bucket); TIME_WAIT alone
blocks only a bind without ``SO_REUSEADDR``. sock_diag does not report ``SO_REUSEADDR`` / ``SO_REUSEPORT``
(``inet_diag_sockopt`` has no bit for them), so a holder's reuse options are unknown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from netwatch.backends.actions.pressure import PROC_IPV4, StrPath, local_port_range, read_text
from netwatch.backends.model.records import Socket

CAP_NET_BIND_SERVICE = 10
VERDICTS = ("free", "in_use", "time_wait_only", "privileged")


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """Where the port stands against the kernel's ephemeral (local) port range."""

    in_local_range: bool
    reserved: bool
    local_range: tuple[int, int] | None
    """``net.ipv4.ip_local_port_range``; None where it cannot be read."""


@dataclass(frozen=True, slots=True)
class PortReport:
    """Who holds ``proto`` port ``port`` and whether a new socket can bind it."""

    port: int
    proto: str
    verdict: str
    reason: str
    ephemeral: Ephemeral
    holders: tuple[Socket, ...]
    pressure: tuple[PortPressure, ...] = ()
    """The destinations using the most ephemeral ports (busiest first)."""


def holders_of(sockets: Iterable[Socket], proto: str, port: int) -> tuple[Socket, ...]:
    """The ``proto`` sockets whose local port is ``port``, listeners first."""
    found = [sock for sock in sockets if sock.proto == proto and sock.local_port == port and sock.family != "unix"]
    return tuple(sorted(found, key=lambda sock: (sock.state != "LISTEN", sock.state == "TIME_WAIT", sock.family)))


def v6only(sock: Socket) -> bool | None:
    """The holder's ``IPV6_V6ONLY`` as the kernel reports it (None: not reported, e.g. the procfs backend)."""
    inet = sock.extensions.get("inet") if sock.extensions else None
    value = inet.get("v6only") if inet else None
    return None if value is None else bool(value)


def collides_with_ipv4_wildcard(sock: Socket) -> bool:
    """Whether ``sock``'s bound address overlaps ``0.0.0.0`` (an unknown v6only counts as Linux's default, off)."""
    if sock.family == "ipv4":
        return True
    address = sock.local_address
    if address.startswith("::ffff:"):
        return True
    return address == "::" and not v6only(sock)


def decide(
    proto: str, port: int, holders: tuple[Socket, ...], may_bind_privileged: bool, unprivileged_start: int
) -> tuple[str, str]:
    """(verdict, reason in words) for binding ``0.0.0.0:port``."""
    blocking = [sock for sock in holders if collides_with_ipv4_wildcard(sock)]
    live = [sock for sock in blocking if sock.state != "TIME_WAIT"]
    if live:
        sock = live[0]
        pids = ",".join(str(owner.pid) for owner in sock.owners) or "an unknown process"
        where = f"[{sock.local_address}]" if sock.family == "ipv6" else sock.local_address
        why = ""
        if sock.local_address == "::":
            why = " ([::] without v6only also takes 0.0.0.0)"
        elif sock.local_address not in ("0.0.0.0", "::"):
            why = " (a wildcard bind collides with a specific address)"
        return "in_use", f"in use by pid {pids} on {where}:{port} ({sock.state}){why}"
    if port and port < unprivileged_start and not may_bind_privileged:
        return "privileged", (
            f"port {port} is below net.ipv4.ip_unprivileged_port_start ({unprivileged_start}) and the caller lacks "
            "CAP_NET_BIND_SERVICE"
        )
    if blocking:
        return "time_wait_only", (
            f"only {len(blocking)} TIME_WAIT socket(s) hold it: a bind with SO_REUSEADDR succeeds, a plain bind fails"
        )
    others = f" ({len(holders)} socket(s) on other addresses do not collide)" if holders else ""
    return "free", f"{proto} port {port} can be bound on 0.0.0.0{others}"


def inspect_port(
    sockets: Iterable[Socket],
    proto: str,
    port: int,
    *,
    may_bind_privileged: bool | None = None,
    proc_ipv4: StrPath = PROC_IPV4,
) -> PortReport:
    """The report for ``proto`` (tcp/udp) ``port`` over a snapshot's sockets; ``may_bind_privileged`` defaults to
    whether this process has CAP_NET_BIND_SERVICE."""
    sockets = list(sockets)
    holders = holders_of(sockets, proto, port)
    if may_bind_privileged is None:
        may_bind_privileged = has_capability(CAP_NET_BIND_SERVICE)
    start = _read_int(proc_ipv4, "ip_unprivileged_port_start", 1024)
    verdict, reason = decide(proto, port, holders, may_bind_privileged, start)
    pressure = tuple(ephemeral_pressure(sockets, local_port_range(proc_ipv4)))
    return PortReport(port, proto, verdict, reason, ephemeral_info(port, proc_ipv4), holders, pressure)


def ephemeral_info(port: int, proc_ipv4: StrPath = PROC_IPV4) -> Ephemeral:
    """Whether ``port`` is inside ``ip_local_port_range`` (an outgoing connection may take it) or listed in
    ``ip_local_reserved_ports``."""
    local_range = local_port_range(proc_ipv4)
    if local_range is None:
        return Ephemeral(False, _reserved(port, proc_ipv4), None)
    low, high = local_range
    return Ephemeral(low <= port <= high, _reserved(port, proc_ipv4), local_range)


@dataclass(frozen=True, slots=True)
class PortPressure:
    """TCP connections from one source address to one destination whose local port is an ephemeral one: at most
    the size of the local range can exist at once (then connect() fails with EADDRNOTAVAIL)."""

    source: str
    destination: str
    port: int
    connections: int
    range_size: int
    netns: str | None = None

    @property
    def ratio(self) -> float:
        return self.connections / self.range_size

    def text(self) -> str:
        where = f" in netns {self.netns}" if self.netns else ""
        return (f"{self.source} -> {self.destination}:{self.port}{where} holds {self.connections} of "
                f"{self.range_size} ephemeral ports ({self.ratio:.0%}): connect() fails with EADDRNOTAVAIL when they "
                "run out")  # fmt: skip


def ephemeral_pressure(sockets: Iterable[Socket], local_range: tuple[int, int] | None,
                       top: int = 5) -> list[PortPressure]:  # fmt: skip
    """The ``top`` (source, destination, destination port) triples using the most ephemeral ports, busiest first.
    Each network namespace has its own ports; ``local_range`` (netwatch's namespace's) is taken for all."""
    if local_range is None:
        return []
    low, high = local_range
    counts = Counter(
        (sock.netns_inode, sock.netns, sock.local_address, sock.remote_address, sock.remote_port)
        for sock in sockets
        if sock.proto == "tcp" and sock.remote_port and low <= sock.local_port <= high and sock.state != "LISTEN"
    )
    size = high - low + 1
    return [PortPressure(source, destination, port, count, size, netns)
            for (_inode, netns, source, destination, port), count in counts.most_common(top)]  # fmt: skip


def _reserved(port: int, proc_ipv4: StrPath) -> bool:
    """Whether ``ip_local_reserved_ports`` (``8080,9000-9010``) lists ``port``."""
    try:
        text = read_text(proc_ipv4, "ip_local_reserved_ports").strip()
    except OSError:
        return False
    for part in filter(None, text.split(",")):
        low, _, high = part.strip().partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def _read_int(directory: StrPath, name: str, default: int) -> int:
    try:
        return int(read_text(directory, name).split()[0])
    except (OSError, ValueError, IndexError):
        return default


def has_capability(bit: int) -> bool:
    """Whether this process's effective capabilities (``/proc/self/status`` CapEff) hold ``bit``."""
    try:
        for line in read_text("/proc/self", "status").splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False
