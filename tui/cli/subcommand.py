"""What the subcommands that watch the host share: their common arguments, the filter, SIGTERM as a stop."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from netwatch.backends.filter import FilterError, SocketFilter, compile_filter
from netwatch.tui.cli.main import EXIT_USAGE, UsageError, _netns, _positive_seconds


def add_live_arguments(parser: argparse.ArgumentParser, interval: float, interval_help: str) -> None:
    """``--interval S`` (default ``interval``) and ``--netns WHICH``."""
    parser.add_argument("--interval", type=_positive_seconds, default=interval, metavar="S", help=interval_help)
    parser.add_argument("--netns", type=_netns, metavar="WHICH", help="network namespaces, as for netwatch")


def add_filter_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filter", default="", metavar="EXPR", help="only sockets matching EXPR (the filter language)")


def compiled_filter(text: str) -> SocketFilter | None:
    """The filter of ``text`` (None when blank); UsageError pointing into the text otherwise."""
    if not text.strip():
        return None
    try:
        return compile_filter(text)
    except FilterError as error:
        raise UsageError(str(error)) from None


def usage_error(prog: str, error: UsageError) -> int:
    """Say what was wrong with the command line, in one line; returns the exit status."""
    print(f"{prog}: {error}", file=sys.stderr)
    return EXIT_USAGE


def stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets (the subcommand then ends as on Ctrl-C, with status 0)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    return stop
