"""Snapshot -> plain data (dicts and rows) for JSON and CSV output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netwatch.backends.model import Process, Snapshot, Socket

CSV_COLUMNS = (
    "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "path",
    "recv_q", "send_q", "inode", "uid", "pids", "processes", "rtt_us", "congestion", "cgroup",
)


def _record(value: Any) -> dict[str, Any] | None:
    return None if value is None else value._asdict()


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
        "tcp_info": _record(sock.tcp_info),
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
        "extensions": {name: dict(values) for name, values in sock.extensions.items()},
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
