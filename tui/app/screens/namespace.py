"""Network namespace drill-down: the sockets of one namespace, with its summary above them."""

from __future__ import annotations

from rich.text import Text

from netwatch.backends.filter import SocketFilter
from netwatch.tui.app.detail import namespace_summary
from netwatch.tui.app.screens.drill_down import DrillDownScreen
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.namespaces import namespace_totals
from netwatch.tui.view.refresher import Refresher
from netwatch.tui.view.rows import SOCKET_COLUMNS
from netwatch.tui.view.table_model import TableRows


class NamespaceScreen(DrillDownScreen):
    """Every socket of one network namespace."""

    COLUMNS = SOCKET_COLUMNS

    def __init__(self, inode: int, frame: Frame, refresher: Refresher) -> None:
        super().__init__(frame, refresher)
        self.inode = inode

    def summary(self, frame: Frame) -> Text:
        return namespace_summary(self.inode, namespace_totals(frame, self.inode), frame)

    def build(self, frame: Frame, socket_filter: SocketFilter | None, sort_index: int, reverse: bool) -> TableRows:
        return self._refresher.rows_of_namespace(frame, self.inode, socket_filter, sort_index, reverse)
