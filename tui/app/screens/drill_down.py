"""Drill-down screens: the sockets of one subject (a process, a remote host), refreshed with each frame, with a
summary above them, the detail pane of the selected socket beside them and a filter box (``/``).

Escape leaves the detail pane, else clears the filter (as escape in the box does), else goes back.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from netwatch.backends.filter import SocketFilter
from netwatch.tui.app.detail import DetailPane
from netwatch.tui.app.quiet_screen import QuietUpdates
from netwatch.tui.app.widgets.filter_bar import FilterBar
from netwatch.tui.app.widgets.footer import KeyFooter
from netwatch.tui.app.widgets.socket_table import SocketTable
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.refresher import Refresher
from netwatch.tui.view.table_model import Column, TableRows

DRILL_DOWN_ACTIONS = ("back", "filter", "details")
"""The screen's own actions (the app keeps sort, reverse, pause, interval, names, help and quit)."""


class DrillDownScreen(QuietUpdates, Screen[None]):
    """The sockets of one subject; subclasses say which (:meth:`build`) and what the summary says.

    The screen holds the frame it shows (and releases it when it leaves or the next one comes)."""

    BINDINGS = [
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("enter", "details", "Details", show=False),
    ]

    COLUMNS: Sequence[Column] = ()

    def __init__(self, frame: Frame, refresher: Refresher) -> None:
        super().__init__()
        self._refresher = refresher
        self._frame = refresher.hold(frame)
        self._filter: SocketFilter | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="drill-info")
        with Horizontal(id="drill-body"):
            yield SocketTable(self.COLUMNS, id="drill-table", sort_column="seen", sorted_by_owner=True)
            yield DetailPane(id="drill-detail")
        yield FilterBar(id="drill-filter")
        yield KeyFooter()

    # ----- what subclasses say ----------------------------------------------------------------------------

    def summary(self, frame: Frame) -> Text:
        """The text above the table (called on a worker thread)."""
        raise NotImplementedError

    def build(self, frame: Frame, socket_filter: SocketFilter | None, sort_index: int, reverse: bool) -> TableRows:
        """The subject's sockets in ``frame`` passing ``socket_filter``, sorted, holding ``frame`` (on a worker)."""
        raise NotImplementedError

    # ----- frames and rows --------------------------------------------------------------------------------

    @property
    def table(self) -> SocketTable:
        return self.query_one("#drill-table", SocketTable)

    def on_mount(self) -> None:
        self.query_one("#drill-filter", FilterBar).display = False
        detail = self.query_one("#drill-detail", DetailPane)
        detail.set_width(self.app.settings.detail_width)  # type: ignore[attr-defined]
        detail.show_message("no socket selected")
        self._rebuild()
        self.table.focus()

    def on_unmount(self) -> None:
        self._refresher.release(self._frame)

    def show_frame(self, frame: Frame) -> None:
        """Redraw from a new refresh (built on a worker thread: one process may own 100,000 sockets)."""
        self._refresher.release(self._frame)
        self._frame = self._refresher.hold(frame)
        self._rebuild()

    def _rebuild(self) -> None:
        self._build(self._filter, self.table.sort_index, self.table.sort_reverse)

    @on(SocketTable.Sorted, "#drill-table")
    def _sorted(self) -> None:
        self._rebuild()

    @work(thread=True, exclusive=True, group="drill-down", exit_on_error=False, description="build the drill-down")
    def _build(self, socket_filter: SocketFilter | None, sort_index: int, reverse: bool) -> None:
        """Build the summary and rows from the screen's frame, held while this worker reads it."""
        frame = self._refresher.hold(self._frame)
        try:
            summary = self.summary(frame)
            rows = self.build(frame, socket_filter, sort_index, reverse)
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
            if rows.total is not None:
                summary = summary + Text(f"\n{len(rows.keys)} of {rows.total} sockets shown", style="bold")
            self.query_one("#drill-info", Static).update(summary)
            self.table.set_rows(rows)
            self._show_detail()
        else:
            rows.discard()

    # ----- detail pane ------------------------------------------------------------------------------------

    @on(SocketTable.CursorMoved, "#drill-table")
    def _cursor_moved(self) -> None:
        self._show_detail()

    @on(SocketTable.RowActivated, "#drill-table")
    def _row_activated(self) -> None:
        self.action_details()

    def _show_detail(self) -> None:
        detail = self.query_one("#drill-detail", DetailPane)
        frame, key = self._frame, self.table.cursor_key
        if key is None:
            detail.show_message("no socket selected")
        elif key in frame.sockets:
            rtt, throughput = self._series_of(key)
            detail.show_socket(frame.sockets[key], frame, rtt, throughput, self._refresher.source)
        else:
            detail.show_message("socket is gone")

    def _series_of(self, key: Hashable) -> tuple[list[float], list[float]]:
        series = self._refresher.series(key)
        return series if series is not None else ([], [])

    def action_details(self) -> None:
        if self.table.cursor_key is None:
            return
        self.add_class("-detail-open")
        self.query_one("#drill-detail", DetailPane).focus()

    # ----- filter and escape ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#drill-filter", FilterBar).open()

    @on(FilterBar.Applied, "#drill-filter")
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self._filter = event.socket_filter
        self._rebuild()
        self._leave_filter_box()

    @on(FilterBar.Cleared, "#drill-filter")
    def _filter_cleared(self, event: FilterBar.Cleared) -> None:
        if self._filter is not None:
            self._filter = None
            self._rebuild()
        event.bar.display = False
        self._leave_filter_box()

    def _leave_filter_box(self) -> None:
        self.query_one("#drill-filter", FilterBar).give_focus_back(self.table)

    def action_back(self) -> None:
        """Escape outside the filter box: leave the detail pane, else clear the filter, else go back."""
        bar = self.query_one("#drill-filter", FilterBar)
        detail = self.query_one("#drill-detail", DetailPane)
        if self.has_class("-detail-open") or detail.has_focus_within:
            self.remove_class("-detail-open")
            self.table.focus()
        elif self._filter is not None or bar.input.value:
            bar.clear()
        else:
            self.dismiss()
