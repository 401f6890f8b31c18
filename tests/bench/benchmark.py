"""Benchmark netwatch against ``ss -tanpi`` on N real loopback TCP connections.

Usage (root recommended, so both tools see every owner)::

    python tests/bench/benchmark.py --connections 10000 50000 --repeat 3 [--json]

For each N it holds N established loopback connections (2N sockets, see ``connections.py``) and times, on
the same sockets and in the same run:

* ``ss -tanpi`` as a whole process, output to /dev/null;
* ``netwatch --once --format json`` as a whole process (``python -m netwatch.tui``), output to /dev/null;
* the in-process snapshot alone, ``Collector().snapshot()``: cold (first call of a fresh collector) and
  warm (later calls), in a fresh probe process per repeat;
* peak memory: the RSS high-water mark of the ``netwatch --once`` process and of the probe process, the
  probe's RSS growth, and the Python heap (tracemalloc) allocated by one warm snapshot.

Times are medians over ``--repeat`` runs. One untimed run of each tool first warms the page and dentry
caches (so neither tool pays for the other) and checks that ss, netwatch and the snapshot see about as
many TCP sockets as the kernel counts. Every worker process is torn down on exit, even on errors or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bytecode import compile_netwatch  # noqa: E402  (tests/bench/ is run as scripts)
from connections import (  # noqa: E402
    DEFAULT_PER_WORKER,
    ConnectionPool,
    SetupError,
    read_limits,
    tcp_sockets_in_use,
    wait_for_tcp_sockets_below,
)

SS_COMMAND = ("ss", "-tanpi")
NETWATCH_COMMAND = (sys.executable, "-m", "netwatch.tui", "--once", "--format", "json")
CHILD_TIMEOUT = 300.0
PROBE_TIMEOUT = 600.0
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------------------
# Timing a child process


@dataclass(frozen=True)
class ChildRun:
    """One finished child process: wall time, RSS high-water mark, exit status and the tail of stderr."""

    seconds: float
    max_rss_mib: float
    returncode: int
    stderr_tail: str


def run_child(argv: Sequence[str], timeout: float, stdout: IO[bytes] | int = subprocess.DEVNULL) -> ChildRun:
    """Run ``argv`` to completion (killed after ``timeout`` s) and measure it with wait4's rusage."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errors)
        try:
            exited = _wait_for_exit(proc.pid, timeout)
            if not exited:
                proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        errors.seek(0)
        tail = errors.read()[-2000:].decode("utf-8", "replace").strip()
    if not exited:
        tail = f"timed out after {timeout:.0f} s; {tail}"
    return ChildRun(seconds, usage.ru_maxrss / 1024, proc.returncode, tail)


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait (without reaping) until process ``pid`` exits; False if ``timeout`` passes first."""
    pidfd = os.pidfd_open(pid)
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(readable)


# ---------------------------------------------------------------------------------------------------------
# The snapshot probe (runs in a fresh child process: ``benchmark.py --snapshot-probe``)


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def snapshot_probe(warm_calls: int, trace: bool) -> dict[str, Any]:
    """Time Collector().snapshot() cold and warm in this process, and measure its memory.

    With ``trace``, one more (untimed) snapshot runs under tracemalloc, which slows it down several times.
    """
    import tracemalloc

    try:
        from netwatch.backends.collector import Collector
    except ImportError as error:
        return {"error": f"netwatch.backends.collector not importable: {error}"}
    baseline_kib = _status_kib("VmRSS")
    try:
        collector = Collector()
        started = time.perf_counter()
        snapshot = collector.snapshot()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(warm_calls):  # keeps the previous snapshot alive meanwhile, as the TUI does for diffs
            started = time.perf_counter()
            snapshot = collector.snapshot()
            warm.append(time.perf_counter() - started)
        peak_kib = _status_kib("VmHWM")
        traced_peak = None
        if trace:
            tracemalloc.start()
            collector.snapshot()
            traced_peak = tracemalloc.get_traced_memory()[1] / MIB
            tracemalloc.stop()
    except Exception as error:  # report, never a traceback: the benchmark carries on with the other tools
        return {"error": f"snapshot failed: {type(error).__name__}: {error}"}
    tcp = [sock for sock in snapshot.sockets.values() if sock.proto == "tcp"]
    return {
        "backend": snapshot.backend,
        "cold_s": cold,
        "warm_s": warm,
        "sockets": len(snapshot.sockets),
        "tcp_sockets": len(tcp),
        "tcp_with_owners": sum(1 for sock in tcp if sock.owners),
        "tcp_with_tcp_info": sum(1 for sock in tcp if sock.tcp_info is not None),
        "peak_rss_mib": peak_kib / 1024,
        "rss_growth_mib": (peak_kib - baseline_kib) / 1024,
        "tracemalloc_peak_mib": traced_peak,
        "warnings": list(snapshot.warnings),
    }


def run_probe(warm_calls: int, trace: bool) -> dict[str, Any]:
    options = ["--snapshot-probe", "--warm", str(warm_calls)]
    return _run_json_child([*options, "--tracemalloc"] if trace else options, PROBE_TIMEOUT)


def _run_json_child(options: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run this script with ``options`` in a child process and return the JSON object it prints."""
    argv = [sys.executable, os.path.abspath(__file__), *options]
    with tempfile.TemporaryFile() as output:
        run = run_child(argv, timeout, stdout=output)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return {"error": f"{options[0]} child exited {run.returncode}: {run.stderr_tail[-300:] or text[-300:]}"}


# ---------------------------------------------------------------------------------------------------------
# Sanity counts (untimed runs that also warm the caches)


def count_ss_sockets() -> int:
    """Socket entries in ``ss -tanpi`` output (one per non-indented line after the header)."""
    with tempfile.TemporaryFile() as output:
        run_child(SS_COMMAND, CHILD_TIMEOUT, stdout=output)
        output.seek(0)
        next(output, b"")  # the header
        return sum(1 for line in output if line.strip() and not line[:1].isspace())


def count_json_sockets(path: str) -> dict[str, Any]:
    """Count the sockets in a ``netwatch --once --format json`` document (runs in a child process)."""
    try:
        with open(path, "rb") as document:
            sockets = json.load(document)["sockets"]
        return {"sockets": len(sockets), "tcp_sockets": sum(1 for sock in sockets if sock["proto"] == "tcp")}
    except (OSError, ValueError, KeyError, TypeError) as error:
        return {"error": f"output is not the agreed JSON: {type(error).__name__}: {error}"}


def count_netwatch_sockets() -> tuple[int | None, int | None, str | None]:
    """(all sockets, TCP sockets, error) in one ``netwatch --once --format json`` run.

    The JSON is parsed in a child process: parsing it here would raise this process's RSS high-water mark,
    which every later child inherits through fork/exec (ru_maxrss), spoiling their peak-memory figures.
    """
    with tempfile.NamedTemporaryFile(prefix="netwatch-once-", suffix=".json") as output:
        run = run_child(NETWATCH_COMMAND, CHILD_TIMEOUT, stdout=output)
        if run.returncode != 0:
            last_line = run.stderr_tail.splitlines()[-1] if run.stderr_tail else "no error output"
            return None, None, f"exit {run.returncode}: {last_line}"
        report = _run_json_child(["--count-json", output.name], CHILD_TIMEOUT)
    if "error" in report:
        return None, None, report["error"]
    return report["sockets"], report["tcp_sockets"], None


# ---------------------------------------------------------------------------------------------------------
# One benchmark size


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class SizeResult:
    """Everything measured at one connection count (raw samples plus medians)."""

    connections: int
    workers: int = 0
    setup_s: float = 0.0
    kernel_tcp_sockets: int = 0
    ss_sockets: int = 0
    netwatch_sockets: int | None = None
    netwatch_tcp_sockets: int | None = None
    snapshot_sockets: int | None = None
    snapshot_tcp_sockets: int | None = None
    snapshot_tcp_with_owners: int | None = None
    snapshot_tcp_with_tcp_info: int | None = None
    ss_s: list[float] = field(default_factory=list)
    ss_rss_mib: list[float] = field(default_factory=list)
    netwatch_s: list[float] = field(default_factory=list)
    netwatch_rss_mib: list[float] = field(default_factory=list)
    snapshot_cold_s: list[float] = field(default_factory=list)
    snapshot_warm_s: list[float] = field(default_factory=list)
    snapshot_peak_rss_mib: list[float] = field(default_factory=list)
    snapshot_rss_growth_mib: list[float] = field(default_factory=list)
    snapshot_tracemalloc_mib: list[float] = field(default_factory=list)
    load_average: float = 0.0
    """1-minute load average after the timed rounds: other work on the host skews every time above."""
    errors: list[str] = field(default_factory=list)

    def medians(self) -> dict[str, float | None]:
        ss, once = _median(self.ss_s), _median(self.netwatch_s)
        return {
            "ss_s": ss,
            "netwatch_s": once,
            "ratio": once / ss if ss and once is not None else None,
            "snapshot_cold_s": _median(self.snapshot_cold_s),
            "snapshot_warm_s": _median(self.snapshot_warm_s),
            "ss_rss_mib": _median(self.ss_rss_mib),
            "netwatch_rss_mib": _median(self.netwatch_rss_mib),
            "snapshot_peak_rss_mib": _median(self.snapshot_peak_rss_mib),
            "snapshot_rss_growth_mib": _median(self.snapshot_rss_growth_mib),
            "snapshot_tracemalloc_mib": _median(self.snapshot_tracemalloc_mib),
        }


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _note_error(result: SizeResult, message: str) -> None:
    if message not in result.errors:
        result.errors.append(message)
        _progress(f"  ! {message}")


def _time_tool(result: SizeResult, argv: Sequence[str], seconds: list[float], rss: list[float]) -> None:
    run = run_child(argv, CHILD_TIMEOUT)
    if run.returncode != 0:
        _note_error(result, f"{argv[0]} ... exited {run.returncode}: {run.stderr_tail[-300:]}")
        return
    seconds.append(run.seconds)
    rss.append(run.max_rss_mib)


def _record_probe(result: SizeResult, warm_calls: int, trace: bool) -> None:
    report = run_probe(warm_calls, trace)
    if "error" in report:
        _note_error(result, report["error"])
        return
    result.snapshot_cold_s.append(report["cold_s"])
    result.snapshot_warm_s.extend(report["warm_s"])
    result.snapshot_peak_rss_mib.append(report["peak_rss_mib"])
    result.snapshot_rss_growth_mib.append(report["rss_growth_mib"])
    if report["tracemalloc_peak_mib"] is not None:
        result.snapshot_tracemalloc_mib.append(report["tracemalloc_peak_mib"])
    result.snapshot_sockets = report["sockets"]
    result.snapshot_tcp_sockets = report["tcp_sockets"]
    result.snapshot_tcp_with_owners = report["tcp_with_owners"]
    result.snapshot_tcp_with_tcp_info = report["tcp_with_tcp_info"]


def measure_size(connections: int, repeat: int, warm_calls: int, per_worker: int) -> SizeResult:
    """Hold ``connections`` connections and time every tool on them ``repeat`` times."""
    result = SizeResult(connections)
    _progress(f"N={connections}: opening connections")
    with ConnectionPool(connections, per_worker=per_worker) as pool:
        result.workers = len(pool.workers)
        result.setup_s = pool.setup_seconds
        result.kernel_tcp_sockets = tcp_sockets_in_use()
        _progress(
            f"N={connections}: {result.kernel_tcp_sockets} TCP sockets held by {result.workers} workers "
            f"(set up in {result.setup_s:.1f} s); warm-up and sanity counts"
        )
        result.ss_sockets = count_ss_sockets()
        result.netwatch_sockets, result.netwatch_tcp_sockets, netwatch_error = count_netwatch_sockets()
        if netwatch_error:
            _note_error(result, f"netwatch --once unusable, not timed: {netwatch_error}")
        for round_number in range(1, repeat + 1):
            _progress(f"N={connections}: round {round_number}/{repeat}")
            _time_tool(result, SS_COMMAND, result.ss_s, result.ss_rss_mib)
            if not netwatch_error:
                _time_tool(result, NETWATCH_COMMAND, result.netwatch_s, result.netwatch_rss_mib)
            _record_probe(result, warm_calls, trace=round_number == 1)
        result.load_average = os.getloadavg()[0]
    return result


# ---------------------------------------------------------------------------------------------------------
# Reporting


def _cell(value: float | int | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


TABLE_COLUMNS = (
    ("N", 7), ("kernel", 7), ("ss", 7), ("netwatch", 8), ("snapshot", 8), ("ss -tanpi", 9),
    ("--once", 7), ("ratio", 6), ("snap cold", 9), ("snap warm", 9), ("RSS once", 8), ("RSS snap", 8),
)  # fmt: skip


def format_table(results: Sequence[SizeResult]) -> str:
    """The closing table: TCP sockets seen by each, times (s, medians), ratio and peak RSS (MiB)."""
    header = "  ".join(name.rjust(width) for name, width in TABLE_COLUMNS)
    rows = [
        "TCP sockets seen: kernel (sockstat), ss, netwatch --once, in-process snapshot. Times in seconds "
        "(medians); ratio = netwatch --once / ss; peak RSS in MiB.",
        header,
        "-" * len(header),
    ]
    for result in results:
        median = result.medians()
        cells = (
            str(result.connections), str(result.kernel_tcp_sockets), str(result.ss_sockets),
            _cell(result.netwatch_tcp_sockets, "d"), _cell(result.snapshot_tcp_sockets, "d"),
            _cell(median["ss_s"], ".3f"), _cell(median["netwatch_s"], ".3f"), _cell(median["ratio"], ".2f"),
            _cell(median["snapshot_cold_s"], ".3f"), _cell(median["snapshot_warm_s"], ".3f"),
            _cell(median["netwatch_rss_mib"], ".0f"), _cell(median["snapshot_peak_rss_mib"], ".0f"),
        )  # fmt: skip
        rows.append("  ".join(cell.rjust(width) for cell, (_, width) in zip(cells, TABLE_COLUMNS, strict=True)))
    return "\n".join(rows)


def format_details(results: Sequence[SizeResult]) -> str:
    lines = []
    for result in results:
        median = result.medians()
        lines.append(
            f"N={result.connections}: {result.workers} workers, setup {result.setup_s:.1f} s, "
            f"load average {result.load_average:.2f} on {os.cpu_count()} CPUs; "
            f"snapshot: {_cell(result.snapshot_sockets, 'd')} sockets in all, TCP with owners "
            f"{_cell(result.snapshot_tcp_with_owners, 'd')}, with tcp_info "
            f"{_cell(result.snapshot_tcp_with_tcp_info, 'd')}; snapshot RSS growth "
            f"{_cell(median['snapshot_rss_growth_mib'], '.0f')} MiB, tracemalloc peak of one warm snapshot "
            f"{_cell(median['snapshot_tracemalloc_mib'], '.0f')} MiB; ss peak RSS "
            f"{_cell(median['ss_rss_mib'], '.0f')} MiB"
        )
        lines.extend(f"  error: {error}" for error in result.errors)
    return "\n".join(lines)


ONCE_TARGETS = {1000: 2.0, 10000: 1.0, 50000: 0.15}
"""Connections -> the most ``netwatch --once`` may take, as a multiple of ``ss -tanpi``'s time (issue 9)."""


def format_targets(results: Sequence[SizeResult]) -> str:
    """Verdicts against the issue's targets, for the sizes the targets name."""
    lines = []
    for result in results:
        median = result.medians()
        ratio, warm, rss = median["ratio"], median["snapshot_warm_s"], median["netwatch_rss_mib"]
        limit = ONCE_TARGETS.get(result.connections)
        if limit is not None and ratio is not None:
            verdict = "met" if ratio <= limit else "MISSED"
            lines.append(f"target N={result.connections}: netwatch --once <= {limit}x ss: {ratio:.2f}x, {verdict}")
        if result.connections >= 50000 and warm is not None:
            verdict = "met" if warm < 1.0 else "MISSED"
            lines.append(f"target N={result.connections}: warm snapshot < 1 s: {warm:.3f} s, {verdict}")
        peaks = (("netwatch --once", rss), ("in-process probe", median["snapshot_peak_rss_mib"]))
        for what, peak in peaks:
            if result.connections >= 50000 and peak is not None:
                verdict = "met" if peak * MIB < 300e6 else "MISSED"
                lines.append(
                    f"target N={result.connections}: peak RSS < 300 MB, {what}: {peak * MIB / 1e6:.0f} MB, {verdict}"
                )
    return "\n".join(lines)


def _own_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_description() -> dict[str, Any]:
    limits = read_limits()
    ss_version = subprocess.run(["ss", "-V"], capture_output=True, text=True, timeout=10).stdout.strip()
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ss": ss_version,
        "euid": os.geteuid(),
        "somaxconn": limits.somaxconn,
        "file_max": limits.file_max,
        "nr_open": limits.nr_open,
        "ip_local_port_range": list(limits.port_range),
        "nofile_hard": limits.nofile_hard,
    }


# ---------------------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time netwatch --once, its in-process snapshot and ss -tanpi on N loopback connections."
    )
    parser.add_argument(
        "--connections", type=int, nargs="+", default=[10000, 50000], metavar="N",
        help="connection counts to measure (default: 10000 50000); each is 2N sockets",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool and size (default 3)")
    parser.add_argument("--warm", type=int, default=3, help="warm snapshots per probe process (default 3)")
    parser.add_argument(
        "--per-worker", type=int, default=DEFAULT_PER_WORKER,
        help=f"connections per holding process (default {DEFAULT_PER_WORKER})",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print machine-readable results instead of a table")
    parser.add_argument("--snapshot-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count-json", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warm < 1 or args.per_worker < 1 or min(args.connections) < 1:
        parser.error("--connections, --repeat, --warm and --per-worker must be positive")
    return args


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks that tear the workers down


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.snapshot_probe:
        print(json.dumps(snapshot_probe(args.warm, args.tracemalloc)))
        return 0
    if args.count_json:
        print(json.dumps(count_json_sockets(args.count_json)))
        return 0
    if shutil.which("ss") is None:
        print("benchmark: ss (iproute2) not found", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _raise_system_exit)
    compile_netwatch()
    results = []
    try:
        for connections in args.connections:
            result = measure_size(connections, args.repeat, args.warm, args.per_worker)
            results.append(result)
            others = result.kernel_tcp_sockets - 2 * connections - result.workers
            left = wait_for_tcp_sockets_below(others + 100, timeout=10.0)
            _progress(f"N={connections}: connections closed ({left} TCP sockets left on the host)")
    except SetupError as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmark: interrupted; all connections closed", file=sys.stderr)
        return 130
    if args.json:
        payload = {
            "machine": machine_description(),
            "repeat": args.repeat,
            "results": [{**asdict(result), "medians": result.medians()} for result in results],
            "benchmark_peak_rss_mib": _own_peak_rss_mib(),
        }
        print(json.dumps(payload, indent=2))
    else:
        print(format_table(results))
        print(format_details(results))
        targets = format_targets(results)
        if targets:
            print(targets)
        print(
            f"(child peak RSS is ru_maxrss, which includes the launching process's high-water mark: "
            f"{_own_peak_rss_mib():.0f} MiB here, a floor for every RSS figure above)"
        )
        print(_install_note())
    return 0


def _install_note() -> str:
    """Which netwatch the runs measured: an editable install (``pip install -e``) pays ~40 ms of start-up for
    setuptools' import finder on every run, which ``pip install .`` (the README's) does not."""
    import netwatch.tui
    from netwatch.backends.compiled import description

    where = os.path.dirname(netwatch.tui.__file__)
    if "site-packages" in where:
        return f"(netwatch from {where}, {description()})"
    return (f"(netwatch from {where}, {description()}: an editable install, which pays ~40 ms of start-up a run "
            "for setuptools' import finder; run this from a `pip install .` venv for the figures users see)")


if __name__ == "__main__":
    raise SystemExit(main())
