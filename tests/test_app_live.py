"""Pilot tests of the TUI on the real netlink backend, with real loopback sockets and a real child process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading

import pytest

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.detail import SPARK_LABEL, SPARK_VALUE, DetailPane
from netwatch.tui.app.screens.process import ProcessScreen
from netwatch.tui.view.rows import COLUMNS_OF_VIEW, PID_SOCKET_COLUMNS, SOCKET_COLUMNS
from netwatch.tui.view.safe_text import visible
from netwatch.tui.view.snapshots import LiveSource
from tests.app_pilot import cells, highlights, refresh, screen_text, select_row, settle
from tests.table_screen import row_cells

CRAFTED_NAME = "[red]x\x1b[2J"
_CHILD = (
    "import ctypes, socket, sys\n"
    "ctypes.CDLL(None).prctl(15, b'[red]x\\x1b[2J', 0, 0, 0)\n"  # PR_SET_NAME: the comm the kernel reports
    "server = socket.socket()\n"
    "server.bind(('127.0.0.1', 0))\n"
    "server.listen()\n"
    "print(server.getsockname()[1], flush=True)\n"
    "sys.stdin.read()\n"
)


def live_app(**options) -> NetwatchApp:
    return NetwatchApp(LiveSource("netlink"), interval=3600, hostname="testhost", **options)


async def rows_with_port(pilot, port: int) -> list[tuple[dict[str, str], str | None]]:
    """The shown cells and highlight of the active table's rows whose local endpoint is ``127.0.0.1:port``."""
    columns = COLUMNS_OF_VIEW[pilot.app.view]
    return [row for row in await highlights(pilot, columns) if row[0]["local"] == f"127.0.0.1:{port}"]


async def test_live_sockets_appear_new_close_linger_filter_sort_and_process_view():
    app = live_app(linger=0.5)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        other_server = socket.create_server(("::1", 0), family=socket.AF_INET6)
        other_client = socket.create_connection(other_server.getsockname()[:2])
        other_accepted, _ = other_server.accept()  # rows the filter must hide, whatever else the host has
        try:
            await refresh(pilot)
            assert [status for _, status in await rows_with_port(pilot, port)] == ["new"]  # the listener
            await pilot.press("1")
            await settle(pilot)
            connection = await rows_with_port(pilot, port)
            assert [(cells["state"], status) for cells, status in connection] == [("ESTAB", "new")]
            assert connection[0][0]["process"] == visible(f"{os.getpid()}/{_comm()}")

            await pilot.press("2")
            await settle(pilot)
            server.close()
            await refresh(pilot)
            assert [status for _, status in await rows_with_port(pilot, port)] == ["closed"]
            await asyncio.sleep(0.6)
            await refresh(pilot)
            assert await rows_with_port(pilot, port) == []

            await pilot.press("1", "slash", *f"sport = :{port} or dport = :{port}", "enter")
            await settle(pilot)
            ends = {(row["local"], row["peer"]) for row in row_cells(app.table(), SOCKET_COLUMNS)}
            client_end = f"127.0.0.1:{client.getsockname()[1]}"
            assert (client_end, f"127.0.0.1:{port}") in ends and (f"127.0.0.1:{port}", client_end) in ends

            await pilot.press("escape")
            await settle(pilot)
            for _ in range(50):  # clearing the filter rebuilds the rows on a worker
                if len(cells(app, "proto")) > 2:
                    break
                await pilot.pause(0.1)
            assert len(cells(app, "proto")) > 2
            table = app.table()
            while SOCKET_COLUMNS[table.sort_index].key != "local":
                await pilot.press("greater_than_sign")
            await settle(pilot)
            local = cells(app, "local")
            loopback = [int(end.rpartition(":")[2]) for end in local if end.startswith("127.0.0.1:")]
            assert len(loopback) >= 2 and loopback == sorted(loopback)  # ours among them, whatever else the host has

            accepted_filter = f"sport = :{port} and dport = :{client.getsockname()[1]}"  # not an old TIME_WAIT
            await pilot.press("slash", *accepted_filter, "enter")  # the accepted connection: the only row
            await settle(pilot)
            assert [row["local"] for row in row_cells(table, SOCKET_COLUMNS)] == [f"127.0.0.1:{port}"]
            await pilot.press("p")
            await settle(pilot)
            assert isinstance(app.screen, ProcessScreen) and app.screen.pid == os.getpid()
            rows = row_cells(app.screen.table, PID_SOCKET_COLUMNS)
            assert f"127.0.0.1:{port}" in [row["local"] for row in rows]  # its sockets, its pid said once above
            assert f"pid {os.getpid()}" in screen_text(app)
        finally:
            for sock in (client, accepted, server, other_client, other_accepted, other_server):
                sock.close()


def _comm() -> str:
    with open(f"/proc/{os.getpid()}/comm", encoding="utf-8", errors="surrogateescape") as comm:
        return comm.read().rstrip("\n")


@pytest.fixture
def crafted_child():
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        port = int(child.stdout.readline())
        yield child.pid, port
    finally:
        child.stdin.close()
        child.wait(timeout=10)


async def test_crafted_process_name_is_shown_literally(crafted_child):
    pid, port = crafted_child
    app = live_app(filter_text=f"sport = :{port} and src 127.0.0.1")
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert cells(app, "process") == [visible(f"{pid}/{CRAFTED_NAME}")]
        await settle(pilot, 0.1)
        text = screen_text(app)
        shown = [line for line in text.splitlines() if str(pid) in line]
        assert any(f"{pid}/[red]x\\x1b[2J" in line for line in shown), shown  # the table cell
        assert "\x1b" not in text
        await pilot.press("p")
        await settle(pilot)
        text = screen_text(app)
        assert f"pid {pid}  [red]x\\x1b[2J" in text  # the process screen's title
        assert "\x1b" not in text


async def test_refreshes_of_a_busy_selected_connection_repaint_and_never_lay_the_screen_out(connection):
    """Each refresh adds a sample to the detail pane's sparklines, one cell each: the pane is repainted, the
    screen never laid out again (a layout re-renders every widget, the table's every line: up to 58 ms of the UI
    thread at 20,000 sockets)."""
    listener, client, served = connection
    app = live_app(filter_text=f"sport = :{client.getsockname()[1]} and dport = :{listener.getsockname()[1]}")
    async with app.run_test(size=(160, 40)) as pilot:
        await refresh(pilot)
        layouts = []
        lay_out = app.screen._refresh_layout
        app.screen._refresh_layout = lambda *args, **kwargs: layouts.append(args) or lay_out(*args, **kwargs)
        for size in range(1, 9):
            client.sendall(b"x" * size * 1000)
            served.recv(size * 1000, socket.MSG_WAITALL)
            await refresh(pilot)
        assert layouts == []
        bars = app.query_one("#thru-spark").render_line(0).text[SPARK_LABEL + SPARK_VALUE:].strip()
        assert 8 <= len(bars) <= 9 and set(bars) <= set("▁▂▃▄▅▆▇█")  # a cell per sample since the first


async def test_each_refresh_looks_the_selected_connection_up_again_on_its_own_thread(connection):
    """The detail pane's connection is looked up again with everything known (memory, socket options... that light
    table snapshots leave out) by each refresh, on the refresh thread: the pane starts no lookup of its own, so an
    idle refresh wakes no other thread."""
    listener, client, _ = connection
    app = live_app(filter_text=f"sport = :{client.getsockname()[1]} and dport = :{listener.getsockname()[1]}")
    async with app.run_test(size=(160, 40)) as pilot:
        await refresh(pilot)
        source = app.refresher.source
        assert isinstance(source, LiveSource)
        callers: list[str] = []
        details = source.details
        source.details = lambda sockets: callers.append(threading.current_thread().name) or details(sockets)
        for _ in range(3):
            await refresh(pilot)
        assert len(callers) == 3 and all(name.startswith("netwatch-refresh") for name in callers), callers
        # the whole pane, as scrolling shows it: its end (the owners, with the test's command line) can fill the screen
        pane = " ".join(app.query_one("#detail", DetailPane).text().split())
        assert "bind_address_no_port False" in pane  # the socket options, an extension the tables leave out


async def test_each_refresh_looks_the_drill_down_panes_connection_up_on_its_own_thread_too(connection):
    """A drill-down screen's detail pane (here the process screen of this test's own pid) has its connection looked
    up by each refresh too, on the refresh thread, with the view's: neither pane starts a lookup of its own."""
    listener, client, _ = connection
    app = live_app(filter_text=f"sport = :{client.getsockname()[1]} and dport = :{listener.getsockname()[1]}")
    async with app.run_test(size=(160, 40)) as pilot:
        await refresh(pilot)
        key = app.table().cursor_key
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProcessScreen) and screen.pid == os.getpid()
        await select_row(pilot, key)
        await refresh(pilot)
        source = app.refresher.source
        assert isinstance(source, LiveSource)
        asked: list[tuple[str, list]] = []
        details = source.details
        source.details = lambda sockets: asked.append((threading.current_thread().name, sockets)) or details(sockets)
        for _ in range(3):
            await refresh(pilot)
        assert [(name[:16], [sock.key for sock in sockets]) for name, sockets in asked] == [
            ("netwatch-refresh", [key, key])] * 3  # the view's pane and the drill-down's show the same socket
        pane = " ".join(screen.query_one("#drill-detail", DetailPane).text().split())
        assert "bind_address_no_port False" in pane  # an extension the tables leave out


def test_live_source_takes_snapshots_on_its_own_thread_and_runs_a_refresh_there_without_a_hop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whoever asks, the collector runs on the source's one thread; asked on that thread (where the app runs its
    refreshes), it runs there at once, not through the thread's queue, which it would wait on forever."""
    source = LiveSource("netlink")
    takers: list[int] = []
    collect = source._collect
    monkeypatch.setattr(source, "_collect", lambda: takers.append(threading.get_ident()) or collect())
    try:
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            source.snapshot()  # from this thread: handed to the source's
            refresh_thread, snapshot = source.executor.submit(
                lambda: (threading.get_ident(), source.snapshot())).result(timeout=30)
            mine = [s for s in snapshot.sockets.values() if (s.local_port, s.state) == (port, "LISTEN")]
            detailed = source.executor.submit(source.details, mine).result(timeout=30)
            assert [owner.pid for sock in detailed for owner in sock.owners] == [os.getpid()]
        assert takers == [refresh_thread, refresh_thread] and threading.get_ident() != refresh_thread
    finally:
        source.close()


def test_live_source_begins_its_first_snapshot_before_the_app_asks():
    """``LiveSource.begin`` (what ``netwatch`` calls before Textual starts): the first snapshot is taken at once,
    in the background, and handed out by the first ``snapshot()``; later calls take new ones."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        source = LiveSource("netlink")
        try:
            source.begin()
            first = source.snapshot()
            listener = ("127.0.0.1", port, "LISTEN")
            mine = [s for s in first.sockets.values() if (s.local_address, s.local_port, s.state) == listener]
            assert [owner.pid for sock in mine for owner in sock.owners] == [os.getpid()]
            second = source.snapshot()
            assert second.monotonic > first.monotonic
        finally:
            source.close()
