"""Pilot tests of the Remote hosts view (key 5): one row per remote address, sorted and filtered as elsewhere,
names with ``n``, enter drills into the host's sockets."""

from __future__ import annotations

import time

import pytest

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.screens.owner_chooser import OwnerChooser
from netwatch.tui.app.screens.remote import RemoteScreen
from netwatch.tui.app.widgets.text_lines import TextLines
from netwatch.tui.view import format as fmt
from netwatch.tui.view.rows import SOCKET_COLUMNS
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import cells, refresh, screen_text, select_row, settle
from tests.recorded import recorded_snapshots
from tests.table_screen import row_cells


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app(**options) -> NetwatchApp:
    return NetwatchApp(ReplaySource(recorded_snapshots()), interval=3600, hostname="testhost", **options)


async def remote_view(pilot) -> dict[str, dict[str, str]]:
    """The rows of the Remote hosts view, by the host shown."""
    await settle(pilot)
    await refresh(pilot)
    await pilot.press("5")
    await settle(pilot)
    app = pilot.app
    rows = zip(*(cells(app, key) for key in ("remote", "connections", "states", "send", "processes")), strict=True)
    return {row[0]: dict(zip(("conns", "states", "send", "processes"), row[1:], strict=True)) for row in rows}


async def test_one_row_per_remote_address_with_connections_states_rates_and_processes():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        hosts = await remote_view(pilot)
        assert app.view == "remotes"
        assert cells(app, "remote")[0] == "127.0.0.1"  # the most connections first
        assert hosts["127.0.0.1"] == {"conns": "8", "states": "ESTAB 7 CLOSE_WAIT 1",
                                      "send": hosts["127.0.0.1"]["send"], "processes": "903/postgres 2310/python3"}
        socket_rate = app.frame.diff.rates[("tcp", 100)].send_bps  # its one connection still open
        assert hosts["198.51.100.23"] == {"conns": "2", "states": "ESTAB 1 TIME_WAIT 1",
                                          "send": fmt.rate_cell(socket_rate), "processes": "1204/nginx 1205/nginx"}
        assert "192.0.2.10" in hosts and "::ffff:192.0.2.10" not in hosts  # a mapped address is its IPv4 host
        assert "2001:db8::1f" in hosts and "10.20.0.1" in hosts  # IPv6, and the resolver's UDP upstream
        assert not {"0.0.0.0", "::", "", "*"} & hosts.keys()  # listeners talk to no one
        await select_row(pilot, "127.0.0.1")
        await settle(pilot, 0.1)
        detail = " ".join(str(app.query_one("#detail-body", TextLines).render()).split())
        assert detail.startswith("remote 127.0.0.1 connections 8: ESTAB 7 CLOSE_WAIT 1 send rate")
        assert detail.endswith("processes 903/postgres, 2310/python3")
        await pilot.press("r")  # sort as elsewhere
        await settle(pilot)
        assert cells(app, "remote")[-1] == "127.0.0.1"


async def test_the_filter_narrows_the_hosts_and_the_header_counts_them():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        everything = await remote_view(pilot)
        await pilot.press("slash", *"process postgres", "enter")
        await settle(pilot)
        assert cells(app, "remote") == ["127.0.0.1"]
        assert cells(app, "connections") == ["4"]  # postgres' side of the pool only
        assert f"1 of {len(everything)} remote hosts shown" in screen_text(app)


async def test_enter_drills_into_the_hosts_sockets_and_p_asks_whose_process():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await remote_view(pilot)
        await select_row(pilot, "127.0.0.1")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RemoteScreen) and screen.address == "127.0.0.1"
        assert "remote 127.0.0.1 connections 8: ESTAB 7 CLOSE_WAIT 1" in " ".join(screen_text(app).split())
        peers = [row["peer"] for row in row_cells(screen.table, SOCKET_COLUMNS)]
        assert len(peers) == 8 and all(peer.startswith("127.0.0.1:") for peer in peers)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RemoteScreen) and app.view == "remotes"
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, OwnerChooser)
        assert "903  postgres" in screen_text(app) and "2310  python3" in screen_text(app)


def running_intervals(app: NetwatchApp) -> list[float]:
    """The periods of the app's repeating timers that run (Textual 8.2.8's timer internals), and of its refresh
    ticker (an event loop timer handle)."""
    textual = [timer._interval for timer in app._timers if timer._task is not None and timer._repeat is None]
    ticking = app._timer is not None and not app._timer.cancelled()
    return sorted(textual + ([app.interval] if ticking else []))


async def test_without_names_an_idle_app_wakes_only_for_its_refreshes():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert running_intervals(app) == [3600]
        await pilot.press("n")  # names on: a timer redraws when names arrive
        assert running_intervals(app) == [0.5, 3600]
        await pilot.press("n")
        assert running_intervals(app) == [3600]


async def test_n_shows_host_names():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await remote_view(pilot)
        await pilot.press("n")
        for _ in range(40):  # reverse DNS answers arrive in the background
            await settle(pilot, 0.05)
            if "localhost" in cells(app, "remote"):
                break
        assert cells(app, "remote")[0] == "localhost"
