"""Process attribution: which (pid, fd)s hold each socket inode, found by walking ``/proc/<pid>/fd``.

Every owner is reported (a socket shared after fork has several), sorted by (pid, fd). Processes that exit
mid-scan, and processes whose fd table we may not read (not root), are skipped and counted, never raised.

Caching (so that a refresh does not redo work that did not change):

- per (pid, fd) the socket inode it refers to, or "not a socket"; per pid its :class:`Process` record. Both are
  dropped when the pid's start time or comm (``/proc/<pid>/stat``) changes: pid reuse, or an ``exec``.
- each call does, per pid, one ``os.listdir`` of its fd directory and one read of its ``stat``. A cached fd is
  ``readlink``-ed again when it is new for that pid, or its cached inode was asked for in the previous call but
  not in this one (that socket closed, so the fd number may have been reused).
- the fds of every asked-for socket with more than one owner fd are re-read on every call. An fd number closed
  and reused while its old socket lives on needs another holder of that socket; when that holder is an fd we
  read (a forked child, a ``dup``, a received ``SCM_RIGHTS``), the socket is shared, so a stale owner goes, and
  the new socket on the reused number gets its owner, at the latest in the call after the one that first sees
  both holders.
- a process new since the previous call that holds a socket new since then was most likely forked after its
  parent made that socket, maybe on a reused fd number: the parent's fds cached as "not a socket" or as a socket
  not asked for are re-read.
- a second pass runs when some asked-for inodes are without owner and at least one of them was not already
  without owner after the last second pass: it re-reads the fds cached as "not a socket" or as a socket not asked
  for (a file or e.g. netlink fd whose number is now held by an asked-for socket). Sockets outside the dump
  (netlink, other families under ``ProcfsSource(only=...)``) are thus not re-read on every call.
- a rolling re-validation re-reads every cached fd at least once per ``revalidate_every`` seconds (60 by
  default), a slice per call in proportion to the time since the previous call (~1/30 of the fds at a 2 s
  refresh): what no cheap check can see is corrected within that bound.

The first call of a resolver has nothing cached and must ``readlink`` every fd of every process (~0.5 s at
100,000 sockets). :meth:`OwnerResolver.prefetch` starts that cold scan in a forked helper process, so that it
overlaps with the socket dump; the next call adopts the fd tables it read (sent back with ``marshal``) as if a
previous call had cached them, and then runs as a warm call (which re-validates every pid).

Blind spots of the cache (accepted for speed), each corrected by the rolling re-validation, so within
``revalidate_every`` seconds: a socket ``dup``-ed (or received) onto a reused fd number cached as "not a socket"
while the socket already has another owner (its new owner is missing meanwhile); an fd number closed and reused
while its old socket lives on only through a holder we cannot read (in flight in an ``SCM_RIGHTS`` message, a
process whose fd table is unreadable, a kernel reference such as an io_uring fixed file): the old socket keeps
that stale owner and the new socket on that number is shown without owner meanwhile. Not corrected: a cmdline
rewritten in place (setproctitle) without a comm change. Threads that ``unshare(CLONE_FILES)`` are not walked
(``/proc/<pid>/fd`` is the thread-group leader's table).
"""

from __future__ import annotations

import bisect
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

from netwatch.backends.model.records import Owner, Process, Socket
from netwatch.backends.model.snapshot import OwnerVisibility
from netwatch.backends.owners.users import user_name
from netwatch.backends.sources.procfs_parse import decode_text

_NOT_SOCKET = 0
_SOCKET_LINK_PREFIX = "socket:["
_VANISHED_ERRNOS = frozenset({errno.ENOENT, errno.ESRCH})
PREFETCH_TIMEOUT = 30.0
"""Seconds the adopting call waits for the prefetching helper before scanning by itself."""
REVALIDATE_EVERY = 60.0
"""Seconds within which the rolling re-validation re-reads every cached fd (see the module docstring)."""

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
    ppid: int
    """Parent pid when this cache was made (used while the process is new)."""
    fd_inodes: dict[int, int]
    """fd -> socket inode, or _NOT_SOCKET, for every fd of the process's table (its keys are the table)."""
    by_inode: dict[int, tuple[Owner, ...]] = field(default_factory=dict)
    """socket inode -> this process's owners of it, in fd order."""
    process: Process | None = None

    @classmethod
    def from_table(cls, pid: int, stat: tuple[str, str, int], names: list[str], inodes: list[int]) -> _PidCache:
        """The cache of a process whose fd ``names`` refer to ``inodes`` (a prefetched fd table)."""
        fds = list(map(int, names))
        by_inode: dict[int, tuple[Owner, ...]] = {}
        for fd, inode in sorted(zip(fds, inodes, strict=True)):
            if inode:
                owners = by_inode.get(inode)
                by_inode[inode] = (_owner(pid, fd),) if owners is None else (*owners, _owner(pid, fd))
        return cls(*stat, dict(zip(fds, inodes, strict=True)), by_inode)

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

    def __init__(self, proc_root: str = "/proc", revalidate_every: float = REVALIDATE_EVERY) -> None:
        self.proc_root = proc_root
        self.revalidate_every = revalidate_every
        self._pids: dict[int, _PidCache] = {}
        self._processes: dict[int, Process] = {}
        self._unreadable = 0
        self._vanished = 0
        self._investigated_orphans: frozenset[int] = frozenset()
        """Inodes without owner since (at least) the last second pass."""
        self._last_wanted: Set[int] = frozenset()
        self._last_call: float | None = None
        """time.monotonic() when the previous call started."""
        self._revalidation_credit = 0.0
        """fds the rolling re-validation owes (fractional, carried over to the next call)."""
        self._revalidated_up_to = (0, -1)
        """The (pid, fd) the rolling re-validation stopped after."""
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
                parsed = _parse_stat(decode_text(stat))
            except _Vanished:
                continue
            self._pids[table_pid] = _PidCache.from_table(table_pid, parsed, names, inodes)

    def owners_of(self, inodes: Collection[int]) -> dict[int, tuple[Owner, ...]]:
        """Every owner of each of ``inodes`` that has one, sorted by (pid, fd). A :data:`model.OwnerLookup`."""
        if self._prefetching is not None:
            self._adopt_prefetched()
        started = time.monotonic()
        elapsed = 0.0 if self._last_call is None else started - self._last_call
        self._last_call = started
        wanted = inodes if isinstance(inodes, frozenset) else frozenset(inodes)
        asked_before = self._last_wanted
        closed = asked_before.difference(wanted)
        self._last_wanted = wanted
        self._unreadable = self._vanished = 0
        previous, self._pids = self._pids, {}
        found: dict[int, tuple[Owner, ...]] = {}
        new_pids: set[int] = set()
        parents: set[int] = set()  # of new processes holding a new socket (see the module docstring)
        for pid in self._list_pids():
            cached = previous.get(pid)
            cache = self._scan_pid(pid, cached, closed)
            if cache is not None:
                self._pids[pid] = cache
                _merge(found, cache.by_inode, wanted)
                if cache is not cached and previous:
                    new_pids.add(pid)
                    if not asked_before.issuperset(cache.by_inode.keys() & wanted):
                        parents.add(cache.ppid)
        recheck = {(owner.pid, owner.fd) for owners in found.values() if len(owners) > 1 for owner in owners}
        recheck.update(self._due_for_revalidation(elapsed))
        recheck.update(self._other_fds(parents.intersection(self._pids).difference(new_pids), wanted))
        self._reread(sorted(recheck), wanted, found)
        orphans = frozenset(wanted.difference(found))
        if not orphans <= self._investigated_orphans:
            self._reread(self._other_fds(self._pids, wanted), wanted, found)
            orphans = frozenset(wanted.difference(found))
        self._investigated_orphans = orphans
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
            start_time, comm, ppid = self._stat(base)
            if cached is not None and (cached.start_time, cached.comm) != (start_time, comm):
                cached = None
            if cached is None:
                cached = _PidCache(start_time, comm, ppid, {})
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

    def _other_fds(self, pids: Iterable[int], wanted: Set[int]) -> list[tuple[int, int]]:
        """The (pid, fd)s of ``pids`` (cached ones) cached as "not a socket" or as a socket not in ``wanted``."""
        return [
            (pid, fd) for pid in pids for fd, inode in self._pids[pid].fd_inodes.items() if inode not in wanted
        ]

    def _reread(self, fds: Iterable[tuple[int, int]], wanted: Set[int], found: dict[int, tuple[Owner, ...]]) -> None:
        """``readlink`` each cached (pid, fd) again (in (pid, fd) order), and update the cache and ``found`` where
        it changed. The rest of a process that vanishes or turns unreadable meanwhile is skipped: the next call's
        own scan of that pid counts it."""
        skipped = None
        for pid, fd in fds:
            if pid == skipped:
                continue
            cache = self._pids[pid]
            try:
                inode = self._readlink_inode(f"{self.proc_root}/{pid}/fd/{fd}")
            except (_Vanished, _Unreadable):
                skipped = pid
                continue
            old = cache.fd_inodes[fd]
            if inode == old:
                continue
            cache.set_fd(pid, fd, inode)
            if old in found:
                kept = tuple(owner for owner in found[old] if owner.fd != fd or owner.pid != pid)
                if kept:
                    found[old] = kept
                else:
                    del found[old]
            if inode in wanted:
                found[inode] = tuple(sorted((*found.get(inode, ()), _owner(pid, fd)), key=_owner_order))

    def _due_for_revalidation(self, elapsed: float) -> list[tuple[int, int]]:
        """The next cached (pid, fd)s of the rolling re-validation, in (pid, fd) order from where the previous
        call stopped, wrapping around: as many as ``elapsed`` seconds earn (every fd once per
        ``revalidate_every`` seconds)."""
        total = sum(len(cache.fd_inodes) for cache in self._pids.values())
        credit = min(float(total), self._revalidation_credit + total * elapsed / self.revalidate_every)
        budget = int(credit)
        self._revalidation_credit = credit - budget
        if not budget:
            return []
        pids = list(self._pids)  # ascending: built in _list_pids order
        after_pid, after_fd = self._revalidated_up_to
        first = bisect.bisect_left(pids, after_pid)
        due: list[tuple[int, int]] = []
        for step in range(len(pids) + 1):  # one whole turn, ending with the first pid's fds up to after_fd
            pid = pids[(first + step) % len(pids)]
            fds = sorted(self._pids[pid].fd_inodes)
            if step == 0 and pid == after_pid:
                fds = fds[bisect.bisect_right(fds, after_fd) :]
            taken = fds[: budget - len(due)]
            due.extend((pid, fd) for fd in taken)
            if len(due) == budget:
                self._revalidated_up_to = (pid, taken[-1])
                break
        return due

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

    def _stat(self, base: str) -> tuple[str, str, int]:
        """(start time in ticks, comm, parent pid) from /proc/<pid>/stat."""
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


def _parse_stat(stat: str) -> tuple[str, str, int]:
    """(start time in ticks, comm, parent pid) from /proc/<pid>/stat text; comm is the same kernel text as
    /proc/<pid>/comm."""
    comm_end = stat.rfind(")")
    fields = stat[comm_end + 2 :].split()
    if comm_end < 0 or len(fields) < 20:
        raise _Vanished()  # only an exiting process shows a truncated stat
    return fields[19], stat[stat.find("(") + 1 : comm_end], int(fields[1])


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
