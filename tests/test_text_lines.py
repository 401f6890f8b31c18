"""TextLines (the detail pane's body): drawn exactly as a Static draws the same text, and an update paints again
only the rows that changed."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Offset, Region
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import Static

from netwatch.tui.app.widgets.text_lines import TextLines, join_lines, split_lines

WIDTH = 30


class CountingLines(TextLines):
    """Records the rows it is asked to draw."""

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.drawn: list[int] = []

    def render_line(self, y: int) -> Strip:
        self.drawn.append(y)
        return super().render_line(y)


class SideBySide(App[None]):
    CSS = f"Static, TextLines {{ width: {WIDTH}; }}"

    def compose(self) -> ComposeResult:
        yield Static(id="static")
        yield CountingLines(id="lines")


def detail(clock: int) -> Text:
    """Headings, blank lines, styled values, a style across lines, a line that wraps, and a changing clock."""
    text = Text(style="italic")
    text.append("tcp ESTAB", style="bold")
    text.append("\n\nrtt   ")
    text.append("1.2 ms", style="green")
    text.append(f"\nlast recv  {clock} ms ago\n")
    text.append("cmdline  /usr/bin/python3 -m some.module --with a --long list of arguments that wraps")
    text.append("\n\nshutdown  none\n")
    text.stylize("underline", 5, 30)  # across lines
    return text


def drawn(widget: Static | TextLines) -> list[Strip]:
    return widget.render_lines(Region(0, 0, WIDTH, widget.size.height))


async def test_draws_as_static_does_and_repaints_only_changed_rows():
    app = SideBySide()
    async with app.run_test(size=(80, 24)) as pilot:
        static, lines = app.query_one("#static", Static), app.query_one("#lines", CountingLines)
        for clock in (100, 2100):
            static.update(detail(clock))
            lines.update(detail(clock), layout=clock == 100)
            await pilot.pause()
            assert lines.size == static.size and lines.size.height > detail(clock).plain.count("\n")  # it wrapped
            assert drawn(lines) == drawn(static)

        clock_row = [strip.text.startswith("last recv") for strip in drawn(lines)].index(True)
        lines.drawn = []
        lines.update(detail(4100), layout=False)
        await pilot.pause()
        assert set(lines.drawn) == {clock_row}
        static.update(detail(4100))
        await pilot.pause()
        assert drawn(lines) == drawn(static)
        assert "4100 ms ago" in lines.render().plain

        unselected = drawn(lines)
        selection = Selection.from_offsets(Offset(2, 2), Offset(8, 5))  # from "rtt" into the wrapped cmdline
        app.screen.selections = {static: selection, lines: selection}
        await pilot.pause()
        assert drawn(lines) == drawn(static) != unselected
        assert lines.get_selection(selection) == static.get_selection(selection)
        app.screen.selections = {}
        await pilot.pause()
        assert drawn(lines) == drawn(static) == unselected


async def test_lines_shown_without_a_text_draw_as_their_text_does():
    """``update_lines`` (the detail pane's body, built line by line) draws what a Static draws for the text the lines
    join into, repaints only a changed line, and renders that text for a selection to copy."""
    app = SideBySide()
    async with app.run_test(size=(80, 24)) as pilot:
        static, lines = app.query_one("#static", Static), app.query_one("#lines", CountingLines)
        for clock in (100, 2100, 4100):
            text = detail(clock)
            text.style = ""  # lines have no style of their whole text
            lines.drawn = []
            static.update(text)
            lines.update_lines(split_lines(text), layout=clock == 100)
            await pilot.pause()
            assert drawn(lines) == drawn(static)
            assert lines.render().plain == text.plain and split_lines(lines.render()) == split_lines(text)
        assert len(set(lines.drawn)) == 1  # the clock's row


def test_lines_divide_as_rich_splits():
    texts = [Text(""), Text("one line", style="bold"), Text("\n"), Text("\n\nx\n"), detail(7)]
    edges = Text("ab\ncd\n\nef")
    for start, end in ((0, 2), (1, 4), (2, 3), (3, 9), (6, 7), (0, 9)):
        edges.stylize(f"color({start})", start, end)  # spans ending at, starting at and covering only a newline
    texts.append(edges)
    for text in texts:
        ours = [(line, list(spans)) for line, spans in split_lines(text)]
        assert ours == [(line.plain, line.spans) for line in text.split("\n", allow_blank=True)]
        joined = join_lines(split_lines(text))
        assert joined.plain == text.plain and split_lines(joined) == split_lines(text)
