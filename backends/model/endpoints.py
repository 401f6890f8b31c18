"""How socket endpoints are written: ``addr:port``, ``[v6]:port``, and IPv4-mapped IPv6 shown as IPv4."""

from __future__ import annotations

_MAPPED_PREFIX = "::ffff:"


def unmap_ipv4(address: str) -> str:
    """Return ``a.b.c.d`` for an IPv4-mapped IPv6 address ``::ffff:a.b.c.d``; any other address unchanged."""
    if address[:7].lower() == _MAPPED_PREFIX and "." in address:
        return address[7:]
    return address


def format_endpoint(address: str, port: int, family: str) -> str:
    """Write an endpoint like ``ss``: ``10.0.0.1:22``, ``[::1]:443``, ``*`` for port 0 or a missing address.

    IPv4-mapped IPv6 addresses are written as IPv4. For Unix sockets ``address`` is the path (or ``*``).
    """
    if family == "unix":
        return address or "*"
    host = unmap_ipv4(address) if address else "*"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port if port else '*'}"
