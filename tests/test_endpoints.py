"""Endpoint text: ``addr:port``, ``[v6]:port``, IPv4-mapped IPv6 as IPv4, ``*`` for nothing."""

from __future__ import annotations

import pytest

from netwatch.backends.model.endpoints import format_endpoint, unmap_ipv4


@pytest.mark.parametrize(("address", "expected"), [
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("::FFFF:10.1.2.3", "10.1.2.3"),
    ("::ffff:a01:203", "::ffff:a01:203"),  # not written as a mapped address: left alone
    ("::1", "::1"),
    ("10.1.2.3", "10.1.2.3"),
    ("", ""),
])  # fmt: skip
def test_unmap_ipv4(address, expected):
    assert unmap_ipv4(address) == expected


@pytest.mark.parametrize(("address", "port", "family", "expected"), [
    ("127.0.0.1", 22, "ipv4", "127.0.0.1:22"),
    ("0.0.0.0", 0, "ipv4", "0.0.0.0:*"),
    ("::1", 443, "ipv6", "[::1]:443"),
    ("::", 22, "ipv6", "[::]:22"),
    ("fe80::1", 0, "ipv6", "[fe80::1]:*"),
    ("::ffff:192.168.0.1", 8080, "ipv6", "192.168.0.1:8080"),
    ("", 0, "ipv4", "*:*"),
    ("/run/x.sock", 0, "unix", "/run/x.sock"),
    ("@abstract", 0, "unix", "@abstract"),
    ("", 0, "unix", "*"),
])  # fmt: skip
def test_format_endpoint(address, port, family, expected):
    assert format_endpoint(address, port, family) == expected
