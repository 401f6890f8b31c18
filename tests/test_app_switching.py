"""View switching like tabs: a burst of keys ends on the last one, under load too, and keeps no memory."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time

from textual.widgets import TabbedContent

from netwatch.backends.model.snapshot import Snapshot
from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.view.rows import VIEWS
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import refresh, settle
from tests.recorded import recorded_snapshots

KEYS = {str(number): view for number, view in enumerate(VIEWS, start=1)}


class SlowSource(ReplaySource):
    """Recorded snapshots that take ``delay`` seconds each, like a refresh on a loaded host."""

    def __init__(self, delay: float) -> None:
        super().__init__(recorded_snapshots())
        self.delay = delay

    def snapshot(self) -> Snapshot:
        time.sleep(self.delay)
        return super().snapshot()


def make_app(source: ReplaySource | None = None, interval: float = 3600) -> NetwatchApp:
    return NetwatchApp(source or ReplaySource(recorded_snapshots()), interval=interval, hostname="testhost")


def burn_gil(stop: threading.Event) -> None:
    """Load: a thread that keeps the interpreter busy (the UI gets the GIL only every switch interval)."""
    while not stop.is_set():
        sum(range(20_000))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def shown_view(app: NetwatchApp) -> str:
    return app.query_one("#views", TabbedContent).active


async def test_a_burst_of_view_keys_under_load_ends_on_the_last_key_and_stays_there():
    app = make_app(SlowSource(0.3), interval=0.5)  # refreshes keep arriving, each one slow
    stop = threading.Event()
    load = threading.Thread(target=burn_gil, args=(stop,), daemon=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        load.start()
        try:
            keys = [str(1 + (index * 7 + index // 4) % 4) for index in range(50)]
            keys[-1] = "2" if keys[-2] != "2" else "3"
            for key in keys:  # faster than the app switches under this load
                app.simulate_key(key)
                await asyncio.sleep(0.02)
            await settle(pilot)
            expected = KEYS[keys[-1]]
            seen = set()
            for _ in range(20):  # two more seconds: no switching by itself
                await asyncio.sleep(0.1)
                seen.add((app.view, shown_view(app)))
        finally:
            stop.set()
            load.join()
        assert seen == {(expected, expected)}
        assert app.focused is app.table(expected)
        assert app.table(expected).cursor_key is not None  # it shows rows


async def test_200_view_switches_keep_no_memory_and_no_frames():
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)

        async def switch(times: int) -> None:
            for index in range(times):
                app.simulate_key(str(1 + index % 4))
                if index % 4 == 3:
                    await settle(pilot)

        await switch(200)  # warm up: every view built, Textual's bounded caches filled (~200 switches)
        gc.collect()
        objects_before, rss_before = len(gc.get_objects()), rss_bytes()
        await switch(200)
        gc.collect()
        objects_after = len(gc.get_objects())
        rss_after = rss_bytes()
        # Every table but the shown one let go of its rows: only the current frame is held, by the history (its
        # newest), the app and the shown table (whose previous rows go once the new ones are painted).
        for _ in range(20):
            if app.refresher.holds.holds(app.frame) == 3:
                break
            await pilot.pause(0.05)
        assert app.refresher.holds.live == 1
        assert app.refresher.holds.holds(app.frame) == 3
    assert objects_after - objects_before < 2_000, (objects_before, objects_after)
    assert rss_after - rss_before < 5 << 20, (rss_before, rss_after)


async def test_quitting_during_a_slow_collection_leaves_at_once_and_its_frame_is_dropped():
    """The refresh runs on the app's own thread: quitting does not wait for it, and the frame it hands over after
    the app closed goes nowhere (no error); the thread then ends."""
    source = SlowSource(0.0)
    app = make_app(source)
    async with app.run_test(size=(160, 40)) as pilot:
        await refresh(pilot)
        source.delay = 1.0
        assert app.collect_now()
        started = time.monotonic()
        await pilot.press("q")
    assert time.monotonic() - started < 0.8
    assert app.collecting  # its frame never reached the UI
    for _ in range(50):
        if not any(thread.name.startswith("netwatch-refresh") for thread in threading.enumerate()):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the refresh thread did not end")
    assert app.return_code in (0, None)

