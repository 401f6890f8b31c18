"""A screen's update timer repaints at once when a widget asks, at Textual's rate at most, and sleeps in between."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App
from textual.timer import Timer
from textual.widgets import Static

from netwatch.tui.app.quiet_screen import UPDATE_TIMER, QuietScreen, UpdateTimer
from tests.app_pilot import screen_text

INTERVAL = 0.05


class Quiet(App[None]):
    def get_default_screen(self) -> QuietScreen:
        return QuietScreen(id="_default")

    def compose(self):
        yield Static("x", id="x")


@pytest.fixture
def timeline(monkeypatch) -> list[str]:
    """What the update timers did, in order: ``tick``, or ``sleep`` (a timer of the asyncio loop, the only way a
    task sleeps: Textual's own timer and :class:`UpdateTimer` alike). Timers named ``screen_update`` only."""
    done: list[str] = []
    real_tick, real_call_later = UpdateTimer._tick, asyncio.BaseEventLoop.call_later

    async def tick(self: UpdateTimer, **details: float) -> None:
        done.append("tick")
        await real_tick(self, **details)

    def call_later(self: asyncio.BaseEventLoop, delay: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
        task = asyncio.current_task()
        if task is not None and task.get_name() == UPDATE_TIMER:
            done.append("sleep")
        return real_call_later(self, delay, *args, **kwargs)

    monkeypatch.setattr(Timer, "_tick", tick)
    monkeypatch.setattr(asyncio.BaseEventLoop, "call_later", call_later)
    return done


async def test_the_timer_ticks_when_resumed_at_most_once_an_interval_and_sleeps_only_to_keep_that_rate(timeline):
    app = App[None]()  # Textual's own screen: the test's timer is the only UpdateTimer
    async with app.run_test() as pilot:
        await pilot.pause(3 * INTERVAL)
        del timeline[:]  # the screen's own repaints at start
        ticks: list[float] = []
        timer: UpdateTimer

        def tick() -> None:  # as a screen's own callback does: pause, then repaint
            timer.pause()
            ticks.append(asyncio.get_running_loop().time())

        timer = UpdateTimer(app.screen, INTERVAL, name=UPDATE_TIMER, callback=tick, pause=True)
        timer._start()
        await pilot.pause(3 * INTERVAL)
        assert timeline == []  # paused from the start: neither ticking nor sleeping

        timer.resume()
        await pilot.pause(INTERVAL / 5)
        assert timeline == ["tick"]  # at once: the last tick was long ago

        timer.resume()  # again at once: it holds the tick back for the rest of the interval
        await pilot.pause(3 * INTERVAL)
        assert timeline == ["tick", "sleep", "tick"]
        assert ticks[1] - ticks[0] >= INTERVAL

        await pilot.pause(5 * INTERVAL)
        assert len(timeline) == 3  # paused: neither ticking nor sleeping

        timer.resume()
        await pilot.pause(INTERVAL / 5)
        assert timeline[3:] == ["tick"]
        timer.stop()


async def test_a_screen_repaints_a_widget_change_and_then_sleeps_until_the_next_one(timeline):
    app = Quiet()
    async with app.run_test(size=(20, 3)) as pilot:
        assert isinstance(app.screen._update_timer, UpdateTimer)  # the name Textual gives it still matches
        for text in ("one", "two", "three"):
            app.query_one("#x", Static).update(text)
            await pilot.pause(0.1)  # many frames: Textual's timer would have slept to its next tick by now
            assert screen_text(app).startswith(text)
            assert timeline[-1] == "tick"  # the repaint, and nothing after it
        assert "sleep sleep" not in " ".join(timeline)  # it sleeps only to hold a tick back
