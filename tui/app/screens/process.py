"""Process drill-down: one process's identity, totals and sockets; escape goes back."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from netwatch.tui.app.detail import process_summary
from netwatch.tui.app.widgets.footer import KeyFooter
from netwatch.tui.app.widgets.socket_table import SocketTable
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.refresher import Refresher
from netwatch.tui.view.rows import SOCKET_COLUMNS
from netwatch.tui.view.table_model import TableRows


class ProcessScreen(Screen[None]):
    """Every socket (inet and unix) of one pid, refreshed with each frame (holds the frame it shows)."""

    BINDINGS = [Binding("escape", "dismiss", "Back")]

    def __init__(self, pid: int, frame: Frame, refresher: Refresher) -> None:
        super().__init__()
        self.pid = pid
        self._refresher = refresher
        self._frame = refresher.hold(frame)

    def compose(self) -> ComposeResult:
        yield Static(id="process-info")
        yield SocketTable(SOCKET_COLUMNS, id="process-table", sort_column="age", sorted_by_owner=True)
        yield KeyFooter()

    @property
    def table(self) -> SocketTable:
        return self.query_one("#process-table", SocketTable)

    def on_mount(self) -> None:
        self._build(self.table.sort_index, self.table.sort_reverse)
        self.table.focus()

    def on_unmount(self) -> None:
        self._refresher.release(self._frame)

    def show_frame(self, frame: Frame) -> None:
        """Redraw from a new refresh (built on a worker thread: one process may own 100,000 sockets)."""
        self._refresher.release(self._frame)
        self._frame = self._refresher.hold(frame)
        self._build(self.table.sort_index, self.table.sort_reverse)

    @on(SocketTable.Sorted, "#process-table")
    def _sorted(self) -> None:
        self._build(self.table.sort_index, self.table.sort_reverse)

    @work(thread=True, exclusive=True, group="process", exit_on_error=False, description="build the process view")
    def _build(self, sort_index: int, reverse: bool) -> None:
        """Build the summary and rows from the screen's frame, held while this worker reads it."""
        frame = self._refresher.hold(self._frame)
        try:
            summary = process_summary(self.pid, frame)
            rows = self._refresher.rows_of_pid(frame, self.pid, sort_index, reverse)
        finally:
            self._refresher.release(frame)
        if get_current_worker().is_cancelled:
            rows.discard()
            return
        try:
            self.app.call_from_thread(self._show, frame, summary, rows)
        except RuntimeError:  # the app is shutting down
            rows.discard()

    def _show(self, frame: Frame, summary: Text, rows: TableRows) -> None:
        if frame is self._frame and self.is_attached:
            self.query_one("#process-info", Static).update(summary)
            self.table.set_rows(rows)
        else:
            rows.discard()
