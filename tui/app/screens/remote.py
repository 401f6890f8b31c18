"""Remote host drill-down: the sockets talking to one remote address, with the host's totals above them."""

from __future__ import annotations

from rich.text import Text

from netwatch.backends.filter import SocketFilter
from netwatch.tui.app.detail import remote_summary
from netwatch.tui.app.screens.drill_down import DrillDownScreen
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.refresher import Refresher
from netwatch.tui.view.remotes import host_totals
from netwatch.tui.view.rows import SOCKET_COLUMNS
from netwatch.tui.view.table_model import TableRows


class RemoteScreen(DrillDownScreen):
    """Every connection to one remote address (``::ffff:`` mapped ones included)."""

    COLUMNS = SOCKET_COLUMNS

    def __init__(self, address: str, frame: Frame, refresher: Refresher) -> None:
        super().__init__(frame, refresher)
        self.address = address

    def summary(self, frame: Frame) -> Text:
        name = self._refresher.host_name(self.address)
        return remote_summary(self.address, name, host_totals(frame, self.address), frame.snapshot.processes)

    def build(self, frame: Frame, socket_filter: SocketFilter | None, sort_index: int, reverse: bool) -> TableRows:
        return self._refresher.rows_of_host(frame, self.address, socket_filter, sort_index, reverse)
