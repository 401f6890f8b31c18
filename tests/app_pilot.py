"""Helpers for driving :class:`NetwatchApp` in Pilot tests."""

from __future__ import annotations

import contextlib
import io

from rich.console import Console
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from netwatch.tui.app.app import NetwatchApp


async def settle(pilot: Pilot, delay: float = 0.0) -> None:
    """Wait until every worker finished and the UI processed what they posted."""
    app = pilot.app
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):  # an exclusive worker replaced by a newer one
            await app.workers.wait_for_complete()
        await pilot.pause(delay)


async def refresh(pilot: Pilot) -> None:
    """Take the next snapshot now and wait until it is on screen."""
    app = pilot.app
    assert isinstance(app, NetwatchApp)
    await settle(pilot)
    assert app.collect_now()
    await settle(pilot)


def cells(app: NetwatchApp, column: str, view: str | None = None) -> list[str]:
    """One column of the (active) view's table, in display order."""
    table = app.table(view)
    index = [col.key for col in table.columns].index(column)
    return [row.cells[index] for row in table.rows]


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
        pilot.app.table().select_key(select)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
    await settle(pilot, 0.1)
