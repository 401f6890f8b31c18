"""The summary bar repaints only the columns of a line that changed (its clock at every refresh)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from netwatch.tui.app.header import changed_columns

DIM, BOLD = Style(dim=True), Style(bold=True)


def line(*parts: tuple[str, Style | None]) -> Strip:
    return Strip([Segment(text, style) for text, style in parts])


def test_only_the_cells_that_changed_between_lines_as_wide():
    before = line(("netwatch ", BOLD), ("host", None), ("      ", None), ("at 10:00:01", DIM))
    after = line(("netwatch ", BOLD), ("host", None), ("      ", None), ("at 10:00:03", DIM))
    assert changed_columns(before, after) == (29, 30)
    assert changed_columns(before, line(("netwatch ", BOLD), ("host", None), ("      ", None), ("at 10:01:00", DIM))) \
        == (26, 30)


def test_a_style_that_changed_counts_as_a_change_of_its_cells():
    before = line(("every 2s", None), ("  ", None), ("PAUSED", None), (" at 1", DIM))
    after = line(("every 2s", None), ("  ", None), ("PAUSED", BOLD), (" at 1", DIM))
    assert changed_columns(before, after) == (10, 16)


def test_a_line_that_grew_or_shrank_is_repainted_from_its_first_change_to_the_end_of_the_longer():
    short = line(("50 sockets", None))
    long = line(("50 sockets", None), ("  tcp 40", None))
    assert changed_columns(short, long) == (10, 18)
    assert changed_columns(long, short) == (10, 18)
    assert changed_columns(line(("9 sockets", None)), line(("10 sockets", None))) == (0, 10)


def test_columns_are_cells_with_wide_characters():
    before = line(("netwatch 主机 ", None), ("at 1", DIM))
    after = line(("netwatch 主机 ", None), ("at 2", DIM))
    assert changed_columns(before, after) == (17, 18)


def test_an_unchanged_line_has_no_columns_to_repaint():
    same = line(("netwatch ", BOLD), ("at 1", DIM))
    start, end = changed_columns(same, line(("netwatch ", BOLD), ("at 1", DIM)))
    assert start == end
