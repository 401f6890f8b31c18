"""Process attribution: which (pid, fd)s hold each socket inode, found by walking ``/proc/<pid>/fd``.

Every owner is reported (a socket shared after fork has several), sorted by (pid, fd). Processes that exit
mid-scan, and processes whose fd table we may not read (not root), are skipped and counted, never raised.

Caching (so that a refresh does not redo work that did not change):

- per (pid, fd) the socket inode it refers to, or "not a socket"; per pid its :class:`Process` record. Both are
  dropped when the pid's start time or comm (``/proc/<pid>/stat``) changes: pid reuse, or an ``exec``.
- each call does, per pid, one ``os.listdir`` of its fd directory and one read of its ``stat``. A cached fd is
  ``readlink``-ed again only when it is new for that pid, or its cached inode was asked for in the previous call
  but not in this one (that socket closed, so the fd number may have been reused). A second pass runs only when
  some asked-for inodes are still without owner and that set of orphans differs from the one left after the last
  second pass: it re-reads the fds cached as "not a socket" or as a socket not asked for (a file or e.g. netlink
  fd whose number is now held by an asked-for socket). Sockets outside the dump (netlink, other families under
  ``ProcfsSource(only=...)``) are thus not re-read on every call.

The first call of a resolver has nothing cached and must ``readlink`` every fd of every process (~0.5 s at
100,000 sockets). :meth:`OwnerResolver.prefetch` starts that cold scan in a forked helper process, so that it
overlaps with the socket dump; the next call adopts the fd tables it read (sent back with ``marshal``) as if a
previous call had cached them, and then runs as a warm call (which re-validates every pid).

Blind spots of the cache (accepted for speed): an fd closed and its number reused for *another* socket while the
old socket stays alive through another owner keeps its old inode until that socket closes; likewise a socket
``dup``-ed onto a reused "not a socket" fd number while the socket already has another owner; a cmdline
rewritten in place (setproctitle) without a comm change. Threads that ``unshare(CLONE_FILES)`` are not walked
(``/proc/<pid>/fd`` is the thread-group leader's table).
"""

from __future__ import annotations

import errno
import gc
import marshal
import os
import select
import signal
import threading
import time
from collections.abc import Collection, Iterable, Set
from contextlib import suppress
from dataclasses import dataclass, field

from .model import Owner, OwnerVisibility, Process, Socket
from .procfs_parse import decode_text
from .users import user_name

_NOT_SOCKET = 0
_SOCKET_LINK_PREFIX = "socket:["
_VANISHED_ERRNOS = frozenset({errno.ENOENT, errno.ESRCH})
PREFETCH_TIMEOUT = 30.0
"""Seconds the adopting call waits for the prefetching helper before scanning by itself."""

FdTable = tuple[int, bytes, list[str], list[int]]
"""What the prefetching helper reads per process: (pid, /proc/<pid>/stat bytes, fd names, socket inode per fd
(_NOT_SOCKET for other files))."""

_new_object = object.__new__
_set_pid = Owner.pid.__set__  # type: ignore[attr-defined]
_set_fd = Owner.fd.__set__  # type: ignore[attr-defined]


def _owner(pid: int, fd: int) -> Owner:
    """``Owner(pid, fd)`` without the frozen dataclass ``__init__`` (3x faster; 100,000 of them when cold)."""
    owner = _new_object(Owner)
    _set_pid(owner, pid)
    _set_fd(owner, fd)
    return owner


class _Vanished(Exception):
    """The process exited while being read."""


class _Unreadable(Exception):
    """The process's fd table may not be read by us."""


def _classify(error: OSError) -> Exception:
    return _Vanished() if error.errno in _VANISHED_ERRNOS else _Unreadable()


@dataclass(slots=True)
class _PidCache:
    """What one scan learnt about one process."""

    start_time: str
    comm: str
    fd_inodes: dict[int, int]
    """fd -> socket inode, or _NOT_SOCKET, for every fd of the process's table (its keys are the table)."""
    by_inode: dict[int, tuple[Owner, ...]] = field(default_factory=dict)
    """socket inode -> this process's owners of it, in fd order."""
    process: Process | None = None

    @classmethod
    def from_table(cls, pid: int, start_time: str, comm: str, names: list[str], inodes: list[int]) -> _PidCache:
        """The cache of a process whose fd ``names`` refer to ``inodes`` (a prefetched fd table)."""
        fds = list(map(int, names))
        by_inode: dict[int, tuple[Owner, ...]] = {}
        for fd, inode in sorted(zip(fds, inodes, strict=True)):
            if inode:
                owners = by_inode.get(inode)
                by_inode[inode] = (_owner(pid, fd),) if owners is None else (*owners, _owner(pid, fd))
        return cls(start_time, comm, dict(zip(fds, inodes, strict=True)), by_inode)

    def set_fd(self, pid: int, fd: int, inode: int | None) -> None:
        """Record what ``fd`` refers to now (None: the fd is closed), keeping ``by_inode`` in step."""
        old = self.fd_inodes.pop(fd, _NOT_SOCKET)
        if old:
            kept = tuple(owner for owner in self.by_inode[old] if owner.fd != fd)
            if kept:
                self.by_inode[old] = kept
            else:
                del self.by_inode[old]
        if inode is None:
            return
        self.fd_inodes[fd] = inode
        if inode:
            owner = _owner(pid, fd)
            owners = self.by_inode.get(inode)
            self.by_inode[inode] = (owner,) if owners is None else tuple(sorted((*owners, owner), key=_owner_order))


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _socket_inode(link: str) -> int:
    if link.startswith(_SOCKET_LINK_PREFIX) and link.endswith("]"):
        return int(link[len(_SOCKET_LINK_PREFIX) : -1])
    return _NOT_SOCKET


class OwnerResolver:
    """Maps socket inodes to their owning (pid, fd)s; keeps a cache across calls (see the module docstring).

    Use from one thread. After :meth:`owners_of`, :meth:`processes` and :meth:`visibility` describe that call.
    """

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root
        self._pids: dict[int, _PidCache] = {}
        self._processes: dict[int, Process] = {}
        self._unreadable = 0
        self._vanished = 0
        self._orphans_after_full_pass: frozenset[int] = frozenset()
        self._last_wanted: Set[int] = frozenset()
        self._prefetching: tuple[int, int] | None = None
        """(pid, pipe) of the prefetching helper."""

    def prefetch(self) -> None:
        """Start the cold scan in a forked helper if nothing is cached yet (see the module docstring); the next
        :meth:`owners_of` adopts its result. Not in a threaded process (forking one is unsafe), nor when the
        fork fails: then that call scans by itself, as usual."""
        if self._pids or self._prefetching is not None or threading.active_count() > 1:
            return
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:  # the helper: scan, send, and leave without running any of the parent's exit handlers
            status = 1
            try:
                gc.disable()  # a collection would touch (and so copy) every object shared with the parent
                os.close(read_end)
                with open(write_end, "wb") as pipe:
                    pipe.write(marshal.dumps(read_fd_tables(self.proc_root)))
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self._prefetching = (pid, read_end)

    def _adopt_prefetched(self) -> None:
        assert self._prefetching is not None
        (pid, read_end), self._prefetching = self._prefetching, None
        try:
            output = _read_until_eof(read_end, time.monotonic() + PREFETCH_TIMEOUT)
        except OSError:
            output = None
        finally:
            os.close(read_end)
        if output is None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere: its exit status is unknown
            return
        if output is None or os.waitstatus_to_exitcode(status) != 0:
            return
        tables: list[FdTable] = marshal.loads(output)
        for table_pid, stat, names, inodes in tables:
            try:
                start_time, comm = _parse_stat(decode_text(stat))
            except _Vanished:
                continue
            self._pids[table_pid] = _PidCache.from_table(table_pid, start_time, comm, names, inodes)

    def owners_of(self, inodes: Collection[int]) -> dict[int, tuple[Owner, ...]]:
        """Every owner of each of ``inodes`` that has one, sorted by (pid, fd). A :data:`model.OwnerLookup`."""
        if self._prefetching is not None:
            self._adopt_prefetched()
        wanted = inodes if isinstance(inodes, frozenset) else frozenset(inodes)
        closed = self._last_wanted.difference(wanted)
        self._last_wanted = wanted
        self._unreadable = self._vanished = 0
        previous, self._pids = self._pids, {}
        found: dict[int, tuple[Owner, ...]] = {}
        for pid in self._list_pids():
            cache = self._scan_pid(pid, previous.get(pid), closed)
            if cache is not None:
                self._pids[pid] = cache
                _merge(found, cache.by_inode, wanted)
        orphans = frozenset(wanted.difference(found))
        if orphans and orphans != self._orphans_after_full_pass:
            self._recheck_other_fds(wanted, found)
            self._orphans_after_full_pass = frozenset(wanted.difference(found))
        self._processes = self._processes_of(found)
        return found

    def processes(self) -> dict[int, Process]:
        """The processes owning at least one socket found by the last :meth:`owners_of` call."""
        return dict(self._processes)

    def visibility(self, sockets: Iterable[Socket]) -> OwnerVisibility:
        """What the last :meth:`owners_of` call could not see; ``sockets`` are the records it was used for."""
        hidden = sum(1 for sock in sockets if sock.inode and not sock.owners)
        return OwnerVisibility(hidden, self._unreadable, self._vanished, as_root=os.geteuid() == 0)

    # -- scanning -------------------------------------------------------------------------------------------

    def _list_pids(self) -> list[int]:
        with os.scandir(self.proc_root) as entries:
            return sorted(int(entry.name) for entry in entries if entry.name.isdigit())

    def _scan_pid(self, pid: int, cached: _PidCache | None, closed: Set[int]) -> _PidCache | None:
        """The pid's fd table, re-reading only new fds and those that held a socket in ``closed`` (asked for
        last time, not now); None when the process was skipped (and counted)."""
        base = f"{self.proc_root}/{pid}"
        try:
            # fd numbers as ints, compared with the cached table's keys (keeping the names as strings would cost
            # ~100 bytes per fd at 100,000 sockets)
            fds = frozenset(map(int, os.listdir(f"{base}/fd")))
            if not fds:
                return None
            start_time, comm = self._stat(base)
            if cached is not None and (cached.start_time, cached.comm) != (start_time, comm):
                cached = None
            if cached is None:
                cached = _PidCache(start_time, comm, {})
            known = cached.fd_inodes.keys()
            if known == fds and cached.by_inode.keys().isdisjoint(closed):
                return cached
            for fd in known - fds:
                cached.set_fd(pid, fd, None)
            for inode in cached.by_inode.keys() & closed:
                for owner in cached.by_inode.get(inode, ()):
                    cached.set_fd(pid, owner.fd, self._readlink_inode(f"{base}/fd/{owner.fd}"))
            for fd in fds - known:
                cached.set_fd(pid, fd, self._readlink_inode(f"{base}/fd/{fd}"))
        except _Vanished:
            self._vanished += 1
            return None
        except _Unreadable:
            self._unreadable += 1
            return None
        except OSError as error:
            self._count(_classify(error))
            return None
        return cached

    def _recheck_other_fds(self, wanted: Set[int], found: dict[int, tuple[Owner, ...]]) -> None:
        """Second pass: readlink the fds cached as "not a socket" or as a socket not asked for (their number may
        have been reused by an asked-for socket) and add the owners found."""
        for pid, cache in self._pids.items():
            changed: dict[int, int] = {}
            for fd, cached_inode in cache.fd_inodes.items():
                if cached_inode in wanted:
                    continue
                try:
                    inode = self._readlink_inode(f"{self.proc_root}/{pid}/fd/{fd}")
                except (_Vanished, _Unreadable, OSError):
                    break
                if inode != cached_inode:
                    changed[fd] = inode
            newly_sockets: dict[int, tuple[Owner, ...]] = {}
            for fd, inode in sorted(changed.items()):
                cache.set_fd(pid, fd, inode)
                if inode in wanted:
                    newly_sockets[inode] = (*newly_sockets.get(inode, ()), Owner(pid, fd))
            for inode, owners in newly_sockets.items():
                found[inode] = tuple(sorted((*found.get(inode, ()), *owners), key=_owner_order))

    def _readlink_inode(self, path: str) -> int:
        """The socket inode an fd refers to, _NOT_SOCKET for other files or an fd that just closed."""
        try:
            return _socket_inode(os.readlink(path))
        except FileNotFoundError:
            if not os.path.exists(os.path.dirname(path)):
                raise _Vanished() from None
            return _NOT_SOCKET
        except OSError as error:
            raise _classify(error) from None

    def _stat(self, base: str) -> tuple[str, str]:
        """(start time in ticks, comm) from /proc/<pid>/stat."""
        try:
            return _parse_stat(decode_text(_read_bytes(f"{base}/stat")))
        except OSError as error:
            raise _classify(error) from None

    def _count(self, reason: Exception) -> None:
        if isinstance(reason, _Vanished):
            self._vanished += 1
        else:
            self._unreadable += 1

    # -- process records ------------------------------------------------------------------------------------

    def _processes_of(self, found: dict[int, tuple[Owner, ...]]) -> dict[int, Process]:
        """Process records for the owners in ``found``; owners of processes that vanished meanwhile are dropped."""
        owning_pids = sorted({owner.pid for owners in found.values() for owner in owners})
        processes: dict[int, Process] = {}
        gone: set[int] = set()
        for pid in owning_pids:
            cache = self._pids[pid]
            if cache.process is None:
                try:
                    cache.process = self._read_process(pid, cache.comm)
                except _Vanished:
                    self._vanished += 1
                    del self._pids[pid]
                    gone.add(pid)
                    continue
            processes[pid] = cache.process
        if gone:
            for inode, owners in list(found.items()):
                kept = tuple(owner for owner in owners if owner.pid not in gone)
                if kept:
                    found[inode] = kept
                else:
                    del found[inode]
        return processes

    def _read_process(self, pid: int, comm: str) -> Process:
        base = f"{self.proc_root}/{pid}"
        cmdline_raw = self._read_optional(f"{base}/cmdline") or b""
        cmdline = cmdline_raw.split(b"\0")
        if cmdline and cmdline[-1] == b"":
            cmdline.pop()
        uid = self._real_uid(base)
        cgroup = None
        for line in (self._read_optional(f"{base}/cgroup") or b"").split(b"\n"):
            if line.startswith(b"0::"):
                cgroup = decode_text(line[3:])
                break
        return Process(
            pid=pid,
            name=comm,
            cmdline=tuple(decode_text(arg) for arg in cmdline),
            uid=uid,
            user=user_name(uid) if uid is not None else "?",
            cgroup=cgroup,
        )

    def _real_uid(self, base: str) -> int | None:
        for line in (self._read_optional(f"{base}/status") or b"").split(b"\n"):
            if line.startswith(b"Uid:"):
                return int(line.split()[1])
        try:
            return os.stat(base).st_uid
        except OSError as error:
            if error.errno in _VANISHED_ERRNOS:
                raise _Vanished() from None
            return None

    @staticmethod
    def _read_optional(path: str) -> bytes | None:
        """A /proc file's bytes; None when not allowed; raises _Vanished when the process is gone."""
        try:
            return _read_bytes(path)
        except OSError as error:
            reason = _classify(error)
            if isinstance(reason, _Vanished):
                raise reason from None
            return None


def _parse_stat(stat: str) -> tuple[str, str]:
    """(start time in ticks, comm) from /proc/<pid>/stat text; comm is the same kernel text as /proc/<pid>/comm."""
    comm_end = stat.rfind(")")
    fields = stat[comm_end + 2 :].split()
    if comm_end < 0 or len(fields) < 20:
        raise _Vanished()  # only an exiting process shows a truncated stat
    return fields[19], stat[stat.find("(") + 1 : comm_end]


def read_fd_tables(proc_root: str) -> list[FdTable]:
    """Every readable process's fd table (the prefetching helper's job). Processes that vanish or may not be
    read are left out: the adopting call's own pass finds and counts them."""
    tables: list[FdTable] = []
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        base = f"{proc_root}/{name}"
        try:
            names = os.listdir(f"{base}/fd")
            stat = _read_bytes(f"{base}/stat")
            inodes = []
            for fd in names:
                try:
                    inodes.append(_socket_inode(os.readlink(f"{base}/fd/{fd}")))
                except FileNotFoundError:  # closed meanwhile
                    inodes.append(_NOT_SOCKET)
        except OSError:
            continue
        tables.append((int(name), stat, names, inodes))
    return tables


def _owner_order(owner: Owner) -> tuple[int, int]:
    return owner.pid, owner.fd


def _merge(found: dict[int, tuple[Owner, ...]], by_inode: dict[int, tuple[Owner, ...]], wanted: Set[int]) -> None:
    """Add one process's owners (pids are merged in ascending order, so the result stays sorted by (pid, fd))."""
    if by_inode.keys() <= wanted and found.keys().isdisjoint(by_inode):
        found.update(by_inode)
        return
    for inode, owners in by_inode.items():
        if inode in wanted:
            found[inode] = found.get(inode, ()) + owners


def _read_until_eof(fd: int, deadline: float) -> bytes | None:
    """Everything readable from pipe ``fd`` until its writer closes it; None if ``deadline`` passes first."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
