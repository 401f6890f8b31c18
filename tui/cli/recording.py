"""The recording format of ``netwatch record`` / ``netwatch replay``: an append-only file of compressed frames.

A file starts with :data:`MAGIC` and a header frame (format version, host, kernel, interval). Each later frame is a
snapshot: a keyframe (every socket, in the ``--once`` JSON schema, and the processes) every
:data:`KEYFRAME_EVERY` frames, in between a diff against the previous snapshot (sockets opened or changed, in
full; keys of those closed; the processes). A frame is its length and CRC-32 (big-endian, 4 bytes each), then
its zlib-compressed JSON: a crash mid-write leaves a truncated or corrupt last frame, which reading drops (and
nothing before it).
"""

from __future__ import annotations

import json
import platform
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from netwatch.backends.model.containers import Container
from netwatch.backends.model.extensions import share
from netwatch.backends.model.namespaces import Namespace
from netwatch.backends.model.records import SOCKET_FIELDS, MemInfo, Owner, Process, SkMemInfo, Socket, Timer
from netwatch.backends.model.snapshot import Snapshot
from netwatch.backends.model.tcp_info import TcpInfo
from netwatch.tui.cli.serialize import container_to_dict, socket_to_dict

MAGIC = b"NETWATCH-RECORDING\n"
VERSION = 1
KEYFRAME_EVERY = 150
"""Frames from one keyframe to the next (5 minutes at 2 s): a seek reads at most that many diffs."""
FRAME_HEADER = struct.Struct(">II")  # length, CRC-32 of the compressed payload
MAX_FRAME = 1 << 30


class RecordingError(Exception):
    """The file is not a recording netwatch can read (the message says why, in one line)."""


@dataclass(frozen=True)
class Header:
    version: int
    host: str
    kernel: str
    interval: float
    started: float


class Recorder:
    """Appends snapshots to a recording."""

    def __init__(self, file: BinaryIO, interval: float) -> None:
        self._file = file
        self._previous: Snapshot | None = None
        self._frames = 0
        file.write(MAGIC)
        uname = platform.uname()
        self._write({"version": VERSION, "host": uname.node, "kernel": uname.release, "interval": interval,
                     "started": time.time()})  # fmt: skip

    def add(self, snapshot: Snapshot) -> None:
        """Append ``snapshot`` (a keyframe, or what changed since the last one added)."""
        previous = self._previous
        frame: dict[str, Any] = {"t": snapshot.taken_at, "m": snapshot.monotonic, "backend": snapshot.backend,
                                 "processes": [_process(process) for process in snapshot.processes.values()],
                                 "namespaces": [_namespace(namespace) for namespace in snapshot.namespaces.values()],
                                 "warnings": list(snapshot.warnings)}  # fmt: skip
        if previous is None or self._frames % KEYFRAME_EVERY == 0:
            frame["sockets"] = [_socket(sock, snapshot) for sock in snapshot.sockets.values()]
        else:
            before = previous.sockets
            frame["changed"] = [_socket(sock, snapshot) for key, sock in snapshot.sockets.items()
                                if before.get(key) is not sock]  # fmt: skip
            frame["closed"] = [list(key) for key in before if key not in snapshot.sockets]
        self._write(frame)
        self._previous = snapshot
        self._frames += 1

    def _write(self, document: Mapping[str, Any]) -> None:
        payload = zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)
        self._file.write(FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self._file.flush()


def _socket(sock: Socket, snapshot: Snapshot) -> dict[str, Any]:
    document = socket_to_dict(sock, snapshot.processes, snapshot.monotonic, snapshot.namespaces)
    document["key"] = list(sock.key)
    return document


def _process(process: Process) -> dict[str, Any]:
    return {"pid": process.pid, "name": process.name, "cmdline": list(process.cmdline), "uid": process.uid,
            "user": process.user, "cgroup": process.cgroup, "ppid": process.ppid,
            "container": container_to_dict(process.container)}  # fmt: skip


def _namespace(namespace: Namespace) -> dict[str, Any]:
    return {"inode": namespace.inode, "name": namespace.name, "container": container_to_dict(namespace.container),
            "pids": list(namespace.pids), "own": namespace.own}  # fmt: skip


def read(path: str) -> tuple[Header, list[Snapshot]]:
    """The header and every snapshot of the recording at ``path`` (a truncated or corrupt last frame dropped).
    Raises :class:`RecordingError` (and OSError) for a file that is no readable recording."""
    with open(path, "rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            raise RecordingError(f"{path} is not a netwatch recording")
        frames = _frames(file)
        first = next(frames, None)
        if first is None:
            raise RecordingError(f"{path}: the recording's header is missing or damaged")
        version = first.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise RecordingError(f"{path} is recording format {version}: this netwatch reads up to {VERSION}")
        header = Header(version, str(first.get("host", "?")), str(first.get("kernel", "?")),
                        float(first.get("interval", 2.0)), float(first.get("started", 0.0)))  # fmt: skip
        snapshots: list[Snapshot] = []
        sockets: dict = {}
        try:
            for frame in frames:
                if "sockets" in frame:
                    sockets = {}
                    added = frame["sockets"]
                else:
                    for key in frame["closed"]:
                        sockets.pop(tuple(key), None)
                    added = frame["changed"]
                for document in added:
                    sock = _record(document)
                    sockets[sock.key] = sock
                snapshots.append(_snapshot(frame, sockets))
        except (KeyError, TypeError, ValueError) as error:
            if not snapshots:
                raise RecordingError(f"{path}: its first snapshot is damaged ({error})") from None
    return header, snapshots


def _frames(file: BinaryIO) -> Iterator[dict[str, Any]]:
    """The decoded frames, up to the first truncated or corrupt one."""
    while True:
        head = file.read(FRAME_HEADER.size)
        if len(head) < FRAME_HEADER.size:
            return
        length, crc = FRAME_HEADER.unpack(head)
        if length > MAX_FRAME:
            return
        payload = file.read(length)
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        try:
            yield json.loads(zlib.decompress(payload))
        except (zlib.error, ValueError):
            return


def _record(document: dict[str, Any]) -> Socket:
    values = {name: document.get(name) for name in SOCKET_FIELDS}
    values["key"] = tuple(document["key"])
    values["owners"] = tuple(Owner(owner["pid"], owner["fd"]) for owner in document.get("owners") or ())
    for name, kind in (("timer", Timer), ("meminfo", MemInfo), ("skmem", SkMemInfo)):
        if values[name] is not None:
            values[name] = kind(**values[name])
    if values["tcp_info"] is not None:
        values["tcp_info"] = TcpInfo(**values["tcp_info"])
    values["extensions"] = share({name: share(inner) for name, inner in (values["extensions"] or {}).items()})
    return Socket(**values)


def _container(document: dict[str, Any] | None) -> Container | None:
    return None if document is None else Container(document["runtime"], document["id"], document["name"],
                                                     document.get("pod"))  # fmt: skip


def _snapshot(frame: dict[str, Any], sockets: dict) -> Snapshot:
    processes = {
        entry["pid"]: Process(entry["pid"], entry["name"], tuple(entry["cmdline"]), entry["uid"], entry["user"],
                              entry["cgroup"], entry["ppid"], _container(entry.get("container")))
        for entry in frame["processes"]
    }  # fmt: skip
    namespaces = {
        entry["inode"]: Namespace(entry["inode"], entry["name"], _container(entry.get("container")),
                                  tuple(entry["pids"]), entry["own"])
        for entry in frame.get("namespaces", ())
    }  # fmt: skip
    return Snapshot(taken_at=frame["t"], monotonic=frame["m"], backend=frame.get("backend", "replay"),
                    backend_reason="recorded", sockets=dict(sockets), processes=processes,
                    warnings=tuple(frame.get("warnings", ())), namespaces=namespaces)  # fmt: skip


def at(snapshots: list[Snapshot], when: str) -> Snapshot:
    """The snapshot at ``when``: seconds from the start (``2.5``) or a clock time (``HH:MM:SS``, local) — the last
    one taken at or before it. Raises ValueError in words."""
    first = snapshots[0].taken_at
    if when.count(":") == 2:
        day = time.localtime(first)
        try:
            hours, minutes, seconds = (int(part) for part in when.split(":"))
            moment = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, hours, minutes, seconds, 0, 0, -1))
        except (ValueError, OverflowError):
            raise ValueError(f"not a time (HH:MM:SS or seconds from the start): {when!r}") from None
    else:
        try:
            moment = first + float(when)
        except ValueError:
            raise ValueError(f"not a time (HH:MM:SS or seconds from the start): {when!r}") from None
    chosen = [snapshot for snapshot in snapshots if snapshot.taken_at <= moment + 1e-6]
    if not chosen:
        raise ValueError(f"{when} is before the recording starts")
    return chosen[-1]
