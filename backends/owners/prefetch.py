"""The resolver's first, cold scan (``readlink`` every fd of every process) done by a forked child, so that it
overlaps with the socket dump; the child sends the fd tables back with ``marshal``."""

from __future__ import annotations

import marshal
import os

from netwatch.backends.forked_writer import ForkedWriter
from netwatch.backends.owners.fd_tables import FdTable
from netwatch.backends.owners.proc_files import ProcessSkipped, ProcStat, read_fd_inodes, read_stat

PREFETCH_TIMEOUT = 30.0
"""Seconds the adopting call waits for the prefetching child before scanning by itself."""

ScannedTable = tuple[int, tuple[str, str, int], list[int], list[int]]
"""What the child reads per process: (pid, its ProcStat, fd numbers, socket inode per fd (NOT_SOCKET for other
files)): types ``marshal`` sends."""


class ColdScan:
    """One cold scan running in a forked child; :meth:`tables` waits for it."""

    def __init__(self, child: ForkedWriter) -> None:
        self._child = child

    @classmethod
    def start(cls, proc_root: str) -> ColdScan | None:
        """Fork the child that scans ``proc_root``; None when it cannot fork (see :meth:`ForkedWriter.start`)."""
        child = ForkedWriter.start("netwatch-fd-tables", lambda file: marshal.dump(read_fd_tables(proc_root), file))
        return None if child is None else cls(child)

    def tables(self) -> dict[int, FdTable]:
        """The fd table of every process the child could read, by pid; empty if the child failed or timed out
        (processes it could not read are left out: the caller's own pass finds and counts them)."""
        output = self._child.output(PREFETCH_TIMEOUT)
        if output is None:
            return {}
        with output:  # marshal.load(file) would read it a value at a time: ~10x slower (measured)
            return fd_tables(marshal.loads(output.read()))


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
