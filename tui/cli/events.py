"""``netwatch events [--filter EXPR] [--format table|json] [--interval S] [--netns WHICH]``: socket events as
they happen, one line each, until interrupted.

``opened`` and ``changed`` (state) come from a live dump every ``--interval`` seconds; ``closed`` comes from the
kernel's close events (sock_diag's destroy groups, as ``ss -E``) as soon as they arrive, so a connection born and
gone between two dumps is reported too (and a socket without close events, Unix or with another backend, from
the dumps). Every line is flushed; Ctrl-C, SIGTERM and a reader that leaves (``| head -3``) end it with status 0.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TextIO

import orjson

from netwatch.backends.collector import Collector
from netwatch.backends.filter import SocketFilter
from netwatch.backends.history.diff import diff
from netwatch.backends.model.endpoints import format_endpoint
from netwatch.backends.model.names import short_state
from netwatch.backends.model.records import CloseEvent, Process, Socket, owner_pids
from netwatch.backends.model.snapshot import Snapshot
from netwatch.tui.cli.main import UsageError, _Parser
from netwatch.tui.cli.serialize import socket_to_dict
from netwatch.tui.cli.subcommand import (
    add_filter_argument,
    add_live_arguments,
    compiled_filter,
    stop_on_sigterm,
    usage_error,
)
from netwatch.tui.view.safe_text import visible

EVENTS = ("opened", "closed", "changed")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netwatch events", description="stream opened, closed and changed sockets until interrupted")
    add_filter_argument(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table", help="json: JSON Lines")
    add_live_arguments(parser, 1.0, "seconds between two dumps, which show opened and changed sockets (default: 1)")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry from :func:`netwatch.tui.cli.main.main` (argv after ``events``)."""
    try:
        args = build_parser().parse_args(argv)
        socket_filter = compiled_filter(args.filter)
    except UsageError as error:
        return usage_error("netwatch events", error)
    stop = stop_on_sigterm()
    collector = Collector("auto", live=True, netns=args.netns)
    try:
        Stream(socket_filter, args.format, sys.stdout).run(collector, args.interval, stop)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        collector.close()
    return 0


class Stream:
    """Writes the events of successive snapshots and of the close events between them."""

    def __init__(self, socket_filter: SocketFilter | None, output_format: str, out: TextIO) -> None:
        self._filter = socket_filter
        self._json = output_format == "json"
        self._out = out
        self._first_seen: dict = {}
        self._reported: set = set()
        """Keys whose close was written from a close event (the next dump must not write it again)."""

    def run(self, collector: Collector, interval: float, stop: threading.Event) -> None:
        """Until ``stop`` is set: a dump every ``interval`` seconds, close events written as they arrive."""
        previous = collector.snapshot()
        self._first_seen = dict.fromkeys(previous.sockets, previous.taken_at)
        while not stop.is_set():
            deadline = time.monotonic() + interval
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                closes = collector.close_events
                if closes is None:
                    stop.wait(left)
                elif closes.wait(min(left, 0.25)):
                    self._closed(closes.take(), previous)
            if stop.is_set():
                return
            current = collector.snapshot()
            self._closed(current.closes, previous)
            self._changes(previous, current)
            previous = current

    def _closed(self, events: Sequence[CloseEvent], previous: Snapshot) -> None:
        """Close events: the socket's final record, with the owners and first-seen time it had at the last dump."""
        for event in events:
            final = event.socket
            known = previous.sockets.get(final.key)
            sock = replace(final, owners=known.owners) if known is not None else final
            first = self._first_seen.pop(final.key, None)
            self._reported.add(final.key)
            self._write("closed", sock, previous.processes, previous, event.wall,
                        event.wall - first if first is not None else None)  # fmt: skip

    def _changes(self, previous: Snapshot, current: Snapshot) -> None:
        change = diff(previous, current)
        for key in change.opened:
            self._first_seen[key] = current.taken_at
            self._write("opened", current.sockets[key], current.processes, current, current.taken_at, None)
        for key in change.state_changed:
            self._write("changed", current.sockets[key], current.processes, current, current.taken_at, None)
        for key, sock in change.closed.items():  # no close event for it (Unix, or none was read)
            first = self._first_seen.pop(key, None)
            if key not in self._reported:
                self._write("closed", sock, previous.processes, previous, current.taken_at,
                            current.taken_at - first if first is not None else None)  # fmt: skip
        self._reported.clear()

    def _write(self, event: str, sock: Socket, processes: Mapping[int, Process], snapshot: Snapshot, at: float,
               duration: float | None) -> None:  # fmt: skip
        if self._filter is not None and not self._filter.matches(sock, processes):
            return
        if self._json:
            fields = socket_to_dict(sock, processes, snapshot.monotonic, snapshot.namespaces)
            document = {"ts": at, "event": event, **fields, "duration": duration}
            self._out.write(orjson.dumps(document).decode() + "\n")
        else:
            self._out.write(_line(event, sock, processes, at, duration) + "\n")
        self._out.flush()


def _line(event: str, sock: Socket, processes: Mapping[int, Process], at: float, duration: float | None) -> str:
    """``12:00:01 closed  tcp 127.0.0.1:5000 → 127.0.0.1:80  ESTAB  1234/curl  2.1s`` (untrusted text made
    visible)."""
    if sock.family == "unix":
        where = visible(sock.path or f"inode {sock.inode}")
    else:
        local = format_endpoint(sock.local_address, sock.local_port, sock.family)
        where = f"{local} → {format_endpoint(sock.remote_address, sock.remote_port, sock.family)}"
    owners = ",".join(f"{pid}/{visible(processes[pid].name) if pid in processes else '?'}" for pid in owner_pids(sock))
    info = sock.tcp_info
    moved = f"  {info.bytes_acked}B sent {info.bytes_received}B received" if event == "closed" and info else ""
    lived = f"  {duration:.1f}s" if duration is not None else ""
    clock = time.strftime("%H:%M:%S", time.localtime(at))
    return f"{clock} {event:<7} {sock.proto:<4} {where}  {short_state(sock.state)}  {owners or '-'}{moved}{lived}"
