"""What one more network namespace costs a refresh: N namespaces of a few sockets each beside many connections in
the root namespace, against the same number of sockets in one namespace, in one run (root only)::

    python tests/bench/netns_bench.py --namespaces 50 --per-namespace 20 --connections 25000

It holds ``--connections`` loopback connections (2 sockets each) in the root namespace, makes ``--namespaces``
namespaces (``ip netns add``, lo up) each with a process holding about ``--per-namespace`` sockets on the
namespace's own loopback, and times a warm live refresh (``Collector(live=True).snapshot()``, CPU and wall time,
mean over as many refreshes as lie between two whole dumps of a namespace) over every namespace. Then it removes
the namespaces, opens as many sockets again in the root namespace and times the same refresh of one namespace:
the ratio is what the namespaces cost beyond their sockets. Every namespace and process it made is removed on
exit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from netwatch.backends.collector import Collector  # noqa: E402
from netwatch.backends.model.namespaces import Selection  # noqa: E402
from netwatch.backends.sources.netlink.source import FULL_DUMP_EVERY  # noqa: E402
from tests.bench.connections import ConnectionPool  # noqa: E402

HOLDER = """
import socket, sys
pairs = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(pairs)
held = [server]
for _ in range(pairs):
    held.append(socket.create_connection(server.getsockname()))
    held.append(server.accept()[0])
print("ready", flush=True)
sys.stdin.read()
"""
"""A listener and ``argv[1]`` connections to it (2 sockets each), held until stdin closes."""


@contextmanager
def namespaces(count: int, sockets: int) -> Iterator[None]:
    """``count`` namespaces, each with a process holding about ``sockets`` sockets on its own loopback."""
    names = [f"nw-bench-{os.getpid()}-{index}" for index in range(count)]
    holders: list[subprocess.Popen[str]] = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            holder = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, "-c", HOLDER, str(max(1, (sockets - 1) // 2))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            holders.append(holder)
            if holder.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the socket holder in {name} did not start")
        yield
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait(timeout=30)
        for name in names:
            subprocess.run(["ip", "netns", "delete", name], check=False)


def warm_refresh(selection: str, repeat: int) -> tuple[float, float, int, int]:
    """Mean CPU and wall seconds of a warm live refresh (over enough refreshes to include each namespace's
    periodic whole dump), the sockets and namespaces it listed."""
    collector = Collector("netlink", live=True, netns=Selection(selection))
    for _ in range(2):
        snapshot = collector.snapshot()
    cpu, wall = [], []
    for _ in range(repeat):
        started_cpu, started = time.thread_time(), time.perf_counter()
        snapshot = collector.snapshot()
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return statistics.mean(cpu), statistics.mean(wall), len(snapshot.sockets), len(snapshot.namespaces)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--per-namespace", type=int, default=20)
    parser.add_argument("--connections", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=FULL_DUMP_EVERY,
                        help="refreshes timed (default: as many as between two whole dumps of a namespace)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("netns_bench: needs root (ip netns, entering namespaces)", file=sys.stderr)
        return 2
    extra_connections = args.namespaces * args.per_namespace // 2
    with ConnectionPool(args.connections):
        with namespaces(args.namespaces, args.per_namespace):
            many = warm_refresh("all", args.repeat)
        with ExitStack() as stack:
            stack.enter_context(ConnectionPool(extra_connections))
            one = warm_refresh("all", args.repeat)
    print(f"{'':34} {'sockets':>8} {'netns':>5} {'cpu ms':>8} {'wall ms':>8}")
    for label, (cpu, wall, sockets, listed) in (
        (f"{args.namespaces} namespaces + root", many),
        ("the same sockets in one namespace", one),
    ):
        print(f"{label:34} {sockets:8d} {listed:5d} {cpu * 1000:8.1f} {wall * 1000:8.1f}")
    print(f"ratio (cpu): {many[0] / one[0]:.2f}x   (wall): {many[1] / one[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
