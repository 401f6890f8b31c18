"""Regenerate the README screenshots: ``python screenshots/generate.py`` writes ``screenshots/*.svg``.

Runs the real app headless on the recorded data set (tests/recorded.py: a small web host with IPv4, IPv6 and
IPv4-mapped clients, postgres, sshd, Unix sockets, a BBR bulk transfer, a process with a hostile name and a Redis
container in a network namespace of its own), so the pictures are reproducible.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from netwatch.tui.app.app import NetwatchApp  # noqa: E402
from netwatch.tui.view.snapshots import ReplaySource  # noqa: E402
from tests.app_pilot import refresh, select_and_press, settle  # noqa: E402
from tests.recorded import recorded_snapshots, with_namespaces  # noqa: E402

Steps = Callable[[object], Awaitable[None]]


def keys(*pressed: str, select: object = None) -> Steps:
    return lambda pilot: select_and_press(pilot, pressed, select)


def in_view(view_key: str, *pressed: str, select: object = None) -> Steps:
    """Switch to a view, then select a row of it and press keys."""

    async def run(pilot: object) -> None:
        await select_and_press(pilot, (view_key,))
        await select_and_press(pilot, pressed, select)

    return run


SHOTS: dict[str, tuple[tuple[int, int], dict, Steps]] = {
    "connections": ((180, 46), {}, keys(select=("tcp", 700))),
    "detail": ((180, 60), {}, keys("enter", select=("tcp", 102))),
    "processes": ((140, 36), {}, in_view("3", select=1204)),
    "process-drill-down": ((140, 36), {}, in_view("3", "p", select=1204)),
    "filter": ((140, 36), {"filter_text": "process nginx and state estab"}, keys("slash")),
    "listeners": ((140, 36), {}, keys("2")),
    "namespaces": ((180, 36), {}, in_view("6", select=4026532401)),
    "command-palette": ((140, 36), {}, keys("ctrl+p")),
    "small-terminal": ((80, 24), {}, keys()),
    "small-terminal-filter": ((80, 24), {"filter_text": "process nginx"}, keys()),
}


async def shoot(name: str, size: tuple[int, int], options: dict, steps: Steps) -> Path:
    snapshots = [with_namespaces(snapshot) for snapshot in recorded_snapshots()]
    app = NetwatchApp(ReplaySource(snapshots), interval=3600, hostname="web-01", **options)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await refresh(pilot)
        await refresh(pilot)  # all three recorded snapshots: highlights, rates and sparklines
        await steps(pilot)
        path = HERE / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"netwatch — {name}"), encoding="utf-8")
    return path


async def main() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    for name, (size, options, steps) in SHOTS.items():
        print(await shoot(name, size, options, steps))


if __name__ == "__main__":
    asyncio.run(main())
