"""The summary bar at the top: host, backend, refresh state, socket counts and visibility warnings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from os.path import commonprefix

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from netwatch.backends.collector import visibility_warning
from netwatch.backends.history.diff import HostTotals
from netwatch.backends.model.names import PROTOS, short_state, state_rank
from netwatch.tui.view import format as fmt
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.safe_text import plain

CLOCK_GAP = 2
"""Cells at least between the first line's text and the snapshot's clock, which ends that line."""


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
    read_only: bool = False


def summary_lines(status: Status, frame: Frame | None, width: int = 0) -> list[Text]:
    """The bar's lines: status line, counts line and (when needed) a warning line, each fitted to ``width`` cells (0:
    any width) and never wrapped, so that the warning line is never pushed out. The counts line keeps what matters
    most (the total, then what the filter shows) and drops state, then protocol counts that do not fit; the host's
    totals go where they fit, in full or short. The snapshot's clock ends the first line, at the right edge: it
    changes at every refresh, and repainting the columns above the detail pane alone leaves the tables out of
    Textual's repaint."""
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
    if status.read_only:
        line.append("  ")
        line.append(" READ-ONLY ", style="reverse bold")
    if status.pid is not None:
        line.append(f"  pid {status.pid}", style="bold")
    clock = Text(f"at {fmt.clock_time(frame.snapshot.taken_at)}", style="dim") if frame is not None else None
    lines = [line, counts_text(frame, status.shown, width)]
    if frame is not None and frame.diff.elapsed:
        _place_totals(frame.diff.totals, lines, width, CLOCK_GAP + clock.cell_len if clock is not None and width else 0)
    if clock is not None:
        gap = width - line.cell_len - clock.cell_len if width else 0
        line.append(" " * max(gap, CLOCK_GAP))
        line.append_text(clock)
    warning = warning_text(status, frame)
    if warning is not None:
        lines.append(warning)
    if width:
        for text in lines:
            text.truncate(width, overflow="ellipsis")
    return lines


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


def _place_totals(totals: HostTotals, lines: list[Text], width: int, clock: int) -> None:
    """Append the totals to the first of ``lines`` they fit on (in full, else short on the first line, which keeps
    ``clock`` cells for the clock)."""
    full = totals_text(totals)
    for line, text in ((lines[0], full), (lines[1], full), (lines[0], totals_text(totals, short=True))):
        if not width or line.cell_len + text.cell_len + (clock if line is lines[0] else 0) <= width:
            line.append_text(text)
            return


def counts_text(frame: Frame | None, shown: str | None = None, width: int = 0) -> Text:
    """``44 sockets  tcp 33 udp 4 unix 7  │  ESTAB 20 LISTEN 9  │ 12 of 26 connections shown``, the parts that fit
    in ``width`` (0: all): the total and ``shown`` always, then protocol counts, then state counts."""
    if frame is None:
        return Text("collecting…", style="dim")
    total = Text.assemble((fmt.count(len(frame.snapshot.sockets)), "bold"), " sockets ")
    protos = Text()
    for proto in PROTOS:
        if frame.proto_counts.get(proto):
            protos.append(f" {proto} ")
            protos.append(fmt.count(frame.proto_counts[proto]), style="bold")
    states = Text()
    if frame.tcp_state_counts:
        states.append("  │ ", style="dim")
        for state in sorted(frame.tcp_state_counts, key=state_rank):
            states.append(f" {short_state(state)} ")
            states.append(fmt.count(frame.tcp_state_counts[state]), style="bold")
    filtered = Text.assemble(("  │ ", "dim"), (shown, "bold")) if shown is not None else Text()
    parts = [total, protos, states, filtered]
    for dropped in (states, protos):  # least useful first
        if not width or sum(part.cell_len for part in parts) <= width:
            break
        parts.remove(dropped)
    return Text("").join(parts)


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


def changed_columns(old: Strip, new: Strip) -> tuple[int, int]:
    """The columns ``[start, end)`` where ``new`` is drawn differently from ``old``: those between the cells they
    start with and, where both are as wide, end with."""
    start = _same_cells(old, new)
    if old.cell_length != new.cell_length:
        return start, max(old.cell_length, new.cell_length)
    return start, max(start, new.cell_length - _same_cells(_reversed(old), _reversed(new)))


def _same_cells(old: Iterable[Segment], new: Iterable[Segment]) -> int:
    """How many cells two lines' segments start with alike (text and style)."""
    cells = 0
    for (old_text, old_style, _), (new_text, new_style, _) in zip(old, new, strict=False):
        if old_style != new_style:
            break
        if old_text != new_text:
            return cells + cell_len(commonprefix([old_text, new_text]))
        cells += cell_len(old_text)
    return cells


def _reversed(strip: Strip) -> list[Segment]:
    """The strip's segments from its end, each one's text reversed."""
    return [Segment(text[::-1], style) for text, style, _ in reversed(list(strip))]


class SummaryBar(Widget):
    """Header line(s) of the app, drawn line by line (its clock changes at every refresh: as a ``Static`` its
    re-render was most of what an idle refresh cost on screen)."""

    DEFAULT_CSS = """
    SummaryBar {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = []
        self._strips: list[Strip | None] = []

    def show(self, status: Status, frame: Frame | None) -> None:
        """Show the bar: only its lines that changed are repainted (at an idle refresh, the clock's), and it is laid
        out again only when its number of lines is not the height it has."""
        lines = summary_lines(status, frame, self.content_size.width)
        before, self._lines = self._lines, lines
        # against the height it was laid out at (not yet laid out, or a layout pending: 0 or stale, so once more)
        if len(lines) != self.content_size.height or len(lines) != len(before):
            self._strips = [None] * len(lines)
            self.refresh(layout=len(lines) != self.content_size.height)
            return
        regions = []
        for y, (old, new) in enumerate(zip(before, lines, strict=True)):
            if old != new:
                drawn, self._strips[y] = self._strips[y], None
                start, end = changed_columns(drawn, self._strip(y)) if drawn else (0, self.content_size.width)
                if end > start:  # (a Text that changed may draw the same)
                    regions.append(Region(start, y, end - start, 1))
        if regions:  # the columns that changed: Textual repaints every widget beneath the box around its regions
            self.refresh(*regions)

    @property
    def plain(self) -> str:
        """What the bar says, without styles."""
        return "\n".join(line.plain for line in self._lines)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines) or 1

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        base_style = self.visual_style.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, base_style)
        return self._strip(y).crop_extend(0, width, base_style)

    def _strip(self, y: int) -> Strip:
        """Line ``y`` drawn, as long as its text (kept until the line changes)."""
        strip = self._strips[y]
        if strip is None:
            base_style = self.visual_style.rich_style
            line = self._lines[y]
            line.no_wrap = True
            strip = self._strips[y] = Strip([Segment(segment.text, base_style + segment.style if segment.style
                                                     else base_style) for segment in line.render(self.app.console)])
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = [None] * len(self._lines)
