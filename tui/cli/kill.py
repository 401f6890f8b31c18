"""``netwatch kill FILTER [--dry-run] [--yes] [--read-only] [--format table|json]``: close the matching sockets.

Lists what matches, then closes it with ``--yes`` or after the count is typed at a prompt (stdin a terminal).
Exit status 0 when every match is closed (or was already gone), 1 when any was refused, 2 for bad input (an
empty filter is refused: it would close every socket).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

import orjson

from netwatch.backends.actions.destroy import REFUSED, DestroyResult, closable, destroy_all
from netwatch.backends.collector import Collector
from netwatch.backends.filter import FilterError, compile_filter
from netwatch.backends.model.records import Process, Socket
from netwatch.tui.cli.main import EXIT_FAILURE, EXIT_USAGE, UsageError, _Parser
from netwatch.tui.cli.once import format_table
from netwatch.tui.cli.serialize import socket_to_dict
from netwatch.tui.view.safe_text import visible


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netwatch kill", description="close the TCP and UDP sockets matching FILTER")
    parser.add_argument("filter", help="which sockets (the filter language); an empty filter is refused")
    parser.add_argument("--dry-run", action="store_true", help="list what would be closed, close nothing")
    parser.add_argument("--yes", action="store_true", help="close without asking")
    parser.add_argument("--read-only", action="store_true", help="disable every action (as --dry-run)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``kill``)."""
    try:
        args = build_parser().parse_args(argv)
        if not args.filter.strip():
            raise UsageError("an empty filter would close every socket: give one, e.g. 'dport = :443'")
        try:
            socket_filter = compile_filter(args.filter)
        except FilterError as error:
            raise UsageError(str(error)) from None
    except UsageError as error:
        print(f"netwatch kill: {error}", file=sys.stderr)
        return EXIT_USAGE
    snapshot = Collector("auto").snapshot()
    matches = [
        sock
        for sock in snapshot.sockets.values()
        if sock.family != "unix" and socket_filter.matches(sock, snapshot.processes)
    ]
    return run_kill(matches, snapshot.processes, args, sys.stdin, sys.stdout)


def run_kill(
    matches: list[Socket], processes: Mapping[int, Process], args: argparse.Namespace, stdin: TextIO, out: TextIO
) -> int:
    """List ``matches``; close them when confirmed; print the result of each; returns the exit status."""
    if not matches:
        print("netwatch kill: no TCP or UDP socket matches", file=sys.stderr)
        return 0
    if args.dry_run or args.read_only:
        why = "read-only: nothing closed" if args.read_only else "dry run: nothing closed"
        results = [
            DestroyResult(sock, "would close" if not closable(sock) else REFUSED, closable(sock) or why)
            for sock in matches
        ]
        _print(results, processes, args.format, out)
        return 0
    if not args.yes:
        if not stdin.isatty():
            print("netwatch kill: not closing without --yes (stdin is not a terminal)", file=sys.stderr)
            return EXIT_USAGE
        out.writelines(format_table(matches, processes))
        out.write(f"type {len(matches)} to close these {len(matches)} sockets: ")
        out.flush()
        if stdin.readline().strip() != str(len(matches)):
            print("netwatch kill: not confirmed, nothing closed", file=sys.stderr)
            return EXIT_FAILURE
    results = destroy_all(matches)
    _print(results, processes, args.format, out)
    return EXIT_FAILURE if any(result.outcome == REFUSED for result in results) else 0


def _print(results: list[DestroyResult], processes: Mapping[int, Process], output_format: str, out: TextIO) -> None:
    if output_format == "json":
        document = [
            {"outcome": result.outcome, "reason": result.reason, "socket": socket_to_dict(result.sock, processes)}
            for result in results
        ]
        out.write(orjson.dumps({"results": document}).decode() + "\n")
        return
    table = format_table([result.sock for result in results], processes)
    out.write(f"{'Result':<13} {table[0]}")
    for result, line in zip(results, table[1:], strict=True):
        out.write(f"{result.outcome:<13} {line}")
    for reason in sorted({result.reason for result in results if result.outcome == REFUSED}):
        out.write(f"refused: {visible(reason)}\n")
