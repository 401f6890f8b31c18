"""A virtualized table that stays instant at 100,000 rows.

Built on Textual's Line API (``ScrollView`` + ``render_line``): only the lines on screen are rendered, and
rendered lines are cached. The table shows :class:`~netwatch.tui.view.table_model.TableRows`: row keys in
display order and a row model asked for the cells of the rows on screen only, so 100,000 rows cost the table
one list of keys. Where the columns go is :mod:`netwatch.tui.app.widgets.column_layout`'s job; cell text is
untrusted: it goes through :func:`netwatch.tui.view.safe_text.visible` and is never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import zip_longest
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from netwatch.tui.app.widgets.column_layout import ColumnLayout, layout_columns, render_cells, render_header
from netwatch.tui.view.key_order import nearest_kept, position_of_key, sort_keys
from netwatch.tui.view.table_model import ROW_STATUSES, Column, RowModel, TableRows

_HEADER_CACHE_KEY = object()
_LINE_CACHE_SIZE = 1024
_NO_ROWS = TableRows.of(())


class _RowMessage(Message):
    """A message about one row (by key) of a :class:`SocketTable`."""

    def __init__(self, table: SocketTable, key: Hashable | None) -> None:
        super().__init__()
        self.table = table
        self.key = key

    @property
    def control(self) -> SocketTable:
        return self.table


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
        self._rows = _NO_ROWS
        self._keys: list[Hashable] = []
        self._retired: list[tuple[TableRows, list[Hashable]]] = []
        self._released_cursor: tuple[Hashable, int | None] | None = None
        self._cursor_index = 0
        self._announced_key: Hashable | None = None
        self._line_cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(_LINE_CACHE_SIZE)
        self._layout: ColumnLayout | None = None
        self._layout_wanted: tuple[int, int, frozenset[str]] | None = None
        self.virtual_size = Size(self._minimum_width(), 1)

    # ----- public API -------------------------------------------------------------------------------------

    @property
    def sort_index(self) -> int:
        """Position of the sort column among the table's columns."""
        return self._sort_index

    @property
    def sort_reverse(self) -> bool:
        return self._sort_reverse

    @property
    def model(self) -> RowModel:
        """The row model of the rows shown."""
        return self._rows.model

    @property
    def shown_keys(self) -> tuple[Hashable, ...]:
        """The keys of the rows shown (after the filter), in order."""
        return tuple(self._keys)

    @property
    def empty_columns(self) -> frozenset[str]:
        """The columns left out because the rows have nothing for them."""
        return self._rows.empty_columns

    @property
    def cursor_key(self) -> Hashable | None:
        return self._keys[self._cursor_index] if self._keys else None

    def set_rows(self, rows: TableRows) -> None:
        """Replace every row; the cursor keeps its key. They are sorted by the current sort column, unless the
        table is sorted by its owner."""
        # Freeing the old rows takes tens of ms at 100,000 rows: do it after the new rows are on screen.
        self._retired.append((self._rows, self._keys))
        if not self.call_after_refresh(self._let_go_of_retired):
            self._let_go_of_retired()
        shown = self._shown_lines()
        self._rows = rows
        self._line_cache.clear()
        self._reorder(shown)

    def _let_go_of_retired(self) -> None:
        retired, self._retired = self._retired, []
        for rows, _keys in retired:
            rows.discard()

    def on_unmount(self) -> None:
        """Let go of every row (and so of the frame they may hold)."""
        self._retired.append((self._rows, self._keys))
        self._rows, self._keys = _NO_ROWS, []
        self._let_go_of_retired()

    def release_rows(self) -> None:
        """Drop every row (and the model, which may hold a whole snapshot) while the table is not shown; the next
        rows put the cursor back on the same key and screen line."""
        if self._keys:
            self._released_cursor = (self.cursor_key, self._cursor_screen_line())
        self.set_rows(_NO_ROWS)

    def cycle_sort(self, step: int) -> None:
        """Sort by the column ``step`` places right (negative: left) of the current one, ascending (columns left
        out for having nothing to show are passed over)."""
        sortable = [index for index, column in enumerate(self._columns)
                    if column.key not in self._rows.empty_columns or index == self._sort_index]  # fmt: skip
        position = sortable.index(self._sort_index)
        self._sort_by(sortable[(position + step) % len(sortable)], reverse=False)

    def reverse_sort(self) -> None:
        """Flip the sort direction of the current column."""
        self._sort_by(self._sort_index, reverse=not self._sort_reverse)

    # ----- actions ----------------------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor_index - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor_index + 1)

    def action_page_up(self) -> None:
        page = self._page_rows()
        self.scroll_to(y=self.scroll_offset.y - page, animate=False, force=True)
        self._move_cursor(self._cursor_index - page)

    def action_page_down(self) -> None:
        page = self._page_rows()
        self.scroll_to(y=self.scroll_offset.y + page, animate=False, force=True)
        self._move_cursor(self._cursor_index + page)

    def action_cursor_first(self) -> None:
        self._move_cursor(0)

    def action_cursor_last(self) -> None:
        self._move_cursor(len(self._keys) - 1)

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

    def _minimum_width(self) -> int:
        """Cells the columns need once every hideable one (but the sort column) is left out."""
        return layout_columns(self._columns, 0, keep=self._sort_index, empty=self._rows.empty_columns).line_width

    def _layout_for(self, width: int) -> ColumnLayout:
        empty = self._rows.empty_columns
        layout, wanted = self._layout, (width, self._sort_index, empty)
        if layout is None or self._layout_wanted != wanted:
            layout = self._layout = layout_columns(self._columns, width, keep=self._sort_index, empty=empty)
            self._layout_wanted = wanted
        return layout

    def _header_strip(self, layout: ColumnLayout) -> Strip:
        cache_key = (_HEADER_CACHE_KEY, self._sort_index, self._sort_reverse, layout)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            text = render_header(self._columns, layout, self._sort_index, self._sort_reverse)
            style = self.get_component_rich_style("socket-table--header")
            strip = self._line_cache[cache_key] = Strip([Segment(text, style)], layout.line_width)
        return strip

    def _row_strip(self, index: int, layout: ColumnLayout) -> Strip:
        key = self._keys[index]
        status = self._rows.model.status(key)
        is_cursor = index == self._cursor_index
        cache_key = (key, status, is_cursor, is_cursor and self.has_focus, layout)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            text = render_cells(self._rows.model.cells(key), self._columns, layout)
            style = self._row_style(status, is_cursor)
            strip = self._line_cache[cache_key] = Strip([Segment(text, style)], layout.line_width)
        return strip

    @property
    def _base_style(self) -> Style:
        """The widget's own colours (``visual_style`` is cached, unlike ``rich_style``)."""
        return self.visual_style.rich_style

    def _row_style(self, status: str | None, is_cursor: bool) -> Style:
        style = self._base_style
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
                self._sort_by(column, reverse=False)
            return
        index = scroll_y + offset.y - 1
        if index >= len(self._keys):
            return
        if index == self._cursor_index:
            self.action_activate()
        else:
            self._move_cursor(index)

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

    def _sort_by(self, index: int, reverse: bool) -> None:
        """Sort by column ``index`` in direction ``reverse``, and tell the owner."""
        if (index, reverse) == (self._sort_index, self._sort_reverse):
            return
        self._sort_index, self._sort_reverse = index, reverse
        self._reorder()
        self.post_message(self.Sorted(self, self._columns[index].key, reverse))

    def _move_cursor(self, index: int) -> None:
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

    def _reorder(self, shown: list[tuple[Any, ...]] | None = None) -> None:
        """Sort the rows; keep the cursor on its key (else on the nearest row still there) and on the same screen
        line. New rows (``shown`` given) with the cursor on the first row keep it there, as top does: rows
        arriving at the top are seen, not pushed above the viewport.

        With ``shown`` (the lines on screen before new rows came, see :meth:`_shown_lines`), only the lines that
        differ are repainted: on a quiet host a refresh changes no line, and repainting none costs nothing.
        """
        key, screen_line = self.cursor_key, self._cursor_screen_line()
        follow_top = shown is not None and bool(self._keys) and self._cursor_index == 0 and self.scroll_offset.y == 0
        old_keys, old_index = self._keys, self._cursor_index
        top_before = self.scroll_offset.y
        if not self._keys and self._released_cursor is not None:
            key, screen_line = self._released_cursor
            if self._rows.keys:
                self._released_cursor = None
        if self._sorted_by_owner or self._rows.sorted_by == (self._sort_index, self._sort_reverse):
            self._keys = list(self._rows.keys)
        else:
            self._keys = sort_keys(self._rows.keys, self._rows.model.sort_value(self._sort_index), self._sort_reverse)
        if follow_top:
            position: int | None = 0
        else:
            position = None if key is None else position_of_key(self._keys, key, near=self._cursor_index)
        if position is None and key is not None and old_keys:
            position = nearest_kept(old_keys, old_index, self._keys)
        if position is None:
            position = self._cursor_index
        self._cursor_index = max(0, min(position, len(self._keys) - 1))
        self.virtual_size = Size(self._minimum_width(), len(self._keys) + 1)
        top = self.scroll_offset.y if screen_line is None else self._cursor_index - screen_line
        self.scroll_to(y=max(0, min(top, len(self._keys) - self._page_rows())), animate=False, force=True)
        if shown is None or self.scroll_offset.y != top_before:
            self.refresh()
        else:
            for line, (before, now) in enumerate(zip_longest(shown, self._shown_lines()), start=1):
                if before != now:
                    self.refresh_line(line)
        self._announce_cursor()

    def _shown_lines(self) -> list[tuple[Any, ...]]:
        """What each row line on screen shows: key, highlight, cursor and cells."""
        top = self.scroll_offset.y
        model, cursor = self._rows.model, self._cursor_index
        return [
            (key, model.status(key), index == cursor, tuple(model.cells(key)))
            for index, key in enumerate(self._keys[top : top + self._page_rows()], start=top)
        ]

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
