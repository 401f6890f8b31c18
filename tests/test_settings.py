"""Settings that persist: written when one changes, read back at start, a bad file reported in one line and
ignored (never a crash, never written over)."""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

import pytest

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.view.settings import (
    Settings,
    SettingsError,
    SettingsFile,
    parse_settings,
    settings_path,
    settings_text,
)
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import refresh, screen_text, settle
from tests.recorded import recorded_snapshots
from tests.test_app_filter import notifications


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def make_app(**options) -> NetwatchApp:
    return NetwatchApp(ReplaySource(recorded_snapshots()), hostname="testhost", settings=SettingsFile.default(),
                       **options)


def squeezed(text: str) -> str:
    """``text`` without its spaces (a notification wraps long lines where it likes)."""
    return "".join(text.split())


def test_the_file_is_under_xdg_config_home_else_dot_config(own_config_home: Path, monkeypatch):
    assert settings_path() == own_config_home / "netwatch" / "settings.toml"
    for unusable in ("", "relative/dir"):
        monkeypatch.setenv("XDG_CONFIG_HOME", unusable)
        assert settings_path() == Path.home() / ".config" / "netwatch" / "settings.toml"


def test_settings_survive_the_writer_and_tomllib():
    settings = Settings(theme='dra"cula\\\n', interval=0.5, view="remotes", names=True, detail_width=70,
                        sort={"connections": ("peer", True), "processes": ("send", False)})
    text = settings_text(settings)
    assert parse_settings(text) == settings
    assert tomllib.loads(text)["sort_connections"] == "peer"


@pytest.mark.parametrize(("text", "reason"), [
    ("interval = [", "not TOML"),
    ("interval = 0", "interval must be between 0.05 and 3600 seconds, not 0"),
    ("interval = true", "interval has the wrong type"),
    ('view = "everything"', "view must be one of connections, listeners, processes, unix, remotes"),
    ('sort_unix = "rtt"', "sort_unix must be one of"),
    ("names = 1", "names has the wrong type"),
])  # fmt: skip
def test_a_bad_value_says_which(text, reason):
    with pytest.raises(SettingsError, match=reason.replace("(", r"\(")):
        parse_settings(text)


def test_a_file_of_an_earlier_netwatch_still_reads():
    """"age" is now "seen"; Listeners lost its peer and rate columns: their default sort then, not a bad file."""
    settings = parse_settings('sort_connections = "age"\nsort_listeners = "send"\nreverse_listeners = true\n')
    assert settings.sort == {"connections": ("seen", False)}


async def test_the_detail_pane_is_resized_with_brackets_and_the_width_is_saved(own_config_home: Path):
    path = own_config_home / "netwatch" / "settings.toml"
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        detail = app.query_one("#detail")
        assert detail.outer_size.width == 60  # 30% of the terminal
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert detail.outer_size.width == 68
        await pilot.press(*["left_square_bracket"] * 20)  # down to the smallest width, no further
        await settle(pilot)
        assert detail.outer_size.width == 30
    assert tomllib.loads(path.read_text())["detail_width"] == 30
    again = make_app()
    async with again.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert again.query_one("#detail").outer_size.width == 30


async def test_changes_are_written_and_read_back_at_the_next_start(own_config_home: Path):
    path = own_config_home / "netwatch" / "settings.toml"
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert not path.exists()  # nothing changed yet: nothing written
        await pilot.press("3", "greater_than_sign", "r", "n", "plus")
        app.theme = "nord"
        await settle(pilot)
    saved = tomllib.loads(path.read_text())
    assert saved["view"] == "processes" and saved["names"] is True and saved["interval"] == 3.0
    assert (saved["sort_processes"], saved["reverse_processes"]) == ("estab", True)
    assert saved["theme"] == "nord"

    again = make_app()
    async with again.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        assert again.view == "processes" and again.refresher.resolving and again.interval == 3.0
        assert again.theme == "nord"
        assert "every 3s" in screen_text(again) and "names" in screen_text(again)
        table = again.table()
        assert (table.sort_index, table.sort_reverse) == (4, True)  # estab, descending
        assert "estab ▼" in screen_text(again)


async def test_the_command_line_interval_wins_for_the_run_and_is_not_saved(own_config_home: Path):
    path = own_config_home / "netwatch" / "settings.toml"
    path.parent.mkdir(parents=True)
    path.write_text("interval = 5.0\n")
    app = make_app(interval=1.0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert app.interval == 1.0
        await pilot.press("2")
        await settle(pilot)
    assert tomllib.loads(path.read_text())["interval"] == 5.0


@pytest.mark.parametrize("content", [b"interval = [\n", b'view = "nowhere"\n', b"\xff\xfe not text"])
async def test_a_bad_file_is_reported_in_one_line_ignored_and_left_alone(own_config_home: Path, content):
    path = own_config_home / "netwatch" / "settings.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    app = make_app()
    async with app.run_test(size=(200, 40), notifications=True) as pilot:
        await settle(pilot, 0.2)
        await refresh(pilot)
        assert app.view == "connections" and app.interval == 2.0  # the defaults
        (message,) = notifications(app)
        assert squeezed(message).startswith(squeezed(f"settings file {path} ignored: "))  # the toast wraps lines
        await pilot.press("3", "n")  # changes are not written over the user's file
        await settle(pilot)
    assert path.read_bytes() == content


async def test_a_settings_file_that_cannot_be_written_is_reported_once(own_config_home: Path):
    # a directory where the file is written first (then renamed into place): writing fails, even as root
    (own_config_home / "netwatch" / f".settings.toml.{os.getpid()}").mkdir(parents=True)
    app = make_app()
    async with app.run_test(size=(200, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("2", "3")
        await settle(pilot, 0.2)
        (message,) = notifications(app)
        assert squeezed(message).startswith(squeezed(f"settings not saved to {own_config_home}/netwatch/"))
