"""Process drill-down: one process's identity, family, totals and sockets (its pid said once, above them)."""

from __future__ import annotations

from rich.text import Text

from netwatch.backends.filter import SocketFilter
from netwatch.tui.app.detail import process_summary
from netwatch.tui.app.screens.drill_down import DrillDownScreen
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.refresher import Refresher
from netwatch.tui.view.rows import PID_SOCKET_COLUMNS
from netwatch.tui.view.table_model import TableRows


class ProcessScreen(DrillDownScreen):
    """Every socket (inet and unix) of one pid."""

    COLUMNS = PID_SOCKET_COLUMNS

    def __init__(self, pid: int, frame: Frame, refresher: Refresher) -> None:
        super().__init__(frame, refresher)
        self.pid = pid

    def summary(self, frame: Frame) -> Text:
        return process_summary(self.pid, frame)

    def build(self, frame: Frame, socket_filter: SocketFilter | None, sort_index: int, reverse: bool) -> TableRows:
        return self._refresher.rows_of_pid(frame, self.pid, socket_filter, sort_index, reverse)
