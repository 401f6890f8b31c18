"""``netwatch port PORT [--udp] [--format table|json]``: who holds a port and whether a new socket can bind it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TextIO

import orjson

from netwatch.backends.actions.ports import PortReport, inspect_port
from netwatch.backends.collector import Collector
from netwatch.backends.model.namespaces import Selection
from netwatch.backends.model.records import Process
from netwatch.tui.cli.main import port_number
from netwatch.tui.cli.once import format_table
from netwatch.tui.cli.serialize import socket_to_dict
from netwatch.tui.view.safe_text import visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", type=port_number, help="the port number")
    parser.add_argument("--udp", action="store_true", help="a UDP port (default: TCP)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run_port(args: argparse.Namespace, out: TextIO) -> int:
    """Inspect the port and print the report; returns the exit status (0). "Can a new socket bind it" is asked of
    netwatch's own network namespace (ports are per namespace): only its sockets hold or block the port."""
    snapshot = Collector("auto", netns=Selection("self")).snapshot()
    report = inspect_port(snapshot.sockets.values(), "udp" if args.udp else "tcp", args.port)
    if args.format == "json":
        document = report_to_dict(report, snapshot.processes)
        out.write(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    else:
        out.writelines(format_report(report, snapshot.processes))
    return 0


def report_to_dict(report: PortReport, processes: Mapping[int, Process]) -> dict[str, object]:
    """The JSON object: port, proto, verdict, reason, ephemeral, holders (sockets in the ``--once`` schema)."""
    return {
        "port": report.port,
        "proto": report.proto,
        "verdict": report.verdict,
        "reason": report.reason,
        "ephemeral": asdict(report.ephemeral),
        "holders": [socket_to_dict(sock, processes) for sock in report.holders],
        "pressure": [{"source": item.source, "destination": item.destination, "port": item.port,
                      "connections": item.connections, "range_size": item.range_size, "netns": item.netns}
                     for item in report.pressure],
    }


def format_report(report: PortReport, processes: Mapping[int, Process]) -> list[str]:
    """The verdict, the ephemeral range, then the holders as in ``--once``'s table."""
    lines = [f"{report.proto} port {report.port}: {report.verdict}: {visible(report.reason)}\n"]
    eph = report.ephemeral
    if eph.local_range:
        inside = "inside" if eph.in_local_range else "outside"
        low, high = eph.local_range
        lines.append(
            f"{inside} ip_local_port_range {low}-{high}"
            f"{' (an outgoing connection may take it)' if eph.in_local_range else ''}\n"
        )
    if eph.reserved:
        lines.append("listed in ip_local_reserved_ports (never picked as an ephemeral port)\n")
    if report.holders:
        lines.append("\n")
        lines.extend(format_table(report.holders, processes))
    if report.pressure:
        lines.append("\nbusiest destinations by ephemeral ports:\n")
        lines.extend(f"  {visible(pressure.text())}\n" for pressure in report.pressure)
    return lines


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``port``)."""
    from netwatch.tui.cli.main import EXIT_USAGE, UsageError, _Parser

    parser = _Parser(prog="netwatch port", description="who holds a port, and can a new socket bind it here?")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(f"netwatch port: {error}", file=sys.stderr)
        return EXIT_USAGE
    return run_port(args, sys.stdout)
