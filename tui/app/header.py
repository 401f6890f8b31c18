"""The summary bar at the top: host, backend, refresh state, socket counts and visibility warnings."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from netwatch.backends.collector import visibility_warning
from netwatch.backends.history.diff import HostTotals
from netwatch.backends.model.names import PROTOS, short_state, state_rank
from netwatch.tui.view import format as fmt
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.safe_text import plain


@dataclass(frozen=True, slots=True)
class Status:
    """What the app is doing, besides the data: shown on the first line."""

    hostname: str
    backend: str
    interval: float
    paused: bool = False
    resolving: bool = False
    pid: int | None = None
    error: str | None = None
    shown: str | None = None
    """How many rows the filter lets through, e.g. ``0 of 40 connections shown`` (None: no filter)."""


def summary_text(status: Status, frame: Frame | None, width: int = 0) -> Text:
    """The whole bar: status line, counts line and (when needed) a warning line. The host's totals go where they
    fit in ``width`` cells (0: anywhere), in full or short, never wrapping a line."""
    line = Text.assemble(("netwatch ", "bold"))
    line.append_text(plain(status.hostname, "bold"))
    line.append("  backend ")
    line.append_text(plain(frame.snapshot.backend if frame else status.backend, "bold"))
    line.append("  ")
    if status.paused:
        line.append(" PAUSED ", style="reverse bold")
    else:
        line.append(f"every {fmt.interval(status.interval)}")
    if status.resolving:
        line.append("  names", style="bold")
    if status.pid is not None:
        line.append(f"  pid {status.pid}", style="bold")
    if frame is not None:
        snapshot = frame.snapshot
        line.append(f"  at {fmt.clock_time(snapshot.taken_at)}", style="dim")
    counts = counts_text(frame)
    if status.shown is not None and frame is not None:
        counts.append("  │ ", style="dim")
        counts.append(status.shown, style="bold")
    lines = [line, counts]
    if frame is not None and frame.diff.elapsed:
        _place_totals(frame.diff.totals, lines, width)
    warning = warning_text(status, frame)
    if warning is not None:
        lines.append(warning)
    return Text("\n").join(lines)


def totals_text(totals: HostTotals, short: bool = False) -> Text:
    """``  tcp ↑ 1.2 MiB/s ↓ 80 KiB/s  conn +3.0 −2.5/s``: the host's TCP traffic and connection churn; short:
    ``  ↑1.2M/s ↓80.0K/s``."""
    if short:
        return Text.assemble("  ↑", (f"{fmt.compact_size(totals.send_bps)}/s", "bold"),
                             " ↓", (f"{fmt.compact_size(totals.recv_bps)}/s", "bold"))
    return Text.assemble(
        "  tcp ↑ ", (fmt.rate(totals.send_bps), "bold"), " ↓ ", (fmt.rate(totals.recv_bps), "bold"),
        "  conn +", (f"{totals.opened_ps:.1f}", "bold"), " −", (f"{totals.closed_ps:.1f}", "bold"), "/s",
    )


def _place_totals(totals: HostTotals, lines: list[Text], width: int) -> None:
    """Append the totals to the first of ``lines`` they fit on (in full, else short on the first line)."""
    full = totals_text(totals)
    for line, text in ((lines[0], full), (lines[1], full), (lines[0], totals_text(totals, short=True))):
        if not width or line.cell_len + text.cell_len <= width:
            line.append_text(text)
            return


def counts_text(frame: Frame | None) -> Text:
    if frame is None:
        return Text("collecting…", style="dim")
    total = len(frame.snapshot.sockets)
    text = Text.assemble((fmt.count(total), "bold"), " sockets ")
    for proto in PROTOS:
        if frame.proto_counts.get(proto):
            text.append(f" {proto} ")
            text.append(fmt.count(frame.proto_counts[proto]), style="bold")
    states = frame.tcp_state_counts
    if states:
        text.append("  │ ", style="dim")
        for state in sorted(states, key=state_rank):
            text.append(f" {short_state(state)} ")
            text.append(fmt.count(states[state]), style="bold")
    return text


def warning_text(status: Status, frame: Frame | None) -> Text | None:
    """The most important problem: a collection error, hidden owners, or the backend's first warning."""
    if status.error:
        return plain(f"⚠ {status.error}", "bold red")
    if frame is None:
        return None
    hidden = visibility_warning(frame.snapshot.visibility)
    if hidden:
        return Text(f"⚠ {hidden}", style="bold yellow")
    if frame.snapshot.warnings:
        return plain(f"⚠ {frame.snapshot.warnings[0]}", "yellow")
    return None


class SummaryBar(Static):
    """Header line(s) of the app."""

    _lines = 0

    def show(self, status: Status, frame: Frame | None) -> None:
        """Show the bar; it is laid out again only when its height (its number of lines) changes."""
        text = summary_text(status, frame, self.content_size.width)
        lines = text.plain.count("\n") + 1
        self.update(text, layout=lines != self._lines)
        self._lines = lines
