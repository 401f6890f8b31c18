"""The TUI's actions driven with Pilot on the live backend: K closes a real connection (or cancels), k signals a
real child, P inspects a real port, c and s copy and save, --read-only refuses."""

from __future__ import annotations

import csv
import errno
import gc
import json
import os
import signal
import subprocess
import sys

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.detail import DetailPane
from netwatch.tui.app.screens.dialogs import ConfirmScreen, ResultScreen, SignalChooser
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.snapshots import LiveSource
from tests.app_pilot import notifications, refresh, screen_text, select_row, settle
from tests.socket_zoo import errno_of


def live_app(**options) -> NetwatchApp:
    return NetwatchApp(LiveSource("netlink"), interval=3600, hostname="testhost", **options)


def _key_of(app: NetwatchApp, port: int, state: str = "ESTABLISHED") -> object:
    """The key of the socket of the test's own namespace with local port ``port`` in ``state``."""
    own = os.stat("/proc/self/ns/net").st_ino
    (key,) = [key for key, sock in app.frame.sockets.items()
              if sock.local_port == port and sock.state == state and sock.netns_inode == own]  # fmt: skip
    return key


async def test_K_asks_first_cancel_keeps_the_connection_and_confirm_closes_it(connection):
    _server, client, accepted = connection
    app = live_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await select_row(pilot, _key_of(app, client.getsockname()[1]))
        await pilot.press("K")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and app.screen.focused.id == "cancel"  # the default
        assert "ECONNABORTED" in screen_text(app) and f":{client.getsockname()[1]}" in screen_text(app)
        await pilot.press("enter")  # Cancel
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        client.send(b"still open")
        assert accepted.recv(100) == b"still open"
        await pilot.press("K")
        await settle(pilot)
        await pilot.click("#one")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen) and "1 closed" in screen_text(app)
    assert errno_of(lambda: client.recv(1)) == errno.ECONNABORTED
    assert errno_of(lambda: accepted.recv(1)) == errno.ECONNRESET


async def test_K_with_a_filter_offers_every_matching_socket(connection):
    server, client, accepted = connection
    port = server.getsockname()[1]
    app = live_app(filter_text=f"(sport = :{port} or dport = :{port}) and state established")  # no old TIME_WAIT
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("K")
        await settle(pilot)
        assert "Close all 2 matching" in screen_text(app)
        await pilot.click("#all")
        await app.workers.wait_for_complete()
        await settle(pilot)
        text = " ".join(screen_text(app).split())  # the second may be gone with the first's reset
        assert "2 closed" in text or "1 closed, 1 already gone" in text
    assert errno_of(lambda: client.recv(1)) in (errno.ECONNABORTED, errno.ECONNRESET)


async def test_read_only_refuses_and_says_so_in_the_header(connection):
    _server, client, _accepted = connection
    app = live_app(read_only=True)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(pilot)
        await refresh(pilot)
        assert "READ-ONLY" in screen_text(app).splitlines()[0]
        await select_row(pilot, _key_of(app, client.getsockname()[1]))
        for key in ("K", "k"):
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, (ConfirmScreen, SignalChooser))
        await pilot.pause(0.3)  # the notifications' toasts
        assert any("Read-only" in text for text in notifications(app))
    client.send(b"still open")


async def test_k_sends_the_chosen_signal_to_a_real_child():
    child = subprocess.Popen([sys.executable, "-c", "import socket, sys\ns = socket.create_server(('127.0.0.1', 0))\n"
                              "print(s.getsockname()[1], flush=True)\nsys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    port = int(child.stdout.readline())
    app = live_app()
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            await refresh(pilot)
            await pilot.press("2")
            await settle(pilot)
            await select_row(pilot, _key_of(app, port, "LISTEN"))
            await pilot.press("k")
            await settle(pilot)
            assert isinstance(app.screen, SignalChooser) and f"{child.pid}" in screen_text(app)
            await pilot.press("enter")  # SIGTERM, the first
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.click("#send")
            await settle(pilot)
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def test_P_inspects_the_selected_sockets_port(connection):
    server, _client, _accepted = connection
    port = server.getsockname()[1]
    app = live_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, _key_of(app, port, "LISTEN"))
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen)
        assert f"tcp port {port}: in_use" in " ".join(screen_text(app).split())


def _client_end_app(connection, tmp_path, monkeypatch) -> tuple[NetwatchApp, int, int]:
    """A live app whose filter shows the client end of ``connection`` alone, saving into ``tmp_path``; and the
    listener's and the client's ports."""
    server, client, _accepted = connection
    monkeypatch.chdir(tmp_path)
    port = server.getsockname()[1]
    client_port = client.getsockname()[1]
    # both ports: an earlier test's TIME_WAIT may have gone to the same port as this listener
    return live_app(filter_text=f"sport = :{client_port} and dport = :{port}"), port, client_port


async def test_c_copies_the_row_and_s_saves_the_view_as_csv(connection, tmp_path, monkeypatch):
    app, port, client_port = _client_end_app(connection, tmp_path, monkeypatch)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await select_row(pilot, _key_of(app, client_port))
        await pilot.press("c")
        assert f"127.0.0.1:{client_port} → 127.0.0.1:{port}" in app.clipboard
        await pilot.press("s")
        await settle(pilot)
        await pilot.click("#csv")
        await settle(pilot)
    (saved,) = tmp_path.glob("netwatch-connections-*.csv")
    rows = list(csv.DictReader(saved.open()))
    assert [(row["local_port"], row["remote_port"], row["pids"]) for row in rows] == [
        (str(client_port), str(port), str(os.getpid()))
    ]


def _frames() -> int:
    """Frames in memory, garbage not yet collected included (the app's GcPolicy freezes what it keeps: thawed
    first, or gc.get_objects() would not see it)."""
    gc.unfreeze()
    return sum(1 for thing in gc.get_objects() if type(thing) is Frame)


async def test_details_and_a_saved_document_hold_what_the_tables_light_snapshots_leave_out(
    connection, tmp_path, monkeypatch
):
    """The live tables' snapshots carry tcp_info but not memory, congestion or BBR info (the kernel's dump is
    cheaper without): the detail pane of the selected socket and a saved JSON document look them up."""
    app, _port, client_port = _client_end_app(connection, tmp_path, monkeypatch)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        key = _key_of(app, client_port)
        light = app.frame.sockets[key]
        assert light.tcp_info is not None and (light.meminfo, light.skmem, light.congestion) == (None, None, None)
        await select_row(pilot, key)
        await settle(pilot, 0.1)
        detail = app.query_one("#detail", DetailPane).text()
        assert "skmem rcvbuf" in detail and "meminfo rmem" in detail and "congestion" in detail
        gc.collect()
        gc.disable()  # a finished lookup worker is cyclic garbage: it must not hold a frame (a whole snapshot)
        try:
            frames = _frames()
            for _ in range(4):  # later frames: the record is looked up again, and the pane keeps every section
                await refresh(pilot)
                await settle(pilot, 0.1)
                assert "skmem rcvbuf" in app.query_one("#detail", DetailPane).text()
            assert _frames() <= frames + 1
        finally:
            gc.enable()
        await pilot.press("s")
        await settle(pilot)
        await pilot.click("#json")
        await settle(pilot, 0.1)
        await pilot.press("p")  # the process's drill-down has a detail pane of its own
        await settle(pilot)
        await select_row(pilot, key)
        await settle(pilot, 0.1)
        assert "skmem rcvbuf" in app.screen.query_one("#drill-detail", DetailPane).text()
    (saved,) = tmp_path.glob("netwatch-connections-*.json")
    (document,) = json.loads(saved.read_text())["sockets"]
    assert document["local_port"] == client_port and document["congestion"]
    assert document["meminfo"] is not None and document["skmem"]["rcvbuf"] > 0
    assert [owner["pid"] for owner in document["owners"]] == [os.getpid()]


async def test_s_into_a_directory_it_cannot_write_says_why(connection, monkeypatch):
    monkeypatch.chdir("/proc")  # no file can be made there, not even by root
    app = live_app()
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("s")
        await settle(pilot)
        await pilot.click("#json")
        await settle(pilot)
        await pilot.pause(0.3)
        assert any(text.startswith("Not saved: /proc/netwatch-") for text in notifications(app))


async def test_P_without_a_socket_asks_for_the_port_and_says_what_is_wrong(connection):
    server, _client, _accepted = connection
    port = server.getsockname()[1]
    app = live_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await pilot.press("3", "P")  # a process row: no port of its own
        await settle(pilot)
        await pilot.press(*"99999", "enter")
        await settle(pilot)
        assert "not a port (1-65535): '99999'" in screen_text(app)
        await pilot.press(*["backspace"] * 5, *str(port), "enter")
        await settle(pilot)
        assert isinstance(app.screen, ResultScreen)
        assert f"tcp port {port}: in_use" in " ".join(screen_text(app).split())
