"""A virtualized table that stays instant at 100,000 rows.

Built on Textual's Line API (``ScrollView`` + ``render_line``): only the lines on screen are rendered, each
from the row model, and rendered lines are cached. Sorting happens on precomputed ``Row.sort_values``. Cell
text is untrusted: it goes through :func:`netwatch.tui.safe_text.visible` and is never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from itertools import accumulate
from operator import attrgetter
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from netwatch.tui.safe_text import visible

ROW_STATUSES = ("new", "changed", "closed")
"""Values of ``Row.status`` that get a highlight (component class ``socket-table--<status>``)."""

COLUMN_GAP = 1
"""Blank cells between two columns."""

_ELLIPSIS = "…"
_SORT_ARROWS = {False: " ▲", True: " ▼"}
_HEADER_CACHE_KEY = object()
_LINE_CACHE_SIZE = 1024
_ROW_KEY = attrgetter("key")
_NEAR_ROWS = 64


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: ``width`` is the minimum width; ``flex`` columns share the remaining width."""

    key: str
    label: str
    width: int
    align: str = "left"
    flex: bool = False


class _RowMessage(Message):
    """A message about one row (by key) of a :class:`SocketTable`."""

    def __init__(self, table: SocketTable, key: Hashable | None) -> None:
        super().__init__()
        self.table = table
        self.key = key

    @property
    def control(self) -> SocketTable:
        return self.table


@dataclass(frozen=True, slots=True)
class Row:
    """One table row.

    ``cells`` are display strings (untrusted, shown literally); ``sort_values`` holds one sortable value per
    column in the same order (``None`` sorts last); ``status`` is one of :data:`ROW_STATUSES` or ``None``.
    """

    key: Hashable
    cells: tuple[str, ...]
    sort_values: tuple[Any, ...]
    status: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnLayout:
    """Where each column sits on a line of a given width."""

    widths: tuple[int, ...]
    starts: tuple[int, ...]
    line_width: int
    """Cell length of a rendered line: the available width, or the columns' total if wider."""

    @property
    def used_width(self) -> int:
        """Cells taken by the columns and the gaps between them."""
        return self.starts[-1] + self.widths[-1]

    def column_at(self, x: int) -> int | None:
        """Index of the column covering cell ``x`` (a gap belongs to the column on its left), if any."""
        if not 0 <= x < self.used_width + COLUMN_GAP:
            return None
        for index in range(len(self.starts) - 1, -1, -1):
            if x >= self.starts[index]:
                return index
        return None


def natural_width(columns: Sequence[Column]) -> int:
    """Cells needed to show every column at its minimum width."""
    return sum(max(1, column.width) for column in columns) + COLUMN_GAP * (len(columns) - 1)


def layout_columns(columns: Sequence[Column], available: int) -> ColumnLayout:
    """Give each column its minimum width and share any spare width among the flex columns."""
    widths = [max(1, column.width) for column in columns]
    spare = available - natural_width(columns)
    flexible = [index for index, column in enumerate(columns) if column.flex]
    if spare > 0 and flexible:
        share, remainder = divmod(spare, len(flexible))
        for position, index in enumerate(flexible):
            widths[index] += share + (1 if position < remainder else 0)
    starts = tuple(accumulate((width + COLUMN_GAP for width in widths[:-1]), initial=0))
    return ColumnLayout(tuple(widths), starts, max(available, natural_width(columns)))


def fit_cell(text: str, width: int, align: str = "left") -> str:
    """``text`` padded or truncated (with "…") to exactly ``width`` terminal cells."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + _ELLIPSIS if width > 0 else ""
    padding = " " * (width - length)
    return padding + text if align == "right" else text + padding


def render_cells(cells: Sequence[object], columns: Sequence[Column], layout: ColumnLayout) -> str:
    """One table line: every cell made visible-safe, fitted to its column, padded to the line width."""
    parts = []
    for index, (column, width) in enumerate(zip(columns, layout.widths, strict=True)):
        cell = cells[index] if index < len(cells) else ""
        text = visible(cell if isinstance(cell, str) else str(cell))
        parts.append(fit_cell(text, width, column.align))
    return (" " * COLUMN_GAP).join(parts) + " " * (layout.line_width - layout.used_width)


def _mixed_sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders values of different types without raising: numbers, then text, then the rest."""
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, tuple):
        return (2, tuple(_mixed_sort_key(item) for item in value))
    if value is None:
        return (4, 0)
    return (3, f"{type(value).__name__}:{value!r}")


def _with_value_at(row: Row, column: int) -> Row:
    """``row`` with ``sort_values`` padded with ``None`` so that index ``column`` exists."""
    missing = column + 1 - len(row.sort_values)
    return replace(row, sort_values=row.sort_values + (None,) * missing) if missing > 0 else row


def sort_rows(rows: Sequence[Row], column: int, reverse: bool = False) -> list[Row]:
    """``rows`` ordered by ``sort_values[column]`` (stable); rows without a value come last either way."""
    ordered = list(rows)
    try:  # fast path: every row has a value and the values are mutually orderable
        ordered.sort(key=lambda row: row.sort_values[column], reverse=reverse)
        return ordered
    except (TypeError, IndexError):  # None (None < x raises), mixed types or missing values
        return _sort_rows_carefully(rows, column, reverse)


def _sort_rows_carefully(rows: Sequence[Row], column: int, reverse: bool) -> list[Row]:
    try:
        present = [row for row in rows if row.sort_values[column] is not None]
    except IndexError:  # rows with too few sort values: their missing values count as None
        rows = [_with_value_at(row, column) for row in rows]
        present = [row for row in rows if row.sort_values[column] is not None]
    try:
        present.sort(key=lambda row: row.sort_values[column], reverse=reverse)
    except TypeError:  # mixed or unorderable types: order by type first, never fail
        present.sort(key=lambda row: _mixed_sort_key(row.sort_values[column]), reverse=reverse)
    if len(present) < len(rows):
        present.extend(row for row in rows if row.sort_values[column] is None)
    return present


def position_of_key(rows: Sequence[Row], key: Hashable, near: int = 0) -> int | None:
    """Index of a row with ``key``, or ``None``: looks around index ``near`` first, then scans everything."""
    start = max(0, near - _NEAR_ROWS)
    for first, candidates in ((start, rows[start : near + _NEAR_ROWS]), (0, rows)):
        with suppress(ValueError):
            return first + list(map(_ROW_KEY, candidates)).index(key)
    return None


class SocketTable(ScrollView, can_focus=True):
    """A virtualized, sortable table of :class:`Row` with a fixed header and a row cursor."""

    ALLOW_SELECT = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First row", show=False),
        Binding("end", "cursor_last", "Last row", show=False),
        Binding("enter", "activate", "Select", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "socket-table--header",
        "socket-table--cursor",
        "socket-table--new",
        "socket-table--changed",
        "socket-table--closed",
        "socket-table--even",
    }

    DEFAULT_CSS = """
    SocketTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .socket-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .socket-table--even {
            background: $surface-lighten-1 50%;
        }
        &:dark > .socket-table--even {
            background: $surface-darken-1 40%;
        }
        & > .socket-table--new {
            color: $text-success;
        }
        & > .socket-table--changed {
            color: $text-warning;
        }
        & > .socket-table--closed {
            color: $text-error;
            text-style: strike;
        }
        & > .socket-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .socket-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    zebra_stripes: Reactive[bool] = Reactive(False)
    """Shade every other row (component class ``socket-table--even``)."""

    class CursorMoved(_RowMessage):
        """The highlighted row changed (``key`` is ``None`` when the table became empty)."""

    class RowActivated(_RowMessage):
        """The user chose the cursor row (enter, or a click on the cursor row)."""

    class Sorted(Message):
        """The sort column or direction changed."""

        def __init__(self, table: SocketTable, column_key: str, reverse: bool) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key
            self.reverse = reverse

        @property
        def control(self) -> SocketTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        sort_column: str | None = None,
        sort_reverse: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if not columns:
            raise ValueError("a SocketTable needs at least one column")
        self._columns = tuple(columns)
        self._sort_index = 0 if sort_column is None else self._column_index(sort_column)
        self._sort_reverse = sort_reverse
        self._input_rows: tuple[Row, ...] = ()
        self._rows: list[Row] = []
        self._retired_rows: list[tuple[Sequence[Row], Sequence[Row]]] = []
        self._cursor_index = 0
        self._announced_key: Hashable | None = None
        self._line_cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(_LINE_CACHE_SIZE)
        self._layout: ColumnLayout | None = None
        self.virtual_size = Size(natural_width(self._columns), 1)

    # ----- public API -------------------------------------------------------------------------------------

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def rows(self) -> Sequence[Row]:
        """The rows in display (sorted) order."""
        return self._rows

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def sort_column(self) -> str:
        return self._columns[self._sort_index].key

    @property
    def sort_reverse(self) -> bool:
        return self._sort_reverse

    @property
    def cursor_index(self) -> int:
        """Display position of the cursor row (0 when the table is empty)."""
        return self._cursor_index

    @property
    def cursor_row(self) -> Row | None:
        return self._rows[self._cursor_index] if self._rows else None

    @property
    def cursor_key(self) -> Hashable | None:
        return self._rows[self._cursor_index].key if self._rows else None

    def set_rows(self, rows: Sequence[Row], *, sorted_by: tuple[str, bool] | None = None) -> None:
        """Replace every row; they are sorted by the current sort column and the cursor keeps its key.

        ``sorted_by=(column_key, reverse)`` says ``rows`` are already in :func:`sort_rows` order for that sort
        (e.g. sorted in a worker thread); when that is still the table's sort, the table does not sort again.
        """
        # Freeing 100,000 old rows takes tens of ms: do it after the new rows are on screen.
        self._retired_rows.append((self._input_rows, self._rows))
        if not self.call_after_refresh(self._retired_rows.clear):
            self._retired_rows.clear()
        self._input_rows = tuple(rows)
        self._line_cache.clear()
        self._reorder(presorted=sorted_by == (self.sort_column, self._sort_reverse))

    def sort_by(self, column_key: str, reverse: bool | None = None) -> None:
        """Sort by ``column_key``; ``reverse=None`` keeps the direction for the current column, else ascending."""
        index = self._column_index(column_key)
        if reverse is None:
            reverse = self._sort_reverse if index == self._sort_index else False
        if (index, reverse) == (self._sort_index, self._sort_reverse):
            return
        self._sort_index, self._sort_reverse = index, reverse
        self._reorder()
        self.post_message(self.Sorted(self, self.sort_column, reverse))

    def cycle_sort(self, step: int) -> None:
        """Sort by the column ``step`` places right (negative: left) of the current one, ascending."""
        index = (self._sort_index + step) % len(self._columns)
        self.sort_by(self._columns[index].key, reverse=False)

    def reverse_sort(self) -> None:
        """Flip the sort direction of the current column."""
        self.sort_by(self.sort_column, reverse=not self._sort_reverse)

    def select_key(self, key: Hashable) -> bool:
        """Move the cursor to the row with ``key``; ``False`` if there is no such row."""
        index = position_of_key(self._rows, key)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    def move_cursor(self, index: int) -> None:
        """Move the cursor to display position ``index`` (clamped) and scroll it into view."""
        if not self._rows:
            return
        index = max(0, min(index, len(self._rows) - 1))
        if index != self._cursor_index:
            self._refresh_row(self._cursor_index)
            self._cursor_index = index
            self._refresh_row(index)
        self._scroll_to_cursor()
        self._announce_cursor()

    # ----- actions ----------------------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor_index - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor_index + 1)

    def action_page_up(self) -> None:
        page = self._page_rows()
        self.scroll_to(y=self.scroll_offset.y - page, animate=False, force=True)
        self.move_cursor(self._cursor_index - page)

    def action_page_down(self) -> None:
        page = self._page_rows()
        self.scroll_to(y=self.scroll_offset.y + page, animate=False, force=True)
        self.move_cursor(self._cursor_index + page)

    def action_cursor_first(self) -> None:
        self.move_cursor(0)

    def action_cursor_last(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_activate(self) -> None:
        if self._rows:
            self.post_message(self.RowActivated(self, self.cursor_key))

    # ----- rendering --------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base_style = self._base_style
        layout = self._layout_for(width)
        if y == 0:
            strip = self._header_strip(layout)
        else:
            index = scroll_y + y - 1
            if index >= len(self._rows):
                return Strip.blank(width, base_style)
            strip = self._row_strip(index, layout)
        return strip.crop_extend(scroll_x, scroll_x + width, base_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line_cache.clear()

    def watch_zebra_stripes(self) -> None:
        self.refresh()

    def _layout_for(self, width: int) -> ColumnLayout:
        layout = self._layout
        if layout is None or layout.line_width != max(width, natural_width(self._columns)):
            layout = self._layout = layout_columns(self._columns, width)
        return layout

    def _header_strip(self, layout: ColumnLayout) -> Strip:
        cache_key = (_HEADER_CACHE_KEY, self._sort_index, self._sort_reverse, layout.line_width)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            labels = []
            for index, (column, width) in enumerate(zip(self._columns, layout.widths, strict=True)):
                label = visible(column.label)
                if index == self._sort_index:
                    arrow = _SORT_ARROWS[self._sort_reverse]
                    label = fit_cell(label, width - len(arrow), column.align) + arrow if width > 2 else arrow
                labels.append(label)
            text = render_cells(labels, self._columns, layout)
            style = self.get_component_rich_style("socket-table--header")
            strip = self._line_cache[cache_key] = Strip([Segment(text, style)], layout.line_width)
        return strip

    def _row_strip(self, index: int, layout: ColumnLayout) -> Strip:
        row = self._rows[index]
        is_cursor = index == self._cursor_index
        striped = self.zebra_stripes and index % 2 == 0
        cache_key = (row.key, row.status, is_cursor, is_cursor and self.has_focus, striped, layout.line_width)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            text = render_cells(row.cells, self._columns, layout)
            style = self._row_style(row.status, is_cursor, striped)
            strip = self._line_cache[cache_key] = Strip([Segment(text, style)], layout.line_width)
        return strip

    @property
    def _base_style(self) -> Style:
        """The widget's own colours (``visual_style`` is cached, unlike ``rich_style``)."""
        return self.visual_style.rich_style

    def _row_style(self, status: str | None, is_cursor: bool, striped: bool) -> Style:
        style = self._base_style
        if striped:
            style += self.get_component_rich_style("socket-table--even")
        if status in ROW_STATUSES:
            style += self.get_component_rich_style(f"socket-table--{status}", partial=True)
        if is_cursor:
            style += self.get_component_rich_style("socket-table--cursor")
        return style

    # ----- mouse ------------------------------------------------------------------------------------------

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        event.prevent_default()  # the table's text carries no actions: never run "@click" metadata
        scroll_x, scroll_y = self.scroll_offset
        if offset.y == 0:
            layout = self._layout_for(self.scrollable_content_region.width)
            column = layout.column_at(offset.x + scroll_x)
            if column == self._sort_index:
                self.reverse_sort()
            elif column is not None:
                self.sort_by(self._columns[column].key, reverse=False)
            return
        index = scroll_y + offset.y - 1
        if index >= len(self._rows):
            return
        if index == self._cursor_index:
            self.action_activate()
        else:
            self.move_cursor(index)

    def _on_resize(self, event: events.Resize) -> None:
        self._scroll_to_cursor()

    # ----- internals --------------------------------------------------------------------------------------

    def _column_index(self, column_key: str) -> int:
        for index, column in enumerate(self._columns):
            if column.key == column_key:
                return index
        raise ValueError(f"no column {column_key!r}")

    def _page_rows(self) -> int:
        """Rows that fit below the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _cursor_is_on_screen(self) -> bool:
        top = self.scroll_offset.y
        return top <= self._cursor_index < top + self._page_rows()

    def _reorder(self, presorted: bool = False) -> None:
        """Sort the rows; keep the cursor on its key (else its position) and on the same screen line."""
        key = self.cursor_key
        screen_line = self._cursor_index - self.scroll_offset.y if self._cursor_is_on_screen() else None
        if presorted:
            self._rows = list(self._input_rows)
        else:
            self._rows = sort_rows(self._input_rows, self._sort_index, self._sort_reverse)
        position = None if key is None else position_of_key(self._rows, key, near=self._cursor_index)
        if position is None:
            position = self._cursor_index
        self._cursor_index = max(0, min(position, len(self._rows) - 1))
        self.virtual_size = Size(natural_width(self._columns), len(self._rows) + 1)
        top = self.scroll_offset.y if screen_line is None else self._cursor_index - screen_line
        self.scroll_to(y=max(0, min(top, len(self._rows) - self._page_rows())), animate=False, force=True)
        self.refresh()
        self._announce_cursor()

    def _scroll_to_cursor(self) -> None:
        top, page = self.scroll_offset.y, self._page_rows()
        if self._cursor_index < top:
            self.scroll_to(y=self._cursor_index, animate=False, force=True)
        elif self._cursor_index >= top + page:
            self.scroll_to(y=self._cursor_index - page + 1, animate=False, force=True)

    def _refresh_row(self, index: int) -> None:
        self.refresh_line(index + 1)

    def _announce_cursor(self) -> None:
        key = self.cursor_key
        if key != self._announced_key:
            self._announced_key = key
            self.post_message(self.CursorMoved(self, key))
