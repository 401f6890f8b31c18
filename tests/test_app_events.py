"""Pilot tests of the event log: it follows the filter and name resolution, scrolls, keeps minutes of events and
has a full-screen view."""

from __future__ import annotations

import time

import pytest

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.event_log import EventLog
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import log_lines, refresh, settle
from tests.recorded import recorded_snapshots
from tests.socket_records import make_process, make_snapshot, make_socket, owned_by


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app(snapshots=None, **options) -> NetwatchApp:
    return NetwatchApp(ReplaySource(snapshots or recorded_snapshots()), interval=3600, hostname="testhost", **options)


def churn(steps: int, per_step: int = 3) -> list:
    """Snapshots one second apart; each opens ``per_step`` connections of process 77 (port 1000 + number) and
    closes the previous step's."""
    worker = make_process(77, "worker")
    return [
        make_snapshot([make_socket(("tcp", n), local_port=1000 + n, owners=owned_by(77))
                       for n in range(step * per_step, (step + 1) * per_step)], at=float(step), processes=[worker])
        for step in range(steps)
    ]


async def test_the_event_log_follows_the_filter_and_name_resolution():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        log = app.query_one("#events", EventLog)
        lines = log_lines(log)
        assert any("CLOSE_WAIT" in line and "2310/python3" in line for line in lines)
        assert any("opened tcp  10.20.0.5:443 → 203.0.113.250:61000" in line for line in lines)
        await pilot.press("slash", *"process nginx", "enter")
        await settle(pilot)
        lines = log_lines(log)
        assert len(lines) == 2 and all("1204/nginx +1" in line for line in lines)
        await pilot.press("n")
        await settle(pilot)
        assert any("10.20.0.5:https → 203.0.113.250:61000" in line for line in log_lines(log))
        await pilot.press("n", "escape")
        await settle(pilot)
        assert len(log_lines(log)) == 3 and any("10.20.0.5:443 →" in line for line in log_lines(log))


async def test_the_event_log_scrolls_when_focused_and_follows_the_newest_at_the_bottom():
    app = make_app(churn(12))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        for _ in range(10):
            await refresh(pilot)
        log = app.query_one("#events", EventLog)
        assert len(log.events) == 10 * 3 * 2  # every opened and closed connection, minutes of them kept
        height = log.scrollable_content_region.height
        assert "closed tcp  127.0.0.1:1029 " in log_lines(log)[-1]  # the newest at the bottom
        await pilot.click(EventLog)  # the mouse focuses it, as tab does
        assert log.has_focus
        await pilot.press("home")
        top = log_lines(log)
        assert top[0].startswith("22:13:21 opened") and any(f":{port} " in top[0] for port in (1003, 1004, 1005))
        await pilot.press("down")
        assert log_lines(log)[0] == top[1]
        top = log_lines(log)
        await refresh(pilot)  # scrolled up: new events do not move what is read
        assert log_lines(log) == top
        await pilot.press("end")
        await refresh(pilot)  # at the bottom: the log follows the newest
        assert "closed tcp  127.0.0.1:1032 " in log_lines(log)[-1] and len(log_lines(log)) == height


async def test_shift_e_shows_the_event_log_full_screen_and_escape_goes_back():
    app = make_app(churn(12))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(10):
            await refresh(pilot)
        log = app.query_one("#events", EventLog)
        small = log.size.height
        await pilot.press("E")
        await settle(pilot)
        assert log.size.height > 30 and log.has_focus
        assert len(log_lines(log)) == log.scrollable_content_region.height  # filled with events
        await pilot.press("escape")
        await settle(pilot)
        assert log.size.height == small and app.focused is app.table()
