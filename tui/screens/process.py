"""Process drill-down: one process's identity, totals and sockets; escape goes back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from netwatch.tui.detail import process_summary
from netwatch.tui.frame import Frame
from netwatch.tui.rows import SOCKET_COLUMNS, RowBuilder
from netwatch.tui.widgets.socket_table import SocketTable


class ProcessScreen(Screen[None]):
    """Every socket (inet and unix) of one pid, refreshed with each frame."""

    BINDINGS = [Binding("escape", "dismiss", "Back")]

    def __init__(self, pid: int, frame: Frame, rows: RowBuilder) -> None:
        super().__init__()
        self.pid = pid
        self._frame = frame
        self._rows = rows

    def compose(self) -> ComposeResult:
        yield Static(id="process-info")
        yield SocketTable(SOCKET_COLUMNS, id="process-table")
        yield Footer()

    @property
    def table(self) -> SocketTable:
        return self.query_one("#process-table", SocketTable)

    def on_mount(self) -> None:
        self.table.sort_by("age")
        self.show_frame(self._frame)
        self.table.focus()

    def show_frame(self, frame: Frame) -> None:
        """Redraw from a new refresh."""
        self._frame = frame
        self.query_one("#process-info", Static).update(process_summary(self.pid, frame))
        self.table.set_rows(self._rows.rows_of_pid(frame, self.pid))
