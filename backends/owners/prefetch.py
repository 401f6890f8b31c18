"""Work of the resolver done by forked children, each sending its result back with ``marshal``: the first, cold scan
(``readlink`` every fd of every process), so that it overlaps with the socket dump; and, for a one-off snapshot,
the safety net's listing of every fd directory once the dump is done, so that it overlaps with the adoption of the
cold scan (split between children forked with the first, which wait to be told the dump is done)."""

from __future__ import annotations

import marshal
import os
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any, ClassVar, Self

from netwatch.backends.forked_writer import ForkedWriter
from netwatch.backends.owners.fd_tables import FdTable
from netwatch.backends.owners.proc_files import ProcessSkipped, ProcStat, list_fds, read_fd_inodes, read_stat

PREFETCH_TIMEOUT = 30.0
"""Seconds the adopting call waits for the prefetching child before scanning by itself."""

ScannedTable = tuple[int, tuple[str, str, int], list[int], list[int]]
"""What the child reads per process: (pid, its ProcStat, fd numbers, socket inode per fd (NOT_SOCKET for other
files)): types ``marshal`` sends."""


class _MarshalledChild:
    """A forked child whose result, of types ``marshal`` sends, the parent takes when it needs it."""

    NAME: ClassVar[str]
    """The child's memory file's name."""

    def __init__(self, child: ForkedWriter) -> None:
        self._child = child

    @classmethod
    def _start(cls, work: Callable[[], object], *more: Any) -> Self | None:
        """Fork the child that runs ``work`` (``more``: the rest of the constructor's arguments); None when it cannot
        fork (see :meth:`ForkedWriter.start`)."""
        child = ForkedWriter.start(cls.NAME, lambda file: marshal.dump(work(), file))
        return None if child is None else cls(child, *more)

    def _result(self) -> Any:
        """What ``work`` returned, once the child is done; None if it failed or timed out."""
        output = self._child.output(PREFETCH_TIMEOUT)
        if output is None:
            return None
        with output:  # marshal.load(file) would read it a value at a time: ~10x slower (measured)
            return marshal.loads(output.read())


class ColdScan(_MarshalledChild):
    """One cold scan running in a forked child; :meth:`tables` waits for it."""

    NAME = "netwatch-fd-tables"

    @classmethod
    def start(cls, proc_root: str) -> ColdScan | None:
        """Fork the child that scans ``proc_root``; None when it cannot fork."""
        return cls._start(partial(read_fd_tables, proc_root))

    def tables(self) -> dict[int, FdTable]:
        """The fd table of every process the child could read, by pid; empty if the child failed or timed out
        (processes it could not read are left out: the caller's own pass finds and counts them)."""
        scanned = self._result()
        return {} if scanned is None else fd_tables(scanned)


LISTING_CHILDREN = 2
"""Children a one-off's listing is split between, each listing the pids of one residue: told to list once the dump
is done, while the parent adopts the cold scan, two list ~100,000 fds ~30 ms sooner than one (measured)."""


class FdListing:
    """The fd numbers of every process, listed by forked children once told to (:meth:`go`); :meth:`listed` waits
    for them."""

    def __init__(self, parts: list[_ListingPart]) -> None:
        self.parts = parts

    @classmethod
    def start(cls, proc_root: str) -> FdListing | None:
        """Fork the children that list the fd directories under ``proc_root`` when told to; None when none could be
        forked (the pids of a child that could not be forked are missing from :meth:`listed`)."""
        parts = []
        for part in range(LISTING_CHILDREN):
            child = _ListingPart.start(proc_root, part)
            if child is None:
                break
            parts.append(child)
        return cls(parts) if parts else None

    def go(self) -> None:
        """Tell the children to list now (once)."""
        for part in self.parts:
            part.go()

    def listed(self) -> dict[int, list[int]]:
        """The fd numbers of each process the children could list, by pid (told to list now if they were not yet);
        a child that failed or timed out lists none."""
        listed: dict[int, list[int]] = {}
        for part in self.parts:
            listed.update(part.listed())
        return listed

    def cancel(self) -> None:
        """End the children (killed if still listing), their listings unused."""
        for part in self.parts:
            part.cancel()


class _ListingPart(_MarshalledChild):
    """One listing child: the pids of one residue modulo :data:`LISTING_CHILDREN`."""

    NAME = "netwatch-fd-listing"

    def __init__(self, child: ForkedWriter, tell: int) -> None:
        super().__init__(child)
        self._tell: int | None = tell
        """The write end of the pipe the child waits on (None once told or cancelled)."""

    @classmethod
    def start(cls, proc_root: str, part: int) -> _ListingPart | None:
        """Fork the child that lists the fd directories of ``part``'s pids when told to; None when it cannot fork."""
        told, tell = os.pipe()
        listing = cls._start(partial(list_when_told, told, tell, proc_root, part), tell)
        os.close(told)
        if listing is None:
            os.close(tell)
        return listing

    def go(self) -> None:
        """Tell the child to list now (once)."""
        self._close_pipe(b"!")

    def listed(self) -> dict[int, list[int]]:
        """The child's listing (told to list now if it was not yet); empty if it failed or timed out."""
        self.go()
        listed = self._result()
        return {} if listed is None else listed

    def cancel(self) -> None:
        """End the child (killed if it is still listing)."""
        self._close_pipe(b"")
        output = self._child.output(0)
        if output is not None:
            output.close()

    def _close_pipe(self, say: bytes) -> None:
        """Say ``say`` to the child (nothing: it lists nothing) and close the pipe, once. (A child forked later holds
        a copy of this end until it exits: a child whose parent is gone sees the end of the pipe once all are.)"""
        if self._tell is not None:
            with suppress(OSError):  # the child is gone: it lists nothing
                os.write(self._tell, say)
            os.close(self._tell)
            self._tell = None


def list_when_told(told: int, tell: int, proc_root: str, part: int) -> dict[int, list[int]]:
    """A listing child's job: wait until the parent says so, then list the pids of ``part`` (nothing when the pipe
    closes unsaid: the parent cancelled, or is gone)."""
    os.close(tell)  # the parent's end
    return list_fd_dirs(proc_root, part) if os.read(told, 1) else {}


def list_fd_dirs(proc_root: str, part: int) -> dict[int, list[int]]:
    """The fd numbers of every listable process whose pid is ``part`` modulo :data:`LISTING_CHILDREN`, by pid."""
    listed: dict[int, list[int]] = {}
    for name in os.listdir(proc_root):
        if name.isdigit() and int(name) % LISTING_CHILDREN == part:
            with suppress(ProcessSkipped):
                listed[int(name)] = list(map(int, list_fds(f"{proc_root}/{name}")))
    return listed


def fd_tables(scanned: list[ScannedTable]) -> dict[int, FdTable]:
    """The fd tables, by pid, of what :func:`read_fd_tables` read."""
    return {pid: FdTable.from_scan(pid, ProcStat(*stat), fds, inodes) for pid, stat, fds, inodes in scanned}


def read_fd_tables(proc_root: str) -> list[ScannedTable]:
    """Every readable process's fd table (the child's job)."""
    tables: list[ScannedTable] = []
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        base = f"{proc_root}/{name}"
        try:
            stat = read_stat(base)
            fds, inodes = read_fd_inodes(base)
        except ProcessSkipped:
            continue
        tables.append((int(name), tuple(stat), fds, inodes))
    return tables
