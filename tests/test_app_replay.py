"""Pilot tests of every key of the TUI against the deterministic recorded data set."""

from __future__ import annotations

import ipaddress
import re

import pytest
from textual.geometry import Region

from netwatch.backends.model.snapshot import OwnerVisibility
from netwatch.backends.model.source_result import BackendUnavailable
from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.detail import DetailPane
from netwatch.tui.app.event_log import EventLog
from netwatch.tui.app.header import CLOCK_GAP, Status, SummaryBar, summary_lines
from netwatch.tui.app.quiet_screen import QuietScreen, UpdateTimer
from netwatch.tui.app.screens.help import HelpScreen
from netwatch.tui.app.screens.process import ProcessScreen
from netwatch.tui.app.widgets.text_lines import TextLines
from netwatch.tui.view import format as fmt
from netwatch.tui.view.intervals import INTERVAL_RANGE
from netwatch.tui.view.rows import PID_SOCKET_COLUMNS, SOCKET_COLUMNS
from netwatch.tui.view.safe_text import visible
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import cells, highlights, log_lines, refresh, screen_text, select_row, settle
from tests.recorded import EVIL_NAME, EVIL_PID, later, recorded_snapshot, recorded_snapshots
from tests.table_screen import row_cells


def endpoint_order(endpoint: str) -> tuple[int, bytes, int]:
    """The order of a shown endpoint ("10.0.0.1:80", "[2001:db8::5]:443") in the "local" column: numeric."""
    host, _, port = endpoint.rpartition(":")
    address = ipaddress.ip_address(host.strip("[]"))
    return address.version, address.packed, int(port)


def sort_column(app: NetwatchApp) -> str:
    return SOCKET_COLUMNS[app.table().sort_index].key


def make_app(snapshots=None, **options) -> NetwatchApp:
    options.setdefault("interval", 3600)  # refreshes are driven by the test
    return NetwatchApp(ReplaySource(snapshots or recorded_snapshots()), hostname="testhost", **options)


async def started(pilot):
    """The app with its first two snapshots on screen (so there are changes and rates)."""
    await settle(pilot)
    await refresh(pilot)
    return pilot.app


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()


async def test_connections_view_shows_inet_non_listeners_with_ipv6_in_full_and_mapped_as_ipv4():
    app = make_app()
    async with app.run_test(size=(240, 40)) as pilot:  # wide enough for the longest IPv6 endpoint
        await started(pilot)
        states = set(cells(app, "state"))
        assert "LISTEN" not in states and "UNCONN" not in states
        assert set(cells(app, "proto")) <= {"tcp", "udp", "raw"}
        peers = cells(app, "peer")
        assert "[2001:db8:85a3::8a2e:370:7334]:41001" in peers
        assert "192.0.2.10:60100" in peers  # ::ffff:192.0.2.10 shown as IPv4
        assert not any("::ffff:" in peer for peer in peers)
        text = screen_text(app)
        assert "testhost" in text and "backend netlink" in text and "ESTAB" in text


NEW = ("10.20.0.5:443", "203.0.113.250:61000")  # connections of the recorded host by (local, peer)
CHANGED = ("127.0.0.1:45103", "127.0.0.1:5432")  # to CLOSE_WAIT
CLOSED = ("10.20.0.5:443", "10.20.0.14:50035")
UNCHANGED = ("10.20.0.5:443", "198.51.100.23:50000")


async def statuses(pilot) -> dict[tuple[str, str], str | None]:
    """The highlight of every connection shown, by (local, peer)."""
    return {(cells["local"], cells["peer"]): status for cells, status in await highlights(pilot, SOCKET_COLUMNS)}


async def test_new_changed_closed_are_highlighted_then_closed_leaves_after_linger():
    snapshots = recorded_snapshots()
    snapshots += [later(snapshots[-1], 3), later(snapshots[-1], 10)]
    app = make_app(snapshots, linger=5.0)
    async with app.run_test(size=(200, 50)) as pilot:
        await started(pilot)
        status = await statuses(pilot)
        assert status[NEW] == "new"
        assert status[CHANGED] == "changed"
        assert status[CLOSED] == "closed"
        assert status[UNCHANGED] is None
        log = app.query_one("#events", EventLog)
        logged = "\n".join(log_lines(log))
        assert "opened" in logged and "closed" in logged and "ESTAB → CLOSE_WAIT" in logged
        await refresh(pilot)  # step 2: +2 s, still lingering
        assert CLOSED in await statuses(pilot)
        await refresh(pilot)  # +3 s
        await refresh(pilot)  # +10 s: linger over, highlights over
        status = await statuses(pilot)
        assert CLOSED not in status
        assert status[NEW] is None


async def test_quit_key():
    app = make_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


async def test_plain_word_searches_and_initial_filter_text_applies():
    app = make_app(filter_text="nginx")
    async with app.run_test(size=(200, 50)) as pilot:
        await started(pilot)
        labels = cells(app, "process")
        assert labels and all("nginx" in label for label in labels)
        assert app.query_one("#filter-bar").display


async def test_enter_focuses_details_with_grouped_tcp_info_and_owners():
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await started(pilot)
        await select_row(pilot, ("tcp", 100))
        await pilot.press("enter")
        await settle(pilot, 0.1)
        detail = app.query_one("#detail", DetailPane)
        assert detail.has_focus
        body = str(app.query_one("#detail-body", TextLines).render())
        for heading in ("State & timers", "RTT", "Windows & congestion", "Bytes & segments",
                        "Loss & retransmission", "Memory", "Kernel", "Owners", "Other tcp_info fields"):
            assert heading in body
        assert "rtt" in body and "18.0 ms" in body  # tcp_info rtt 18037 us... shown in ms
        assert "cubic" in body and "nginx: worker process" in body and "www-data" in body
        await pilot.press("escape")
        assert app.focused is app.table()


async def test_process_key_opens_only_that_process_sockets_and_escape_goes_back():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot)
        assert isinstance(app.screen, QuietScreen) and isinstance(app.screen._update_timer, UpdateTimer)
        await select_row(pilot, ("tcp", 300))  # app -> postgres, owned by pid 2310
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProcessScreen) and screen.pid == 2310
        assert isinstance(screen._update_timer, UpdateTimer)  # as the main screen's: it sleeps between repaints
        assert screen_text(app).startswith(" pid 2310  python3")  # the pid once, above its sockets
        shared_with = [row["process"] for row in row_cells(screen.table, PID_SOCKET_COLUMNS)]
        assert shared_with == [""] * 6  # 4 pooled connections (one in CLOSE_WAIT), its listener, a unix socket
        await pilot.press("escape")
        assert not isinstance(app.screen, ProcessScreen)


async def test_process_key_from_processes_view():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert app.view == "processes"
        pids = cells(app, "pid")
        assert len(pids) == len(set(pids)) == 12
        await select_row(pilot, 903)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == 903
        assert "postgres" in screen_text(app)


async def test_sort_keys_and_header_click():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot)
        table = app.table()
        assert sort_column(app) == "seen"
        await pilot.press("less_than_sign")
        assert sort_column(app) == "send_q"
        await pilot.press("greater_than_sign", "greater_than_sign", "greater_than_sign")
        assert sort_column(app) == "state"
        await pilot.press("greater_than_sign")
        assert sort_column(app) == "local" and re.search("local +▲", screen_text(app))  # the header shows it at once
        await settle(pilot)  # the rows come re-sorted from a worker
        values = [endpoint_order(local) for local in cells(app, "local")]
        assert values == sorted(values)
        await pilot.press("r")
        assert table.sort_reverse
        await settle(pilot)
        values = [endpoint_order(local) for local in cells(app, "local")]
        assert values == sorted(values, reverse=True)
        await pilot.click(table, offset=(1, 0))  # the "proto" header cell
        assert sort_column(app) == "proto" and not table.sort_reverse


async def test_selection_follows_the_socket_across_refreshes_and_sorts():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        table = app.table()
        await select_row(pilot, ("tcp", 202))
        await refresh(pilot)  # rows are inserted above it
        assert table.cursor_key == ("tcp", 202)
        await pilot.press("r")
        await settle(pilot)
        assert table.cursor_key == ("tcp", 202)


async def test_space_pauses_and_resumes():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        source = app.source
        await pilot.press("space")
        assert app.paused and "PAUSED" in screen_text(app)
        position = source.position
        app._tick()
        await settle(pilot)
        assert source.position == position
        await pilot.press("space")
        assert not app.paused
        app._tick()
        await settle(pilot)
        assert source.position == position + 1


async def test_plus_minus_change_the_interval():
    app = make_app(interval=2.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("plus")
        assert app.interval == 3.0 and "every 3s" in screen_text(app)
        await pilot.press("minus", "minus", "minus", "minus", "minus")
        assert app.interval == 0.1
        await pilot.press(*["minus"] * 5)  # down to what --interval accepts, no further
        assert app.interval == INTERVAL_RANGE[0]
        await pilot.press(*["plus"] * 20)
        assert app.interval == INTERVAL_RANGE[1]


async def test_overlapping_refreshes_never_pile_up():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert app.collect_now()
        assert not app.collect_now()  # one already in flight
        await settle(pilot)
        assert app.collect_now()
        await settle(pilot)


async def test_n_toggles_name_resolution_without_blocking():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert "0.0.0.0:22" in cells(app, "local")
        await pilot.press("n")
        await settle(pilot)
        for _ in range(40):  # reverse DNS answers arrive in the background
            await settle(pilot, 0.05)
            if "localhost:postgresql" in cells(app, "local"):
                break
        local = cells(app, "local")
        assert "0.0.0.0:ssh" in local and "[::]:https" in local
        assert "localhost:postgresql" in local
        await pilot.press("n")
        await settle(pilot)
        assert "0.0.0.0:22" in cells(app, "local")


async def test_number_keys_switch_views():
    app = make_app()
    async with app.run_test(size=(200, 40)) as pilot:  # wide enough for the longest path
        await started(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert app.view == "listeners"
        assert set(cells(app, "state")) == {"LISTEN", "UNCONN"}
        await pilot.press("4")
        await settle(pilot)
        assert app.view == "unix"
        assert "/run/postgresql/.s.PGSQL.5432" in cells(app, "path")
        await pilot.press("3")
        await settle(pilot)
        assert app.view == "processes"
        await pilot.press("1")
        await settle(pilot)
        assert app.view == "connections" and "ESTAB" in cells(app, "state")


async def test_a_hidden_view_lets_go_of_its_rows_and_gets_its_selection_back():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot)
        table = app.table()
        await pilot.press("down", "down")
        selected = table.cursor_key
        await pilot.press("2")
        await settle(pilot)
        assert table.cursor_key is None and table.virtual_size.height == 1  # the hidden table holds no frame
        await pilot.press("1")
        await settle(pilot)
        assert len(cells(app, "proto")) > 2 and table.cursor_key == selected


async def test_e_toggles_the_event_log_and_help_lists_every_key():
    app = make_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        log = app.query_one("#events", EventLog)
        await pilot.press("e")
        assert not log.display
        await pilot.press("e")
        assert log.display
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for key in ("q", "/", "esc", "enter", "p", "<", ">", "r", "␣", "+", "-", "n", "e", "[", "]", "1", "5", "?"):
            assert f" {key} " in text or f"│ {key}" in text or f"\n{key} " in text, key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_untrusted_names_and_paths_are_shown_literally():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await started(pilot)
        assert visible(f"{EVIL_PID}/{EVIL_NAME}") in cells(app, "process")
        text = screen_text(app)
        assert "[red]evil\\x1b[2J" in text
        assert "\x1b" not in text
        await pilot.press("4")
        await settle(pilot)
        assert "/tmp/[red]sock\\x1b[31m\\n" in screen_text(app)
        await select_row(pilot, ("unix", 7007))
        await pilot.press("p")
        await settle(pilot)
        text = screen_text(app)
        assert "--title=\\x1b]0;pwned\\x07" in text and "\\u202eevil" in text
        assert "[blink]session-9.scope" in text


async def test_hidden_owners_warning_in_header():
    snapshot = recorded_snapshot(0, OwnerVisibility(hidden_sockets=12, unreadable_processes=3))
    app = make_app([snapshot])
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "12 sockets with no visible owner" in text and "run as root" in text


async def test_small_terminal_and_resize():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        detail = app.query_one("#detail", DetailPane)
        assert not detail.display or detail.size.width == 0 or not detail.region
        await pilot.press("enter")
        await settle(pilot, 0.1)
        assert detail.region.width == 80
        await pilot.press("escape")
        await pilot.resize_terminal(200, 50)
        await settle(pilot, 0.1)
        assert detail.region.width > 0 and app.table().region.width > 100


class _NoBackend:
    backend_name = "netlink"

    def snapshot(self):
        raise BackendUnavailable("sock_diag is not available: the kernel has no inet_diag module")

    def close(self) -> None:
        pass


async def test_backend_unavailable_before_the_first_snapshot_quits_with_the_reason():
    app = NetwatchApp(_NoBackend(), interval=3600, hostname="testhost")
    async with app.run_test() as pilot:
        for _ in range(100):
            if app.return_code is not None:
                break
            await pilot.pause(0.02)
    assert app.return_code == 1
    assert "inet_diag" in str(app.unavailable)


async def test_a_failing_refresh_after_the_first_is_shown_and_retried():
    snapshots = recorded_snapshots()
    source = ReplaySource(snapshots)
    app = NetwatchApp(source, interval=3600, hostname="testhost")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        broken = source.snapshot
        source.snapshot = lambda: (_ for _ in ()).throw(OSError("netlink socket closed"))
        await refresh(pilot)
        assert "collection failed: OSError: netlink socket closed" in screen_text(app)
        source.snapshot = broken
        await refresh(pilot)
        assert "collection failed" not in screen_text(app)


async def test_pid_option_restricts_every_view_until_escape():
    app = make_app(pid=903)
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot)
        labels = cells(app, "process")
        assert labels and all(label.startswith("903/") for label in labels)
        assert "pid 903" in screen_text(app)
        await pilot.press("3")
        await settle(pilot)
        assert cells(app, "pid") == ["903"]
        await pilot.press("escape")
        await settle(pilot)
        assert app.pid is None and len(cells(app, "pid")) == 12


async def test_header_shows_host_tcp_totals_with_shared_sockets_counted_once_and_connection_churn():
    app = make_app()
    async with app.run_test(size=(200, 40)) as pilot:
        await started(pilot)
        rates = app.frame.diff.rates.values()
        send, recv = sum(rate.send_bps for rate in rates), sum(rate.recv_bps for rate in rates)
        by_process = sum(rate.send_bps for rate in app.frame.diff.process_rates.values())
        assert by_process > send  # nginx's two workers share every one of their sockets
        first_line = screen_text(app).splitlines()[0]
        # step 1 opened one connection (cookie 700) and closed one (105), 2 s apart
        assert f"tcp ↑ {fmt.rate(send)} ↓ {fmt.rate(recv)}  conn +0.5 −0.5/s" in first_line


async def test_the_clock_ends_the_first_line_and_the_totals_make_room_for_it():
    """At every width the first line ends with the snapshot's clock at the right edge, wherever it fits beside the
    host's name; the totals go on the first line only where the clock still fits, else below, short or not at all."""
    app = make_app()
    async with app.run_test(size=(200, 40)) as pilot:
        await started(pilot)
        frame = app.frame
        clock = f"at {fmt.clock_time(frame.snapshot.taken_at)}"
        status = Status(hostname="testhost", backend="netlink", interval=2)
        bare = summary_lines(status, frame)[0].plain.split("  tcp ")[0].split("  at ")[0]
        for width in range(len(bare) + CLOCK_GAP + len(clock), 201):
            first, second = (line.plain for line in summary_lines(status, frame, width)[:2])
            assert first.endswith(clock) and len(first) == width, width
            assert ("conn +" in first) + ("conn +" in second) + ("↑" in first and "conn" not in first) <= 1, width
        widest = summary_lines(status, frame, 200)[0].plain
        assert "conn +" in widest
        text = widest.removesuffix(clock).rstrip()
        fits = len(text) + CLOCK_GAP + len(clock)  # the narrowest first line with the totals in full and the clock
        assert summary_lines(status, frame, fits)[0].plain == text + " " * CLOCK_GAP + clock
        narrower = summary_lines(status, frame, fits - 1)[0].plain  # the totals in full would fit, without the clock
        assert "conn +" not in narrower and "↑" in narrower and narrower.endswith(clock)


async def test_a_refresh_of_an_unchanged_host_repaints_only_the_header_line_with_the_clock(monkeypatch):
    """At an idle refresh only the clock changes: that line alone is drawn again, and only the clock's columns at its
    right end, above the detail pane, are marked for Textual's repaint (not the tables beneath the line's start)."""
    first = recorded_snapshot(1)
    app = make_app([first, later(first, 2), later(first, 4)])
    async with app.run_test(size=(200, 50)) as pilot:
        await refresh(pilot)  # the second snapshot: the host's totals are on the first line from now on
        bar = app.query_one("#summary", SummaryBar)
        assert bar.plain.count("\n") >= 1
        drawn: list[int] = []
        real_render_line = SummaryBar.render_line
        monkeypatch.setattr(SummaryBar, "render_line", lambda self, y: drawn.append(y) or real_render_line(self, y))
        marked: list[Region] = []
        real_refresh = SummaryBar.refresh
        monkeypatch.setattr(SummaryBar, "refresh", lambda self, *regions, **kw: marked.extend(regions)
                            or real_refresh(self, *regions, **kw))
        await refresh(pilot)
        await pilot.pause(0.1)
        assert drawn and set(drawn) == {0}
        clock = f"at {fmt.clock_time(first.taken_at + 4)}"
        first_line = screen_text(app).splitlines()[0]
        assert first_line.rstrip().endswith(clock)
        clock_starts = bar.region.x + len(first_line.rstrip()) - len(clock)
        assert marked and all(region.y == 0 and region.x >= clock_starts - bar.region.x for region in marked)
        assert bar.region.x + min(region.x for region in marked) > app.query_one(DetailPane).region.x


class CountingSource(ReplaySource):
    """The recorded snapshots, counting how often one is asked for."""

    def __init__(self) -> None:
        super().__init__(recorded_snapshots())
        self.asked = 0

    def snapshot(self):
        self.asked += 1
        return super().snapshot()


async def test_the_app_refreshes_at_its_interval_and_at_the_new_one_after_a_change():
    source = CountingSource()
    app = NetwatchApp(source, interval=0.1, hostname="testhost")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        start = source.asked
        await pilot.pause(1.0)
        assert 4 <= source.asked - start <= 11  # ten ticks, none doubled (a late one is skipped)
        await pilot.press("plus")  # the next step up: 0.2 s
        assert app.interval == pytest.approx(0.2)
        start = source.asked
        await pilot.pause(1.0)
        assert 2 <= source.asked - start <= 6
        await pilot.press("space")  # paused: no refresh
        await settle(pilot)
        start = source.asked
        await pilot.pause(0.5)
        assert source.asked == start

