"""A virtualized table that stays instant at 100,000 rows.

Built on Textual's Line API (``ScrollView`` + ``render_line``): only the lines on screen are rendered, and
rendered lines are cached. The table holds row keys in display order and a :class:`RowModel` that gives a
row's cells when it is drawn and a column's sort values when the table sorts, so 100,000 rows cost the table
one list of keys. Cell text is untrusted: it goes through :func:`netwatch.tui.view.safe_text.visible` and is never
parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any, ClassVar, Protocol, overload

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

from netwatch.tui.view.safe_text import visible

ROW_STATUSES = ("new", "changed", "closed")
"""Values of ``Row.status`` that get a highlight (component class ``socket-table--<status>``)."""

COLUMN_GAP = 1
"""Blank cells between two columns."""

_ELLIPSIS = "…"
_SORT_ARROWS = {False: " ▲", True: " ▼"}
_ARROW_CELLS = 2
_HEADER_CACHE_KEY = object()
_LINE_CACHE_SIZE = 1024
_NEAR_ROWS = 64


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: ``width`` is the minimum width; ``flex`` columns share the remaining width. When the
    columns do not fit, those with a ``hide_order`` are left out, lowest first, before the table scrolls
    sideways (never the sort column)."""

    key: str
    label: str
    width: int
    align: str = "left"
    flex: bool = False
    hide_order: int | None = None


class _RowMessage(Message):
    """A message about one row (by key) of a :class:`SocketTable`."""

    def __init__(self, table: SocketTable, key: Hashable | None) -> None:
        super().__init__()
        self.table = table
        self.key = key

    @property
    def control(self) -> SocketTable:
        return self.table


class RowModel(Protocol):
    """What a :class:`SocketTable` shows for each row key: cells (untrusted text, shown literally), a highlight
    (one of :data:`ROW_STATUSES` or ``None``) and, per column, a sort value (``None`` sorts last).

    The table asks only for the rows on screen, so a model can format cells when they are drawn instead of
    holding them for 100,000 rows.
    """

    def cells(self, key: Hashable) -> Sequence[str]: ...

    def status(self, key: Hashable) -> str | None: ...

    def sort_value(self, column: int) -> Callable[[Hashable], Any]:
        """A function giving the sort value of column ``column`` for a row key."""
        ...


@dataclass(frozen=True, slots=True)
class Row:
    """One table row as a record (see :class:`RowList`).

    ``cells`` are display strings (untrusted, shown literally); ``sort_values`` holds one sortable value per
    column in the same order (``None`` or missing sorts last); ``status`` is one of :data:`ROW_STATUSES` or ``None``.
    """

    key: Hashable
    cells: tuple[str, ...]
    sort_values: tuple[Any, ...]
    status: str | None = None


class RowList:
    """A :class:`RowModel` over :class:`Row` records (a later row replaces an earlier one with the same key)."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows: dict[Hashable, Row] = {row.key: row for row in rows}

    def cells(self, key: Hashable) -> Sequence[str]:
        return self.rows[key].cells

    def status(self, key: Hashable) -> str | None:
        return self.rows[key].status

    def sort_value(self, column: int) -> Callable[[Hashable], Any]:
        rows = self.rows

        def value(key: Hashable) -> Any:
            values = rows[key].sort_values
            return values[column] if column < len(values) else None

        return value


@dataclass(frozen=True, slots=True)
class TableRows:
    """What a table shows: a row model and the keys of its rows, in order."""

    model: RowModel
    keys: Sequence[Hashable]
    release: Callable[[], None] | None = None
    """Called once when whoever holds these rows lets go of them (e.g. to release the frame the model reads)."""

    @classmethod
    def of(cls, rows: Iterable[Row]) -> TableRows:
        """The rows of :class:`Row` records, in their order."""
        model = RowList(rows)
        return cls(model, list(model.rows))

    def sorted(self, column: int, reverse: bool = False) -> TableRows:
        """These rows ordered by column ``column`` (see :func:`sort_keys`); the result takes over the release."""
        return TableRows(self.model, sort_keys(self.keys, self.model.sort_value(column), reverse), self.release)

    def discard(self) -> None:
        """Let go of rows that were never shown."""
        if self.release is not None:
            self.release()


class _RowsView(Sequence[Row]):
    """A table's rows in display order as :class:`Row` records, built when read."""

    def __init__(self, model: RowModel, keys: Sequence[Hashable], column_count: int) -> None:
        self._model = model
        self._keys = keys
        self._column_count = column_count

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        key = self._keys[index]
        model = self._model
        values = tuple(model.sort_value(column)(key) for column in range(self._column_count))
        return Row(key, tuple(model.cells(key)), values, model.status(key))


@dataclass(frozen=True, slots=True)
class ColumnLayout:
    """Which columns are shown on a line of a given width, and where."""

    shown: tuple[int, ...]
    """Indices of the columns shown, in order (``widths`` and ``starts`` are theirs)."""
    widths: tuple[int, ...]
    starts: tuple[int, ...]
    line_width: int
    """Cell length of a rendered line: the available width, or the shown columns' total if wider."""

    @property
    def used_width(self) -> int:
        """Cells taken by the columns and the gaps between them."""
        return self.starts[-1] + self.widths[-1]

    def column_at(self, x: int) -> int | None:
        """Index (among all columns) of the column covering cell ``x`` (a gap belongs to the column on its
        left), if any."""
        if not 0 <= x < self.used_width + COLUMN_GAP:
            return None
        for position in range(len(self.starts) - 1, -1, -1):
            if x >= self.starts[position]:
                return self.shown[position]
        return None


def natural_width(columns: Sequence[Column]) -> int:
    """Cells needed to show every column at its minimum width."""
    return sum(max(1, column.width) for column in columns) + COLUMN_GAP * (len(columns) - 1)


def layout_columns(columns: Sequence[Column], available: int, keep: int | None = None) -> ColumnLayout:
    """Leave out hideable columns (lowest ``hide_order`` first, never column ``keep``, the sort column: that one
    is widened to fit its label and the sort arrow) until the rest fit in ``available`` cells, give each its
    minimum width and share any spare width among the flex columns."""
    if keep is not None:
        sort_column = columns[keep]
        columns = list(columns)
        columns[keep] = replace(sort_column, width=max(sort_column.width, cell_len(sort_column.label) + _ARROW_CELLS))
    shown = list(range(len(columns)))
    hideable = sorted(
        (column.hide_order, index)
        for index, column in enumerate(columns)
        if column.hide_order is not None and index != keep
    )
    while hideable and natural_width([columns[index] for index in shown]) > available:
        shown.remove(hideable.pop(0)[1])
    kept = [columns[index] for index in shown]
    widths = [max(1, column.width) for column in kept]
    spare = available - natural_width(kept)
    flexible = [position for position, column in enumerate(kept) if column.flex]
    if spare > 0 and flexible:
        share, remainder = divmod(spare, len(flexible))
        for order, position in enumerate(flexible):
            widths[position] += share + (1 if order < remainder else 0)
    starts = tuple(accumulate((width + COLUMN_GAP for width in widths[:-1]), initial=0))
    return ColumnLayout(tuple(shown), tuple(widths), starts, max(available, natural_width(kept)))


def fit_cell(text: str, width: int, align: str = "left") -> str:
    """``text`` padded or truncated (with "…") to exactly ``width`` terminal cells."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + _ELLIPSIS if width > 0 else ""
    padding = " " * (width - length)
    return padding + text if align == "right" else text + padding


def render_cells(cells: Sequence[object], columns: Sequence[Column], layout: ColumnLayout) -> str:
    """One table line: the cells of the shown columns made visible-safe, fitted to their columns, padded to the
    line width."""
    parts = []
    for index, width in zip(layout.shown, layout.widths, strict=True):
        cell = cells[index] if index < len(cells) else ""
        text = visible(cell if isinstance(cell, str) else str(cell))
        parts.append(fit_cell(text, width, columns[index].align))
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


def sort_keys(keys: Iterable[Hashable], value_of: Callable[[Hashable], Any], reverse: bool = False) -> list[Hashable]:
    """``keys`` ordered by ``value_of(key)`` (stable); keys whose value is ``None`` come last either way, and
    values of mixed types are ordered by type first instead of raising."""
    ordered = list(keys)
    try:  # fast path: the values are mutually orderable, none is None
        ordered.sort(key=value_of, reverse=reverse)
        return ordered
    except TypeError:
        pass
    values = dict(zip(ordered, map(value_of, ordered), strict=True))
    present = [key for key in ordered if values[key] is not None]
    try:
        present.sort(key=values.__getitem__, reverse=reverse)
    except TypeError:  # mixed or unorderable types
        present.sort(key=lambda key: _mixed_sort_key(values[key]), reverse=reverse)
    present.extend(key for key in ordered if values[key] is None)
    return present


def position_of_key(keys: Sequence[Hashable], key: Hashable, near: int = 0) -> int | None:
    """Index of ``key`` in ``keys``, or ``None``: looks around index ``near`` first, then everywhere."""
    start = max(0, near - _NEAR_ROWS)
    for first, stop in ((start, near + _NEAR_ROWS), (0, len(keys))):
        with suppress(ValueError):
            return keys.index(key, first, stop)
    return None


class SocketTable(ScrollView, can_focus=True):
    """A virtualized, sortable table of :class:`TableRows` with a fixed header and a row cursor.

    ``sorted_by_owner=True``: the table never sorts rows itself (sorting 100,000 rows takes up to ~150 ms);
    a sort change only updates the header and posts :class:`Sorted`, and the owner answers with rows in the
    new order (e.g. sorted on a worker thread).
    """

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
        sorted_by_owner: bool = False,
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
        self._sorted_by_owner = sorted_by_owner
        self._rows = TableRows(RowList(()), ())
        self._keys: list[Hashable] = []
        self._retired: list[tuple[TableRows, list[Hashable]]] = []
        self._released_cursor: tuple[Hashable, int | None] | None = None
        self._cursor_index = 0
        self._announced_key: Hashable | None = None
        self._line_cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(_LINE_CACHE_SIZE)
        self._layout: ColumnLayout | None = None
        self._layout_wanted: tuple[int, int] | None = None
        self.virtual_size = Size(self._minimum_width(), 1)

    # ----- public API -------------------------------------------------------------------------------------

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def model(self) -> RowModel:
        return self._rows.model

    @property
    def keys(self) -> Sequence[Hashable]:
        """Row keys in display (sorted) order."""
        return self._keys

    @property
    def rows(self) -> Sequence[Row]:
        """The rows in display order, as :class:`Row` records made when read (for inspection, not speed)."""
        return _RowsView(self._rows.model, self._keys, len(self._columns))

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def sort_column(self) -> str:
        return self._columns[self._sort_index].key

    @property
    def sort_index(self) -> int:
        """Position of the sort column in :attr:`columns`."""
        return self._sort_index

    @property
    def sort_reverse(self) -> bool:
        return self._sort_reverse

    @property
    def cursor_index(self) -> int:
        """Display position of the cursor row (0 when the table is empty)."""
        return self._cursor_index

    @property
    def cursor_row(self) -> Row | None:
        return self.rows[self._cursor_index] if self._keys else None

    @property
    def cursor_key(self) -> Hashable | None:
        return self._keys[self._cursor_index] if self._keys else None

    def set_rows(self, rows: TableRows | Iterable[Row]) -> None:
        """Replace every row (``rows``: a :class:`TableRows`, or :class:`Row` records); the cursor keeps its key.
        They are sorted by the current sort column, unless the table is sorted by its owner."""
        if not isinstance(rows, TableRows):
            rows = TableRows.of(rows)
        # Freeing the old rows takes tens of ms at 100,000 rows: do it after the new rows are on screen.
        self._retired.append((self._rows, self._keys))
        if not self.call_after_refresh(self._let_go_of_retired):
            self._let_go_of_retired()
        self._rows = rows
        self._line_cache.clear()
        self._reorder()

    def _let_go_of_retired(self) -> None:
        retired, self._retired = self._retired, []
        for rows, _keys in retired:
            rows.discard()

    def on_unmount(self) -> None:
        """Let go of every row (and so of the frame they may hold)."""
        self._retired.append((self._rows, self._keys))
        self._rows, self._keys = TableRows(RowList(()), ()), []
        self._let_go_of_retired()

    def release_rows(self) -> None:
        """Drop every row (and the model, which may hold a whole snapshot) while the table is not shown; the next
        rows put the cursor back on the same key and screen line."""
        if self._keys:
            self._released_cursor = (self.cursor_key, self._cursor_screen_line())
        self.set_rows(())

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
        index = position_of_key(self._keys, key)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    def move_cursor(self, index: int) -> None:
        """Move the cursor to display position ``index`` (clamped) and scroll it into view."""
        if not self._keys:
            return
        index = max(0, min(index, len(self._keys) - 1))
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
        self.move_cursor(len(self._keys) - 1)

    def action_activate(self) -> None:
        if self._keys:
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
            if index >= len(self._keys):
                return Strip.blank(width, base_style)
            strip = self._row_strip(index, layout)
        return strip.crop_extend(scroll_x, scroll_x + width, base_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line_cache.clear()

    def watch_zebra_stripes(self) -> None:
        self.refresh()

    def _minimum_width(self) -> int:
        """Cells the columns need once every hideable one (but the sort column) is left out."""
        return layout_columns(self._columns, 0, keep=self._sort_index).line_width

    def _layout_for(self, width: int) -> ColumnLayout:
        layout, wanted = self._layout, (width, self._sort_index)
        if layout is None or self._layout_wanted != wanted:
            layout = self._layout = layout_columns(self._columns, width, keep=self._sort_index)
            self._layout_wanted = wanted
        return layout

    def _header_strip(self, layout: ColumnLayout) -> Strip:
        cache_key = (_HEADER_CACHE_KEY, self._sort_index, self._sort_reverse, layout)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            labels = [""] * len(self._columns)
            for index, width in zip(layout.shown, layout.widths, strict=True):
                column = self._columns[index]
                label = visible(column.label)
                if index == self._sort_index:
                    arrow = _SORT_ARROWS[self._sort_reverse]
                    label = fit_cell(label, width - len(arrow), column.align) + arrow if width > 2 else arrow
                labels[index] = label
            text = render_cells(labels, self._columns, layout)
            style = self.get_component_rich_style("socket-table--header")
            strip = self._line_cache[cache_key] = Strip([Segment(text, style)], layout.line_width)
        return strip

    def _row_strip(self, index: int, layout: ColumnLayout) -> Strip:
        key = self._keys[index]
        status = self._rows.model.status(key)
        is_cursor = index == self._cursor_index
        striped = self.zebra_stripes and index % 2 == 0
        cache_key = (key, status, is_cursor, is_cursor and self.has_focus, striped, layout)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            text = render_cells(self._rows.model.cells(key), self._columns, layout)
            style = self._row_style(status, is_cursor, striped)
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
        if index >= len(self._keys):
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

    def _cursor_screen_line(self) -> int | None:
        """The cursor's line below the header, if it is on screen."""
        line = self._cursor_index - self.scroll_offset.y
        return line if 0 <= line < self._page_rows() else None

    def _reorder(self) -> None:
        """Sort the rows; keep the cursor on its key (else its position) and on the same screen line."""
        key, screen_line = self.cursor_key, self._cursor_screen_line()
        if not self._keys and self._released_cursor is not None:
            key, screen_line = self._released_cursor
            if self._rows.keys:
                self._released_cursor = None
        if self._sorted_by_owner:
            self._keys = list(self._rows.keys)
        else:
            self._keys = sort_keys(self._rows.keys, self._rows.model.sort_value(self._sort_index), self._sort_reverse)
        position = None if key is None else position_of_key(self._keys, key, near=self._cursor_index)
        if position is None:
            position = self._cursor_index
        self._cursor_index = max(0, min(position, len(self._keys) - 1))
        self.virtual_size = Size(self._minimum_width(), len(self._keys) + 1)
        top = self.scroll_offset.y if screen_line is None else self._cursor_index - screen_line
        self.scroll_to(y=max(0, min(top, len(self._keys) - self._page_rows())), animate=False, force=True)
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
