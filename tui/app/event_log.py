"""The event log pane: sockets opened, closed and changing state, newest at the bottom; focusable and scrollable.

Virtualized like the socket table: it holds the events (those the filter lets through, as many as the history
keeps: minutes of them) and formats only the lines on screen, when they are drawn, so names appear as they are
resolved and a filter change costs one list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from netwatch.backends.history.tracker import MAX_EVENTS, Event
from netwatch.tui.view.events import Endpoint, event_text

RENDERED_LINES = 256
"""Rendered lines kept cached (a full screen of them at most is on screen)."""


class EventLog(ScrollView, can_focus=True):
    """Bounded log of socket events; it follows the newest event unless scrolled up."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Up", show=False),
        Binding("down", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_home", "Oldest", show=False),
        Binding("end", "scroll_end", "Newest", show=False),
    ]

    DEFAULT_CSS = """
    EventLog {
        background: $surface;
    }
    """

    def __init__(self, endpoint: Endpoint, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._endpoint = endpoint
        self._events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self._lines: LRUCache[int, Strip] = LRUCache(RENDERED_LINES)
        self._first = 0
        """The number of the first event shown (numbers name cached lines; they restart with :meth:`set_events`)."""

    @property
    def events(self) -> Sequence[Event]:
        """The events shown, oldest first."""
        return self._events

    def add_events(self, events: Iterable[Event], oldest: float | None) -> None:
        """Append new events, and drop those the history no longer keeps (older than monotonic time ``oldest``)."""
        following = self._at_end()
        shown = self._events
        before = len(shown)
        while shown and oldest is not None and shown[0].monotonic < oldest:
            shown.popleft()
        new = list(events)
        shown.extend(new)  # past maxlen, the oldest go
        dropped = before + len(new) - len(shown)
        if not new and not dropped:  # a quiet refresh repaints nothing here
            return
        self._first += dropped
        self._resize(following, dropped)

    def set_events(self, events: Iterable[Event]) -> None:
        """Show these events instead (another filter, or names resolved): every line is formatted again."""
        following = self._at_end()
        self._events = deque(events, maxlen=MAX_EVENTS)
        self._first = 0
        self._lines.clear()
        self._resize(following, 0)

    def _at_end(self) -> bool:
        return self.scroll_offset.y >= len(self._events) - self._page()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def _resize(self, following: bool, dropped: int) -> None:
        self.virtual_size = Size(0, len(self._events))  # lines are cut at the width: no sideways scrolling
        bottom = max(0, len(self._events) - self._page())
        top = bottom if following else max(0, min(self.scroll_offset.y - dropped, bottom))
        self.scroll_to(y=top, animate=False, force=True, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base_style = self.visual_style.rich_style
        index = self.scroll_offset.y + y
        if index >= len(self._events):
            return Strip.blank(width, base_style)
        event = self._events[index]
        cache_key = self._first + index
        strip = self._lines.get(cache_key)
        if strip is None:
            text = event_text(event, self._endpoint)
            text.no_wrap = True
            segments = [Segment(s.text, base_style + s.style if s.style else base_style)
                        for s in text.render(self.app.console)]
            strip = self._lines[cache_key] = Strip(segments)
        return strip.crop_extend(0, width, base_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()
