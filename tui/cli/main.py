"""The ``netwatch`` command line: parse arguments, then run the TUI or a one-shot report.

Bad input ends with one line on stderr and exit status 2, never a traceback; so does the TUI without a
terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from netwatch.backends.collector import BACKEND_NAMES
from netwatch.tui.view.intervals import INTERVAL_RANGE

if TYPE_CHECKING:
    from netwatch.backends.filter import SocketFilter
    from netwatch.backends.model.namespaces import Selection

FORMATS = ("table", "json", "csv")
EXIT_USAGE = 2
EXIT_FAILURE = 1
NO_TERMINAL = "netwatch: no terminal; use --once for scripts"
STDOUT_CLOSED = "netwatch: standard output is closed"
CHECK_WIDTH = 80
"""The width of the formatters argparse makes to check each argument added (any would do)."""
PID_LIMIT = 1 << 22
"""Linux gives no pid this high (PID_MAX_LIMIT: ``/proc/sys/kernel/pid_max`` is at most 4194304)."""


class UsageError(Exception):
    """A one-line complaint about the command line."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors raise :class:`UsageError`; it measures the terminal only to format help."""

    _adding = False
    """Within :meth:`add_argument`: argparse checks the argument's metavar with a formatter, which needs no width
    (measuring the terminal imports shutil: ~3 ms of every run)."""

    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(message)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        self._adding = True
        try:
            return super().add_argument(*args, **kwargs)
        finally:
            self._adding = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        if self._adding:
            return self.formatter_class(prog=self.prog, width=CHECK_WIDTH)
        return super()._get_formatter()


class _Version(argparse.Action):
    """``--version``: the version and whether the compiled sock_diag splitter runs (imported only when asked)."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        from netwatch.backends.collector import implementation

        try:
            number = version("netwatch-top")
        except PackageNotFoundError:
            number = "(not installed)"
        print(f"netwatch {number} ({implementation()})")
        parser.exit()


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    low, high = INTERVAL_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g} seconds, not {text}")
    return value


def _pid(text: str) -> int:
    """A pid: ASCII digits only, as in the filter language (``int`` also reads ``١``), and below
    :data:`PID_LIMIT` (larger numbers overflow the system calls that look a process up)."""
    if not (text.isascii() and text.isdigit()) or not text.strip("0"):
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}")
    if len(text.lstrip("0")) > len(str(PID_LIMIT)) or int(text) >= PID_LIMIT:
        raise argparse.ArgumentTypeError(f"not a process id: {text} (Linux pids are below {PID_LIMIT})")
    return int(text)


def port_number(text: str) -> int:
    """A TCP/UDP port, 1 to 65535, in ASCII digits."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return int(text)


def _netns(text: str) -> Selection:
    from netwatch.backends.model.namespaces import Selection

    try:
        return Selection(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="netwatch",
        description="top for sockets: every TCP, UDP and Unix socket on this machine, live, with its process.",
        epilog="subcommands (each with --help): netwatch port | kill | events | export | record | replay | serve",
    )
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit (no TUI)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output of --once (default: table)")
    parser.add_argument("--interval", type=_positive_seconds, metavar="S",
                        help="seconds between refreshes, 0.05 to 3600 (default: the saved setting, else 2; "
                             "+ and - step through the same range)")
    parser.add_argument("--filter", default="", metavar="EXPR",
                        help="show only sockets matching EXPR, e.g. 'state established and dport = :443'")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                        help="where to read sockets from (default: auto = netlink, else procfs, else psutil)")
    parser.add_argument("--pid", type=_pid, metavar="PID", help="only this process's sockets")
    parser.add_argument("--netns", type=_netns, metavar="WHICH",
                        help="network namespaces: all (default: every one netwatch may enter), self (netwatch's "
                             "own), a NAME (ip netns name, container, unit, net:[INODE]), an INODE, or pid:PID")
    parser.add_argument("--linger", type=_positive_seconds, default=5.0, metavar="S",
                        help="seconds a closed socket stays on screen (default: 5)")
    parser.add_argument("--read-only", action="store_true",
                        help="the TUI never closes sockets or signals processes (its keys K and k refuse)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="with --once: no warnings on stderr about what is hidden (JSON still lists them)")
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and which decoder runs, and exit")
    return parser


def combined_filter(filter_text: str, pid: int | None) -> SocketFilter | None:
    """The --filter expression narrowed to --pid, joined as predicates (never as text: an error points into
    ``filter_text``, and no ``)`` in it can escape the pid); None when neither is given (everything matches,
    and the filter language is not even imported)."""
    if not filter_text.strip() and pid is None:
        return None
    from netwatch.backends.filter import FilterError, compile_filter, pid_filter

    try:
        socket_filter = compile_filter(filter_text)
    except FilterError as error:
        raise UsageError(str(error)) from None
    return socket_filter if pid is None else pid_filter(pid) & socket_filter


def _check(args: argparse.Namespace) -> SocketFilter | None:
    """Reject bad input; returns the filter of ``--once``."""
    socket_filter = combined_filter(args.filter, args.pid)
    if args.pid is not None:
        import psutil

        if not psutil.pid_exists(args.pid):
            from netwatch.backends.collector import hiding_hidepid

            hidepid = hiding_hidepid()
            hidden = f" (or it is hidden from this user: /proc is mounted with hidepid={hidepid})" if hidepid else ""
            raise UsageError(f"no process with pid {args.pid}{hidden}")
    if args.format != "table" and not args.once:
        raise UsageError("--format applies to --once output only")
    if args.quiet and not args.once:
        raise UsageError("--quiet applies to --once output only")
    return socket_filter


SUBCOMMANDS = ("port", "kill", "events", "export", "record", "replay", "serve")
"""``netwatch port ...``, ``kill ...``, ``events ...``, ``export ...``, ``record ...``, ``replay ...``, ``serve ...``:
commands with their own arguments, each in its ``tui/cli`` module."""


def _run_subcommand(name: str, argv: list[str]) -> int:
    """Run ``netwatch NAME ...`` (its module parses its arguments), failures reported as by :func:`main`."""
    from importlib import import_module

    try:
        return import_module(f"netwatch.tui.cli.{name}").main(argv)
    except BrokenPipeError:
        return 0
    except OSError as error:
        print(f"netwatch {name}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILURE


def has_terminal() -> bool:
    """Whether stdin, stdout and stderr are terminals (Textual reads stdin and draws on stderr), or the TUI is
    served to a browser (``netwatch serve``: textual-serve's web driver talks over pipes)."""
    return all(os.isatty(fd) for fd in (0, 1, 2)) or os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver")


def main(argv: Sequence[str] | None = None) -> int:
    """Run netwatch; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return _run_subcommand(argv[0], argv[1:])
    try:
        args = build_parser().parse_args(argv)
        socket_filter = _check(args)
    except UsageError as error:
        print(f"netwatch: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not args.once and not has_terminal():  # before Textual is imported
        print(NO_TERMINAL, file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.once:
            if sys.stdout is None:  # started with descriptor 1 closed (`>&-`)
                print(STDOUT_CLOSED, file=sys.stderr)
                return EXIT_FAILURE
            from netwatch.tui.cli.once import run_once

            return run_once(args.backend, socket_filter, args.format, sys.stdout, quiet=args.quiet, netns=args.netns)
        from netwatch.tui.view.snapshots import LiveSource

        source = LiveSource(args.backend, args.netns)
        source.begin()  # the first snapshot overlaps with importing Textual (~0.3 s)
        from netwatch.tui.app.app import run_app

        return run_app(
            source,
            interval=args.interval,
            filter_text=args.filter,
            pid=args.pid,
            linger=args.linger,
            read_only=args.read_only,
        )
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # the last line of defence: one line, no traceback
        if os.environ.get("NETWATCH_DEBUG"):
            raise
        from netwatch.backends.model.source_result import BackendUnavailable

        if isinstance(error, OSError):
            print(f"netwatch: {error.strerror or error}", file=sys.stderr)
        else:
            kind = "" if isinstance(error, BackendUnavailable) else f"{type(error).__name__}: "
            print(f"netwatch: {kind}{error}", file=sys.stderr)
        return EXIT_FAILURE


def run() -> NoReturn:
    """The console entry point: :func:`main`, then leave at once. Python would free every object of a
    ``--once`` snapshot one by one on the way out; the kernel frees the memory in one go."""
    status = main()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:  # the reader left: as in main()
        pass
    except OSError as error:  # e.g. >/dev/full: the last lines were not written
        print(f"netwatch: {error.strerror or error}", file=sys.stderr)
        status = status or EXIT_FAILURE
    if sys.stderr is not None:
        sys.stderr.flush()
    os._exit(status)
