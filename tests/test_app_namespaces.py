"""The Namespaces view and the namespace and container columns, driven with Pilot on the recorded container host."""

from __future__ import annotations

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.screens.namespace import NamespaceScreen
from netwatch.tui.view.rows import SOCKET_COLUMNS
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import cells, refresh, screen_text, select_row, settle
from tests.recorded import REDIS_CONTAINER, REDIS_NETNS, recorded_snapshots, with_namespaces
from tests.table_screen import row_cells


def make_app(**options) -> NetwatchApp:
    snapshots = [with_namespaces(snapshot) for snapshot in recorded_snapshots()]
    return NetwatchApp(ReplaySource(snapshots), interval=3600, hostname="testhost", **options)


async def test_one_row_per_namespace_and_enter_lists_its_sockets():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("6")
        await settle(pilot)
        assert app.view == "namespaces"
        assert cells(app, "name") == ["host", REDIS_NETNS.name]  # the most sockets first
        assert cells(app, "sockets")[1] == "3" and cells(app, "ports")[1] == "tcp:6379"
        assert cells(app, "processes")[1] == "1"
        await select_row(pilot, REDIS_NETNS.inode)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, NamespaceScreen) and screen.inode == REDIS_NETNS.inode
        assert f"netns {REDIS_NETNS.name}" in " ".join(screen_text(app).split())
        rows = row_cells(screen.table, SOCKET_COLUMNS)
        assert sorted(row["state"] for row in rows) == ["ESTAB", "LISTEN", "TIME_WAIT"]
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, NamespaceScreen) and app.view == "namespaces"


async def test_namespace_and_container_columns_and_the_filter_terms():
    app = make_app(filter_text=f"container {REDIS_CONTAINER.id[:6]}")
    async with app.run_test(size=(240, 50)) as pilot:  # wide enough for both beside the detail pane
        await settle(pilot)
        await refresh(pilot)
        assert set(cells(app, "netns")) == {REDIS_NETNS.name}
        assert set(cells(app, "container")) == {REDIS_CONTAINER.name}  # the TIME_WAIT one too, from its namespace
        assert len(cells(app, "netns")) == 2  # the established connection and its TIME_WAIT (the listener: view 2)
        await pilot.press("slash", "ctrl+u", *"unit nginx", "enter")
        await settle(pilot)
        assert set(cells(app, "container")) == {"nginx.service"} and set(cells(app, "netns")) == {"host"}


async def test_one_namespace_shows_no_namespace_column():
    app = NetwatchApp(ReplaySource(recorded_snapshots()), interval=3600, hostname="testhost")
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        assert "netns" not in screen_text(app).split("\n")[3] and "container" not in screen_text(app).split("\n")[3]
