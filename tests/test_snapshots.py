"""SVG snapshot tests (pytest-textual-snapshot) of the main screens on the recorded data set.

Update the stored snapshots after an intended UI change with ``pytest tests/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import time

import pytest

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import refresh, select_and_press, settle
from tests.recorded import recorded_snapshots


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Event times and ages are shown in local time: pin the zone so snapshots match everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def recorded_app(**options) -> NetwatchApp:
    return NetwatchApp(ReplaySource(recorded_snapshots()), interval=3600, hostname="testhost", **options)


def steps(*keys: str, select: object = None):
    """A ``run_before`` that shows the second recorded snapshot, optionally selects a row, then presses keys."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await refresh(pilot)
        await select_and_press(pilot, keys, select)

    return run_before


def test_connections_with_highlights(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(160, 40), run_before=steps(select=("tcp", 100)))


def test_connections_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=steps())


def test_detail_pane_on_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 40), run_before=steps("enter", select=("tcp", 100)))


def test_listeners_view(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 30), run_before=steps("2"))


def test_processes_view(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 30), run_before=steps("3"))


def test_unix_view_with_hostile_path(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 30), run_before=steps("4"))


def test_remote_hosts_view(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 30), run_before=steps("5"))


def test_process_drill_down(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 30), run_before=steps("p", select=("tcp", 600)))


def test_filter_in_use(snap_compare):
    app = recorded_app(filter_text="process nginx and state estab")
    assert snap_compare(app, terminal_size=(120, 30), run_before=steps())


def test_help_screen(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 40), run_before=steps("question_mark"))
