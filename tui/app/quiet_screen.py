"""A Textual screen whose update timer sleeps between updates.

A screen repaints from a paused interval timer (``screen_update``, 60 a second at most) that it resumes when a widget
needs a repaint. Textual's timer, once it has ticked, sleeps to its next tick before it waits for the next resume:
each repaint woke the UI thread once more, 17-33 ms later, for nothing (an idle refresh took 9 turns of the event
loop, now 7). :class:`UpdateTimer` waits for the resume first and sleeps only when the last repaint was less than an
interval ago, so repaints keep Textual's rate and a screen at rest does not wake.

Textual 8.2.8 (pinned): ``Screen._update_timer`` makes the timer with ``set_interval(..., name="screen_update")``.
"""

from __future__ import annotations

import math
from asyncio import sleep

from textual._time import get_time
from textual.screen import Screen
from textual.timer import EventTargetGone, Timer, TimerCallback

UPDATE_TIMER = "screen_update"
"""The name Textual gives a screen's update timer."""


class UpdateTimer(Timer):
    """An interval timer that ticks as soon as it is resumed, at most once an interval, and does not wake while
    paused."""

    async def _run(self) -> None:
        last = -math.inf
        while True:
            await self._active.wait()
            wait = last + self._interval - get_time()
            if wait > 0:
                await sleep(wait)
                continue  # then tick, unless paused meanwhile
            last = get_time()
            try:
                await self._tick(next_timer=last, count=0)
            except EventTargetGone:
                break


class QuietUpdates:
    """Mixin for a :class:`~textual.screen.Screen`: its update timer is an :class:`UpdateTimer`."""

    def set_interval(self, interval: float, callback: TimerCallback | None = None, *, name: str | None = None,
                     repeat: int = 0, pause: bool = False) -> Timer:
        if name != UPDATE_TIMER or repeat:
            return super().set_interval(interval, callback, name=name, repeat=repeat, pause=pause)  # type: ignore[misc]
        timer = UpdateTimer(self, interval, name=name, callback=callback, pause=pause)  # type: ignore[arg-type]
        timer._start()
        self._timers.add(timer)  # type: ignore[attr-defined]
        return timer


class QuietScreen(QuietUpdates, Screen[None]):
    """Textual's default screen with a quiet update timer (the app's main screen)."""
