"""Ephemeral-port pressure: the destinations whose connections take most of the local port range.

Apart from the port inspector (:mod:`.ports`, which reports it too) because every snapshot checks for it: this
module defines only what that check needs (importing the inspector's records cost every ``--once`` ~4 ms).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from operator import attrgetter

from netwatch.backends.model.records import Socket

StrPath = str | os.PathLike[str]
PROC_IPV4 = "/proc/sys/net/ipv4"


def local_port_range(proc_ipv4: StrPath = PROC_IPV4) -> tuple[int, int] | None:
    """``net.ipv4.ip_local_port_range`` of netwatch's network namespace; None where unreadable."""
    try:
        low, high = map(int, read_text(proc_ipv4, "ip_local_port_range").split()[:2])
    except (OSError, ValueError):
        return None
    return low, high


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


PRESSURE_WARNING = 0.5
"""Share of the local port range one destination may take before the header warns."""
_REMOTE_PORT = attrgetter("remote_port")


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


def pressure_warning(sockets: Collection[Socket], proc_ipv4: StrPath = PROC_IPV4) -> str | None:
    """A warning when one destination uses more than :data:`PRESSURE_WARNING` of the ephemeral ports (the
    sockets are counted only where there are that many at all)."""
    local_range = local_port_range(proc_ipv4)
    if local_range is None:
        return None
    most = PRESSURE_WARNING * (local_range[1] - local_range[0] + 1)
    if len(sockets) <= most:
        return None
    # A destination over the limit has its port over it: ports are counted first, at C speed (~10x cheaper than
    # counting triples, 100 ms at 100,000 sockets), and most hosts have no such port.
    ports = {port for port, count in Counter(map(_REMOTE_PORT, sockets)).items() if count > most and port}
    if not ports:
        return None
    busiest = ephemeral_pressure((sock for sock in sockets if sock.remote_port in ports), local_range, top=1)
    if not busiest or busiest[0].ratio <= PRESSURE_WARNING:
        return None
    return "ephemeral ports: " + busiest[0].text()


def read_text(directory: StrPath, name: str) -> str:
    """The text of file ``name`` of ``directory`` (a path string: pathlib costs --once 5 ms of imports)."""
    with open(os.path.join(directory, name)) as file:
        return file.read()
