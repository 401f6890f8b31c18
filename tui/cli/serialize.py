"""Snapshot -> plain data (dicts and rows) for JSON and CSV output, and the fast JSON encoding of sockets.

A socket's document has the model's :data:`SOCKET_FIELDS`, in that order. JSON writes them all (records as
objects, owners with their process names); CSV writes the plain ones, then the owners' pids and process names
and the smoothed RTT, its text cells made safe for terminals and spreadsheets (:func:`csv_text`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from types import BuiltinFunctionType
from typing import Any, BinaryIO

import orjson

from netwatch.backends.collector import snapshot_warnings
from netwatch.backends.compiled import SOCKET_JSON, load
from netwatch.backends.model.containers import Container
from netwatch.backends.model.extensions import Extensions, LayeredExtensions, is_shared
from netwatch.backends.model.namespaces import Namespace
from netwatch.backends.model.records import (
    SOCKET_FIELDS,
    MemInfo,
    Owner,
    Process,
    SkMemInfo,
    Socket,
    Timer,
    clocks_moved,  # noqa: F401 (used by the compiled SocketJsonEncoder.encode)
    owner_pids,
    tcp_info_at,
    timer_at,
)
from netwatch.backends.model.snapshot import Snapshot, socket_container
from netwatch.backends.model.tcp_info import TcpInfo, raw_json
from netwatch.tui.view.safe_text import visible

NO_NAMESPACES: Mapping[int, Namespace] = {}


def _record(value: Any) -> dict[str, Any] | None:
    """A record (a NamedTuple, TcpInfo) as a dict."""
    return None if value is None else value._asdict()


def _extensions(extensions: Extensions) -> dict[str, dict[str, object]]:
    return {name: dict(values) for name, values in extensions.items()}


_TO_PLAIN: dict[str, Callable[[Any], Any]] = {
    "tcp_info": _record, "timer": _record, "meminfo": _record, "skmem": _record, "extensions": _extensions,
}  # fmt: skip
"""How a document field that is not plain text or a number is written as plain data (owners: see below)."""
_PLAIN_FIELDS = tuple(name for name in SOCKET_FIELDS if name != "owners" and name not in _TO_PLAIN)
DOCUMENT_FIELDS = (*SOCKET_FIELDS, "container")
"""A socket's JSON document: the record's fields, then its container or unit (:func:`socket_container`)."""
CSV_COLUMNS = (*_PLAIN_FIELDS, "pids", "processes", "rtt_us", "container")
_socket_values = attrgetter(*SOCKET_FIELDS)
_plain_values = attrgetter(*_PLAIN_FIELDS)


def socket_to_dict(
    sock: Socket,
    processes: Mapping[int, Process],
    now: float | None = None,
    namespaces: Mapping[int, Namespace] = NO_NAMESPACES,
) -> dict[str, Any]:
    """Everything known about one socket, keyed as in the JSON output; ``now`` (the snapshot's monotonic time):
    a record kept from an earlier dump has its clocks moved on to it; ``namespaces``: the snapshot's, where an
    ownerless socket's container comes from."""
    document = {
        name: _TO_PLAIN[name](value) if name in _TO_PLAIN else value
        for name, value in zip(SOCKET_FIELDS, _socket_values(sock), strict=True)
    }
    if now is not None and sock.observed_at is not None:
        document["tcp_info"] = tcp_info_at(sock, now) if sock.tcp_info is not None else None
        document["timer"] = _record(timer_at(sock, now))
    document["owners"] = [
        {"pid": owner.pid, "fd": owner.fd, "name": _name(processes, owner.pid)} for owner in sock.owners
    ]
    document["container"] = container_to_dict(socket_container(sock, processes, namespaces))
    return document


def container_to_dict(container: Container | None) -> dict[str, str | None] | None:
    return None if container is None else {
        "runtime": container.runtime, "id": container.id, "name": container.name, "pod": container.pod
    }  # fmt: skip


def namespaces_to_list(snapshot: Snapshot) -> list[dict[str, Any]]:
    """The JSON document's ``namespaces``: each namespace listed, with its socket count."""
    counts = Counter(map(attrgetter("netns_inode"), snapshot.sockets.values()))
    return [
        {"inode": namespace.inode, "name": namespace.name, "container": container_to_dict(namespace.container),
         "pids": list(namespace.pids), "sockets": counts[namespace.inode]}
        for namespace in snapshot.namespaces.values()
    ]  # fmt: skip


def snapshot_header(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON document for ``netwatch --once --format json``, but its ``sockets`` list."""
    return {
        "taken_at": snapshot.taken_at,
        "backend": snapshot.backend,
        "backend_reason": snapshot.backend_reason,
        "warnings": snapshot_warnings(snapshot),
        "namespaces": namespaces_to_list(snapshot),
    }


def socket_to_csv_row(
    sock: Socket, processes: Mapping[int, Process], namespaces: Mapping[int, Namespace] = NO_NAMESPACES
) -> tuple[Any, ...]:
    """One CSV row in :data:`CSV_COLUMNS` order."""
    pids = sorted(owner_pids(sock))
    info = sock.tcp_info
    container = socket_container(sock, processes, namespaces)
    return (
        *map(_csv_cell, _plain_values(sock)),
        " ".join(map(str, pids)),
        csv_text(" ".join(_name(processes, pid) or "" for pid in pids)),
        info.rtt if info is not None and info.rtt else "",  # 0: no sample yet (a listener has none): unknown
        "" if container is None else csv_text(container.name),
    )


def _csv_cell(value: str | int | None) -> str | int:
    """A plain field's CSV cell: a number as it is (even negative), text through :func:`csv_text`, unknown empty."""
    if value is None:
        return ""
    return csv_text(value) if isinstance(value, str) else value


CSV_FORMULA_TRIGGERS = ("=", "+", "-", "@")
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list also has tab and carriage
return, which :func:`visible` has already escaped)."""


def csv_text(text: str) -> str:
    """Untrusted text as a CSV cell: control and format characters escaped as on screen (``\\x1b``), and a
    formula trigger at the start neutralised by a leading ``'`` (``@abstract`` -> ``'@abstract``)."""
    shown = visible(text)
    return "'" + shown if shown.startswith(CSV_FORMULA_TRIGGERS) else shown


def _name(processes: Mapping[int, Process], pid: int) -> str | None:
    process = processes.get(pid)
    return process.name if process else None


def _object_template(names: Iterable[str], code: str = "%d") -> bytes:
    return ("{" + ",".join(f'"{name}":{code}' for name in names) + "}").encode()


_SOCKET_TEMPLATE = _object_template(DOCUMENT_FIELDS, "%s")
_TIMER_TEMPLATE = _object_template(Timer._fields, "%s")
_MEMINFO_TEMPLATE = _object_template(MemInfo._fields)
_SKMEM_TEMPLATE = _object_template(SkMemInfo._fields)
_OWNER_KEYS = ("pid", "fd", "name")
_OWNER_TEMPLATE = '{{"{}":%d,"{}":%d,"{}":%s}}'.format(*_OWNER_KEYS).encode()
MAX_LAYERED = 4096
"""Encoded layered extensions an encoder keeps for reuse (a busy host's may all differ: the cache stays small)."""


_FIELD_ENCODINGS: dict[str, tuple[str, tuple[str, ...] | None, str]] = {
    "inode": ("NUMBER", None, 'b"null" if {0} is None else b"%d" % {0}'),
    "cookie": ("NUMBER", None, 'b"null" if {0} is None else b"%d" % {0}'),
    "peer_inode": ("NUMBER", None, 'b"null" if {0} is None else b"%d" % {0}'),
    "owners": ("OWNERS", _OWNER_KEYS, 'self._owners({0}) if {0} else b"[]"'),
    "tcp_info": ("TCP_INFO", None,
                 'b"null" if {0} is None else {0}.json(0 if self._now is None else clocks_moved(sock, self._now))'),
    "timer": ("TIMER", Timer._fields,
              'b"null" if {0} is None else self._timer({0} if self._now is None else timer_at(sock, self._now))'),
    "meminfo": ("RECORD", MemInfo._fields, 'b"null" if {0} is None else _MEMINFO_TEMPLATE % {0}'),
    "skmem": ("RECORD", SkMemInfo._fields, 'b"null" if {0} is None else _SKMEM_TEMPLATE % {0}'),
    "extensions": ("EXTENSIONS", None, "self._extensions({0})"),
    "container": ("CONTAINER", None, "self._container(sock)"),
}  # fmt: skip
"""How a document field is written: its kind for the compiled encoder (``_socket_json.c``), the names of its values'
keys there, and the expression of its value ``{0}`` in :meth:`SocketJsonEncoder.encode`. The other fields are text
or small numbers, encoded once per distinct value (:data:`_PLAIN_ENCODING`)."""
_PLAIN_ENCODING = ("PLAIN", None, "encoded[{0}]")
_ENCODINGS = {name: _FIELD_ENCODINGS.get(name, _PLAIN_ENCODING) for name in DOCUMENT_FIELDS}

_socket_json = load(SOCKET_JSON)
_COMPILED_PLAN = _socket_json and tuple(
    (name, getattr(_socket_json, kind), keys or ()) for name, (kind, keys, _code) in _ENCODINGS.items()
)
"""What the compiled encoder is made with (one (name, kind, keys) per document field), or None: not built."""


def _compile_encode() -> Callable[[SocketJsonEncoder, Socket], bytes]:
    """``SocketJsonEncoder.encode``: the socket template filled with one expression per field in
    :data:`DOCUMENT_FIELDS` order, compiled once (as dataclasses compile ``__init__``). As fast as written out by
    hand (a loop over per-field functions took 20% longer), and no field can be left out or misplaced: an
    encoding for a field the document does not have fails on the first socket."""
    values = "".join(f"        {code.format('sock.' + name)},\n" for name, (_kind, _keys, code) in _ENCODINGS.items())
    source = (
        "def encode(self, sock):\n"
        '    """The JSON object of ``sock``."""\n'
        "    encoded = self._encoded\n"
        f"    return _SOCKET_TEMPLATE % (\n{values}    )\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(source, "<SocketJsonEncoder.encode>", "exec"), globals(), namespace)
    return namespace["encode"]


class _Encoded(dict):
    """value -> its JSON bytes, computed once per distinct value (strings and small optional ints repeat a lot)."""

    def __missing__(self, value: object) -> bytes:
        encoded = self[value] = json_text(value) if value is None or isinstance(value, str) else b"%d" % value
        return encoded


class SocketJsonEncoder:
    """Encodes sockets as JSON objects equal to ``orjson.dumps(socket_to_dict(sock, processes))``, several times
    faster: precompiled byte templates (``tcp_info`` straight from its raw bytes, see ``TcpInfo.json``), and
    caches for repeated strings, small numbers and the extensions the model shares between sockets. Use one
    encoder per document; ``now`` as for :func:`socket_to_dict`."""

    def __init__(
        self,
        processes: Mapping[int, Process],
        now: float | None = None,
        namespaces: Mapping[int, Namespace] = NO_NAMESPACES,
    ) -> None:
        self._processes = processes
        self._namespaces = namespaces
        self._containers: dict[Container | None, bytes] = {}
        self._now = now
        self._encoded = _Encoded()
        self._shared: dict[int, tuple[Mapping[str, object], bytes]] = {}
        self._templates: dict[tuple[str, ...], bytes] = {}
        self._records: dict[tuple[str, ...], tuple[Callable[[object], tuple], bytes]] = {}
        self._layered: dict[tuple[int, type, bytes], bytes] = {}

    encode = _compile_encode()

    def encode_function(self) -> Callable[[Socket], bytes]:
        """The fastest way to :meth:`encode` with this encoder: the compiled encoder (``_socket_json.c``, ~2x
        faster) where it is built and ``processes`` is a dict, else :meth:`encode`. (Not kept on the encoder: the
        compiled one holds it.)"""
        if _COMPILED_PLAN is None or type(self._processes) is not dict:
            return self.encode
        return _socket_json.encoder(
            Socket, _COMPILED_PLAN, Owner, TcpInfo, self._encoded, self._shared, self._processes, self._namespaces,
            self._now, raw_json(), self._extensions, self._container_json, self.encode, LayeredExtensions,
            self._layered,
        )  # fmt: skip

    def _owners(self, owners: tuple[Owner, ...]) -> bytes:
        encoded = self._encoded
        processes = self._processes
        if len(owners) == 1:
            (owner,) = owners
            return b"[%s]" % (_OWNER_TEMPLATE % (owner.pid, owner.fd, encoded[_name(processes, owner.pid)]))
        return b"[%s]" % b",".join(
            _OWNER_TEMPLATE % (owner.pid, owner.fd, encoded[_name(processes, owner.pid)]) for owner in owners
        )

    def _container(self, sock: Socket) -> bytes:
        return self._container_json(socket_container(sock, self._processes, self._namespaces))

    def _container_json(self, container: Container | None) -> bytes:
        encoded = self._containers.get(container)
        if encoded is None:
            encoded = self._containers[container] = _dumps(container_to_dict(container))
        return encoded

    def _timer(self, timer: Timer) -> bytes:
        return _TIMER_TEMPLATE % (self._encoded[timer.name], b"%d" % timer.expires_ms, b"%d" % timer.retrans)

    def _extensions(self, extensions: Extensions) -> bytes:
        if is_shared(extensions):
            return self._cached(extensions, self._encode_extensions)
        if isinstance(extensions, LayeredExtensions):  # a shared mapping (encoded once), then the socket's own
            # Idle sockets repeat their own raw values (e.g. BBR's): each distinct layering is encoded once. The
            # shared mapping's id is safe in the key: _cached keeps the mapping alive as long as the encoder. (The
            # compiled encoder looks the same key up itself before it calls this.)
            key = (id(extensions.shared), type(extensions), extensions.raw)
            encoded = self._layered.get(key)
            if encoded is None:
                shared = self._cached(extensions.shared, self._encode_extensions)
                own = b"%s:%s" % (self._encoded[extensions.name], self._extension(extensions.own()))
                encoded = (b"{" if shared == b"{}" else shared[:-1] + b",") + own + b"}"
                if len(self._layered) < MAX_LAYERED:
                    self._layered[key] = encoded
            return encoded
        return self._encode_extensions(extensions)

    def _encode_extensions(self, extensions: Extensions) -> bytes:
        names = tuple(extensions)
        template = self._templates.get(names)
        if template is None:
            template = self._templates[names] = _object_template(names, "%s")
        return template % tuple(
            self._cached(values, json_object) if is_shared(values) else self._extension(values)
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


JSON_BATCH = 2000
"""Sockets :func:`write_objects` encodes per write where it encodes them one by one."""


def write_objects(encode: Callable[[Socket], bytes], sockets: Sequence[Socket], start: int, stop: int,
                  out: BinaryIO) -> None:
    """Write the JSON objects of ``sockets[start:stop]`` to ``out``, comma-separated, with ``encode`` (from
    :meth:`SocketJsonEncoder.encode_function`). The compiled encoder writes them to ``out``'s descriptor itself: no
    bytes object per socket, and no reference taken to a record, so that a forked child writing half a list copies
    none of the parent's pages it reads (~1 µs a socket at 50,000 connections); else they go in batches."""
    compiled = _socket_json is not None and isinstance(encode, BuiltinFunctionType)  # not SocketJsonEncoder.encode
    if compiled and isinstance(sockets, list) and _has_descriptor(out):
        out.flush()
        _socket_json.write(encode, sockets, start, stop, out.fileno())
        return
    for first in range(start, stop, JSON_BATCH):
        if first > start:
            out.write(b",")
        out.write(b",".join(map(encode, sockets[first : min(first + JSON_BATCH, stop)])))


def _has_descriptor(out: BinaryIO) -> bool:
    try:
        out.fileno()
    except OSError:  # io.UnsupportedOperation: e.g. an in-memory file
        return False
    return True


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
