"""What the live TUI costs, side by side with htop and top: CPU over a minute, RSS, time to the first table.

Run as root, nothing else heavy running::

    python tests/bench/tui_cpu_bench.py [--connections 0 10000 50000] [--seconds 60] [--interval 2] [--settle 10]
                                        [--processes 0] [--rounds 1]

For each N it holds N loopback connections (2N sockets, see ``connections.py``; 0 = the idle host as it is),
and ``--processes`` extra processes that sleep (a busy host's many processes, which every tool reads), then starts,
each in a real pseudo-terminal of 160x50 and at the same time: ``netwatch --interval S``, ``htop -d 10*S`` and
``top -d S``. After a settling time (``--settle``) it reads each process's CPU time (utime
+ stime from ``/proc/PID/stat``) at the start and the end of the window and reports the share of one core, the RSS
at the end and, for netwatch, the time from its start until its first full table is on screen (the pty shows the
socket count in the header). Ratios are against htop; with ``--rounds R`` each N is measured R times, one after the
other, and the median of netwatch's ratios is printed after its rows. Every process it starts is ended on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fcntl import ioctl
from termios import TIOCSWINSZ

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bytecode import compile_netwatch  # noqa: E402  (tests/bench/ is run as scripts)
from connections import ConnectionPool  # noqa: E402

ROWS, COLUMNS = 50, 160
SETTLE_SECONDS = 10.0
"""Default time after the first table before the measured window. With ``--settle 70`` the window starts after
netwatch's first minute, in which its ``seen`` column counts seconds (every row repaints at every refresh); from
then on it changes once a minute: the steady state of a TUI left open."""
FIRST_TABLE_TIMEOUT = 120.0
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
FIRST_ROW = re.compile(rb"ESTAB|LISTEN|UNCONN")
"""A socket row on screen: the first full table has been drawn."""


@dataclass
class Watched:
    """A tool running in a pty of its own."""

    name: str
    process: subprocess.Popen[bytes]
    master: int
    started: float
    first_table: float | None = None

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE / 1e6

    def drain(self) -> bytes:
        """Read what the tool drew so far (a terminal must be read, or the tool blocks writing)."""
        chunks = []
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _spawn(name: str, argv: Sequence[str]) -> Watched:
    master, slave = pty.openpty()
    ioctl(slave, TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    return Watched(name, process, master, time.monotonic())


@contextlib.contextmanager
def _tools(interval: float) -> Iterator[list[Watched]]:
    netwatch = [sys.executable, "-m", "netwatch.tui", "--interval", str(interval)]
    wanted = [("netwatch", netwatch)]
    if shutil.which("htop"):
        wanted.append(("htop", ["htop", "-d", str(round(interval * 10))]))
    wanted.append(("top", ["top", "-d", str(interval)]))
    tools = [_spawn(name, argv) for name, argv in wanted]
    try:
        yield tools
    finally:
        for tool in tools:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(tool.process.pid, signal.SIGTERM)
            try:
                tool.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(tool.process.pid, signal.SIGKILL)
                tool.process.wait()
            os.close(tool.master)


def _pump(tools: list[Watched], seconds: float) -> None:
    """Keep reading every pty for ``seconds``, noting when netwatch first shows a socket row."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([tool.master for tool in tools], [], [], min(left, 0.2))
        for tool in tools:
            if tool.master in ready:
                drawn = tool.drain()
                if tool.first_table is None and tool.name == "netwatch" and FIRST_ROW.search(drawn):
                    tool.first_table = time.monotonic() - tool.started


@contextlib.contextmanager
def _sleeping_processes(count: int) -> Iterator[None]:
    """``count`` forked children that sleep until the end (then killed and reaped)."""
    children: list[int] = []
    try:
        for _ in range(count):
            pid = os.fork()
            if pid == 0:  # the child: sleeps until killed, never returns
                while True:
                    signal.pause()
            children.append(pid)
        yield
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)


def measure(
    connections: int, processes: int, seconds: float, interval: float, settle: float
) -> list[dict[str, object]]:
    with contextlib.ExitStack() as stack:
        if connections:
            stack.enter_context(ConnectionPool(connections))
        stack.enter_context(_sleeping_processes(processes))
        tools = stack.enter_context(_tools(interval))
        deadline = time.monotonic() + FIRST_TABLE_TIMEOUT
        while tools[0].first_table is None and time.monotonic() < deadline:
            _pump(tools, 0.5)
        _pump(tools, settle)
        before = {tool.name: tool.cpu_seconds() for tool in tools}
        started = time.monotonic()
        _pump(tools, seconds)
        elapsed = time.monotonic() - started
        sockets = _socket_count()
        on_host = sum(1 for name in os.listdir("/proc") if name.isdigit())
        return [
            {
                "tool": tool.name,
                "sockets": sockets,
                "processes": on_host,
                "cpu_percent": 100 * (tool.cpu_seconds() - before[tool.name]) / elapsed,
                "rss_mb": tool.rss_mb(),
                "first_table_s": tool.first_table,
            }
            for tool in tools
        ]


def _socket_count() -> int:
    with open("/proc/net/sockstat") as sockstat:
        text = sockstat.read()
    inet = sum(int(n) for n in re.findall(r"(?:TCP|UDP|RAW): inuse (\d+)", text))
    inet += sum(int(n) for n in re.findall(r"tw (\d+)", text))
    with open("/proc/net/unix", "rb") as unix:
        return inet + unix.read().count(b"\n") - 1


def _cpu_of(rows: list[dict[str, object]], tool: str) -> float | None:
    """The CPU share of ``tool`` in one measurement's rows (None: it did not run)."""
    return next((float(row["cpu_percent"]) for row in rows if row["tool"] == tool), None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[0, 10_000, 50_000])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, help="seconds after the first table before "
                        f"the window (default {SETTLE_SECONDS:g}; 70: after netwatch's first minute)")
    parser.add_argument("--processes", type=int, default=0, help="extra sleeping processes held meanwhile")
    parser.add_argument("--rounds", type=int, default=1, help="measure each N this many times, one after the other, "
                        "and print the median of netwatch's ratios to htop (an idle VM's figures swing by a third)")
    options = parser.parse_args(argv)
    compile_netwatch()
    print("| sockets | processes | tool | CPU (% of one core) | vs htop | RSS | first table |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for connections in options.connections:
        ratios = []
        for _ in range(options.rounds):
            rows = measure(connections, options.processes, options.seconds, options.interval, options.settle)
            htop = _cpu_of(rows, "htop")
            for row in rows:
                ratio = f"{row['cpu_percent'] / htop:.1f}x" if htop else "-"
                first = f"{row['first_table_s']:.2f} s" if row["first_table_s"] is not None else "-"
                print(f"| {row['sockets']:,} | {row['processes']:,} | {row['tool']} | {row['cpu_percent']:.2f}% | "
                      f"{ratio} | {row['rss_mb']:.0f} MB | {first} |", flush=True)  # fmt: skip
            if htop:
                ratios.append(_cpu_of(rows, "netwatch") / htop)
        if len(ratios) > 1:
            print(f"N={connections:,}: netwatch/htop in {len(ratios)} rounds "
                  f"{' '.join(f'{ratio:.2f}x' for ratio in ratios)}, median {statistics.median(ratios):.2f}x",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
