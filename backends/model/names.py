"""The one table of names: protocols, families, Unix socket types and kernel state names, as the kernel numbers
them, and the orders and short names they are shown in."""

import socket

PROTOS = ("tcp", "udp", "unix", "raw")
"""Every protocol, in display order."""
INET_PROTOS = tuple(proto for proto in PROTOS if proto != "unix")
"""The protocols over IPv4 and IPv6."""
SERVICE_PROTOS = ("tcp", "udp")
"""The protocols whose ports /etc/services names."""

FAMILIES = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6", socket.AF_UNIX: "unix"}
"""Address family number -> name."""
INET_FAMILIES = ("ipv4", "ipv6")

UNIX_TYPES = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_SEQPACKET: "seqpacket"}
"""Unix socket type number (SOCK_*) -> name."""

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
"""State of an unconnected datagram or Unix socket (the kernel reports it as CLOSE)."""
DATAGRAM_STATES = tuple(UNCONN if name == "CLOSE" else name for name in TCP_STATES)
"""The state names of UDP, raw and Unix sockets by the kernel's number: CLOSE is shown as UNCONN, as ss does."""
STATES = (*TCP_STATES, UNCONN)
"""Every state name a socket can have."""

STATE_ORDER = ("ESTABLISHED", "LISTEN", *(name for name in STATES[2:] if name != "LISTEN"), "UNKNOWN")
"""States in display order: the two that matter most, then the kernel's order."""
_STATE_RANK = {name: rank for rank, name in enumerate(STATE_ORDER)}
SHORT_STATES = {"ESTABLISHED": "ESTAB"}
"""Where ss shows a state shorter than its kernel name."""


def state_names(proto: str) -> tuple[str, ...]:
    """The kernel's state number -> name for ``proto`` sockets."""
    return TCP_STATES if proto == "tcp" else DATAGRAM_STATES


def state_rank(state: str) -> int:
    """A state's place in :data:`STATE_ORDER` (a sort key)."""
    return _STATE_RANK.get(state, len(STATE_ORDER))


def short_state(state: str) -> str:
    """A state as shown in tables: ss's short name where it has one."""
    return SHORT_STATES.get(state, state)
