"""``netwatch record FILE [--interval S] [--duration D] [--netns WHICH]``: write live snapshots to a recording
(see :mod:`netwatch.tui.cli.recording`) until the duration is up or it is interrupted (status 0)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from netwatch.backends.collector import Collector
from netwatch.tui.cli.main import EXIT_USAGE, UsageError, _Parser, _positive_seconds
from netwatch.tui.cli.recording import Recorder
from netwatch.tui.cli.subcommand import add_live_arguments, stop_on_sigterm, usage_error


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netwatch record", description="record this host's sockets to a file, for netwatch replay")
    parser.add_argument("file", help="the recording to write (a new file)")
    parser.add_argument("--duration", type=_positive_seconds, metavar="D", help="stop after D seconds")
    add_live_arguments(parser, 2.0, "seconds between two snapshots (default: 2)")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``record``)."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        return usage_error("netwatch record", error)
    try:
        file = open(args.file, "xb")  # noqa: SIM115 - closed below, after the loop
    except OSError as error:
        print(f"netwatch record: {args.file}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    stop = stop_on_sigterm()
    collector = Collector("auto", live=True, netns=args.netns)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        with file:
            recorder = Recorder(file, args.interval)
            while not stop.is_set():
                started = time.monotonic()
                recorder.add(collector.snapshot())
                if deadline is not None and started + args.interval > deadline:
                    break
                stop.wait(max(0.0, args.interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    except OSError as error:  # a full disk: what was written stays readable
        print(f"netwatch record: {args.file}: {error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        collector.close()
    return 0
