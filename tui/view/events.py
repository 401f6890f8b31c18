"""The event log as the UI shows it: which events pass the filter, and each event's line (names when resolving)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text

from netwatch.backends.filter import SocketFilter
from netwatch.backends.history.tracker import Event
from netwatch.backends.model.names import short_state
from netwatch.backends.model.records import Socket
from netwatch.tui.view import format as fmt
from netwatch.tui.view.rows import process_label
from netwatch.tui.view.safe_text import plain

Endpoint = Callable[[str, int, str, str], str]
"""``endpoint(address, port, family, proto)``: an endpoint as the tables show it (see ``RowBuilder.endpoint``)."""

_KIND_STYLE = {"opened": "green", "closed": "red", "state": "yellow", "short-lived": "magenta"}
_KIND_LABEL = {"short-lived": "short"}
"""How an event's kind is shown where it does not fit the column."""


def accepted_events(events: Iterable[Event], socket_filter: SocketFilter | None) -> list[Event]:
    """The events whose socket passes ``socket_filter`` (matched against the processes the event recorded)."""
    if socket_filter is None:
        return list(events)
    return [event for event in events if socket_filter.matches(event.socket, event.processes)]


def endpoints_text(sock: Socket, endpoint: Endpoint) -> Text:
    if sock.proto == "unix":
        return plain(sock.path or f"inode {sock.inode}")
    local = endpoint(sock.local_address, sock.local_port, sock.family, sock.proto)
    peer = endpoint(sock.remote_address, sock.remote_port, sock.family, sock.proto)
    return plain(f"{local} → {peer}")


def event_text(event: Event, endpoint: Endpoint) -> Text:
    """``12:00:01 opened  tcp 127.0.0.1:80 → 10.0.0.2:5000  1234/nginx`` (untrusted text shown literally)."""
    sock = event.socket
    text = Text(fmt.clock_time(event.at), style="dim")
    text.append(f" {_KIND_LABEL.get(event.kind, event.kind):<6} ", style=_KIND_STYLE.get(event.kind, ""))
    text.append(f"{sock.proto:<4} ")
    text.append_text(endpoints_text(sock, endpoint))
    if event.kind == "state" and event.old_state:
        text.append(f"  {short_state(event.old_state)} → {short_state(sock.state)}", style="yellow")
    if event.kind == "short-lived":
        sent, received = event.moved or (0, 0)
        within = f", under {fmt.duration_ms(event.within * 1000)}" if event.within else ""
        text.append(f"  short-lived: {fmt.size(sent)} sent, {fmt.size(received)} received{within}", style="magenta")
    label = process_label(sock, event.processes)
    if label:
        text.append("  ")
        text.append_text(plain(label, "bold"))
    elif event.kind == "short-lived":
        text.append("  owner unknown", style="dim")
    return text
