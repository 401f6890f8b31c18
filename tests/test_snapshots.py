"""SVG snapshot tests (pytest-textual-snapshot) of the main screens on the recorded data set.

Update the stored snapshots after an intended UI change with ``pytest tests/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import time

import pytest

from netwatch.backends.model.snapshot import OwnerVisibility
from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import refresh, select_and_press, settle
from tests.recorded import BULK_COOKIE, recorded_snapshot, with_namespaces


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Event times and ages are shown in local time: pin the zone so snapshots match everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def recorded_app(visibility: OwnerVisibility | None = None, **options) -> NetwatchApp:
    snapshots = [with_namespaces(recorded_snapshot(step, visibility)) for step in range(3)]
    return NetwatchApp(ReplaySource(snapshots), interval=3600, hostname="testhost", **options)


def steps(*keys: str, select: object = None):
    """A ``run_before`` that shows the second recorded snapshot, optionally selects a row, then presses keys."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await refresh(pilot)
        await select_and_press(pilot, keys, select)

    return run_before


VIEW_KEYS = {"connections": "1", "listeners": "2", "processes": "3", "unix": "4", "remotes": "5", "namespaces": "6"}
SIZES = {"80x24": (80, 24), "200x50": (200, 50)}
"""80x24 is a first-class size; 200x50 shows the detail pane beside the table."""


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", VIEW_KEYS)
def test_every_view(snap_compare, view, size):
    """Large queues (3.8M), BBR, UDP (n/a rates), Unix rows (paths keep their end), shared sockets (+1) and long
    names (cut in the middle) in every view, at both sizes."""
    assert snap_compare(recorded_app(), terminal_size=SIZES[size], run_before=steps(VIEW_KEYS[view]))


def test_bbr_bulk_transfer_details(snap_compare):
    """The detail pane of a BBR socket: bw as a rate, min_rtt as a time, gains as ratios; MSS and PMTU in bytes."""
    to_the_bbr_block = steps("enter", "end", select=("tcp", BULK_COOKIE))
    assert snap_compare(recorded_app(), terminal_size=(200, 50), run_before=to_the_bbr_block)


def test_detail_pane_on_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=steps("enter", select=("tcp", 100)))


def test_process_drill_down(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 30), run_before=steps("p", select=("tcp", 600)))


@pytest.mark.parametrize("size", SIZES)
def test_filter_in_use(snap_compare, size):
    app = recorded_app(filter_text="process nginx and state estab", visibility=OwnerVisibility(hidden_sockets=3))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=steps())


def test_help_screen(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(120, 40), run_before=steps("question_mark"))
