"""The interactive netwatch app: live socket tables, detail pane, change highlighting, filter, drill-down.

Data flow: a timer hands the refresh thread a request to run :meth:`Refresher.refresh` (at most one in flight: a
tick is skipped while the previous collection runs), which returns the new frame and the rows of the active view;
the UI thread only swaps them into the widgets. The refresh thread is a plain thread, not a Textual worker: a
worker per refresh cost the idle UI thread ~0.6 ms of every 2 s refresh (its state messages, and a blocking
call back into the UI thread). View, filter and name-resolution changes ask the refresher for rows
on another (exclusive) thread worker; text typed into the filter box is compiled on a thread once typing rests.
The app holds its current frame and releases it when it is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import TabbedContent, TabPane
from textual.worker import get_current_worker

from netwatch.backends.filter import FilterError, SocketFilter
from netwatch.backends.history.tracker import Event
from netwatch.backends.model.records import Socket, owner_pids
from netwatch.backends.model.source_result import BackendUnavailable
from netwatch.tui.app.actions import SOCKET_VIEWS, ActionKeys
from netwatch.tui.app.detail import DetailPane, namespace_summary, process_summary, remote_summary
from netwatch.tui.app.event_log import EventLog
from netwatch.tui.app.header import Status, SummaryBar
from netwatch.tui.app.quiet_screen import QuietScreen
from netwatch.tui.app.screens.dialogs import ConfirmScreen, PortPrompt, ResultScreen, SignalChooser, TimePrompt
from netwatch.tui.app.screens.drill_down import DrillDownScreen
from netwatch.tui.app.screens.help import HelpScreen, KeyHelp
from netwatch.tui.app.screens.namespace import NamespaceScreen
from netwatch.tui.app.screens.owner_chooser import OwnerChooser
from netwatch.tui.app.screens.process import ProcessScreen
from netwatch.tui.app.screens.remote import RemoteScreen
from netwatch.tui.app.widgets.filter_bar import FilterBar
from netwatch.tui.app.widgets.footer import KeyFooter
from netwatch.tui.app.widgets.socket_table import SocketTable
from netwatch.tui.app.widgets.view_tabs import ViewTabs
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.intervals import INTERVAL_STEPS
from netwatch.tui.view.namespaces import NamespaceRowList, NamespaceTotals
from netwatch.tui.view.refresher import Refresh, Refresher, ViewRequest
from netwatch.tui.view.remotes import RemoteRowList, RemoteTotals
from netwatch.tui.view.rows import COLUMNS_OF_VIEW, DEFAULT_SORT, VIEWS, shown_text
from netwatch.tui.view.settings import DETAIL_WIDTH_LIMITS, Settings, SettingsFile
from netwatch.tui.view.snapshots import LiveSource, ReplaySource, SnapshotSource
from netwatch.tui.view.table_model import TableRows

DEFAULT_INTERVAL = 2.0
SORT_KEYS = Binding.Group("Sort", compact=True)
INTERVAL_KEYS = Binding.Group("Interval", compact=True)
"""Keys shown as one entry of the footer (``<>r Sort``), so that 80 columns show every key (escape is
everywhere the way back: the help says it, the footer does not)."""
DETAIL_WIDTH_STEP = 4
MIN_TABLE_WIDTH = 40
"""Columns the table keeps beside the detail pane when the pane is widened."""
DETAIL_DELAY = 0.05
"""Seconds the cursor must rest before the detail pane follows it."""

VIEW_TITLES = {"connections": "Connections", "listeners": "Listeners", "processes": "Processes", "unix": "Unix",
               "remotes": "Remote hosts", "namespaces": "Namespaces"}

EXTRA_KEYS: tuple[KeyHelp, ...] = (
    ("↑ ↓ pgup pgdn home end", "move the cursor"),
    ("click a header", "sort by that column (again: reverse)"),
    ("click a row / a tab", "select the row (again: as enter) / switch to the view; the wheel scrolls"),
    ("tab / shift+tab", "move focus between table, details and filter"),
    ("filter examples", "state established and dport >= 1024 · sport = :22 or src 10.0.0.0/8 · "
                        "process nginx · not unix · pid 1234 · user postgres · a plain word searches"),
)


DIALOGS = (ConfirmScreen, ResultScreen, SignalChooser, PortPrompt, TimePrompt)
"""The actions' modal dialogs: the app's keys wait while one is open."""


class NetwatchApp(ActionKeys, App[None]):
    """``top`` for sockets."""

    CSS_PATH = "netwatch.tcss"
    ALLOW_IN_MAXIMIZED_VIEW = "SummaryBar,Footer,.-textual-system"
    ESCAPE_TO_MINIMIZE = False  # escape leaves the full-screen log through action_back (the table gets the focus)
    TITLE = "netwatch"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "back", "Back", key_display="esc", show=False),
        Binding("enter", "details", "Details", show=False),
        Binding("p", "process", "Process"),
        Binding("less_than_sign", "sort(-1)", "Sort ←", key_display="<", group=SORT_KEYS),
        Binding("greater_than_sign", "sort(1)", "Sort →", key_display=">", group=SORT_KEYS),
        Binding("r", "reverse", "Reverse", group=SORT_KEYS),
        Binding("space", "pause", "Pause", key_display="␣"),
        Binding("plus", "interval(1)", "Slower", key_display="+", group=INTERVAL_KEYS),
        Binding("minus", "interval(-1)", "Faster", key_display="-", group=INTERVAL_KEYS),
        Binding("n", "names", "Names"),
        Binding("e", "events", "Events"),
        Binding("left_square_bracket", "detail_width(-1)", "Narrower details", show=False, key_display="["),
        Binding("right_square_bracket", "detail_width(1)", "Wider details", show=False, key_display="]"),
        Binding("E", "events_full", "Event log", show=False),
        Binding("1", "view('connections')", "Connections", show=False),
        Binding("2", "view('listeners')", "Listeners", show=False),
        Binding("3", "view('processes')", "Processes", show=False),
        Binding("4", "view('unix')", "Unix", show=False),
        Binding("5", "view('remotes')", "Remote hosts", show=False),
        Binding("6", "view('namespaces')", "Namespaces", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("left_square_bracket", "replay_step(-1)", "Frame back", show=False, key_display="["),
        Binding("right_square_bracket", "replay_step(1)", "Frame on", show=False, key_display="]"),
        Binding("left_curly_bracket", "replay_seconds(-60)", "A minute back", show=False, key_display="{"),
        Binding("right_curly_bracket", "replay_seconds(60)", "A minute on", show=False, key_display="}"),
        Binding("g", "replay_goto", "Go to a time", show=False),
        Binding("K", "close_sockets", "Close socket", show=False),
        Binding("k", "signal", "Signal process", show=False),
        Binding("P", "port", "Port inspector", show=False),
        Binding("c", "copy", "Copy row", show=False),
        Binding("C", "copy_details", "Copy details", show=False),
        Binding("s", "save", "Save view", show=False),
    ]

    KEY_DESCRIPTIONS = {
        "quit": "quit",
        "filter": "filter box (filter language; plain words search): enter applies the text, esc clears the filter",
        "back": "leave details / clear the filter (as esc in the box does) / go back",
        "details": "focus the detail pane of the selected socket (Remote hosts, Namespaces: their sockets)",
        "process": "process view of the selected socket's (or process row's) pid (a shared socket: choose whose)",
        "sort(-1)": "sort by the column to the left",
        "sort(1)": "sort by the column to the right",
        "reverse": "reverse the sort order",
        "pause": "pause / resume refreshing",
        "interval(1)": "refresh less often (longer interval, up to 3600 s)",
        "interval(-1)": "refresh more often (shorter interval, down to 0.05 s, as --interval allows)",
        "names": "toggle name resolution (reverse DNS in the background, service names)",
        "events": "show / hide the event log (tab focuses it: arrows, pgup/pgdn, home/end scroll)",
        "events_full": "event log full screen (again or esc: back)",
        "detail_width(-1)": "narrower detail pane (saved)",
        "detail_width(1)": "wider detail pane (saved)",
        "view('connections')": "Connections view",
        "view('listeners')": "Listeners view",
        "view('processes')": "Processes view",
        "view('unix')": "Unix sockets view",
        "view('remotes')": "Remote hosts view: one row per remote address (enter: its sockets)",
        "view('namespaces')": "Namespaces view: one row per network namespace (enter: its sockets)",
        "close_sockets": "close the selected TCP/UDP socket, or all matching the filter (asks first; not --read-only)",
        "signal": "send a signal to the selected socket's owner or process (asks first; not --read-only)",
        "port": "port inspector: who holds the selected socket's port (or one you type), can it be bound",
        "copy": "copy the selected row's endpoints and owners (OSC 52)",
        "copy_details": "copy the detail pane as text (OSC 52)",
        "save": "save the sockets this view shows as CSV or JSON (the --once schema) in the current directory",
        "replay_step(-1)": "netwatch replay: one snapshot back (the detail pane keeps its width)",
        "replay_step(1)": "netwatch replay: one snapshot on",
        "replay_seconds(-60)": "netwatch replay: a minute back",
        "replay_seconds(60)": "netwatch replay: a minute on",
        "replay_goto": "netwatch replay: go to a time (seconds from the start or MM:SS); space pauses and plays",
        "help": "this help",
    }

    def __init__(
        self,
        source: SnapshotSource,
        *,
        interval: float | None = None,
        filter_text: str = "",
        pid: int | None = None,
        linger: float = 5.0,
        hostname: str | None = None,
        settings: SettingsFile | None = None,
        read_only: bool = False,
        recording: bool = False,
    ) -> None:
        """``interval`` None: the saved one, else 2 s. ``settings``: where settings persist (None: nowhere, all
        defaults, as in tests). ``read_only``: no action that changes the host (closing, signalling)."""
        super().__init__()
        self.read_only = read_only
        self.recording = recording
        """A recording is replayed (``netwatch replay``): ``[`` ``]`` ``{`` ``}`` ``g`` move in it."""
        self.refresher = Refresher(source, linger=linger)
        self._settings_file = settings
        self.settings, self._settings_error = settings.load() if settings is not None else (Settings(), None)
        self._saved_settings: Settings | None = None
        """What the settings file holds (set once the app stands; nothing is written before)."""
        self.interval = interval if interval is not None else self.settings.interval or DEFAULT_INTERVAL
        self.paused = False
        self.pid = pid
        self.view = self.settings.view or "connections"
        self.frame: Frame | None = None
        """The frame on screen (held by the app until the next one replaces it)."""
        self.hostname = hostname if hostname is not None else socket.gethostname()
        self._names_arrived = False
        self._filter_text = filter_text
        """The text of the active filter."""
        self._filter: SocketFilter | None = None
        self._generation = 0
        self._collecting = False
        self._refresh_thread = (source.executor if isinstance(source, LiveSource)  # no hop to take a snapshot
                                else ThreadPoolExecutor(max_workers=1, thread_name_prefix="netwatch-refresh"))
        self._collect_error: str | None = None
        self._shown: str | None = None
        """What the active view's filter lets through (for the header)."""
        self._timer: asyncio.TimerHandle | None = None
        self._detail_timer: Timer | None = None
        self._names_timer: Timer | None = None
        self._series: dict[Hashable, tuple[list[float], list[float]]] = {}
        self.unavailable: BackendUnavailable | None = None
        """Set when the app quit because no backend can read sockets here."""

    # ----- layout -----------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                with ViewTabs(id="views", initial=self.view):
                    for view in VIEWS:
                        with TabPane(f"{VIEWS.index(view) + 1} {VIEW_TITLES[view]}", id=view):
                            column, reverse = self.settings.sort.get(view, DEFAULT_SORT[view])
                            yield SocketTable(
                                COLUMNS_OF_VIEW[view],
                                id=f"table-{view}",
                                sort_column=column,
                                sort_reverse=reverse,
                                sorted_by_owner=True,  # sorted with the rows, on a worker thread
                            )
                yield EventLog(self.refresher.endpoint, id="events")
            yield DetailPane(id="detail")
        yield FilterBar(self._filter_text, id="filter-bar")
        yield KeyFooter()

    def get_default_screen(self) -> Screen:
        """Textual's default screen, with an update timer that sleeps between repaints (see ``quiet_screen``)."""
        return QuietScreen(id="_default")

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver; on Linux, one whose input thread sleeps while no key comes (see ``input_driver``)."""
        from textual import constants
        from textual.drivers.linux_driver import LinuxDriver

        driver = super().get_driver_class()
        if driver is not LinuxDriver or constants.DRIVER:  # another platform, or chosen with TEXTUAL_DRIVER
            return driver
        from netwatch.tui.app.input_driver import QuietLinuxDriver

        return QuietLinuxDriver

    def on_mount(self) -> None:
        bar = self.query_one("#filter-bar", FilterBar)
        initial = bar.apply_initial()
        self._filter_text = bar.applied_text
        self._filter = None if isinstance(initial, FilterError) else initial
        bar.display = bool(self._filter_text)
        self.query_one("#detail", DetailPane).show_message("no socket selected")
        self.table().focus()
        self._update_summary()
        self._schedule()
        self._apply_settings()
        self.collect_now()

    @property
    def source(self) -> SnapshotSource:
        return self.refresher.source

    # ----- settings ---------------------------------------------------------------------------------------

    def _apply_settings(self) -> None:
        """Use the loaded settings (view, sort and interval are in place already); report a bad file."""
        settings = self.settings
        if settings.theme is not None and settings.theme in self.available_themes:
            self.theme = settings.theme
        if settings.names:
            self._resolve_names(True)
            self._update_summary()
        self.query_one("#detail", DetailPane).set_width(settings.detail_width)
        if self._settings_error is not None:
            self.notify(self._settings_error, severity="warning", timeout=10)
        self._saved_settings = self._current_settings()
        self.theme_changed_signal.subscribe(self, lambda _theme: self.save_settings())

    def _current_settings(self) -> Settings:
        sort = {}
        for view in VIEWS:
            table = self.table(view)
            sort[view] = (COLUMNS_OF_VIEW[view][table.sort_index].key, table.sort_reverse)
        return Settings(theme=self.theme, interval=self.settings.interval, view=self.view,
                        names=self.refresher.resolving, detail_width=self.settings.detail_width, sort=sort)

    def save_settings(self) -> None:
        """Write the settings if they changed (a hook for whatever changes one: the detail pane's width sets
        ``self.settings.detail_width`` then calls this)."""
        if self._settings_file is None or self._saved_settings is None:
            return
        current = self._current_settings()
        if current == self._saved_settings:
            return
        self._saved_settings = current
        problem = self._settings_file.save(current)
        if problem is not None:
            self.notify(problem, severity="warning", timeout=10)

    def on_unmount(self) -> None:
        self._stop_ticking()
        self._refresh_thread.shutdown(wait=False, cancel_futures=True)
        self.refresher.close()

    def table(self, view: str | None = None) -> SocketTable:
        """The table of ``view`` (default: the active view)."""
        return self.query_one(f"#table-{view or self.view}", SocketTable)

    def current_table(self) -> SocketTable:
        """The table the keys act on: the drill-down screen's, or the active view's."""
        if isinstance(self.screen, DrillDownScreen):
            return self.screen.table
        return self.table()

    # ----- data -------------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Tick every :attr:`interval` from now on. The event loop's own timer, not a Textual ``Timer``: that one
        is a task that sleeps and posts a message to the app at each tick, ~0.4 ms of an idle refresh."""
        self._stop_ticking()
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        self._timer = loop.call_at(due, self._ticker, due + self.interval)

    def _stop_ticking(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _ticker(self, due: float) -> None:
        """Tick, and again at ``due`` (the next tick after now, when the loop was late: like Textual's timers, it
        skips missed ticks)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if due <= now:
            due += (math.floor((now - due) / self.interval) + 1) * self.interval
        self._timer = loop.call_at(due, self._ticker, due + self.interval)
        self._tick()

    def _tick(self) -> None:
        if not self.paused:
            self.collect_now()

    def collect_now(self) -> bool:
        """Start a collection unless one is already running (then the request is dropped)."""
        if self._collecting:
            return False
        try:
            request = self._request()
        except NoMatches:  # a timer that fired while the app shuts down
            return False
        try:
            self._refresh_thread.submit(self._collect, request)
        except RuntimeError:  # shut down: the app is closing
            return False
        self._collecting = True
        return True

    @property
    def collecting(self) -> bool:
        """Whether a collection is in flight (until its frame, or its failure, reached the UI thread)."""
        return self._collecting

    def _collect(self, request: ViewRequest) -> None:
        """On the refresh thread: the next frame and rows, handed to the UI thread."""
        try:
            refresh = self.refresher.refresh(request)
        except BackendUnavailable as error:
            self._hand_over(self._backend_unavailable, error)
            return
        except Exception as error:  # any other failure is shown in the header; the next tick retries
            self._hand_over(self._collect_failed, f"collection failed: {type(error).__name__}: {error}")
            return
        self._hand_over(self._apply_frame, refresh, request)

    def _post(self, callback, *args) -> None:
        """Run ``callback`` on the UI thread (from a worker) and wait until it ran (a worker has then finished only
        once its rows are on screen); dropped quietly when the app is shutting down."""
        with contextlib.suppress(RuntimeError):
            self.call_from_thread(callback, *args)

    def _hand_over(self, callback, *args) -> None:
        """Run ``callback`` on the UI thread (from the refresh thread), without waiting for it (:attr:`collecting`
        tells when it ran); dropped quietly when the app is shutting down. ``call_later`` posts a message, which
        Textual makes thread-safe."""
        with contextlib.suppress(RuntimeError):  # the app's event loop is closed
            self.call_later(callback, *args)

    def _backend_unavailable(self, error: BackendUnavailable) -> None:
        """No backend can read sockets: quit before the first frame (the CLI reports it), else keep trying."""
        if self.frame is None:
            self.unavailable = error
            self.exit(return_code=1)
        else:
            self._collect_failed(f"backend unavailable: {error}")

    def _collect_failed(self, message: str) -> None:
        self._collecting = False
        self._collect_error = message
        self._update_summary()

    def _apply_frame(self, refresh: Refresh, request: ViewRequest) -> None:
        try:  # (a query's truth walks the whole DOM: 0.6 ms of each idle refresh)
            self.query_one("#summary", SummaryBar)
        except NoMatches:  # handed over as the app shuts down: its widgets are gone, and so is the frame
            return
        self._collecting = False
        self._collect_error = None
        if self.frame is not None:
            self.refresher.release(self.frame)
        self.frame = frame = refresh.frame
        self._series.clear()
        if refresh.details:
            for pane in self._detail_panes():
                pane.looked_up(refresh.details, frame.snapshot.monotonic)
        self._update_summary()
        oldest = frame.events[0].monotonic if frame.events else math.inf
        self.query_one("#events", EventLog).add_events(refresh.new_events, oldest)
        if request.generation == self._generation:
            self._show_rows(request.view, refresh.rows)
        else:
            refresh.rows.discard()
            self._rebuild()
        for screen in self.screen_stack:
            if isinstance(screen, DrillDownScreen):
                screen.show_frame(frame)

    def _request(self) -> ViewRequest:
        table = self.table()
        shown = [table.cursor_key] if self.view in SOCKET_VIEWS else []  # the panes show those sockets
        shown += [screen.table.cursor_key for screen in self._drill_downs()]
        detail_keys = tuple(key for key in shown if key is not None)
        return ViewRequest(
            self._generation, self.view, self._filter, self.pid, table.sort_index, table.sort_reverse, detail_keys
        )

    def _detail_panes(self) -> list[DetailPane]:
        """The view's detail pane and each drill-down screen's."""
        drill_downs = [screen.query_one(DetailPane) for screen in self._drill_downs()]
        return [self.query_one("#detail", DetailPane), *drill_downs]

    def _drill_downs(self) -> list[DrillDownScreen]:
        """The drill-down screens open (mounted: their widgets are there)."""
        return [screen for screen in self.screen_stack if isinstance(screen, DrillDownScreen) and screen.is_mounted]

    def _rebuild(self) -> None:
        """The view, filter or naming changed: rebuild the active view's rows from the current frame."""
        self._generation += 1
        if self.frame is not None:
            self._rebuild_rows(self._request())

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False, description="rebuild the rows")
    def _rebuild_rows(self, request: ViewRequest) -> None:
        """Build rows from the current frame, held while this worker reads it (a worker cancelled before it ran
        never held anything)."""
        frame = self.refresher.hold(self.frame)
        try:
            if self._generation != request.generation:
                return  # a newer request is queued: skip the work
            rows = self.refresher.rows(frame, request)
            events = self.refresher.events(frame, request)
        finally:
            self.refresher.release(frame)
        if get_current_worker().is_cancelled:
            rows.discard()
        else:
            self._post(self._apply_rows, frame, request, rows, events)

    def _apply_rows(self, frame: Frame, request: ViewRequest, rows: TableRows, events: list[Event]) -> None:
        if request.generation == self._generation and frame is self.frame:
            self._show_rows(request.view, rows)
            self.query_one("#events", EventLog).set_events(events)
        else:
            rows.discard()

    # ----- display ----------------------------------------------------------------------------------------

    def _show_rows(self, view: str, rows: TableRows) -> None:
        shown = shown_text(view, rows)
        self.table(view).set_rows(rows)
        if shown != self._shown:
            self._shown = shown
            self._update_summary()
        self._show_detail()

    def _update_summary(self) -> None:
        status = Status(
            hostname=self.hostname,
            read_only=self.read_only,
            backend=self.source.backend_name,
            interval=self.interval,
            paused=self.paused,
            resolving=self.refresher.resolving,
            pid=self.pid,
            error=self._collect_error,
            shown=self._shown,
        )
        self.query_one("#summary", SummaryBar).show(status, self.frame)

    def _show_detail(self) -> None:
        try:
            detail = self.query_one("#detail", DetailPane)
        except NoMatches:  # a timer that fired while the app shuts down
            return
        frame, key = self.frame, self.table().cursor_key
        if frame is None or key is None:
            detail.show_message("no socket selected")
        elif self.view == "processes":
            detail.show_summary("process", process_summary(key, frame))
        elif self.view == "remotes":
            total = self._remote_totals(key)
            name = self.refresher.host_name(key)
            detail.show_summary("remote host", remote_summary(key, name, total, frame.snapshot.processes))
        elif self.view == "namespaces":
            detail.show_summary("network namespace", namespace_summary(key, self._namespace_totals(key), frame))
        elif key in frame.sockets:
            rtt, throughput = self._series_of(key)
            detail.show_socket(frame.sockets[key], frame, rtt, throughput, self.source)
        else:
            detail.show_message("socket is gone")

    def _remote_totals(self, address: str) -> RemoteTotals:
        """The Remote hosts view's totals of ``address``, as its rows were built (off the UI thread)."""
        model = self.table("remotes").model
        totals = model.totals if isinstance(model, RemoteRowList) else {}
        return totals.get(address, RemoteTotals())

    def _namespace_totals(self, inode: int) -> NamespaceTotals:
        """The Namespaces view's totals of ``inode``, as its rows were built (off the UI thread)."""
        model = self.table("namespaces").model
        totals = model.totals if isinstance(model, NamespaceRowList) else {}
        return totals.get(inode, NamespaceTotals())

    def _series_of(self, key: Hashable) -> tuple[list[float], list[float]]:
        """rtt and throughput samples for the sparklines; never waits for a worker holding the history."""
        series = self.refresher.series(key)
        if series is not None:
            self._series[key] = series
        return self._series.get(key, ([], []))

    @on(SocketTable.CursorMoved)
    def _cursor_moved(self, event: SocketTable.CursorMoved) -> None:
        """Redraw the details once the cursor rests, so holding a key down scrolls the table at full speed."""
        if event.table.id == f"table-{self.view}":
            if self._detail_timer is not None:
                self._detail_timer.stop()
            self._detail_timer = self.set_timer(DETAIL_DELAY, self._show_detail)

    @on(SocketTable.Sorted)
    def _sorted(self, event: SocketTable.Sorted) -> None:
        if event.table.id == f"table-{self.view}":
            self._rebuild()
            self.save_settings()

    @on(SocketTable.RowActivated)
    def _row_activated(self, event: SocketTable.RowActivated) -> None:
        if event.table.id == f"table-{self.view}":
            self.action_details()

    @on(TabbedContent.TabActivated, "#views")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A tab was clicked (or a view key pressed). An event that a later switch overtook is dropped: acting on
        it would focus a table in another pane, which switches the tabs back (and loops on a burst of keys)."""
        if event.pane.id == event.tabbed_content.active:
            self._switch_to(event.pane.id)

    def _switch_to(self, view: str) -> None:
        if view in VIEWS and view != self.view:
            self.table().release_rows()  # a hidden table would keep its frame, i.e. a whole snapshot, alive
            self.view = view
            self._rebuild()
            self._show_detail()
            self.save_settings()
        table = self.table()
        if not table.has_focus:
            table.focus()

    # ----- filter -----------------------------------------------------------------------------------------

    @on(FilterBar.Applied, "#filter-bar")
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        changed = event.text != self._filter_text
        self._filter_text, self._filter = event.text, event.socket_filter
        if changed:
            self._rebuild()
        self._leave_filter_box()

    @on(FilterBar.Cleared, "#filter-bar")
    def _filter_cleared(self, event: FilterBar.Cleared) -> None:
        changed = bool(self._filter_text)
        self._filter_text, self._filter = "", None
        if changed:
            self._rebuild()
        event.bar.display = False
        self._leave_filter_box()

    def _leave_filter_box(self) -> None:
        """Give the focus back to where ``/`` was pressed (the table when that is gone or hidden)."""
        self.query_one("#filter-bar", FilterBar).give_focus_back(self.table())

    # ----- actions ----------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """On the drill-down, chooser, dialog and help screens only the keys that make sense there stay active; in a
        replay, ``[`` and ``]`` step through the recording instead of resizing the detail pane."""
        if action.startswith("replay_"):
            return self.recording and not isinstance(self.screen, DIALOGS)
        if action == "detail_width" and self.recording:
            return False
        if isinstance(self.screen, DrillDownScreen):
            return action in ("quit", "sort", "reverse", "pause", "interval", "names", "detail_width", "help")
        if isinstance(self.screen, (HelpScreen, OwnerChooser, *DIALOGS)):
            return action == "quit"
        return True

    def action_filter(self) -> None:
        self.query_one("#filter-bar", FilterBar).open()

    def action_back(self) -> None:
        """Escape outside the filter box (in the box, the box clears the filter itself: the same thing)."""
        bar = self.query_one("#filter-bar", FilterBar)
        detail = self.query_one("#detail", DetailPane)
        if self.screen.maximized is not None:
            self._leave_full_screen()
        elif self.has_class("-detail-open") or detail.has_focus_within:
            self.remove_class("-detail-open")
            self.table().focus()
        elif self._filter_text or bar.input.value:
            bar.clear()
        elif self.pid is not None:
            self.pid = None
            self._update_summary()
            self._rebuild()

    def action_details(self) -> None:
        key = self.table().cursor_key
        if key is None:
            return
        if self.view == "remotes" and self.frame is not None:  # enter drills into the host's sockets
            self.push_screen(RemoteScreen(key, self.frame, self.refresher))
            return
        if self.view == "namespaces" and self.frame is not None:  # ...into the namespace's sockets
            self.push_screen(NamespaceScreen(key, self.frame, self.refresher))
            return
        self.add_class("-detail-open")
        self.query_one("#detail", DetailPane).focus()

    def action_process(self) -> None:
        frame, key = self.frame, self.table().cursor_key
        if frame is None or key is None:
            return
        if self.view == "processes":
            pid = key
        elif self.view in ("remotes", "namespaces"):
            if self.view == "remotes":
                pids, where = sorted(self._remote_totals(key).pids), "talking to this host"
            else:
                namespace = frame.snapshot.namespaces.get(key)
                pids, where = list(namespace.pids if namespace is not None else ()), "in this namespace"
            if not pids:
                self.notify(f"No visible process {where}.", severity="warning")
                return
            if len(pids) > 1:
                title = f"Several processes {where}: whose process view?"
                self.push_screen(OwnerChooser(pids, frame.snapshot.processes, title), self._open_process)
                return
            pid = pids[0]
        else:
            sock = frame.sockets.get(key)
            if sock is None:  # gone: the detail pane says so
                return
            pids = owner_pids(sock)
            if not pids:
                self.notify(_no_owner_reason(sock), severity="warning")
                return
            if len(pids) > 1:
                self.push_screen(OwnerChooser(pids, frame.snapshot.processes), self._open_process)
                return
            pid = pids[0]
        self._open_process(pid)

    def _open_process(self, pid: int | None) -> None:
        """The process view of ``pid`` (None: the owner chooser was left without a choice)."""
        if pid is not None and self.frame is not None:
            self.push_screen(ProcessScreen(pid, self.frame, self.refresher))

    def action_sort(self, step: int) -> None:
        self.current_table().cycle_sort(step)

    def action_reverse(self) -> None:
        self.current_table().reverse_sort()

    def action_replay_step(self, frames: int) -> None:
        source = self.source
        if isinstance(source, ReplaySource):
            source.seek(source.shown + frames)
            self.collect_now()

    def action_replay_seconds(self, seconds: float) -> None:
        source = self.source
        if isinstance(source, ReplaySource) and self.frame is not None:
            start = source.seek(0).taken_at
            source.seek(source.index_at(self.frame.snapshot.taken_at - start + seconds))
            self.collect_now()

    def action_replay_goto(self) -> None:
        self.push_screen(TimePrompt(), self._replay_goto)

    def _replay_goto(self, seconds: float | None) -> None:
        source = self.source
        if seconds is not None and isinstance(source, ReplaySource):
            source.seek(source.index_at(seconds))
            self.collect_now()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._update_summary()

    def action_interval(self, step: int) -> None:
        position = min(range(len(INTERVAL_STEPS)), key=lambda index: abs(INTERVAL_STEPS[index] - self.interval))
        self.interval = self.settings.interval = INTERVAL_STEPS[max(0, min(len(INTERVAL_STEPS) - 1, position + step))]
        self._schedule()
        self._update_summary()
        self.save_settings()

    def action_detail_width(self, step: int) -> None:
        """Widen (1) or narrow (-1) the detail pane, here and on every screen, and save the width."""
        panes = list(self.screen.query(DetailPane))
        shown = [pane.outer_size.width for pane in panes if pane.display and pane.outer_size.width]
        if not shown:
            return
        low, high = DETAIL_WIDTH_LIMITS
        width = max(low, min(high, self.size.width - MIN_TABLE_WIDTH, shown[0] + step * DETAIL_WIDTH_STEP))
        self.settings.detail_width = width
        for screen in self.screen_stack:
            for pane in screen.query(DetailPane):
                pane.set_width(width)
        self.save_settings()

    def action_names(self) -> None:
        self._resolve_names(not self.refresher.resolving)
        self._update_summary()
        self._rebuild()
        self.save_settings()

    def _resolve_names(self, on: bool) -> None:
        """Turn name resolution on or off, and with it the timer that redraws when names arrived (an idle TUI
        without names wakes for nothing but its refreshes)."""
        self.refresher.resolve_names(on, self._names_resolved)
        if self._names_timer is not None:
            self._names_timer.stop()
            self._names_timer = None
        if on:
            self._names_timer = self.set_interval(0.5, self._redraw_if_names_arrived)

    def _names_resolved(self) -> None:
        """Called on a resolver thread: only sets a flag, the UI redraws on its names timer."""
        self._names_arrived = True

    def _redraw_if_names_arrived(self) -> None:
        if self._names_arrived and self.refresher.resolving:
            self._names_arrived = False
            with contextlib.suppress(NoMatches):  # the app is closing: its tables are gone, the timer not yet
                self._rebuild()

    def action_events(self) -> None:
        log = self.query_one("#events", EventLog)
        if self.screen.maximized is log:
            self.screen.minimize()
        log.display = not log.display
        if not log.display and log.has_focus:
            self.table().focus()

    def action_events_full(self) -> None:
        log = self.query_one("#events", EventLog)
        if self.screen.maximized is log:
            self._leave_full_screen()
            return
        log.display = True
        self.screen.maximize(log, container=False)
        log.focus()

    def _leave_full_screen(self) -> None:
        self.screen.minimize()
        self.table().focus()

    def action_view(self, view: str) -> None:
        self.query_one("#views", TabbedContent).active = view
        self._switch_to(view)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[KeyHelp]:
        """Every key of the app, for the help screen."""
        keys = [
            (binding.key_display or binding.key, self.KEY_DESCRIPTIONS.get(binding.action, binding.description))
            for binding in self.BINDINGS
            if isinstance(binding, Binding)
        ]
        return [*keys, *EXTRA_KEYS]


def _no_owner_reason(sock: Socket) -> str:
    """Why the ``p`` key finds no process for ``sock``: none by nature, or one maybe hidden from this user."""
    if sock.state == "TIME_WAIT" or sock.inode == 0:  # inode 0: no file refers to it (None: not known)
        return "No process holds this socket: only the kernel does (TIME_WAIT, orphaned, or not yet accepted)."
    if os.geteuid() != 0:
        return "This socket has no visible owner: run as root to see every owner."
    return "No readable process holds this socket (in flight between processes, or just closed)."


def run_app(
    source: SnapshotSource,
    *,
    interval: float | None = None,
    filter_text: str | None = "",
    pid: int | None = None,
    linger: float = 5.0,
    read_only: bool = False,
    hostname: str | None = None,
    recording: bool = False,
) -> int:
    """Run the TUI until the user quits; returns the exit status.

    ``source``: what is shown (the command line begins a :class:`LiveSource`'s first snapshot before it imports
    Textual, see :meth:`LiveSource.begin`). Raises :class:`BackendUnavailable` when no snapshot could ever be
    taken (so the command line reports it in one line). SIGTERM, SIGHUP and SIGINT restore the terminal and exit
    with 128 + the signal's number (see :mod:`netwatch.tui.app.terminal`).
    """
    from netwatch.tui.app.terminal import SignalExit

    app = NetwatchApp(
        source,
        interval=interval,
        filter_text=filter_text or "",
        pid=pid,
        linger=linger,
        settings=SettingsFile.default(),
        read_only=read_only,
        hostname=hostname,
        recording=recording,
    )
    with SignalExit(lambda status: app.exit(return_code=status)):
        app.run()
    if app.unavailable is not None:
        raise app.unavailable
    return app.return_code or 0

