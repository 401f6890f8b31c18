"""The snapshot's check for ephemeral-port pressure: one destination using most of the local port range.

Apart from the port inspector (:mod:`.ports`, which lists the busiest destinations) because every snapshot runs
it: importing the inspector's records cost every ``--once`` ~4 ms, for a check that seldom finds anything.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection
from operator import attrgetter

from netwatch.backends.model.records import Socket

StrPath = str | os.PathLike[str]
PROC_IPV4 = "/proc/sys/net/ipv4"
PRESSURE_WARNING = 0.5
"""Share of the local port range one destination may take before the header warns."""
_REMOTE_PORT = attrgetter("remote_port")


def local_port_range(proc_ipv4: StrPath = PROC_IPV4) -> tuple[int, int] | None:
    """``net.ipv4.ip_local_port_range`` of netwatch's network namespace; None where unreadable."""
    try:
        low, high = map(int, read_text(proc_ipv4, "ip_local_port_range").split()[:2])
    except (OSError, ValueError):
        return None
    return low, high


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
    from netwatch.backends.actions.ports import ephemeral_pressure  # here: few hosts get this far

    busiest = ephemeral_pressure((sock for sock in sockets if sock.remote_port in ports), local_range, top=1)
    if not busiest or busiest[0].ratio <= PRESSURE_WARNING:
        return None
    return "ephemeral ports: " + busiest[0].text()


def read_text(directory: StrPath, name: str) -> str:
    """The text of file ``name`` of ``directory`` (a path string: pathlib costs --once 5 ms of imports)."""
    with open(os.path.join(directory, name)) as file:
        return file.read()
