"""The mouse, with Pilot: a click on a row selects it, the wheel scrolls, a click on a tab switches views."""

from __future__ import annotations

import time

import pytest
from textual import events
from textual.widgets import Static

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.event_log import EventLog
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import log_lines, refresh, settle
from tests.recorded import recorded_snapshots
from tests.table_screen import cursor_line, screen_lines
from tests.test_app_events import churn


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app() -> NetwatchApp:
    return NetwatchApp(ReplaySource(recorded_snapshots()), interval=3600, hostname="testhost")


async def wheel(pilot, widget, down: int) -> None:
    """Turn the mouse wheel over ``widget``: ``down`` notches down (negative: up)."""
    kind = events.MouseScrollDown if down > 0 else events.MouseScrollUp
    for _ in range(abs(down)):
        await pilot._post_mouse_events([kind], widget, offset=(2, 2))
    await settle(pilot)


async def test_clicking_a_row_selects_it_and_shows_its_details():
    app = make_app()
    async with app.run_test(size=(170, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        table = app.table()
        clicked = screen_lines(table)[4]
        await pilot.click(table, offset=(3, 4))
        await settle(pilot, 0.1)
        assert cursor_line(table) == 4 and table.has_focus
        title = str(app.query_one("#detail-title", Static).render())
        local, peer = clicked.split()[2:4]
        assert f"{local} → {peer}" in title


async def test_the_wheel_scrolls_the_table():
    app = make_app()
    async with app.run_test(size=(170, 20)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        table = app.table()
        await pilot.press("home")
        top = screen_lines(table)[1]
        await wheel(pilot, table, 1)
        assert table.scroll_offset.y > 0 and screen_lines(table)[1] != top
        await wheel(pilot, table, -5)
        assert table.scroll_offset.y == 0 and screen_lines(table)[1] == top


async def test_the_wheel_scrolls_the_event_log():
    app = NetwatchApp(ReplaySource(churn(12)), interval=3600, hostname="testhost")
    async with app.run_test(size=(170, 40)) as pilot:
        await settle(pilot)
        for _ in range(5):
            await refresh(pilot)
        log = app.query_one("#events", EventLog)
        newest = log_lines(log)
        await wheel(pilot, log, -1)
        assert log.scroll_offset.y < log.max_scroll_y and log_lines(log) != newest
        await wheel(pilot, log, 5)
        assert log_lines(log) == newest


@pytest.mark.parametrize(("tab", "view"), [("listeners", "listeners"), ("processes", "processes"),
                                           ("unix", "unix"), ("remotes", "remotes")])
async def test_clicking_a_tab_switches_views(tab, view):
    app = make_app()
    async with app.run_test(size=(170, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.click(f"#--content-tab-{tab}")
        await settle(pilot)
        assert app.view == view and app.table().has_focus and app.table().cursor_key is not None
        await pilot.click("#--content-tab-connections")
        await settle(pilot)
        assert app.view == "connections"
