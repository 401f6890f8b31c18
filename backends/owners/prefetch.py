"""Work of the resolver done by forked children, each sending its result back with ``marshal``: the first, cold scan
(``readlink`` every fd of every process), so that it overlaps with the socket dump; and, for a one-off snapshot,
the safety net's listing of every fd directory once the dump is done, so that it overlaps with the adoption of the
cold scan."""

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
    def _start(cls, work: Callable[[], object]) -> Self | None:
        """Fork the child that runs ``work``; None when it cannot fork (see :meth:`ForkedWriter.start`)."""
        child = ForkedWriter.start(cls.NAME, lambda file: marshal.dump(work(), file))
        return None if child is None else cls(child)

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


class FdListing(_MarshalledChild):
    """The fd numbers of every process, listed by a forked child; :meth:`listed` waits for it."""

    NAME = "netwatch-fd-listing"

    @classmethod
    def start(cls, proc_root: str) -> FdListing | None:
        """Fork the child that lists the fd directories under ``proc_root``; None when it cannot fork."""
        return cls._start(partial(list_fd_dirs, proc_root))

    def listed(self) -> dict[int, list[int]]:
        """The fd numbers of each process the child could list, by pid; empty if the child failed or timed out."""
        listed = self._result()
        return {} if listed is None else listed

    def cancel(self) -> None:
        """End the child (killed if it is still listing), its listing unused."""
        output = self._child.output(0)
        if output is not None:
            output.close()


def list_fd_dirs(proc_root: str) -> dict[int, list[int]]:
    """Every listable process's fd numbers, by pid (the listing child's job)."""
    listed: dict[int, list[int]] = {}
    for name in os.listdir(proc_root):
        if name.isdigit():
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
        tables.append((int(name), tuple(stat), list(map(int, fds)), inodes))
    return tables
