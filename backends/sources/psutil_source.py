"""The psutil backend: the portable path (psutil's connection tables are the way to macOS and Windows).

Never reads /proc itself. psutil reports each connection's owning pid and fd, so this source reports the owners
itself (``reports_owners``): its result carries them by socket key, with the process records and what could not
be seen (:class:`~netwatch.backends.model.source_result.KnownOwners`), where the other backends leave them to the
collector's /proc resolver.

What psutil does not say, and how it is filled in:

- no inode or cookie: ``inode`` is None and the key is ``(proto, family, laddr, lport, raddr, rport, pid, fd)``;
  on Linux psutil lists a socket shared by several processes once per owner (and TCP/UDP only for its first
  owner), so a shared socket may show as several rows, each with one owner. Connections without a known owner
  have ``pid`` None and ``fd`` -1; where the OS gives a pid but no fd (Windows) the owner's fd is -1.
- no queues (None), no socket uid (the owning process's real uid where known), no Unix peers; no RAW sockets.
  Every snapshot says so.
- UDP state: psutil says "NONE"; a UDP socket with a remote address is ESTABLISHED, else UNCONN. Unix state:
  psutil says "NONE" on Linux, reported as UNKNOWN.
- where the system-wide table needs privileges (macOS without root), each readable process is asked for its
  own connections instead, and the snapshot warns about it. Where it does not (Linux), psutil skips the
  processes whose fd tables it may not read without a word: they are counted afterwards, if any socket has no
  owner, so that the snapshot can say why.
- no Unix sockets on Linux (the snapshot says why): psutil reads them from ``/proc/net/unix`` split at
  whitespace, where a name containing a newline can forge lines, and one containing a space loses its name.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import psutil

from netwatch.backends.model.names import FAMILIES, TCP_STATES, UNCONN, UNIX_TYPES
from netwatch.backends.model.records import Owner, Process, Socket, SocketKey
from netwatch.backends.model.snapshot import OwnerVisibility
from netwatch.backends.model.source_result import BackendUnavailable, KnownOwners, SourceResult

_WILDCARDS = {"ipv4": "0.0.0.0", "ipv6": "::", "unix": ""}
_INET_PROTOS = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}
_OTHER_STATES = {"DELETE_TCB": "CLOSE", "IDLE": "CLOSE", "BOUND": UNCONN}
"""psutil states that are not Linux kernel names (Windows, Solaris) -> the nearest kernel name."""
_PER_PROCESS_WARNING = (
    "psutil: the system-wide connection table needs privileges: showing only the sockets of readable processes"
)
_ON_LINUX = sys.platform.startswith("linux")
_KIND = "inet" if _ON_LINUX else "all"
"""The connections asked of psutil: on Linux not the Unix ones (see the module docstring)."""
_UNIX_UNSEEN = (
    "no Unix sockets: psutil splits /proc/net/unix at whitespace, so a name containing a newline or a space would "
    "forge, hide or rename sockets (--backend procfs checks them)"
    if _ON_LINUX
    else "no Unix socket states"
)
UNSEEN = f"psutil: no queues, inodes, socket uids (the owner's is shown), tcp_info or RAW sockets; {_UNIX_UNSEEN}"
"""What this backend cannot see (said in every snapshot's warnings)."""


class _Connection(NamedTuple):
    """psutil's ``sconn`` fields (a per-process ``pconn`` plus its pid)."""

    fd: int
    family: int
    type: int
    laddr: Any
    raddr: Any
    status: str
    pid: int | None


class PsutilSource:
    """Sockets from ``psutil.net_connections(kind="all")``, with their owners."""

    name = "psutil"
    reports_owners = True
    close_events = None

    def __init__(self) -> None:
        self._unreadable = 0
        self._vanished = 0

    def close(self) -> None:
        """Nothing is held open between collections."""

    def collect(self, previous: Mapping[SocketKey, Socket] | None = None) -> SourceResult:
        """Dump every TCP/UDP/Unix (not on Linux) connection psutil sees, with its owner and the owning processes."""
        self._unreadable = self._vanished = 0
        warnings: tuple[str, ...] = (UNSEEN,)
        try:
            connections: Iterable[Any] = psutil.net_connections(kind=_KIND)
        except psutil.AccessDenied:
            connections = self._per_process_connections()
            warnings += (_PER_PROCESS_WARNING,)
        except (psutil.Error, OSError, RuntimeError) as error:
            raise BackendUnavailable(f"psutil: cannot list connections: {str(error).splitlines()[0]}") from error
        connections = [conn for conn in connections if conn.family in FAMILIES]
        processes = self._read_processes({conn.pid for conn in connections if conn.pid is not None})
        sockets: dict[SocketKey, Socket] = {}
        owners: dict[SocketKey, tuple[Owner, ...]] = {}
        for conn in connections:
            record = _to_socket(conn, processes)
            if record is not None:
                sockets[record.key] = record
                if conn.pid is not None:
                    owners[record.key] = (Owner(conn.pid, conn.fd),)
        # hidden: sockets without an owner, but for TIME_WAIT ones (no process holds those)
        hidden = sum(1 for key, sock in sockets.items() if key not in owners and sock.state != "TIME_WAIT")
        if hidden and _ON_LINUX:
            self._unreadable = _unreadable_fd_tables()
        visibility = OwnerVisibility(hidden, self._unreadable, self._vanished, as_root=os.geteuid() == 0)
        return SourceResult(
            sockets=sockets, warnings=warnings, known_owners=KnownOwners(owners, processes, visibility)
        )

    def _per_process_connections(self) -> list[_Connection]:
        connections: list[_Connection] = []
        for proc in psutil.process_iter():
            try:
                listing = getattr(proc, "net_connections", None) or proc.connections
                connections.extend(_Connection(*conn, proc.pid) for conn in listing(kind=_KIND))
            except psutil.AccessDenied:
                self._unreadable += 1
            except psutil.NoSuchProcess:
                self._vanished += 1
        return connections

    def _read_processes(self, pids: set[int]) -> dict[int, Process]:
        processes: dict[int, Process] = {}
        for pid in sorted(pids):
            try:
                processes[pid] = _read_process(psutil.Process(pid))
            except psutil.ZombieProcess:
                processes[pid] = Process(pid=pid, name="", cmdline=(), uid=None, user="?", cgroup=None)
            except psutil.NoSuchProcess:
                self._vanished += 1
        return processes


def _to_socket(conn: Any, processes: dict[int, Process]) -> Socket | None:
    """The record (without owners) of one psutil connection; None for a socket type not shown (RAW)."""
    family = FAMILIES[conn.family]
    if family == "unix":
        proto = "unix"
        local_address, local_port = "", 0
        remote_address, remote_port = "", 0
    else:
        proto = _INET_PROTOS.get(conn.type)
        if proto is None:
            return None
        local_address, local_port = conn.laddr if conn.laddr else (_WILDCARDS[family], 0)
        remote_address, remote_port = conn.raddr if conn.raddr else (_WILDCARDS[family], 0)
    process = processes.get(conn.pid) if conn.pid is not None else None
    return Socket(
        key=(proto, family, local_address, local_port, remote_address, remote_port, conn.pid, conn.fd),
        proto=proto,
        family=family,
        state=_state(conn.status, proto, bool(conn.raddr)),
        local_address=local_address,
        local_port=local_port,
        remote_address=remote_address,
        remote_port=remote_port,
        recv_q=None,
        send_q=None,
        inode=None,
        uid=process.uid if process is not None else None,
        path=(conn.laddr or None) if family == "unix" else None,
        sock_type=UNIX_TYPES.get(conn.type) if family == "unix" else None,
    )


def _unreadable_fd_tables() -> int:
    """How many processes' fd tables may not be read by us (psutil's system-wide table leaves them out)."""
    unreadable = 0
    for pid in psutil.pids():
        try:
            psutil.Process(pid).num_fds()
        except psutil.AccessDenied:
            unreadable += 1
        except psutil.NoSuchProcess:
            continue
    return unreadable


def _state(status: str, proto: str, has_remote: bool) -> str:
    if status in TCP_STATES:
        return status
    if status == psutil.CONN_NONE:
        if proto == "unix":
            return "UNKNOWN"
        return "ESTABLISHED" if has_remote else UNCONN
    return _OTHER_STATES.get(status, "UNKNOWN")


def _read_process(proc: psutil.Process) -> Process:
    """One process's record; attributes we may not read are left unknown (raises NoSuchProcess if it is gone)."""
    with proc.oneshot():
        name = _allowed(proc.name, "")
        cmdline = _allowed(proc.cmdline, [])
        uids = getattr(proc, "uids", None)  # POSIX only
        uid = _allowed(lambda: uids().real, None) if uids is not None else None
        user = _allowed(proc.username, None)
        ppid = _allowed(proc.ppid, None)
    return Process(
        pid=proc.pid,
        name=name,
        cmdline=tuple(cmdline),
        uid=uid,
        user=user or (str(uid) if uid is not None else "?"),
        cgroup=None,
        ppid=ppid,
    )


def _allowed(read: Any, default: Any) -> Any:
    try:
        return read()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return default
