"""Snapshot -> plain data (dicts and rows) for JSON and CSV output, and the fast JSON encoding of sockets."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import orjson

from netwatch.backends.model.records import MemInfo, Process, SkMemInfo, Socket
from netwatch.backends.model.snapshot import Snapshot
from netwatch.backends.model.tcp_info import TcpInfo
from netwatch.backends.sources.netlink.attributes import BbrExtensions

CSV_COLUMNS = (
    "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "path",
    "recv_q", "send_q", "inode", "uid", "pids", "processes", "rtt_us", "congestion", "cgroup",
)


def _record(value: Any) -> dict[str, Any] | None:
    """A NamedTuple-like record (``_fields`` and iteration, e.g. TcpInfo, Timer, MemInfo) as a dict."""
    return None if value is None else dict(zip(value._fields, value, strict=True))


def _tcp_info(info: Any) -> dict[str, Any] | None:
    return None if info is None else dict(zip(info._fields, info.values(), strict=True))


def _extensions(extensions: Mapping[str, Mapping[str, object]]) -> dict[str, dict[str, object]]:
    return {name: dict(values) for name, values in extensions.items()} if extensions else {}


def socket_to_dict(sock: Socket, processes: Mapping[int, Process]) -> dict[str, Any]:
    """Everything known about one socket, keyed as in the JSON output."""
    return {
        "proto": sock.proto,
        "family": sock.family,
        "state": sock.state,
        "local_address": sock.local_address,
        "local_port": sock.local_port,
        "remote_address": sock.remote_address,
        "remote_port": sock.remote_port,
        "path": sock.path,
        "peer_inode": sock.peer_inode,
        "sock_type": sock.sock_type,
        "inode": sock.inode,
        "cookie": sock.cookie,
        "uid": sock.uid,
        "recv_q": sock.recv_q,
        "send_q": sock.send_q,
        "owners": [
            {"pid": owner.pid, "fd": owner.fd, "name": _name(processes, owner.pid)} for owner in sock.owners
        ],
        "tcp_info": _tcp_info(sock.tcp_info),
        "timer": _record(sock.timer),
        "congestion": sock.congestion,
        "meminfo": _record(sock.meminfo),
        "skmem": _record(sock.skmem),
        "cgroup": sock.cgroup,
        "shutdown": sock.shutdown,
        "tos": sock.tos,
        "tclass": sock.tclass,
        "mark": sock.mark,
        "interface": sock.interface,
        "extensions": _extensions(sock.extensions),
    }


def snapshot_header(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON document for ``netwatch --once --format json``, but its ``sockets`` list."""
    return {
        "taken_at": snapshot.taken_at,
        "backend": snapshot.backend,
        "backend_reason": snapshot.backend_reason,
        "warnings": list(snapshot.warnings),
    }


def socket_to_csv_row(sock: Socket, processes: Mapping[int, Process]) -> tuple[Any, ...]:
    """One CSV row in :data:`CSV_COLUMNS` order."""
    pids = sorted({owner.pid for owner in sock.owners})
    rtt = getattr(sock.tcp_info, "rtt", None)
    return (
        sock.proto, sock.family, sock.state, sock.local_address, sock.local_port, sock.remote_address,
        sock.remote_port, sock.path or "", sock.recv_q, sock.send_q, sock.inode,
        "" if sock.uid is None else sock.uid, " ".join(map(str, pids)),
        " ".join(_name(processes, pid) or "" for pid in pids), "" if rtt is None else rtt,
        sock.congestion or "", sock.cgroup or "",
    )


def _name(processes: Mapping[int, Process], pid: int) -> str | None:
    process = processes.get(pid)
    return process.name if process else None


def _object_template(names: tuple[str, ...], code: str = "%d") -> bytes:
    return ("{" + ",".join(f'"{name}":{code}' for name in names) + "}").encode()


_SOCKET_TEMPLATE = _object_template((
    "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "path",
    "peer_inode", "sock_type", "inode", "cookie", "uid", "recv_q", "send_q", "owners", "tcp_info", "timer",
    "congestion", "meminfo", "skmem", "cgroup", "shutdown", "tos", "tclass", "mark", "interface", "extensions",
), "%s")  # fmt: skip
_TCP_INFO_TEMPLATE = _object_template(TcpInfo._fields)
_TIMER_TEMPLATE = b'{"name":%s,"expires_ms":%d,"retrans":%d}'
_MEMINFO_TEMPLATE = _object_template(MemInfo._fields)
_SKMEM_TEMPLATE = _object_template(SkMemInfo._fields)
_OWNER_TEMPLATE = b'{"pid":%d,"fd":%d,"name":%s}'


class _Encoded(dict):
    """value -> its JSON bytes, computed once per distinct value (strings and small optional ints repeat a lot)."""

    def __missing__(self, value: object) -> bytes:
        encoded = self[value] = json_text(value) if value is None or isinstance(value, str) else b"%d" % value
        return encoded


class SocketJsonEncoder:
    """Encodes sockets as JSON objects equal to ``orjson.dumps(socket_to_dict(sock, processes))``, several times
    faster: precompiled byte templates (``tcp_info`` straight from its values), and caches for repeated
    strings, small numbers and the shared ``extensions`` mappings. Use one encoder per document."""

    def __init__(self, processes: Mapping[int, Process]) -> None:
        self._processes = processes
        self._encoded = _Encoded()
        self._shared: dict[int, tuple[Mapping[str, object], bytes]] = {}
        self._templates: dict[tuple[str, ...], bytes] = {}
        self._records: dict[tuple[str, ...], tuple[Callable[[object], tuple], bytes]] = {}

    def encode(self, sock: Socket) -> bytes:
        """The JSON object of ``sock``."""
        encoded = self._encoded
        info = sock.tcp_info
        timer = sock.timer
        meminfo = sock.meminfo
        skmem = sock.skmem
        cookie = sock.cookie
        peer_inode = sock.peer_inode
        return _SOCKET_TEMPLATE % (
            encoded[sock.proto],
            encoded[sock.family],
            encoded[sock.state],
            encoded[sock.local_address],
            encoded[sock.local_port],
            encoded[sock.remote_address],
            encoded[sock.remote_port],
            encoded[sock.path],
            b"null" if peer_inode is None else b"%d" % peer_inode,
            encoded[sock.sock_type],
            b"%d" % sock.inode,
            b"null" if cookie is None else b"%d" % cookie,
            encoded[sock.uid],
            encoded[sock.recv_q],
            encoded[sock.send_q],
            self._owners(sock) if sock.owners else b"[]",
            b"null" if info is None else self._tcp_info(info),
            b"null" if timer is None else _TIMER_TEMPLATE % (encoded[timer.name], timer.expires_ms, timer.retrans),
            encoded[sock.congestion],
            b"null" if meminfo is None else _MEMINFO_TEMPLATE % meminfo,
            b"null" if skmem is None else _SKMEM_TEMPLATE % skmem,
            encoded[sock.cgroup],
            encoded[sock.shutdown],
            encoded[sock.tos],
            encoded[sock.tclass],
            encoded[sock.mark],
            encoded[sock.interface],
            self._extensions(sock.extensions) if sock.extensions else b"{}",
        )

    def _owners(self, sock: Socket) -> bytes:
        encoded = self._encoded
        processes = self._processes
        owners = sock.owners
        if len(owners) == 1:
            (owner,) = owners
            return b"[%s]" % (_OWNER_TEMPLATE % (owner.pid, owner.fd, encoded[_name(processes, owner.pid)]))
        return b"[%s]" % b",".join(
            _OWNER_TEMPLATE % (owner.pid, owner.fd, encoded[_name(processes, owner.pid)]) for owner in owners
        )

    @staticmethod
    def _tcp_info(info: Any) -> bytes:
        if type(info) is TcpInfo:
            return _TCP_INFO_TEMPLATE % info.values()
        return orjson.dumps(_record(info))

    def _extensions(self, extensions: Mapping[str, Mapping[str, object]]) -> bytes:
        kind = type(extensions)
        if kind is MappingProxyType:  # read-only: shared by many sockets
            return self._cached(extensions, self._encode_extensions)
        if kind is BbrExtensions:  # a shared mapping (encoded once) followed by this socket's "bbr"
            shared = self._cached(extensions.shared, self._encode_extensions)
            bbr = self._extension(extensions["bbr"])
            return (b"{" if shared == b"{}" else shared[:-1] + b",") + b'"bbr":' + bbr + b"}"
        return self._encode_extensions(extensions)

    def _encode_extensions(self, extensions: Mapping[str, Mapping[str, object]]) -> bytes:
        names = tuple(extensions)
        template = self._templates.get(names)
        if template is None:
            template = self._templates[names] = _object_template(names, "%s")
        return template % tuple(
            self._cached(values, json_object) if type(values) is MappingProxyType else self._extension(values)
            for values in extensions.values()
        )

    def _extension(self, values: Mapping[str, object]) -> bytes:
        """One extension's values; a slotted record of ints with ``_fields`` (e.g. BBR info) by template."""
        fields = getattr(values, "_fields", None)
        if fields is not None:
            record = self._records.get(fields)
            if record is None:
                record = self._records[fields] = (attrgetter(*fields), _object_template(fields))
            try:
                return record[1] % record[0](values)
            except TypeError:  # not all ints
                pass
        return json_object(values)

    def _cached(self, mapping: Mapping[str, Any], encode: Callable[[Mapping[str, Any]], bytes]) -> bytes:
        """``encode(mapping)``, once per shared mapping (by identity: they all outlive the encoder's document)."""
        cached = self._shared.get(id(mapping))
        if cached is None or cached[0] is not mapping:
            cached = self._shared[id(mapping)] = (mapping, encode(mapping))
        return cached[1]


def json_object(values: Mapping[str, object]) -> bytes:
    """A mapping of plain values (one extension's) as a JSON object."""
    return _dumps(dict(values))


def json_text(value: str | None) -> bytes:
    """A JSON string, or null."""
    return _dumps(value)


def _dumps(value: object) -> bytes:
    """orjson's encoding; lone surrogates (undecodable bytes kept by surrogateescape), which orjson refuses, are
    written as \\udcXX escapes instead."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()
