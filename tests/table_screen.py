"""Reading a SocketTable the way a person sees it: the lines it renders, their cells, highlights and cursor."""

from __future__ import annotations

from collections.abc import Sequence

from textual.strip import Strip

from netwatch.tui.app.widgets import SocketTable
from netwatch.tui.app.widgets.column_layout import layout_columns
from netwatch.tui.view.table_model import ROW_STATUSES, Column


def screen_lines(table: SocketTable) -> list[str]:
    """The table's lines on screen as text, the header first."""
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


def row_strips(table: SocketTable) -> list[Strip]:
    """Every row's line as the table renders it, in display order: scrolls through the pages, then back."""
    top, page = table.scroll_offset.y, table.scrollable_content_region.height - 1
    count = table.virtual_size.height - 1  # the header is the first line
    assert page > 0, "the table is not shown"
    strips: list[Strip] = []
    while len(strips) < count:
        table.scroll_to(y=len(strips), animate=False, force=True, immediate=True)
        first = table.scroll_offset.y  # the last page may start higher
        strips += [table.render_line(1 + index - first) for index in range(len(strips), min(first + page, count))]
    table.scroll_to(y=top, animate=False, force=True, immediate=True)
    return strips


def row_cells(table: SocketTable, columns: Sequence[Column]) -> list[dict[str, str]]:
    """The cells shown in every row (fitted to their column, untrusted text made visible), by column key; a column
    left out on a narrow screen is missing."""
    assert table.scroll_offset.x == 0
    layout = layout_columns(columns, table.scrollable_content_region.width, keep=table.sort_index,
                            empty=table.empty_columns)
    places = list(zip(layout.shown, layout.starts, layout.widths, strict=True))
    return [
        {columns[index].key: strip.crop(start, start + width).text.strip() for index, start, width in places}
        for strip in row_strips(table)
    ]


def row_status(table: SocketTable, line: Strip) -> str | None:
    """The highlight a row's line shows: the status whose colour it has (the cursor's colours hide it)."""
    color = next(iter(line)).style.color
    for status in ROW_STATUSES:
        if color == table.get_component_rich_style(f"socket-table--{status}").color:
            return status
    return None


def is_cursor(table: SocketTable, line: Strip) -> bool:
    """Whether ``line`` has the cursor's background."""
    background = table.get_component_rich_style("socket-table--cursor").bgcolor
    return all(segment.style.bgcolor == background for segment in line)


def cursor_line(table: SocketTable) -> int | None:
    """The screen line (0 = header) of the cursor, if it is on screen."""
    for y in range(1, table.scrollable_content_region.height):
        if is_cursor(table, table.render_line(y)):
            return y
    return None
