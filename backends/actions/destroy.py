"""Closing TCP and UDP sockets with sock_diag's SOCK_DESTROY (what ``ss -K`` does).

The request names the exact socket: its 4-tuple, interface and cookie, so a reused 4-tuple is never hit. It is
sent on a NETLINK_SOCK_DIAG socket the caller passes (:func:`destroy`): a socket of another network namespace
is closed by passing a sock_diag socket opened in that namespace. The kernel answers with an error code, told
here in words (:data:`REASONS`).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from netwatch.backends.collector import NamespaceUnavailable, inside_namespace
from netwatch.backends.model.records import Socket

NETLINK_SOCK_DIAG = 4
SOCK_DESTROY = 21
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 2
NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
ERROR_CODE = struct.Struct("=i")
INET_DIAG_REQ_V2 = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states
INET_DIAG_SOCKID = struct.Struct("!HH16s16s")  # sport, dport (network order), src, dst
INET_DIAG_SOCKID_TAIL = struct.Struct("=III")  # if, cookie[2] (host order)
ALL_STATES = 0xFFFFFFFF
TIMEOUT = 5.0
FAMILIES = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}

CLOSED, ALREADY_GONE, REFUSED = "closed", "already gone", "refused"

REASONS = {
    errno.EPERM: "closing a socket needs CAP_NET_ADMIN, and netwatch runs without it",
    errno.EACCES: "closing a socket needs CAP_NET_ADMIN, and netwatch runs without it",
    errno.EOPNOTSUPP: "this kernel is built without INET_DIAG_DESTROY (CONFIG_INET_DIAG_DESTROY)",
    errno.ENOENT: "already closed",
}


@dataclass(frozen=True, slots=True)
class DestroyResult:
    """What became of one socket: ``outcome`` is closed, already gone or refused; ``reason`` in words."""

    sock: Socket
    outcome: str
    reason: str


def closable(sock: Socket) -> str:
    """Why SOCK_DESTROY cannot close ``sock`` ("" if it can)."""
    if sock.family == "unix":
        return "the kernel cannot close a Unix socket: signal its owner instead"
    if sock.proto not in PROTOCOLS or sock.family not in FAMILIES:
        return f"netwatch closes TCP and UDP sockets only, not {sock.proto}"
    if sock.cookie is None:
        return "its cookie is unknown (this backend does not read sock_diag), so it cannot be named safely"
    return ""


def open_diag_socket() -> socket.socket:
    """A NETLINK_SOCK_DIAG socket of this process's network namespace."""
    diag = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    diag.bind((0, 0))
    diag.settimeout(TIMEOUT)
    return diag


def destroy_request(sock: Socket, seq: int = 1) -> bytes:
    """The SOCK_DESTROY message naming exactly ``sock`` (a TCP or UDP socket with a cookie)."""
    family = FAMILIES[sock.family]
    cookie = sock.cookie or 0
    body = (
        INET_DIAG_REQ_V2.pack(family, PROTOCOLS[sock.proto], 0, 0, ALL_STATES)
        + INET_DIAG_SOCKID.pack(
            sock.local_port,
            sock.remote_port,
            _address(family, sock.local_address),
            _address(family, sock.remote_address),
        )
        + INET_DIAG_SOCKID_TAIL.pack(sock.interface or 0, cookie & 0xFFFFFFFF, cookie >> 32)
    )
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


def _address(family: int, text: str) -> bytes:
    return socket.inet_pton(family, text).ljust(16, b"\0")


def destroy(diag: socket.socket, sock: Socket) -> DestroyResult:
    """Close ``sock`` with a SOCK_DESTROY request sent on ``diag`` (a sock_diag socket of ``sock``'s namespace)."""
    why = closable(sock)
    if why:
        return DestroyResult(sock, REFUSED, why)
    try:
        diag.send(destroy_request(sock))
        code = _answer(diag.recv(65536))
    except OSError as error:
        return DestroyResult(sock, REFUSED, f"sock_diag failed: {error.strerror or error}")
    if code == 0:
        return DestroyResult(sock, CLOSED, "closed")
    if code == errno.ENOENT:  # also a live 4-tuple under another cookie: a socket that reused it
        return DestroyResult(sock, ALREADY_GONE, REASONS[code])
    return DestroyResult(sock, REFUSED, REASONS.get(code, os.strerror(code)))


def _answer(reply: bytes) -> int:
    """The errno of the kernel's NLMSG_ERROR acknowledgement (0: done)."""
    if len(reply) < NLMSG_HEADER.size + ERROR_CODE.size:
        return errno.EPROTO
    _length, kind, _flags, _seq, _pid = NLMSG_HEADER.unpack_from(reply)
    if kind != NLMSG_ERROR:
        return errno.EPROTO
    return -ERROR_CODE.unpack_from(reply, NLMSG_HEADER.size)[0]


def destroy_all(sockets: Iterable[Socket]) -> list[DestroyResult]:
    """Close each socket in turn, on a sock_diag socket of its own network namespace; one result per socket, in
    order."""
    sockets = list(sockets)
    by_netns: dict[int | None, list[int]] = {}
    for index, sock in enumerate(sockets):
        by_netns.setdefault(sock.netns_inode, []).append(index)
    results: list[DestroyResult | None] = [None] * len(sockets)
    for inode, indices in by_netns.items():
        try:
            diag = inside_namespace(inode, open_diag_socket)
        except NamespaceUnavailable as error:
            for index in indices:
                results[index] = DestroyResult(sockets[index], ALREADY_GONE if error.gone else REFUSED, str(error))
            continue
        with diag:
            for index in indices:
                results[index] = destroy(diag, sockets[index])
    return [result for result in results if result is not None]
