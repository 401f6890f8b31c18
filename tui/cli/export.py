"""``netwatch export [--listen 127.0.0.1:9464] [--interval S] [--netns WHICH]``: Prometheus metrics at /metrics.

Served by the ``prometheus_client`` library from a custom collector that reads the aggregates of the latest
refresh: a scrape never dumps sockets (scrapes between two refreshes get the same values) and costs what
formatting a few hundred series costs, whatever the number of sockets. Labels stay few, as node_exporter's and
cAdvisor's do: protocol, state, namespace, container, process name, listening port; never a remote address or
port, a pid or a cookie. Counters never go backwards: what a process sent stays counted after its sockets closed
(their last bytes come from the close events) and after it exited.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from netwatch.backends.collector import Collector
from netwatch.backends.history.diff import ZERO_RATES, SnapshotDiff, diff
from netwatch.backends.model.records import owner_pids
from netwatch.backends.model.snapshot import Snapshot
from netwatch.tui.cli.main import EXIT_USAGE, UsageError, _Parser
from netwatch.tui.cli.subcommand import add_live_arguments, stop_on_sigterm, usage_error

DEFAULT_LISTEN = "127.0.0.1:9464"
RTT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
"""Upper bounds (seconds) of the rtt histogram's buckets."""


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as (address, port); ArgumentTypeError in words otherwise."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address:port (e.g. 127.0.0.1:9464): {text!r}") from None
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not a port (1-65535) in {text!r}")
    return host, int(port)


@dataclass
class Aggregates:
    """What one refresh tells Prometheus (label tuples -> values), built on the refresh thread."""

    sockets: Counter = field(default_factory=Counter)
    """(proto, state, netns, container) -> sockets."""
    listen_queue: dict = field(default_factory=dict)
    """(proto, port, netns) -> (queue, backlog) of listeners."""
    rtt: dict = field(default_factory=dict)
    """container -> (cumulative bucket counts, sum of rtts in seconds)."""
    busiest_ephemeral: float = 0.0
    refresh_seconds: float = 0.0
    refreshed_at: float = 0.0


@dataclass
class Counters:
    """Monotonic totals, accumulated refresh after refresh (never reset while the exporter runs)."""

    sent: Counter = field(default_factory=Counter)
    """(process name, container) -> bytes acknowledged by the peers."""
    received: Counter = field(default_factory=Counter)
    retransmitted: Counter = field(default_factory=Counter)
    opened: int = 0
    closed: int = 0
    close_events_lost: int = 0


class Exporter:
    """Refreshes a live collector every ``interval`` seconds and serves the latest aggregates."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector
        self._lock = threading.Lock()
        self._aggregates = Aggregates()
        self._counters = Counters()
        self._previous: Snapshot | None = None

    def refresh(self) -> None:
        started = time.monotonic()
        snapshot = self._collector.snapshot()
        aggregates = _aggregate(snapshot)
        previous, self._previous = self._previous, snapshot
        aggregates.refresh_seconds = time.monotonic() - started
        aggregates.refreshed_at = time.time()
        with self._lock:
            if previous is not None:
                self._count(previous, diff(previous, snapshot))
            self._counters.close_events_lost = max(self._counters.close_events_lost, snapshot.closes_lost or 0)
            self._aggregates = aggregates

    def _count(self, previous: Snapshot, change: SnapshotDiff) -> None:
        """Add what moved since ``previous`` (owners of closed sockets are found there)."""
        counters, elapsed = self._counters, change.elapsed
        processes = previous.processes | change.current.processes
        for pid, rate in change.process_rates.items():
            if rate is ZERO_RATES:
                continue
            process = processes.get(pid)
            label = (process.name if process else "?", process.container.name if process and process.container else "")
            counters.sent[label] += rate.send_bps * elapsed
            counters.received[label] += rate.recv_bps * elapsed
            counters.retransmitted[label] += rate.retrans_ps * elapsed
        counters.opened += round(change.totals.opened_ps * elapsed)
        counters.closed += round(change.totals.closed_ps * elapsed)

    def collect(self) -> Iterator[object]:
        """The metric families of the latest refresh (``prometheus_client``'s custom collector interface)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeHistogramMetricFamily,
            GaugeMetricFamily,
        )

        with self._lock:
            aggregates, counters = self._aggregates, self._counters
            sent, received, retransmitted = dict(counters.sent), dict(counters.received), dict(counters.retransmitted)
            opened, closed, lost = counters.opened, counters.closed, counters.close_events_lost
        sockets = GaugeMetricFamily("netwatch_sockets", "Sockets by protocol, state, network namespace and container",
                                    labels=["proto", "state", "netns", "container"])  # fmt: skip
        for labels, count in sorted(aggregates.sockets.items()):
            sockets.add_metric(labels, count)
        yield sockets
        for name, help_text, values in (
            ("netwatch_tcp_sent_bytes", "TCP bytes acknowledged by the peers, by process name and container", sent),
            ("netwatch_tcp_received_bytes", "TCP bytes received, by process name and container", received),
            ("netwatch_tcp_retransmitted_segments", "TCP segments retransmitted, by process name and container",
             retransmitted),
        ):  # fmt: skip
            family = CounterMetricFamily(name, help_text, labels=["process", "container"])
            for labels, value in sorted(values.items()):
                family.add_metric(labels, value)
            yield family
        yield CounterMetricFamily("netwatch_tcp_connections_opened", "TCP connections opened (short-lived included)",
                                  value=opened)  # fmt: skip
        yield CounterMetricFamily("netwatch_tcp_connections_closed", "TCP connections closed (short-lived included)",
                                  value=closed)  # fmt: skip
        yield CounterMetricFamily("netwatch_close_events_lost", "Close events the kernel dropped", value=lost)
        queue = GaugeMetricFamily("netwatch_listen_queue", "Connections waiting in a listener's accept queue",
                                  labels=["proto", "port", "netns"])  # fmt: skip
        backlog = GaugeMetricFamily("netwatch_listen_backlog", "A listener's accept queue limit",
                                    labels=["proto", "port", "netns"])  # fmt: skip
        for (proto, port, netns), (waiting, limit) in sorted(aggregates.listen_queue.items()):
            queue.add_metric([proto, str(port), netns], waiting)
            backlog.add_metric([proto, str(port), netns], limit)
        yield queue
        yield backlog
        rtt = GaugeHistogramMetricFamily("netwatch_tcp_rtt_seconds", "Smoothed RTT of the current TCP connections",
                                         labels=["container"])  # fmt: skip
        for container, (counts, total) in sorted(aggregates.rtt.items()):
            buckets = [(str(bound), count) for bound, count in zip(RTT_BUCKETS, counts, strict=False)]
            rtt.add_metric([container], [*buckets, ("+Inf", counts[-1])], total)
        yield rtt
        yield GaugeMetricFamily("netwatch_ephemeral_port_usage_ratio", "Share of the ephemeral port range the busiest "
                                "(source, destination, port) uses", value=aggregates.busiest_ephemeral)  # fmt: skip
        yield GaugeMetricFamily("netwatch_refresh_duration_seconds", "How long the last refresh took",
                                value=aggregates.refresh_seconds)  # fmt: skip
        yield GaugeMetricFamily("netwatch_last_refresh_timestamp_seconds", "When the last refresh succeeded",
                                value=aggregates.refreshed_at)  # fmt: skip


def _aggregate(snapshot: Snapshot) -> Aggregates:
    from netwatch.backends.actions.ports import ephemeral_pressure
    from netwatch.backends.actions.pressure import local_port_range

    aggregates = Aggregates()
    containers = {}
    rtts: dict[str, list[float]] = {}
    for sock in snapshot.sockets.values():
        owner = owner_pids(sock)[0] if sock.owners else None
        container = containers.get((owner, sock.netns_inode))
        if container is None:
            found = snapshot.container_of(sock)
            container = containers[(owner, sock.netns_inode)] = found.name if found else ""
        netns = sock.netns or ""
        aggregates.sockets[(sock.proto, sock.state, netns, container)] += 1
        if sock.state == "LISTEN" and sock.proto == "tcp":
            aggregates.listen_queue[(sock.proto, sock.local_port, netns)] = (sock.recv_q or 0, sock.send_q or 0)
        info = sock.tcp_info
        if info is not None and info.rtt and sock.state == "ESTABLISHED":
            rtts.setdefault(container, []).append(info.rtt / 1e6)
    for container, values in rtts.items():
        counts = [sum(1 for value in values if value <= bound) for bound in RTT_BUCKETS] + [len(values)]
        aggregates.rtt[container] = (counts, sum(values))
    busiest = ephemeral_pressure(snapshot.sockets.values(), local_port_range(), top=1)
    aggregates.busiest_ephemeral = busiest[0].ratio if busiest else 0.0
    return aggregates


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netwatch export", description="serve Prometheus metrics of this host's sockets")
    parser.add_argument("--listen", type=listen_address, default=DEFAULT_LISTEN, metavar="ADDRESS:PORT",
                        help=f"where to serve /metrics (default: {DEFAULT_LISTEN}; anything but loopback only when "
                             "named here)")  # fmt: skip
    add_live_arguments(parser, 5.0, "seconds between two refreshes (default: 5); scrapes in between get the last one")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``export``)."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        return usage_error("netwatch export", error)
    from prometheus_client import start_http_server
    from prometheus_client.registry import CollectorRegistry

    collector = Collector("auto", live=True, light=True, netns=args.netns)  # the metrics need no extension
    exporter = Exporter(collector)
    exporter.refresh()  # the first scrape has data
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)
    host, port = args.listen
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        print(f"netwatch export: cannot listen on {host}:{port}: {error.strerror or error}", file=sys.stderr)
        collector.close()
        return EXIT_USAGE
    stop = stop_on_sigterm()
    print(f"netwatch export: serving http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    try:
        while not stop.wait(args.interval):
            exporter.refresh()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        collector.close()
    return 0
