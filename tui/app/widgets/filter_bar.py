"""The filter box: typed text is checked as it rests (its error shows, the active filter stays), enter applies it,
escape clears it. The same bar serves the main views and the drill-down screens."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from netwatch.backends.filter import FilterError, SocketFilter, compile_filter

CHECK_DELAY = 0.15
"""Seconds typing must pause before the text is compiled to show whether it is valid."""

PLACEHOLDER = "e.g. port 443 and state estab, or a word; enter applies"


def compiled(text: str) -> SocketFilter | FilterError | None:
    """``text`` compiled (None when blank: no filter), or why it cannot be."""
    try:
        return compile_filter(text) if text.strip() else None
    except FilterError as error:
        return error


class FilterBar(Horizontal):
    """A label, the input and a status (the error, or that enter applies the typed text).

    While the text is being typed nothing changes but the status; enter posts :class:`Applied` (only for valid
    text: an invalid one stays in the box with its error), escape in the box posts :class:`Cleared`.
    """

    BINDINGS = [Binding("escape", "clear", "Clear filter", show=False)]

    class Applied(Message):
        """Enter on valid text: ``socket_filter`` (None for blank text) is the filter to use."""

        def __init__(self, bar: FilterBar, text: str, socket_filter: SocketFilter | None) -> None:
            super().__init__()
            self.bar = bar
            self.text = text
            self.socket_filter = socket_filter

        @property
        def control(self) -> FilterBar:
            return self.bar

    class Cleared(Message):
        """Escape in the box: no filter, the bar goes away."""

        def __init__(self, bar: FilterBar) -> None:
            super().__init__()
            self.bar = bar

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = text
        self.applied_text = ""
        """The text of the filter in use."""
        self._focus_before: Widget | None = None

    def open(self) -> None:
        """Show the bar and focus its input, remembering what had the focus (see :meth:`give_focus_back`)."""
        if not self.input.has_focus:
            self._focus_before = self.screen.focused
        self.display = True
        self.input.focus()

    def give_focus_back(self, fallback: Widget) -> None:
        """Focus what had the focus when the bar was opened, or ``fallback`` when that is gone or hidden."""
        target, self._focus_before = self._focus_before, None
        if target is None or not target.is_attached or not target.visible or target.screen is not self.screen:
            target = fallback
        target.focus()

    def compose(self) -> ComposeResult:
        yield Label("filter", classes="filter-label")
        yield Input(self._initial, placeholder=PLACEHOLDER, classes="filter-input")
        yield Static(classes="filter-status")

    @property
    def input(self) -> Input:
        return self.query_one(".filter-input", Input)

    def status_text(self) -> str:
        """What the status beside the box says (the error, a hint, or nothing)."""
        return str(self.query_one(".filter-status", Static).render())

    def apply_initial(self) -> SocketFilter | FilterError | None:
        """Compile the text the bar was created with and take it as applied when valid (the error shows when not)."""
        result = compiled(self._initial)
        if not isinstance(result, FilterError):
            self.applied_text = self._initial
        self._show(self._initial, result)  # applied: no "enter applies" hint beside it
        return result

    def clear(self) -> None:
        """Empty the box and post :class:`Cleared`."""
        self.workers.cancel_group(self, "check")
        self.input.value = ""
        self.applied_text = ""
        self._show("", None)
        self.post_message(self.Cleared(self))

    def action_clear(self) -> None:
        self.clear()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check(event.value)

    @work(exclusive=True, group="check", exit_on_error=False, description="check the filter")
    async def _check(self, text: str) -> None:
        """Once typing rests (each key cancels the previous worker while it waits), compile ``text`` on a thread to
        show whether it is valid: compiling on every key, on the UI thread, froze the screen under a long text."""
        await asyncio.sleep(CHECK_DELAY)
        result = await asyncio.to_thread(compiled, text)
        if self.input.value == text:
            self._show(text, result)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.workers.cancel_group(self, "check")
        text = event.value
        result = compiled(text)
        if not isinstance(result, FilterError):
            self.applied_text = text
            self.post_message(self.Applied(self, text, result))
        self._show(text, result)

    def _show(self, text: str, result: SocketFilter | FilterError | None) -> None:
        status = self.query_one(".filter-status", Static)
        self.input.set_class(isinstance(result, FilterError), "-invalid")
        if isinstance(result, FilterError):
            status.update(Text(str(result), style="bold red"))
        elif text != self.applied_text:
            status.update(Text("enter applies", style="dim"))
        else:
            status.update("")
