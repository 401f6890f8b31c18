"""``netwatch replay FILE [--once --at TIME [--format table|json|csv] [--filter EXPR]]``: a recording in the TUI (it
plays at the recorded pace), or the snapshot at one time as ``--once`` prints it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netwatch.tui.cli.main import EXIT_USAGE, FORMATS, UsageError, _Parser, has_terminal
from netwatch.tui.cli.recording import RecordingError, at, read
from netwatch.tui.cli.subcommand import add_filter_argument, compiled_filter, usage_error


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netwatch replay", description="replay a recording made with netwatch record")
    parser.add_argument("file", help="the recording")
    parser.add_argument("--once", action="store_true", help="print the snapshot at --at and exit (no TUI)")
    parser.add_argument("--at", default="0", metavar="TIME",
                        help="with --once: seconds from the start (2.5) or a clock time (HH:MM:SS); default 0")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output of --once (default: table)")
    add_filter_argument(parser)
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``replay``)."""
    try:
        args = build_parser().parse_args(argv)
        socket_filter = compiled_filter(args.filter)
        try:
            header, snapshots = read(args.file)
        except OSError as error:
            raise UsageError(f"{args.file}: {error.strerror or error}") from None
        except RecordingError as error:
            raise UsageError(str(error)) from None
        if not snapshots:
            raise UsageError(f"{args.file}: the recording holds no snapshot")
        if args.once:
            try:
                snapshot = at(snapshots, args.at)
            except ValueError as error:
                raise UsageError(str(error)) from None
    except UsageError as error:
        return usage_error("netwatch replay", error)
    if args.once:
        from netwatch.tui.cli.once import print_snapshot

        return print_snapshot(snapshot, socket_filter, args.format, sys.stdout, quiet=True)
    if not has_terminal():
        print("netwatch replay: no terminal; use --once --at TIME for scripts", file=sys.stderr)
        return EXIT_USAGE
    from netwatch.tui.app.app import run_app
    from netwatch.tui.view.snapshots import ReplaySource

    return run_app(ReplaySource(snapshots, backend_name="replay"), interval=header.interval,
                   filter_text=args.filter, hostname=f"{header.host} (recorded)", recording=True)  # fmt: skip
