"""Process attribution: which (pid, fd)s hold each socket inode, found by walking ``/proc/<pid>/fd``.

Every owner is reported (a socket shared after fork has several), sorted by (pid, fd). Processes that exit
mid-scan, and processes whose fd table we may not read (not root), are skipped and counted, never raised; an fd
whose target cannot be named is skipped alone (see :func:`.proc_files.outcome_of`).

Caching (so that a refresh does not redo work that did not change):

- per (pid, fd) the socket inode it refers to, or "not a socket"; per pid its :class:`Process` record. Both are
  dropped when the pid's start time or comm (``/proc/<pid>/stat``) changes: pid reuse, or an ``exec``.
- each call reads, per pid, its ``stat`` and the size of its fd directory, which is its fd count (0 when the
  kernel does not report it, which then counts as unknown). A cached pid whose count equals its cached fd count,
  and that holds no socket asked for in the previous call but not in this one, keeps its cached table without
  ``os.listdir`` of its fd directory ("unlisted"); every other pid's fd directory is listed. A listed pid's fd is
  ``readlink``-ed again when it is new for that pid, or its cached inode was asked for in the previous call but
  not in this one (that socket closed, so the fd number may have been reused).
- with the proc connector's events (:mod:`netwatch.backends.process_events`, a live collector as root), a call
  takes the processes that forked off, exec'd, exited or changed identity since the previous call (after the
  dump: a process holding a dumped socket forked before it), and the others need neither /proc listed nor their
  ``stat`` read: their pids, start times and comms stand. Only their fd counts are read. Where events were lost, it
  is a call without them.
- a process whose fd links may not be read (listing its fd directory may succeed) is counted as unreadable and
  looked at again in full only when its start time, comm or fd count changes, or by the rolling re-listing.
- the one change a count misses is "closed fd A, opened fd B != A". Safety net: when some asked-for inodes are
  without owner and at least one of them was not already without owner after the previous call, the fd
  directories of the pids left unlisted are listed after all (at most once per call) before the second pass
  below. So a new socket never goes without owner for an unchanged count; only a socket that was already
  without owner (see the blind spots) and lands on a new fd number of such a process waits for the rolling
  re-listing.
- the owners of the inodes asked for: a call starts from the previous call's, drops the inodes no longer asked
  for and merges again (from every cached table, in pid order) those newly asked for and those a change of a
  table touched; where that is more work than merging every table's owners (a first call, heavy churn, another
  set of inodes), it merges every table's.
- a rolling re-listing lists the fd directory of every cached pid at least once per ``revalidate_every``
  seconds, whatever its count, a slice of the pids per call in proportion to the time since the previous call.
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
100,000 sockets). :meth:`OwnerResolver.prefetch` starts that cold scan in a forked child
(:mod:`.prefetch`), so that it overlaps with the socket dump; the next call adopts the fd tables it read as if
a previous call had cached them, and then runs as a warm call (which re-validates every pid by its count). A live
resolver's adopting call leaves the safety net and the second pass to the next call: the child read every fd
moments ago, and listing the fd directories again cost ~0.1 s of the first table at 100,000 sockets. A socket that
moved to another fd number at an unchanged count meanwhile gets its owner in the next call. A one-off resolver has
no next call: :meth:`OwnerResolver.prefetch_listing`, called once the socket dump is done, has every fd directory
listed by more forked children (forked with the cold scan's, they wait until then), and the adopting call's safety
net takes their listings (made after the dump, as its own would be) instead of listing them itself, so that the
listing overlaps with the adoption.

Blind spots of the cache (accepted for speed), each corrected by the rolling re-validation or re-listing, so within
``revalidate_every`` seconds: a socket without owner in the previous call (e.g. one in flight, below) that lands on
a new fd number of a process that closed another fd meanwhile (its owner is missing meanwhile); a socket ``dup``-ed
(or received) onto a reused fd number cached as "not a socket" while the socket already has another owner (its new
owner is missing meanwhile); an fd number closed and reused while its old socket lives on only through a holder we
cannot read (in flight in an ``SCM_RIGHTS`` message, a process whose fd table is unreadable, a kernel reference such
as an io_uring fixed file): the old socket keeps that stale owner and the new socket on that number is shown without
owner meanwhile. Not corrected: a cmdline rewritten in place (setproctitle) without a comm change. Threads that
``unshare(CLONE_FILES)`` are not walked (``/proc/<pid>/fd`` is the thread-group leader's table).

Kernel threads (most pids of an idle host with many CPUs) hold no fd: a pid whose fd directory is empty and whose
``stat`` flags say so is passed over from then on while its /proc directory keeps its inode number (a pid reused
by another process gets a new one).
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Collection, Iterable, Set
from itertools import chain, compress
from typing import TYPE_CHECKING

from netwatch.backends.model.records import Owner, Process
from netwatch.backends.model.snapshot import OwnerVisibility
from netwatch.backends.owners.fd_tables import FdTable, new_owner, owner_order
from netwatch.backends.owners.prefetch import ColdScan, FdListing
from netwatch.backends.owners.proc_files import (
    Outcome,
    ProcessSkipped,
    fd_socket_inode,
    is_kernel_thread,
    list_fds,
    outcome_of,
    read_stat,
)
from netwatch.backends.owners.proc_mount import hiding_hidepid
from netwatch.backends.owners.processes import read_process

if TYPE_CHECKING:
    from netwatch.backends.process_events import EventReader

_ONE = 1
WHOLE_MERGE_ABOVE = 1.0
"""A call merges every table's owners again, instead of updating the previous call's, where the lookups the update
takes (inodes to merge again, times tables) exceed this many per inode asked for or dropped."""

REVALIDATE_EVERY = 60.0
"""Seconds within which the rolling re-validation re-reads every cached fd (see the module docstring)."""


class OwnerResolver:
    """Maps socket inodes to their owning (pid, fd)s; keeps a cache across calls (see the module docstring).

    Use from one thread. After :meth:`owners_of`, :meth:`processes` and :meth:`visibility` describe that call.
    """

    def __init__(
        self,
        proc_root: str = "/proc",
        revalidate_every: float = REVALIDATE_EVERY,
        *,
        live: bool = False,
        events: EventReader | None = None,
    ) -> None:
        """``live``: calls follow each other (a live view), so the call adopting a cold scan may leave the safety
        net to the next one (see the module docstring); a one-off call has no next one. ``events``: the proc
        connector's (see the module docstring)."""
        self.proc_root = proc_root
        self.revalidate_every = revalidate_every
        self.live = live
        self._events = events
        self._pids: dict[int, FdTable] = {}
        self._processes: dict[int, Process] = {}
        self._skipped = dict.fromkeys((Outcome.VANISHED, Outcome.UNREADABLE), 0)
        """Processes skipped by the last call, by why."""
        self._investigated_orphans: frozenset[int] = frozenset()
        """Inodes without owner since (at least) the last second pass."""
        self._last_wanted: Set[int] = frozenset()
        self._found: dict[int, tuple[Owner, ...]] | None = None
        """What the previous call returned (never changed after: the next call starts from a copy)."""
        self._last_call: float | None = None
        """time.monotonic() when the previous call started."""
        self._revalidation_credit = 0.0
        """fds the rolling re-validation owes (fractional, carried over to the next call)."""
        self._revalidated_up_to = (0, -1)
        """The (pid, fd) the rolling re-validation stopped after."""
        self._relisting_credit = 0.0
        """pids the rolling re-listing owes (fractional, carried over to the next call)."""
        self._relisted_up_to = -1
        """The pid the rolling re-listing stopped after."""
        self._kernel_threads: dict[int, int] = {}
        """pid -> inode of /proc/<pid> of the kernel threads listed by the last call."""
        self._proc_inodes: dict[int, int] = {}
        """pid -> inode of /proc/<pid> of the pids the last listing found (but known kernel threads)."""
        self._unreadable: dict[int, tuple[str, str, int]] = {}
        """pid -> (start time, comm, fd count) of the processes whose fd links the last look could not read."""
        self._cold_scan: ColdScan | None = None
        self._listing: FdListing | None = None
        self._hidepid = hiding_hidepid(proc_root)
        self._changing: set[int] = set()
        """Inodes whose owners a change of a cached table during this call touched."""
        self._fd_changes = 0
        """How many fds of cached tables :meth:`_set_fd` changed (ever): tells whether a pass changed any."""
        self.changed: frozenset[int] | None = None
        """After a call: every inode asked for in both this call and the previous one whose owners may differ
        between the two (a superset; inodes outside them may be in it too); None after a first call, or one that
        adopted a cold scan (every owner is new)."""

    def prefetch(self) -> None:
        """Start the cold scan in a forked child if nothing is cached yet (see the module docstring); the next
        :meth:`owners_of` adopts its result. When it cannot fork (e.g. in a threaded process), that call scans
        by itself, as usual."""
        if not self._pids and self._cold_scan is None:
            self._cold_scan = ColdScan.start(self.proc_root)
            if not self.live and self._cold_scan is not None:  # forked now, while this process is small
                self._listing = FdListing.start(self.proc_root)

    def prefetch_listing(self) -> None:
        """For a one-off resolver whose next call adopts a cold scan: list every fd directory now in forked children,
        for that call's safety net (see the module docstring). Call it once the socket dump is done. The children
        :meth:`prefetch` forked are told to list now; forking them after the dump, with the snapshot's records in
        memory, then writing to them, cost ~35 ms of copied pages at 100,000 sockets."""
        if self.live or self._cold_scan is None:
            return
        if self._listing is None:
            self._listing = FdListing.start(self.proc_root)
        if self._listing is not None:
            self._listing.go()

    def owners_of(self, inodes: Collection[int]) -> dict[int, tuple[Owner, ...]]:
        """Every owner of each of ``inodes`` that has one, sorted by (pid, fd); :attr:`changed` says which of
        them may differ from the previous call's."""
        adopting = self._cold_scan is not None
        first = self._last_call is None or adopting
        listing, self._listing = self._listing, None
        if self._cold_scan is not None:
            self._pids = self._cold_scan.tables()
            self._cold_scan = None
        self._changing = set()
        started = time.monotonic()
        elapsed = 0.0 if self._last_call is None else started - self._last_call
        self._last_call = started
        wanted = inodes if isinstance(inodes, frozenset) else frozenset(inodes)
        asked_before = self._last_wanted
        closed = asked_before.difference(wanted)
        self._last_wanted = wanted
        self._skipped = dict.fromkeys(self._skipped, 0)
        previous, self._pids = self._pids, {}
        last_found = None if first else self._found
        self._found = None  # until this call completes: one cut short leaves the next call the whole merge
        found: dict[int, tuple[Owner, ...]] = {} if last_found is None else dict(last_found)
        new_pids: set[int] = set()
        parents: set[int] = set()  # of new processes holding a new socket (see the module docstring)
        relist = self._due_for_listing(previous, elapsed)
        unlisted: list[int] = []  # pids whose cached fd table stood on an unchanged fd count
        own_pid = os.getpid()  # its listing holds the descriptor that reads it: its count is no check
        touched = self._events.take() if self._events is not None else None  # after the dump: its processes' forks
        for pid in self._list_pids(touched):
            cached = previous.get(pid)
            trust_count = pid not in relist and pid != own_pid
            trust_identity = trust_count and touched is not None and pid not in touched
            table = self._scan_pid(pid, cached, closed, trust_count, trust_identity)
            if table is not None and table.unlisted:
                table.unlisted = False
                unlisted.append(pid)
            if table is not None:
                self._pids[pid] = table
                if last_found is None:
                    _merge(found, table.by_inode, wanted)
                if table is not cached:
                    self._changing.update(table.by_inode)
                if table is not cached and previous:
                    new_pids.add(pid)
                    if not asked_before.issuperset(table.by_inode.keys() & wanted):
                        parents.add(table.ppid)
        for pid, table in previous.items():  # tables gone or replaced: their owners went
            if self._pids.get(pid) is not table:
                self._changing.update(table.by_inode)
        if last_found is not None:
            self._update_found(found, wanted, asked_before, closed)
        # the owners of shared sockets (more than one owner fd), filtered at C speed: most sockets have one owner
        shared = compress(found.values(), map(_ONE.__lt__, map(len, found.values())))
        recheck = {(owner.pid, owner.fd) for owners in shared for owner in owners}
        recheck.update(self._due_for_revalidation(elapsed))
        recheck.update(self._other_fds(parents.intersection(self._pids).difference(new_pids), wanted))
        self._reread(sorted(recheck), wanted, found)
        if adopting and self.live:  # the next call investigates every orphan (see the module docstring)
            self._investigated_orphans = frozenset()
        else:
            self._investigate_orphans(found, wanted, closed, unlisted, listing)
        self._processes = self._processes_of(found)
        self.changed = None if first else frozenset(self._changing)
        self._found = found
        return found

    def _investigate_orphans(
        self,
        found: dict[int, tuple[Owner, ...]],
        wanted: frozenset[int],
        closed: Set[int],
        unlisted: list[int],
        listing: FdListing | None,
    ) -> None:
        """The safety net and the second pass (see the module docstring), for the inodes of ``wanted`` without owner
        in ``found`` (updated in place) that were not already without owner after the last second pass; the net takes
        the fd directories ``listing`` listed, if any (else lists them)."""
        orphans = _orphans(wanted, found, self._investigated_orphans)
        if unlisted and not orphans <= self._investigated_orphans:
            self._list_unlisted(unlisted, closed, wanted, found, {} if listing is None else listing.listed())
            orphans = _orphans(wanted, found, self._investigated_orphans)
        elif listing is not None:
            listing.cancel()
        if not orphans <= self._investigated_orphans:
            self._reread(self._other_fds(self._pids, wanted), wanted, found)
            orphans = _orphans(wanted, found, self._investigated_orphans)
        self._investigated_orphans = orphans

    def _update_found(
        self, found: dict[int, tuple[Owner, ...]], wanted: frozenset[int], asked_before: Set[int], closed: Set[int]
    ) -> None:
        """Turn ``found``, the previous call's owners, into this call's from the tables scanned: the owners of the
        inodes no longer asked for go, those of the inodes newly asked for and of the inodes a change of a table
        touched are merged again, in pid order (at 100,000 sockets, merging every table's owners cost ~30 ms of
        each call; an idle host's changes, a few). Where that would look at more than the whole merge does, it is
        the whole merge."""
        added_count = len(wanted) - (len(asked_before) - len(closed))
        tables = list(self._pids.values())  # in pid order
        if (added_count + len(self._changing)) * len(tables) > WHOLE_MERGE_ABOVE * (len(wanted) + len(closed)):
            found.clear()
            for table in tables:
                _merge(found, table.by_inode, wanted)
            return
        for inode in closed:
            found.pop(inode, None)
        added = wanted.difference(asked_before) if added_count else ()
        for inode in chain(added, self._changing):
            if inode not in wanted:
                continue
            owners: tuple[Owner, ...] = ()
            for table in tables:
                held = table.by_inode.get(inode)
                if held:
                    owners += held
            if owners:
                found[inode] = owners
            else:
                found.pop(inode, None)

    def processes(self) -> dict[int, Process]:
        """The processes owning at least one socket found by the last :meth:`owners_of` call."""
        return dict(self._processes)

    def visibility(self, hidden: int) -> OwnerVisibility:
        """What the last :meth:`owners_of` call could not see; ``hidden``: how many of the sockets asked for got no
        owner."""
        skipped = self._skipped
        return OwnerVisibility(
            hidden,
            skipped[Outcome.UNREADABLE],
            skipped[Outcome.VANISHED],
            as_root=os.geteuid() == 0,
            hidepid=self._hidepid,
        )

    # -- scanning -------------------------------------------------------------------------------------------

    def _list_pids(self, touched: Set[int] | None) -> list[int]:
        """The pids in /proc, ascending, but the kernel threads known by the inode of their directory. With proc
        connector events (``touched``: the processes with one since the previous call), the previous call's pids
        as those events changed them, without listing /proc."""
        if touched is None or not self._proc_inodes:
            with os.scandir(self.proc_root) as entries:
                listed = {int(entry.name): entry.inode() for entry in entries if entry.name.isdigit()}
        else:
            listed = {**self._kernel_threads, **self._proc_inodes}
            for pid in touched:
                try:
                    listed[pid] = os.stat(f"{self.proc_root}/{pid}").st_ino
                except OSError:  # exited (or hidden)
                    listed.pop(pid, None)
        known = self._kernel_threads
        self._kernel_threads = {pid: inode for pid, inode in known.items() if listed.get(pid) == inode}
        for pid in self._kernel_threads:
            del listed[pid]
        self._proc_inodes = listed
        self._unreadable = {pid: identity for pid, identity in self._unreadable.items() if pid in listed}
        return sorted(listed)

    def _scan_pid(
        self,
        pid: int,
        cached: FdTable | None,
        closed: Set[int],
        trust_count: bool = False,
        trust_identity: bool = False,
        listed: list[int] | None = None,
    ) -> FdTable | None:
        """The pid's fd table, re-reading only new fds and those that held a socket in ``closed`` (asked for
        last time, not now); None when the process was skipped (and counted). ``listed``: its fd numbers as listed
        already (else its fd directory is listed).

        With ``trust_count``, a cached table of the same process (start time and comm; with ``trust_identity``,
        as the proc connector reported no event, without reading them), holding no socket in ``closed``, whose fd
        count equals the count the kernel reports (the size of the fd directory) stands without listing the
        directory; it is then marked ``unlisted``."""
        base = f"{self.proc_root}/{pid}"
        unreadable = self._unreadable.pop(pid, None)
        identity = None  # (start time, comm, fd count), once known
        try:
            if (
                trust_count
                and unreadable is not None
                and (trust_identity or _identity(base) == unreadable[:2])
                and _fd_count(base) == unreadable[2]
            ):
                identity = unreadable
                raise ProcessSkipped(Outcome.UNREADABLE)
            if (
                trust_count
                and cached is not None
                and cached.by_inode.keys().isdisjoint(closed)
                and (trust_identity or _identity(base) == (cached.start_time, cached.comm))
            ):
                count = _fd_count(base)
                if count and count == len(cached.fd_inodes):  # 0: not reported (or no fds): list it
                    cached.unlisted = True
                    return cached
            # fd numbers as ints, compared with the cached table's keys (keeping the names as strings would cost
            # ~100 bytes per fd at 100,000 sockets)
            fds = frozenset(map(int, list_fds(base)) if listed is None else listed)
            if not fds:
                if cached is None and pid in self._proc_inodes and is_kernel_thread(base):
                    self._kernel_threads[pid] = self._proc_inodes[pid]
                return None
            stat = read_stat(base)
            identity = (stat.start_time, stat.comm, len(fds))
            if cached is not None and (cached.start_time, cached.comm) != (stat.start_time, stat.comm):
                cached = None
            if cached is None:
                cached = FdTable(*stat, {})
            known = cached.fd_inodes.keys()
            if known == fds and cached.by_inode.keys().isdisjoint(closed):
                return cached
            for fd in known - fds:
                self._set_fd(cached, pid, fd, None)
            for inode in cached.by_inode.keys() & closed:
                for owner in cached.by_inode.get(inode, ()):
                    self._set_fd(cached, pid, owner.fd, fd_socket_inode(f"{base}/fd/{owner.fd}"))
            for fd in fds - known:
                self._set_fd(cached, pid, fd, fd_socket_inode(f"{base}/fd/{fd}"))
        except ProcessSkipped as skipped:
            self._skipped[skipped.outcome] += 1
            if skipped.outcome is Outcome.UNREADABLE and identity is not None:
                # looked at again in full only when it changes, or by the rolling re-listing: on a sandboxed host,
                # listing an unreadable pid 1's 266 fds to fail at its first link was half an idle refresh's owner
                # pass (0.88 ms, now 0.45 ms)
                self._unreadable[pid] = identity
            return None
        return cached

    def _set_fd(self, table: FdTable, pid: int, fd: int, inode: int | None) -> None:
        """:meth:`FdTable.set_fd`, noting the inodes whose owners it changes."""
        self._fd_changes += 1
        old = table.set_fd(pid, fd, inode)
        if old:
            self._changing.add(old)
        if inode:
            self._changing.add(inode)

    def _list_unlisted(
        self,
        unlisted: list[int],
        closed: Set[int],
        wanted: Set[int],
        found: dict[int, tuple[Owner, ...]],
        listed: dict[int, list[int]],
    ) -> None:
        """List the fd directories of the ``unlisted`` pids after all (the safety net of the module docstring; those in
        ``listed`` were listed already), and where that changed a table, merge the owners of ``wanted`` from every
        cached table into ``found`` again (~30 ms at 100,000 sockets; the listing alone, ~90 ms, mostly finds every
        table as it was)."""
        changes = self._fd_changes
        dropped = False
        for pid in unlisted:
            table = self._scan_pid(pid, self._pids[pid], closed, listed=listed.get(pid))
            if table is None:
                del self._pids[pid]
                dropped = True
            else:
                self._pids[pid] = table
        if not dropped and self._fd_changes == changes:
            return
        found.clear()
        for pid in sorted(self._pids):
            _merge(found, self._pids[pid].by_inode, wanted)

    def _due_for_listing(self, previous: dict[int, FdTable], elapsed: float) -> set[int]:
        """The next cached pids of the rolling re-listing, in pid order from where the previous call stopped,
        wrapping around: as many as ``elapsed`` seconds earn (every pid once per ``revalidate_every`` seconds)."""
        total = len(previous)
        credit = min(float(total), self._relisting_credit + total * elapsed / self.revalidate_every)
        budget = int(credit)
        self._relisting_credit = credit - budget
        if not budget:
            return set()
        pids = sorted(previous)
        first = bisect.bisect_right(pids, self._relisted_up_to)
        due = {pids[(first + step) % total] for step in range(budget)}
        self._relisted_up_to = pids[(first + budget - 1) % total]
        return due

    def _other_fds(self, pids: Iterable[int], wanted: Set[int]) -> list[tuple[int, int]]:
        """The (pid, fd)s of ``pids`` (cached ones) cached as "not a socket" or as a socket not in ``wanted``."""
        return [(pid, fd) for pid in pids for fd, inode in self._pids[pid].fd_inodes.items() if inode not in wanted]

    def _reread(self, fds: Iterable[tuple[int, int]], wanted: Set[int], found: dict[int, tuple[Owner, ...]]) -> None:
        """``readlink`` each cached (pid, fd) again (in (pid, fd) order), and update the cache and ``found`` where
        it changed. The rest of a process that vanishes or turns unreadable meanwhile is skipped: the next call's
        own scan of that pid counts it."""
        skipped = None
        for pid, fd in fds:
            if pid == skipped:
                continue
            table = self._pids[pid]
            try:
                inode = fd_socket_inode(f"{self.proc_root}/{pid}/fd/{fd}")
            except ProcessSkipped:
                skipped = pid
                continue
            old = table.fd_inodes[fd]
            if inode == old:
                continue
            self._set_fd(table, pid, fd, inode)
            if old in found:
                kept = tuple(owner for owner in found[old] if owner.fd != fd or owner.pid != pid)
                if kept:
                    found[old] = kept
                else:
                    del found[old]
            if inode in wanted:
                found[inode] = tuple(sorted((*found.get(inode, ()), new_owner(pid, fd)), key=owner_order))

    def _due_for_revalidation(self, elapsed: float) -> list[tuple[int, int]]:
        """The next cached (pid, fd)s of the rolling re-validation, in (pid, fd) order from where the previous
        call stopped, wrapping around: as many as ``elapsed`` seconds earn (every fd once per
        ``revalidate_every`` seconds)."""
        total = sum(len(table.fd_inodes) for table in self._pids.values())
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

    # -- process records ------------------------------------------------------------------------------------

    def _processes_of(self, found: dict[int, tuple[Owner, ...]]) -> dict[int, Process]:
        """Process records for the owners in ``found``; owners of processes that vanished meanwhile are dropped."""
        # a cached table's owners of wanted sockets are all in ``found`` (every change of a table updates both),
        # so the owning pids are those whose table holds a socket in ``found``: isdisjoint stops at the first one
        found_inodes = found.keys()  # a view: isdisjoint then walks the (smaller) table, not all of found
        owning_pids = sorted(
            pid for pid, table in self._pids.items() if not table.by_inode.keys().isdisjoint(found_inodes)
        )
        processes: dict[int, Process] = {}
        gone: set[int] = set()
        for pid in owning_pids:
            table = self._pids[pid]
            if table.process is None:
                try:
                    table.process = read_process(self.proc_root, pid, table.comm)
                except ProcessSkipped as skipped:
                    self._skipped[skipped.outcome] += 1
                    del self._pids[pid]
                    gone.add(pid)
                    continue
            processes[pid] = table.process
        if gone:
            for inode, owners in list(found.items()):
                kept = tuple(owner for owner in owners if owner.pid not in gone)
                if kept:
                    found[inode] = kept
                else:
                    del found[inode]
        return processes


def _identity(base: str) -> tuple[str, str]:
    """The start time and comm of the process at ``base`` (/proc/<pid>)."""
    stat = read_stat(base)
    return stat.start_time, stat.comm


def _fd_count(base: str) -> int:
    """The fd count of the process at ``base`` (/proc/<pid>), as the size of its fd directory (0: not reported)."""
    try:
        return os.stat(f"{base}/fd").st_size
    except OSError as error:
        raise ProcessSkipped(outcome_of(error)) from None


def _orphans(wanted: frozenset[int], found: dict[int, tuple[Owner, ...]], guess: frozenset[int]) -> frozenset[int]:
    """The inodes of ``wanted`` without owner in ``found`` (whose keys are all in ``wanted``, so there are
    ``len(wanted) - len(found)`` of them): ``guess`` (e.g. the previous call's) when it has that many and each is
    in ``wanted`` and not in ``found``, without a pass over ``wanted``."""
    missing = len(wanted) - len(found)
    if not missing:
        return frozenset()
    if len(guess) == missing and all(inode in wanted and inode not in found for inode in guess):
        return guess
    return frozenset(wanted.difference(found))


def _merge(found: dict[int, tuple[Owner, ...]], by_inode: dict[int, tuple[Owner, ...]], wanted: Set[int]) -> None:
    """Add one process's owners (pids are merged in ascending order, so the result stays sorted by (pid, fd))."""
    if by_inode.keys() <= wanted and found.keys().isdisjoint(by_inode):
        found.update(by_inode)
        return
    for inode, owners in by_inode.items():
        if inode in wanted:
            found[inode] = found.get(inode, ()) + owners
