"""Process drill-down: one process's identity, totals and sockets; escape goes back."""

from __future__ import annotations

from contextlib import suppress

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from netwatch.tui.detail import process_summary
from netwatch.tui.frame import Frame
from netwatch.tui.rows import SOCKET_COLUMNS, RowBuilder
from netwatch.tui.widgets.socket_table import SocketTable, TableRows


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
        yield SocketTable(SOCKET_COLUMNS, id="process-table", sort_column="age", sorted_by_owner=True)
        yield Footer()

    @property
    def table(self) -> SocketTable:
        return self.query_one("#process-table", SocketTable)

    def on_mount(self) -> None:
        self.show_frame(self._frame)
        self.table.focus()

    def show_frame(self, frame: Frame) -> None:
        """Redraw from a new refresh (built on a worker thread: one process may own 100,000 sockets)."""
        self._frame = frame
        self._build(frame, self.table.sort_index, self.table.sort_reverse)

    @on(SocketTable.Sorted, "#process-table")
    def _sorted(self) -> None:
        self.show_frame(self._frame)

    @work(thread=True, exclusive=True, group="process", exit_on_error=False, description="build the process view")
    def _build(self, frame: Frame, sort_index: int, reverse: bool) -> None:
        summary = process_summary(self.pid, frame)
        rows = self._rows.rows_of_pid(frame, self.pid).sorted(sort_index, reverse)
        if not get_current_worker().is_cancelled:
            with suppress(RuntimeError):  # the app is shutting down
                self.app.call_from_thread(self._show, frame, summary, rows)

    def _show(self, frame: Frame, summary: Text, rows: TableRows) -> None:
        if frame is self._frame and self.is_attached:
            self.query_one("#process-info", Static).update(summary)
            self.table.set_rows(rows)
