"""Helpers for driving :class:`NetwatchApp` in Pilot tests."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

from rich.console import Console
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.event_log import EventLog
from netwatch.tui.view.rows import COLUMNS_OF_VIEW
from netwatch.tui.view.table_model import Column
from tests.table_screen import is_cursor, row_cells, row_status, row_strips

COLLECTION_WAIT = 0.01
COLLECTION_TIMEOUT = 30.0


async def settle(pilot: Pilot, delay: float = 0.0) -> None:
    """Wait until every worker and the collection in flight (on the app's refresh thread) finished and the UI
    processed what they posted."""
    app = pilot.app
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):  # an exclusive worker replaced by a newer one
            await app.workers.wait_for_complete()
        for _ in range(int(COLLECTION_TIMEOUT / COLLECTION_WAIT)):
            if not (isinstance(app, NetwatchApp) and app.collecting):
                break
            await pilot.pause(COLLECTION_WAIT)
        else:
            raise AssertionError("a collection never ended")
        await pilot.pause(delay)


async def refresh(pilot: Pilot) -> None:
    """Take the next snapshot now and wait until it is on screen."""
    app = pilot.app
    assert isinstance(app, NetwatchApp)
    for _ in range(50):  # the app's own timer may have begun a collection meanwhile: wait for it, then ask
        await settle(pilot)
        if app.collect_now():
            break
    else:
        raise AssertionError("a collection never ended")
    await settle(pilot)


def cells(app: NetwatchApp, column: str, view: str | None = None) -> list[str]:
    """One column of the (active) view's table as shown, in display order."""
    view = view or app.view
    return [row[column] for row in row_cells(app.table(view), COLUMNS_OF_VIEW[view])]


async def highlights(pilot: Pilot, columns: Sequence[Column]) -> list[tuple[dict[str, str], str | None]]:
    """Every row of the table the keys act on: its shown cells (by column key) and highlight, in display order.
    The cursor's colours hide its row's highlight: that one is read with the cursor moved off it (and back)."""
    app = pilot.app
    assert isinstance(app, NetwatchApp)
    table = app.current_table()
    lines = row_strips(table)
    statuses = [row_status(table, line) for line in lines]
    under_cursor = [index for index, line in enumerate(lines) if is_cursor(table, line)]
    if under_cursor and len(lines) > 1:
        (index,) = under_cursor
        away, back = ("up", "down") if index == len(lines) - 1 else ("down", "up")
        await pilot.press(away)
        statuses[index] = row_status(table, row_strips(table)[index])
        await pilot.press(back)
    return list(zip(row_cells(table, columns), statuses, strict=True))


async def select_row(pilot: Pilot, key: object) -> None:
    """Put the cursor of the table the keys act on on the row with ``key``, as a person would: down from the top."""
    app = pilot.app
    assert isinstance(app, NetwatchApp)
    table = app.current_table()
    await pilot.press("home")
    while table.cursor_key != key:
        before = table.cursor_key
        await pilot.press("down")
        assert table.cursor_key != before, f"no row {key!r}"


def log_lines(log: EventLog) -> list[str]:
    """The event log's lines on screen, as text (blank lines below the last event left out)."""
    lines = [log.render_line(y).text.rstrip() for y in range(log.scrollable_content_region.height)]
    return [line for line in lines if line]


def screen_text(app: NetwatchApp) -> str:
    """Everything on screen as plain text, the way a terminal would show it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


async def select_and_press(pilot: Pilot, keys: tuple[str, ...], select: object = None) -> None:
    """Put the cursor on the row with key ``select`` (if given), press ``keys`` one by one, let the screen settle."""
    if select is not None:
        await select_row(pilot, select)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
    await settle(pilot, 0.1)


def notifications(app: NetwatchApp) -> list[str]:
    """The text of each notification on screen, read off the screen, its wrapped lines joined."""
    lines = screen_text(app).splitlines()
    regions = [toast.region for toast in app.screen.query("Toast")]
    return [" ".join(" ".join(line[r.x:r.right] for line in lines[r.y:r.bottom]).replace("▌", " ").split())
            for r in regions]
