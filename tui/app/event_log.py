"""The event log pane: sockets opened, closed and changing state, newest at the bottom."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.widgets import RichLog

from netwatch.backends.history.tracker import Event
from netwatch.backends.model.endpoints import format_endpoint
from netwatch.backends.model.names import short_state
from netwatch.backends.model.records import Process, Socket
from netwatch.tui.view import format as fmt
from netwatch.tui.view.rows import process_label
from netwatch.tui.view.safe_text import plain

MAX_LINES = 500
RENDERED_LINES = 128
"""Rendered lines the log keeps cached (RichLog keeps 1,024, each ~1.5 KB with its caches; a few are on screen)."""
MAX_PER_REFRESH = 200
"""A refresh that opens 50,000 sockets logs only the latest ones (plus a count of the rest)."""

_KIND_STYLE = {"opened": "green", "closed": "red", "state": "yellow"}


def endpoints_text(sock: Socket) -> Text:
    if sock.proto == "unix":
        return plain(sock.path or f"inode {sock.inode}")
    local = format_endpoint(sock.local_address, sock.local_port, sock.family)
    peer = format_endpoint(sock.remote_address, sock.remote_port, sock.family)
    return Text(f"{local} → {peer}")


def event_text(event: Event, processes: Mapping[int, Process]) -> Text:
    """``12:00:01 opened  tcp 127.0.0.1:80 → 10.0.0.2:5000  1234/nginx`` (process text shown literally)."""
    sock = event.socket
    text = Text(fmt.clock_time(event.at), style="dim")
    text.append(f" {event.kind:<6} ", style=_KIND_STYLE.get(event.kind, ""))
    text.append(f"{sock.proto:<4} ")
    text.append_text(endpoints_text(sock))
    if event.kind == "state" and event.old_state:
        text.append(f"  {short_state(event.old_state)} → {short_state(sock.state)}", style="yellow")
    label = process_label(sock, processes)
    if label:
        text.append("  ")
        text.append_text(plain(label, "bold"))
    return text


class EventLog(RichLog):
    """Bounded, append-only log of socket events."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, markup=False, highlight=False, wrap=False, id=id, classes=classes)
        self._line_cache.maxsize = RENDERED_LINES

    def add_events(self, events: Iterable[Event], processes: Mapping[int, Process]) -> None:
        batch = list(events)
        skipped = len(batch) - MAX_PER_REFRESH
        if skipped > 0:
            self.write(Text(f"… {fmt.count(skipped)} more events this refresh", style="dim"))
            batch = batch[skipped:]
        for event in batch:
            self.write(event_text(event, processes))
