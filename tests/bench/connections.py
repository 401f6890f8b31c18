"""Hold N established loopback TCP connections, spread over worker processes, for benchmarking.

Each worker owns one listener on 127.0.0.1 and connects up to ``per_worker`` clients to it from its
own source address (127.0.0.K), so every connection is a pair of sockets on this host (2 sockets per
connection, plus one listener per worker). Connects and accepts are non-blocking, in batches no larger
than the listen backlog. Sockets use SO_LINGER 0, so teardown sends RST and leaves no TIME_WAIT behind.

A worker prints ``ready <count> <port>`` on stdout once all its connections are established, then holds
them until its stdin reaches EOF (the parent closes it, or dies). The parent side is
:class:`ConnectionPool`, a context manager that always tears its workers down.

Standalone use (hold connections until Ctrl-C, e.g. to look at them with netwatch)::

    python tests/bench/connections.py --connections 10000
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

LISTEN_ADDRESS = "127.0.0.1"
DEFAULT_PER_WORKER = 4500
"""Connections per worker: 2 fds each, so about 9,000 fds per process (hard limit here: 20,000)."""
DEFAULT_BATCH = 1000
FD_MARGIN = 64
"""Descriptors a worker needs besides its sockets (stdio, interpreter, listener)."""
LINGER_RESET = struct.pack("ii", 1, 0)


class SetupError(RuntimeError):
    """The connections could not be set up within the system's limits or in time."""


# ---------------------------------------------------------------------------------------------------------
# System limits


@dataclass(frozen=True)
class SystemLimits:
    """The kernel limits that bound how many connections a run can hold."""

    somaxconn: int
    file_max: int
    files_open: int
    nr_open: int
    port_range: tuple[int, int]
    nofile_hard: int

    @property
    def ephemeral_ports(self) -> int:
        return self.port_range[1] - self.port_range[0] + 1


def _read_proc_ints(path: str) -> list[int]:
    with open(path, encoding="ascii") as handle:
        return [int(word) for word in handle.read().split()]


def read_limits() -> SystemLimits:
    """Read the relevant sysctls and this process's hard open-files limit."""
    low, high = _read_proc_ints("/proc/sys/net/ipv4/ip_local_port_range")
    return SystemLimits(
        somaxconn=_read_proc_ints("/proc/sys/net/core/somaxconn")[0],
        file_max=_read_proc_ints("/proc/sys/fs/file-max")[0],
        files_open=_read_proc_ints("/proc/sys/fs/file-nr")[0],
        nr_open=_read_proc_ints("/proc/sys/fs/nr_open")[0],
        port_range=(low, high),
        nofile_hard=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    )


def check_limits(limits: SystemLimits, connections: int, per_worker: int, batch: int) -> None:
    """Raise SetupError if the plan (connections, per worker, batch) cannot fit the limits."""
    problems = []
    worker_fds = 2 * per_worker + FD_MARGIN
    if worker_fds > min(limits.nofile_hard, limits.nr_open):
        problems.append(
            f"{per_worker} connections per worker need {worker_fds} fds, above the hard open-files "
            f"limit {limits.nofile_hard}: lower --per-worker"
        )
    if per_worker > limits.ephemeral_ports:
        problems.append(f"{per_worker} connections per worker exceed the {limits.ephemeral_ports} ephemeral ports")
    if batch > limits.somaxconn:
        problems.append(f"batch {batch} exceeds net.core.somaxconn {limits.somaxconn}")
    needed_files = 2 * connections + FD_MARGIN * worker_count(connections, per_worker)
    if limits.files_open + needed_files > limits.file_max:
        problems.append(f"{needed_files} more open files would exceed fs.file-max {limits.file_max}")
    if worker_count(connections, per_worker) > 250:
        problems.append("more than 250 workers (one 127.0.0.K source address each): raise --per-worker")
    if problems:
        raise SetupError("; ".join(problems))


def worker_count(connections: int, per_worker: int) -> int:
    return -(-connections // per_worker)


def tcp_sockets_in_use() -> int:
    """TCP sockets the kernel counts (``inuse`` + ``tw``) in /proc/net/sockstat (IPv4) and sockstat6."""
    total = 0
    for path in ("/proc/net/sockstat", "/proc/net/sockstat6"):
        try:
            with open(path, encoding="ascii") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(("TCP:", "TCP6:")):
                words = line.split()[1:]
                counts = dict(zip(words[::2], words[1::2], strict=False))
                total += int(counts.get("inuse", 0)) + int(counts.get("tw", 0))
    return total


# ---------------------------------------------------------------------------------------------------------
# Worker side (runs in its own process)


def _raise_open_files_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _accept_batch(listener: socket.socket, count: int, deadline: float) -> list[socket.socket]:
    """Accept exactly ``count`` connections from a non-blocking listener before ``deadline``."""
    accepted: list[socket.socket] = []
    waiter = selectors.DefaultSelector()
    waiter.register(listener, selectors.EVENT_READ)
    try:
        while len(accepted) < count:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SetupError(f"accepted only {len(accepted)} of {count} connections in time") from None
                waiter.select(min(remaining, 1.0))
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            accepted.append(conn)
    finally:
        waiter.close()
    return accepted


def _connect_batch(source: str, target: tuple[str, int], count: int) -> list[socket.socket]:
    """Start ``count`` non-blocking connects from ``source`` (port chosen by the kernel) to ``target``."""
    clients = []
    for _ in range(count):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        clients.append(client)
        client.setblocking(False)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        client.bind((source, 0))
        result = client.connect_ex(target)
        if result not in (0, errno.EINPROGRESS):
            raise SetupError(f"connect from {source} failed: {os.strerror(result)}")
    return clients


def _check_connected(clients: Sequence[socket.socket]) -> None:
    for client in clients:
        error = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise SetupError(f"a client connection failed: {os.strerror(error)}")


def hold_connections(count: int, source: str, batch: int, timeout: float) -> int:
    """Worker main: open ``count`` connection pairs, report readiness, hold until stdin closes."""
    _raise_open_files_limit()
    deadline = time.monotonic() + timeout
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LISTEN_ADDRESS, 0))
    listener.listen(65535)  # the kernel caps this at net.core.somaxconn
    listener.setblocking(False)
    target = listener.getsockname()
    held: list[socket.socket] = []
    try:
        while len(held) < 2 * count:
            size = min(batch, count - len(held) // 2)
            clients = _connect_batch(source, target, size)
            held.extend(clients)
            held.extend(_accept_batch(listener, size, deadline))
            _check_connected(clients)
    except (OSError, SetupError) as error:
        print(f"error {error}", flush=True)
        return 1
    print(f"ready {len(held) // 2} {target[1]}", flush=True)
    sys.stdin.buffer.read()  # blocks until the parent closes our stdin (or exits)
    for sock in held:
        sock.close()
    listener.close()
    return 0


# ---------------------------------------------------------------------------------------------------------
# Parent side


def source_address(index: int) -> str:
    """The client source address of worker ``index``: 127.0.0.2, 127.0.0.3, ..."""
    return f"127.0.0.{2 + index}"


class ConnectionPool:
    """Context manager: holds ``connections`` loopback connections in worker processes.

    Workers share one process group, which is killed on exit (and at interpreter exit, as a backstop).
    """

    def __init__(
        self,
        connections: int,
        per_worker: int = DEFAULT_PER_WORKER,
        batch: int = DEFAULT_BATCH,
        timeout: float = 180.0,
    ) -> None:
        self.connections = connections
        self.per_worker = per_worker
        self.batch = batch
        self.timeout = timeout
        self.workers: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.setup_seconds = 0.0
        self._group: int | None = None

    def __enter__(self) -> ConnectionPool:
        check_limits(read_limits(), self.connections, self.per_worker, self.batch)
        atexit.register(self.close)
        started = time.perf_counter()
        try:
            self._start_workers()
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        self.setup_seconds = time.perf_counter() - started
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_workers(self) -> None:
        remaining = self.connections
        index = 0
        while remaining > 0:
            count = min(self.per_worker, remaining)
            argv = [
                sys.executable, os.path.abspath(__file__), "--worker",
                "--connections", str(count), "--source", source_address(index),
                "--batch", str(self.batch), "--timeout", str(self.timeout),
            ]  # fmt: skip
            worker = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                process_group=0 if self._group is None else self._group,
            )
            self.workers.append(worker)
            if self._group is None:
                self._group = worker.pid
            remaining -= count
            index += 1

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout + 10.0
        waiter = selectors.DefaultSelector()
        for worker in self.workers:
            assert worker.stdout is not None
            waiter.register(worker.stdout, selectors.EVENT_READ, worker)
        try:
            pending = len(self.workers)
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SetupError(f"{pending} workers not ready within {self.timeout:.0f} s")
                for key, _ in waiter.select(remaining):
                    line = key.fileobj.readline().decode("ascii", "replace").split()  # type: ignore[union-attr]
                    waiter.unregister(key.fileobj)
                    pending -= 1
                    if not line or line[0] != "ready":
                        raise SetupError(f"worker {key.data.pid} failed: {' '.join(line) or 'exited'}")
                    self.ports.append(int(line[2]))
        finally:
            waiter.close()

    def close(self, grace: float = 5.0) -> None:
        """Stop every worker: close their stdin, wait up to ``grace`` s, then kill the process group."""
        for worker in self.workers:
            if worker.stdin is not None and not worker.stdin.closed:
                with contextlib.suppress(OSError):
                    worker.stdin.close()
        deadline = time.monotonic() + grace
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(max(0.0, deadline - time.monotonic()))
        if self._group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._group, signal.SIGKILL)
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(5.0)
            if worker.stdout is not None:
                worker.stdout.close()
        self.workers.clear()
        self._group = None
        atexit.unregister(self.close)


def wait_for_tcp_sockets_below(limit: int, timeout: float = 30.0) -> int:
    """Poll /proc/net/sockstat until at most ``limit`` TCP sockets remain (or timeout); return the count."""
    deadline = time.monotonic() + timeout
    count = tcp_sockets_in_use()
    while count > limit and time.monotonic() < deadline:
        time.sleep(0.1)
        count = tcp_sockets_in_use()
    return count


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hold N established loopback TCP connections until Ctrl-C.")
    parser.add_argument("--connections", type=int, default=10000, help="connections to hold (default 10000)")
    parser.add_argument("--per-worker", type=int, default=DEFAULT_PER_WORKER, help="connections per process")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="connects per non-blocking batch")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed for setup")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", default=source_address(0), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.per_worker < 1 or args.batch < 1:
        parser.error("--connections, --per-worker and --batch must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.worker:
        return hold_connections(args.connections, args.source, args.batch, args.timeout)
    try:
        with ConnectionPool(args.connections, args.per_worker, args.batch, args.timeout) as pool:
            print(
                f"holding {args.connections} connections in {len(pool.workers)} processes "
                f"(set up in {pool.setup_seconds:.1f} s, listener ports {sorted(pool.ports)}); Ctrl-C to stop",
                flush=True,
            )
            stop_signals = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
            signal.sigwait(stop_signals)
    except SetupError as error:
        print(f"connections: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
