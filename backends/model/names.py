"""The one table of names: protocols, families and kernel state names, as the kernel numbers them."""

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
