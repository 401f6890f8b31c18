"""Hand-built model records for the pure-logic tests (diff, history, filter)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netwatch.backends.model.records import Owner, Process, Socket
from netwatch.backends.model.snapshot import Snapshot


def make_socket(key: Any = ("tcp", 1), **fields: Any) -> Socket:
    """A socket record: an established IPv4 TCP connection unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "proto": "tcp", "family": "ipv4", "state": "ESTABLISHED",
        "local_address": "127.0.0.1", "local_port": 40000, "remote_address": "127.0.0.1", "remote_port": 22,
        "recv_q": 0, "send_q": 0, "inode": 1000,
    }  # fmt: skip
    values.update(fields)
    return Socket(key=key, **values)


def owned_by(*pids: int) -> tuple[Owner, ...]:
    return tuple(Owner(pid, 3 + index) for index, pid in enumerate(pids))


def make_process(pid: int, name: str, user: str = "root", uid: int | None = 0) -> Process:
    return Process(pid=pid, name=name, cmdline=(name,), uid=uid, user=user, cgroup=None)


def make_snapshot(sockets: list[Socket], at: float, processes: Sequence[Process] = ()) -> Snapshot:
    """A snapshot taken at monotonic time ``at`` (wall clock ``1_700_000_000 + at``)."""
    return Snapshot(
        taken_at=1_700_000_000.0 + at,
        monotonic=at,
        backend="test",
        backend_reason="hand-built",
        sockets={sock.key: sock for sock in sockets},
        processes={process.pid: process for process in processes},
    )
