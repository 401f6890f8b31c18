"""``p`` on a socket that several processes hold (or on a remote host several talk to): a small list to choose
whose process view to open."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from netwatch.backends.model.records import Process
from netwatch.tui.view.safe_text import plain


def owner_label(pid: int, processes: Mapping[int, Process]) -> Text:
    """``1204  nginx  www-data  nginx: worker process`` (untrusted text shown literally)."""
    process = processes.get(pid)
    if process is None:
        return Text(f"{pid}  (exited)")
    text = Text(f"{pid}  ", style="bold")
    text.append_text(plain(process.name, "bold"))
    text.append("  ")
    text.append_text(plain(process.user))
    text.append("  ")
    text.append_text(plain(" ".join(process.cmdline), "dim"))
    return text


class OwnerChooser(ModalScreen[int | None]):
    """The owners of one socket; enter (or a click) opens the chosen one's process view, escape goes back."""

    BINDINGS = [Binding("escape", "dismiss", "Back", key_display="esc")]

    def __init__(self, pids: Sequence[int], processes: Mapping[int, Process],
                 title: str = "This socket is shared: whose process view?") -> None:
        super().__init__()
        self._title = title
        self._pids = tuple(pids)
        self._processes = processes

    def compose(self) -> ComposeResult:
        with Vertical(id="owner-box"):
            yield Static(Text(self._title, style="bold"), id="owner-title")
            yield OptionList(*(Option(owner_label(pid, self._processes), id=str(pid)) for pid in self._pids),
                             id="owner-list")

    def on_mount(self) -> None:
        self.query_one("#owner-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#owner-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))
