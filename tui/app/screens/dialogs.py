"""Small modal dialogs for the actions: confirm (Cancel is the default), a result to read, a signal to choose, a
port to ask for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

T = TypeVar("T")

SIGNALS = ("TERM", "INT", "HUP", "KILL", "STOP", "CONT", "USR1", "USR2")
"""The signals offered, TERM (the default) first, as htop lists the common ones."""


class ConfirmScreen(ModalScreen[str | None]):
    """A question with its buttons: dismissed with the chosen button's id, None for Cancel or escape. Cancel has
    the focus: enter on its own never acts."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", key_display="esc")]

    def __init__(self, title: str, body: Text, choices: Sequence[tuple[str, str]]) -> None:
        """``choices``: (id, label) of each button besides Cancel."""
        super().__init__()
        self._title = title
        self._body = body
        self._choices = tuple(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._body)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                for choice, label in self._choices:
                    yield Button(label, id=choice, variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)


class ResultScreen(ModalScreen[None]):
    """Something to read (what an action did, a port's report); any of enter, escape or OK closes it."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", key_display="esc")]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._body, id="result-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(None)


class SignalChooser(ModalScreen[str | None]):
    """The signals to send: enter sends the highlighted one (TERM first), escape goes back."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", key_display="esc")]

    def __init__(self, title: Text) -> None:
        super().__init__()
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            yield OptionList(*(Option(f"SIG{name}", id=name) for name in SIGNALS), id="signal-list")

    def on_mount(self) -> None:
        self.query_one("#signal-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#signal-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class Prompt(ModalScreen[T | None]):
    """Asks for one value: enter takes it if :meth:`parse` does (else says why), escape goes back."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", key_display="esc")]
    TITLE_TEXT = ""
    PLACEHOLDER = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.TITLE_TEXT, style="bold"), classes="dialog-title")
            yield Input(placeholder=self.PLACEHOLDER, id="prompt-input")
            yield Static("", id="prompt-error", classes="dialog-error")

    def parse(self, text: str) -> T:
        """The value of ``text``; ValueError saying why not."""
        raise NotImplementedError

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            value = self.parse(event.value.strip())
        except ValueError as error:
            self.query_one("#prompt-error", Static).update(Text(str(error), style="red"))
            return
        self.dismiss(value)


class TimePrompt(Prompt[float]):
    """A time in a recording: seconds from its start (``90``) or ``MM:SS``."""

    TITLE_TEXT = "Go to: seconds from the start, or MM:SS"
    PLACEHOLDER = "e.g. 90 or 1:30"

    def parse(self, text: str) -> float:
        minutes, _, seconds = text.rpartition(":")
        try:
            return float(seconds) + 60 * int(minutes or 0)
        except ValueError:
            raise ValueError(f"not a time: {text!r}") from None


class PortPrompt(Prompt[tuple[str, int]]):
    """A port number (1-65535), ``u`` before it for UDP: (proto, port)."""

    TITLE_TEXT = "Which port? (TCP; u before the number: UDP)"
    PLACEHOLDER = "e.g. 8080 or u53"

    def parse(self, text: str) -> tuple[str, int]:
        digits = text[1:] if text[:1] in ("u", "U") else text
        if not (digits.isascii() and digits.isdigit() and 1 <= int(digits) <= 65535):
            raise ValueError(f"not a port (1-65535): {text!r}")
        return ("udp" if digits != text else "tcp", int(digits))
