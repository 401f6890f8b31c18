"""Pilot tests of processes: shared sockets (marked per process, ``p`` lets the user choose the owner), the
drill-down's detail pane, filter, parent and children, and Unix listeners."""

from __future__ import annotations

import os
import socket
import time

import pytest
from textual.widgets import Static

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.screens.owner_chooser import OwnerChooser
from netwatch.tui.app.screens.process import ProcessScreen
from netwatch.tui.view.rows import PID_SOCKET_COLUMNS
from netwatch.tui.view.snapshots import LiveSource, ReplaySource
from tests.app_pilot import cells, refresh, screen_text, select_row, settle
from tests.recorded import recorded_snapshots
from tests.table_screen import row_cells


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app(source=None, **options) -> NetwatchApp:
    return NetwatchApp(source or ReplaySource(recorded_snapshots()), interval=3600, hostname="testhost", **options)


def drill_info(app: NetwatchApp) -> str:
    return str(app.screen.query_one("#drill-info", Static).render())


def words(text: str) -> str:
    return " ".join(text.split())


async def test_the_processes_view_marks_shared_sockets_and_lists_unix_listeners():
    app = make_app()
    async with app.run_test(size=(300, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("3")
        await settle(pilot)
        rows = dict(zip(cells(app, "pid"), zip(cells(app, "shared"), cells(app, "ports"), strict=True), strict=True))
        assert rows["1204"][0] == rows["1205"][0] == "13"  # nginx's workers share every socket they hold
        assert rows["903"][0] == ""
        assert rows["1"][1] == "unix:/run/systemd/journal/stdout,@/tmp/.X11-unix/X0"
        assert rows["903"][1] == "tcp:5432 unix:/run/postgresql/.s.PGSQL.5432"


async def test_p_on_a_shared_socket_lets_the_user_choose_the_owner():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await select_row(pilot, ("tcp", 100))  # held by nginx's two workers
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, OwnerChooser)
        text = screen_text(app)
        assert "1204  nginx  www-data  nginx: worker process" in text
        assert "1205  nginx  www-data  nginx: worker process" in text
        await pilot.press("escape")  # no choice: back where p was pressed
        await settle(pilot)
        assert not isinstance(app.screen, (OwnerChooser, ProcessScreen)) and app.table().cursor_key == ("tcp", 100)
        await pilot.press("p", "down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 1205
        info = words(drill_info(app))
        assert info.startswith("pid 1205 nginx")
        assert "(13 shared)" in info and "on shared sockets)" in info and "shared with 1204/nginx" in info
        shared_with = {row["process"] for row in row_cells(app.screen.table, PID_SOCKET_COLUMNS)}
        assert shared_with == {"1204/nginx"}  # the pid itself is said once, above


async def test_the_drill_down_has_a_detail_pane_a_filter_and_the_process_family():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("3")
        await settle(pilot)
        await select_row(pilot, 812)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProcessScreen)
        info = words(drill_info(app))
        assert "parent 1/systemd" in info and "children 3120/sshd" in info
        local = [row["local"] for row in row_cells(screen.table, PID_SOCKET_COLUMNS)]
        assert sorted(local) == ["0.0.0.0:22", "[::]:22"]
        await select_row(pilot, ("tcp", 2))
        await settle(pilot, 0.1)
        detail = str(screen.query_one("#drill-detail #detail-title", Static).render())
        assert detail == "tcp LISTEN  [::]:22 → [::]:*"
        await pilot.press("slash", *"family ipv6", "enter")
        await settle(pilot)
        assert [row["local"] for row in row_cells(screen.table, PID_SOCKET_COLUMNS)] == ["[::]:22"]
        assert "1 of 2 sockets shown" in drill_info(app)
        await pilot.press("enter")  # the detail pane
        await settle(pilot)
        assert screen.query_one("#drill-detail").has_focus
        await pilot.press("escape")  # leaves the detail pane
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.focused is screen.table
        await pilot.press("escape")  # clears the filter
        await settle(pilot)
        assert len(row_cells(screen.table, PID_SOCKET_COLUMNS)) == 2 and "shown" not in drill_info(app)
        await pilot.press("escape")  # back
        await settle(pilot)
        assert not isinstance(app.screen, ProcessScreen)


def _hold_until_told(sock: socket.socket, go: int) -> None:
    """The forked child: keep (a copy of) ``sock`` open until the parent writes to ``go``."""
    try:
        os.read(go, 1)
    finally:
        os._exit(0)


async def test_p_on_a_real_socket_shared_after_fork_offers_both_processes():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            _hold_until_told(server, read_end)
        try:
            app = make_app(LiveSource("netlink"), filter_text=f"sport = :{port}")
            async with app.run_test(size=(160, 40)) as pilot:
                await settle(pilot)
                await pilot.press("2")
                await settle(pilot)
                assert cells(app, "local") == [f"127.0.0.1:{port}"]
                await pilot.press("p")
                await settle(pilot)
                assert isinstance(app.screen, OwnerChooser)
                text = screen_text(app)
                assert f" {os.getpid()}  " in text and f" {child}  " in text
                await pilot.press("down", "enter")
                await settle(pilot)
                assert isinstance(app.screen, ProcessScreen) and app.screen.pid == max(os.getpid(), child)
        finally:
            os.write(write_end, b"x")
            os.waitpid(child, 0)
            os.close(read_end)
            os.close(write_end)
