"""Time the warm owner pass (:meth:`OwnerResolver.owners_of` after the first call) at N loopback connections.

Usage, from the repository root, as root: ``python -m tests.bench.owners_bench [--connections 10000 50000]
[--rounds 10]``

For each count, :class:`tests.bench.connections.ConnectionPool` holds the connections in worker processes (2
sockets each, ~9,000 fds per worker); the TCP socket inodes come from /proc/net/tcp and /proc/net/tcp6. One
cold call fills the resolver's cache, then ``--rounds`` warm calls are timed (CPU ms of this process, and wall
ms), each as if 2 s had passed since the previous one (so the rolling re-validation re-reads its usual ~1/30 of
the fds). Also counted: ``os.listdir`` calls and ``readlink`` calls per warm call. Prints the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

from netwatch.backends.owners import proc_files
from netwatch.backends.owners.resolver import OwnerResolver
from tests.bench.connections import ConnectionPool, wait_for_tcp_sockets_below

REFRESH = 2.0
"""Seconds between two simulated refreshes."""


def tcp_inodes() -> frozenset[int]:
    """The inodes of every TCP socket of this network namespace."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                inodes.update(int(line.split()[9]) for line in lines)
        except FileNotFoundError:
            continue
    inodes.discard(0)
    return frozenset(inodes)


class Counting:
    """Counts calls of ``os.listdir`` and ``os.readlink`` (wraps them while active)."""

    def __init__(self) -> None:
        self.listdirs = 0
        self.readlinks = 0
        self._listdir = os.listdir
        self._readlink = os.readlink

    def __enter__(self) -> Counting:
        def listdir(path):  # type: ignore[no-untyped-def]
            self.listdirs += 1
            return self._listdir(path)

        def readlink(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.readlinks += 1
            return self._readlink(path, *args, **kwargs)

        os.listdir = listdir  # type: ignore[assignment]
        os.readlink = readlink  # type: ignore[assignment]
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.listdir = self._listdir  # type: ignore[assignment]
        os.readlink = self._readlink  # type: ignore[assignment]


def measure(connections: int, rounds: int) -> dict[str, float]:
    with ConnectionPool(connections):
        inodes = tcp_inodes()
        resolver = OwnerResolver()
        cold_started = time.process_time()
        cold = resolver.owners_of(inodes)
        cold_ms = (time.process_time() - cold_started) * 1e3
        cpu: list[float] = []
        wall: list[float] = []
        listdirs: list[int] = []
        readlinks: list[int] = []
        for _ in range(rounds):
            resolver._last_call = time.monotonic() - REFRESH  # noqa: SLF001 (simulate the refresh interval)
            with Counting() as counting:
                wall_started, cpu_started = time.perf_counter(), time.process_time()
                warm = resolver.owners_of(inodes)
                cpu.append((time.process_time() - cpu_started) * 1e3)
                wall.append((time.perf_counter() - wall_started) * 1e3)
            listdirs.append(counting.listdirs)
            readlinks.append(counting.readlinks)
            assert warm == cold, "a warm call found other owners than the cold one"
    wait_for_tcp_sockets_below(64)
    return {
        "sockets": len(inodes),
        "owned": len(cold),
        "cold_cpu_ms": cold_ms,
        "warm_cpu_ms": statistics.median(cpu),
        "warm_wall_ms": statistics.median(wall),
        "listdirs": statistics.median(listdirs),
        "readlinks": statistics.median(readlinks),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root: the pool's workers and every other process must be readable", file=sys.stderr)
        return 2
    print(f"resolver from {proc_files.__file__}")
    print(f"{'connections':>11} {'sockets':>8} {'owned':>8} {'cold cpu ms':>11} {'warm cpu ms':>11} "
          f"{'warm wall ms':>12} {'listdirs':>8} {'readlinks':>9}")  # fmt: skip
    for connections in args.connections:
        result = measure(connections, args.rounds)
        print(
            f"{connections:>11} {result['sockets']:>8} {result['owned']:>8} {result['cold_cpu_ms']:>11.1f} "
            f"{result['warm_cpu_ms']:>11.1f} {result['warm_wall_ms']:>12.1f} {result['listdirs']:>8.0f} "
            f"{result['readlinks']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
