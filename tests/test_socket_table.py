"""The virtualized SocketTable: rendering, navigation, sorting, cursor stability, mouse, safety, speed."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence

from textual import events
from textual.app import App, ComposeResult
from textual.strip import Strip

import netwatch.tui.app.widgets.socket_table as socket_table_module
from netwatch.tui.app.widgets import SocketTable
from netwatch.tui.app.widgets.column_layout import fit_cell, layout_columns, render_cells
from netwatch.tui.view.key_order import position_of_key
from netwatch.tui.view.table_model import Column, Row, TableRows
from tests.table_screen import cursor_line, row_cells, row_status, screen_lines

COLUMNS = (
    Column("proto", "Proto", 7),
    Column("local", "Local", 22, flex=True),
    Column("process", "Process", 16, flex=True),
    Column("rate", "Rate", 10, align="right"),
)
SIZE = (100, 20)
PAGE = SIZE[1] - 1  # rows below the header
CRAFTED = "[@click=app.quit]x[/] [red]y \x1b]0;pwn\x07 \x1b[2J"


def make_row(number: int, status: str | None = None, rate: int | None = None) -> Row:
    rate = number * 10 if rate is None else rate
    return Row(
        key=("tcp", number),
        cells=("tcp", f"127.0.0.1:{number}", f"proc-{number}", f"{rate} B/s"),
        sort_values=("tcp", number, f"proc-{number}", rate),
        status=status,
    )


def make_rows(count: int) -> list[Row]:
    return [make_row(number) for number in range(count)]


class TableApp(App[None]):
    """A bare app hosting one SocketTable, recording the table's messages."""

    def __init__(self, rows: Sequence[Row] = (), columns: Sequence[Column] = COLUMNS, **options: object) -> None:
        super().__init__()
        self.initial_rows = rows
        self.columns = columns
        self.options = options
        self.messages: list[tuple[str, Hashable]] = []

    def compose(self) -> ComposeResult:
        yield SocketTable(self.columns, id="table", **self.options)

    def on_mount(self) -> None:
        table = self.query_one(SocketTable)
        table.set_rows(TableRows.of(self.initial_rows))
        table.focus()

    def on_socket_table_cursor_moved(self, message: SocketTable.CursorMoved) -> None:
        self.messages.append(("moved", message.key))

    def on_socket_table_row_activated(self, message: SocketTable.RowActivated) -> None:
        self.messages.append(("activated", message.key))

    def on_socket_table_sorted(self, message: SocketTable.Sorted) -> None:
        self.messages.append(("sorted", (message.column_key, message.reverse)))


def row_line(table: SocketTable, number: int) -> int | None:
    """Screen line (0 = header) showing the row of :func:`make_row` ``number``, if it is on screen."""
    shown = [line.split()[1] if line.strip() else "" for line in screen_lines(table)]
    return shown.index(f"127.0.0.1:{number}") if f"127.0.0.1:{number}" in shown else None


def local_cells(table: SocketTable) -> list[str]:
    """The "local" cell of every row, in display order."""
    return [cells["local"] for cells in row_cells(table, COLUMNS)]


# ----- pure helpers -----------------------------------------------------------------------------------------


def test_fit_cell_pads_aligns_and_truncates_by_terminal_cells() -> None:
    assert fit_cell("ab", 4) == "ab  "
    assert fit_cell("ab", 4, "right") == "  ab"
    assert fit_cell("abcdef", 4) == "abc…"
    assert fit_cell("日本語", 4) == "日 …"  # wide characters: 2 cells each, never overflow
    assert fit_cell("x", 0) == ""


def test_layout_shares_spare_width_among_flex_columns() -> None:
    layout = layout_columns(COLUMNS, 100)
    assert layout.line_width == 100
    assert sum(layout.widths) + len(COLUMNS) - 1 == 100
    assert layout.widths[0] == 7 and layout.widths[3] == 10
    narrow = layout_columns(COLUMNS, 30)
    assert narrow.widths == (7, 22, 16, 10) and narrow.line_width == 58  # scrolls horizontally
    assert [narrow.column_at(x) for x in (0, 7, 8, 57, 58, 59, -1)] == [0, 0, 1, 3, 3, None, None]


def test_narrow_layouts_leave_out_hideable_columns_lowest_order_first_but_never_the_sort_column() -> None:
    columns = (
        Column("proto", "Proto", 5),
        Column("local", "Local", 20, flex=True),
        Column("rate", "Rate", 8, align="right", hide_order=2),
        Column("queue", "Q", 4, align="right", hide_order=1),
        Column("age", "Age", 4, align="right", hide_order=3),
    )
    assert layout_columns(columns, 45).shown == (0, 1, 2, 3, 4)  # 45 cells: everything fits
    assert layout_columns(columns, 44).shown == (0, 1, 2, 4)
    assert layout_columns(columns, 33).shown == (0, 1, 4) and layout_columns(columns, 33).widths == (5, 22, 4)
    assert layout_columns(columns, 20).shown == (0, 1)  # still too wide: scrolls sideways
    assert layout_columns(columns, 20).line_width == 26
    assert layout_columns(columns, 20, keep=3).shown == (0, 1, 3)
    assert layout_columns(columns, 20, keep=0).widths[0] == 7  # the sort column fits "Proto ▲"
    layout = layout_columns(columns, 33)
    assert [layout.column_at(x) for x in (0, 6, 29, 34)] == [0, 1, 4, None]
    assert render_cells(("tcp", "10.0.0.1:22", "9 B/s", "0", "5s"), columns, layout) == f"tcp   {'10.0.0.1:22':22}   5s"


def test_sorting_puts_none_last_both_ways_and_survives_mixed_types() -> None:
    rows = [
        Row(1, (), (3,)),
        Row(2, (), (None,)),
        Row(3, (), ("text",)),
        Row(4, (), (1.5,)),
        Row(5, (), ()),  # too few sort values: counts as None
        Row(6, (), ((1, "a"),)),
        Row(7, (), ((1, None),)),
    ]
    assert TableRows.of(rows).sorted(0).keys == [4, 1, 3, 6, 7, 2, 5]
    descending = TableRows.of(rows).sorted(0, reverse=True).keys
    assert descending[:4] == [7, 6, 3, 1] and descending[-2:] == [2, 5]
    same_type = [Row(key, (), (value,)) for key, value in enumerate([5, None, 2, 9])]
    assert TableRows.of(same_type).sorted(0, reverse=True).keys == [3, 0, 2, 1]


def test_position_of_key_looks_near_the_hint_then_everywhere() -> None:
    rows = [row.key for row in make_rows(1000)]
    assert position_of_key(rows, ("tcp", 500), near=480) == 500
    assert position_of_key(rows, ("tcp", 5), near=900) == 5
    assert position_of_key(rows, ("tcp", 999)) == 999
    assert position_of_key(rows, ("udp", 1), near=10) is None
    assert position_of_key([], ("tcp", 1)) is None


# ----- rendering ----------------------------------------------------------------------------------------


async def test_header_and_visible_rows_render_and_only_visible_rows_are_built(monkeypatch) -> None:
    built: list[int] = []
    real_render_cells = socket_table_module.render_cells

    def counting_render_cells(*args, **kwargs) -> str:
        built.append(1)
        return real_render_cells(*args, **kwargs)

    monkeypatch.setattr(socket_table_module, "render_cells", counting_render_cells)
    app = TableApp(make_rows(100_000))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        lines = screen_lines(table)
        assert lines[0].startswith("Proto ▲ Local")
        assert "Rate" in lines[0]
        assert lines[1].startswith("tcp     127.0.0.1:0 ")
        assert lines[1].rstrip().endswith("0 B/s")
        assert lines[-1].startswith("tcp     127.0.0.1:18 ")
        assert len(lines[1]) == table.scrollable_content_region.width
        assert len(built) <= 3 * SIZE[1]  # a few screens' worth, not 100,000 rows
        assert table.virtual_size.height == 100_001


class CountingModel:
    """A RowModel of integer keys that counts the cells it is asked for."""

    def __init__(self) -> None:
        self.cells_asked: list[int] = []

    def cells(self, key: int) -> tuple[str, ...]:
        self.cells_asked.append(key)
        return ("tcp", f"127.0.0.1:{key}", f"proc-{key}", f"{key} B/s")

    def status(self, key: int) -> str | None:
        return "new" if key % 2 else None

    def sort_value(self, column: int):
        return [lambda key: "tcp", lambda key: key, lambda key: f"proc-{key}", lambda key: -key][column]


async def test_a_row_model_is_asked_only_for_the_rows_on_screen() -> None:
    model = CountingModel()
    app = TableApp(sort_column="rate")  # -key: the highest key first
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        table.set_rows(TableRows(model, range(100_000)))
        await pilot.pause()
        assert table.cursor_key == 99_999 and table.virtual_size.height == 100_001
        lines = screen_lines(table)
        assert lines[1].startswith("tcp     127.0.0.1:99999 ") and lines[1].rstrip().endswith("99999 B/s")
        assert lines[3].startswith("tcp     127.0.0.1:99997 ") and row_status(table, table.render_line(3)) == "new"
        assert row_status(table, table.render_line(2)) is None
        assert set(model.cells_asked) <= set(range(99_999 - 3 * SIZE[1], 100_000))


async def test_rows_sorted_as_the_table_is_are_taken_as_they_come() -> None:
    """Rows the refresher sorted by the table's own column and direction are not sorted again on the UI thread;
    rows sorted otherwise (or not known to be sorted) are."""
    model = CountingModel()
    app = TableApp(sort_column="rate")
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        asked: list[int] = []
        rate = model.sort_value(3)
        model.sort_value = lambda column: lambda key: asked.append(key) or rate(key)
        table.set_rows(TableRows(model, [5, 3, 9], sorted_by=(table.sort_index, table.sort_reverse)))
        await pilot.pause()
        shown = [row["local"] for row in row_cells(table, COLUMNS)]
        assert asked == [] and shown == [f"127.0.0.1:{n}" for n in (5, 3, 9)]
        table.set_rows(TableRows(model, [5, 3, 9], sorted_by=(table.sort_index, not table.sort_reverse)))
        await pilot.pause()
        assert sorted(asked) == [3, 5, 9] and [row["local"] for row in row_cells(table, COLUMNS)][0] == "127.0.0.1:9"


async def test_cells_are_truncated_with_ellipsis_on_a_narrow_terminal() -> None:
    rows = [Row(1, ("tcp", "a-very-long-local-address-that-overflows:1", "p", "1"), ("tcp", 1, "p", 1))]
    app = TableApp(rows)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        text = table.render_line(1).text
        assert "tcp     a-very-long-local-addr… p " in text  # local got its share of the spare width
        assert len(text) == 60


async def test_narrow_terminal_scrolls_sideways_and_resize_relayouts() -> None:
    app = TableApp(make_rows(100))
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        assert table.render_line(0).text.startswith("Proto ▲ Local")
        await pilot.press("right", "right", "right")
        await pilot.pause()
        shift = table.scroll_offset.x
        assert 0 < shift < 8
        assert table.render_line(0).text.startswith("Proto ▲ Local"[shift:])  # header scrolls with rows
        assert table.render_line(1).text.startswith("tcp     127.0.0.1:0"[shift:])
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert table.scroll_offset.x == 0
        assert len(table.render_line(1).text) == table.scrollable_content_region.width
        assert table.render_line(0).text.rstrip().endswith("Rate")


async def test_rows_set_before_mount_are_shown_sorted() -> None:
    class EarlyApp(App[None]):
        def compose(self) -> ComposeResult:
            table = SocketTable(COLUMNS, sort_column="rate", sort_reverse=True)
            table.set_rows(TableRows.of(make_rows(50)))
            yield table

    app = EarlyApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        assert table.cursor_key == ("tcp", 49) and "Rate ▼" in screen_lines(table)[0]
        assert local_cells(table) == [f"127.0.0.1:{number}" for number in range(49, -1, -1)]
        assert cursor_line(table) == 1


# ----- keyboard -----------------------------------------------------------------------------------------


async def test_keyboard_navigation_moves_cursor_and_scrolls() -> None:
    app = TableApp(make_rows(1000))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        assert table.cursor_key == ("tcp", 0) and cursor_line(table) == 1
        await pilot.press("down", "down")
        assert table.cursor_key == ("tcp", 2)
        await pilot.press("up")
        assert table.cursor_key == ("tcp", 1)
        await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_key == ("tcp", 1 + PAGE) and cursor_line(table) is not None
        await pilot.press("pageup")
        assert table.cursor_key == ("tcp", 1)
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_key == ("tcp", 999)
        assert table.scroll_offset.y == 1000 - PAGE
        assert screen_lines(table)[-1].startswith("tcp     127.0.0.1:999 ")
        await pilot.press("down")
        await pilot.pause()
        assert table.cursor_key == ("tcp", 999) and cursor_line(table) == PAGE  # clamped at the end
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_key == ("tcp", 0) and table.scroll_offset.y == 0
        await pilot.press("enter")
        await pilot.pause()
        assert ("activated", ("tcp", 0)) in app.messages
        moved = [key for kind, key in app.messages if kind == "moved"]
        assert moved[:3] == [("tcp", 0), ("tcp", 1), ("tcp", 2)]


async def test_cursor_row_has_the_cursor_component_style() -> None:
    app = TableApp(make_rows(50))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.press("down")
        await pilot.pause()
        cursor_style = table.get_component_rich_style("socket-table--cursor")
        assert all(segment.style.bgcolor == cursor_style.bgcolor for segment in table.render_line(2))
        assert all(segment.style.bgcolor != cursor_style.bgcolor for segment in table.render_line(1))


# ----- sorting ------------------------------------------------------------------------------------------


async def test_sort_by_column_reverse_and_cycle() -> None:
    rows = [make_row(number, rate=rate) for number, rate in enumerate([30, 10, 20])]
    rows.append(Row(("tcp", 9), ("tcp", "x", "y", "-"), ("tcp", 9, "y", None)))
    app = TableApp(rows)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        table.cycle_sort(-1)  # wraps around to the last column, ascending
        await pilot.pause()
        assert local_cells(table) == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:0", "x"]
        assert "Rate ▲" in table.render_line(0).text and (table.sort_index, table.sort_reverse) == (3, False)
        table.reverse_sort()
        await pilot.pause()
        assert local_cells(table) == ["127.0.0.1:0", "127.0.0.1:2", "127.0.0.1:1", "x"]  # None stays last
        assert "Rate ▼" in table.render_line(0).text
        table.cycle_sort(1)
        table.cycle_sort(-1)
        await pilot.pause()
        assert "Proto" in table.render_line(0).text and "Rate ▲" in table.render_line(0).text
        sorts = [sort for kind, sort in app.messages if kind == "sorted"]
        assert sorts == [("rate", False), ("rate", True), ("proto", False), ("rate", False)]


async def test_a_table_sorted_by_its_owner_only_shows_the_new_sort_and_takes_rows_as_given() -> None:
    class OwnerSortedApp(TableApp):
        def compose(self) -> ComposeResult:
            yield SocketTable(self.columns, id="table", sorted_by_owner=True)

    app = OwnerSortedApp(make_rows(5))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        table.cycle_sort(-1)
        table.reverse_sort()
        await pilot.pause()
        assert local_cells(table) == [f"127.0.0.1:{number}" for number in range(5)]  # not re-sorted here...
        assert "Rate ▼" in table.render_line(0).text and ("sorted", ("rate", True)) in app.messages
        table.set_rows(TableRows.of(make_rows(5)).sorted(3, reverse=True))  # ...but by the owner
        await pilot.pause()
        assert local_cells(table) == [f"127.0.0.1:{number}" for number in range(4, -1, -1)]


async def test_clicking_a_header_sorts_and_clicking_again_reverses() -> None:
    app = TableApp(make_rows(30))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        rate_x = layout_columns(COLUMNS, table.scrollable_content_region.width).starts[3] + 2
        await pilot.click(SocketTable, offset=(rate_x, 0))
        assert "Rate ▲" in table.render_line(0).text
        await pilot.click(SocketTable, offset=(rate_x, 0))
        await pilot.pause()
        assert "Rate ▼" in table.render_line(0).text
        assert local_cells(table)[0] == "127.0.0.1:29" and table.cursor_key == ("tcp", 0)
        assert [sort for kind, sort in app.messages if kind == "sorted"] == [("rate", False), ("rate", True)]


# ----- cursor stability ---------------------------------------------------------------------------------


async def test_cursor_keeps_its_key_and_screen_line_across_set_rows_resort_and_release() -> None:
    app = TableApp(make_rows(1000))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.press(*["pagedown"] * (500 // PAGE), *["down"] * (500 % PAGE))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 500)
        line_before = row_line(table, 500)
        assert line_before is not None and cursor_line(table) == line_before
        # 40 new sockets sort before it and its neighbour closes: it moves down in the list, not on screen
        rows = [make_row(number, status="new") for number in range(-40, 0)] + make_rows(1000)
        rows = [row for row in rows if row.key != ("tcp", 499)]
        table.set_rows(TableRows.of(rows))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 500)
        assert row_line(table, 500) == line_before and row_line(table, 499) is None
        assert table.scroll_offset.y == 539 - (line_before - 1)  # 40 rows above it, one less below
        table.cycle_sort(-1)
        table.reverse_sort()
        await pilot.pause()
        assert table.cursor_key == ("tcp", 500)
        assert row_line(table, 500) == line_before
        table.release_rows()  # e.g. the table's view is hidden
        await pilot.pause()
        assert table.cursor_key is None and table.virtual_size.height == 1
        assert all(not line.strip() for line in screen_lines(table)[1:])
        table.set_rows(TableRows.of([]))  # still nothing to show: the key is kept for later
        table.set_rows(TableRows.of(rows))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 500) and row_line(table, 500) == line_before


async def test_cursor_and_scroll_stay_consistent_when_rows_shrink_or_vanish() -> None:
    app = TableApp(make_rows(1000))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.press("end")
        assert table.cursor_key == ("tcp", 999)
        table.set_rows(TableRows.of(make_rows(10)))  # the cursor's key is gone: nearest position is the last row
        await pilot.pause()
        assert table.cursor_key == ("tcp", 9) and cursor_line(table) == 10
        assert table.scroll_offset.y == 0
        lines = screen_lines(table)
        assert lines[10].startswith("tcp     127.0.0.1:9 ") and lines[11].strip() == ""
        await pilot.press("up")
        assert table.cursor_key == ("tcp", 8)
        table.set_rows(TableRows.of([]))
        await pilot.pause()
        assert table.cursor_key is None
        assert screen_lines(table)[1].strip() == ""
        await pilot.press("down", "end", "enter")
        table.set_rows(TableRows.of(make_rows(3)))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 0)
        assert [kind_key for kind_key in app.messages if kind_key[0] == "moved"][-2:] == [
            ("moved", None),
            ("moved", ("tcp", 0)),
        ]


# ----- mouse --------------------------------------------------------------------------------------------


async def test_click_moves_cursor_and_click_on_cursor_row_activates() -> None:
    app = TableApp(make_rows(100))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.click(SocketTable, offset=(3, 5))
        assert table.cursor_key == ("tcp", 4)
        assert ("activated", ("tcp", 4)) not in app.messages
        await pilot.click(SocketTable, offset=(3, 5))
        assert ("activated", ("tcp", 4)) in app.messages


async def test_mouse_wheel_scrolls_and_header_stays() -> None:
    app = TableApp(make_rows(500))
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        for _ in range(3):
            table.post_message(events.MouseScrollDown(table, 5, 5, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert table.scroll_offset.y > 0
        assert table.render_line(0).text.startswith("Proto ▲")
        first_row = table.scroll_offset.y
        assert table.render_line(1).text.startswith(f"tcp     127.0.0.1:{first_row} ")
        assert table.cursor_key == ("tcp", 0) and cursor_line(table) is None  # the wheel scrolls the view only


# ----- status highlighting ------------------------------------------------------------------------------


async def test_status_rows_carry_their_component_styles() -> None:
    rows = [make_row(0), make_row(1, "new"), make_row(2, "changed"), make_row(3, "closed"), make_row(4)]
    app = TableApp(rows)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        for line, status in ((2, "new"), (3, "changed"), (4, "closed")):
            expected = table.get_component_rich_style(f"socket-table--{status}")
            styles = [segment.style for segment in table.render_line(line)]
            assert styles and all(style.color == expected.color for style in styles), status
            assert row_status(table, table.render_line(line)) == status
        assert all(segment.style.strike for segment in table.render_line(4))
        assert row_status(table, table.render_line(5)) is None


# ----- safety -------------------------------------------------------------------------------------------


async def test_markup_and_escape_sequences_are_shown_literally_and_never_run() -> None:
    crafted = Row("evil", ("tcp", CRAFTED, CRAFTED, "1 B/s"), ("tcp", 0, CRAFTED, 1))
    wide_columns = (Column("proto", "Proto", 5), Column("local", "Local", 60), Column("process", "P", 60))
    app = TableApp([crafted, make_row(1)], columns=wide_columns)
    async with app.run_test(size=(140, 10)) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        text = table.render_line(1).text
        assert "[@click=app.quit]x[/] [red]y \\x1b]0;pwn\\x07 \\x1b[2J" in text
        for y in range(table.scrollable_content_region.height):
            for segment in table.render_line(y):
                assert "\x1b" not in segment.text and "\x07" not in segment.text
                assert not segment.style or "@click" not in (segment.style.meta or {})
        for x in (8, 30, 70, 100):  # on the "[@click=...]" text, twice: move + activate
            await pilot.click(SocketTable, offset=(x, 1))
        await pilot.pause()
        assert app.is_running and app.return_code is None
        assert ("activated", "evil") in app.messages
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "[@click=app.quit]x[/]" in screenshot.replace("&#160;", " ")


# ----- scale --------------------------------------------------------------------------------------------


async def test_set_rows_with_100k_rows_is_fast() -> None:
    rows = make_rows(100_000)
    app = TableApp(sort_column="rate")
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.query_one(SocketTable)
        await pilot.pause()
        started = time.perf_counter()
        table.set_rows(TableRows.of(rows))
        applied = time.perf_counter() - started
        await pilot.pause()
        painted = time.perf_counter() - started
        await pilot.press("end")
        started = time.perf_counter()
        table.reverse_sort()
        resorted = time.perf_counter() - started
        print(
            f"\n100k rows: set_rows {applied * 1000:.1f} ms, with repaint {painted * 1000:.1f} ms, "
            f"re-sort {resorted * 1000:.1f} ms"
        )
        assert table.virtual_size.height == 100_001 and table.cursor_key == ("tcp", 99_999)
        assert applied < 2.0 and resorted < 2.0


async def test_new_rows_repaint_only_the_lines_that_changed() -> None:
    """A refresh on a quiet host brings the same rows: no line is drawn again; one changed row draws one line."""
    app = TableApp(make_rows(50))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.query_one(SocketTable)
        drawn: list[int] = []
        draw = table.render_line

        def counting(y: int) -> Strip:
            drawn.append(y)
            return draw(y)

        table.render_line = counting  # type: ignore[method-assign]
        table.set_rows(TableRows.of(make_rows(50)))
        await pilot.pause()
        assert drawn == []
        changed = make_rows(50)
        changed[3] = make_row(3, rate=999)
        table.set_rows(TableRows.of(changed))
        await pilot.pause()
        assert sorted(set(drawn)) == [row_line(table, 3)]
        assert "999 B/s" in screen_lines(table)[row_line(table, 3)]


async def test_new_rows_at_the_top_are_followed_when_the_cursor_is_on_the_first_row() -> None:
    """As in top: with the cursor on the first row, rows that arrive above it are shown (the cursor stays on the
    first row); once the user moved down, the cursor stays on its socket."""
    app = TableApp(make_rows(100), sort_column="local", sort_reverse=True)  # newest (highest number) first
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        assert table.cursor_key == ("tcp", 99)
        table.set_rows(TableRows.of(make_rows(103)))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 102) and table.scroll_offset.y == 0
        assert local_cells(table)[:3] == ["127.0.0.1:102", "127.0.0.1:101", "127.0.0.1:100"]
        await pilot.press("down")
        table.set_rows(TableRows.of(make_rows(105)))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 101)


async def test_a_vanished_cursor_row_gives_the_cursor_to_the_nearest_row_still_there() -> None:
    app = TableApp(make_rows(100), sort_column="local")
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(SocketTable)
        for _ in range(10):
            await pilot.press("down")
        assert table.cursor_key == ("tcp", 10)
        kept = [row for row in make_rows(100) if row.key[1] not in (9, 10, 11)]  # e.g. a filter took these out
        table.set_rows(TableRows.of(kept))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 12)  # the next one down, not the last row
        table.set_rows(TableRows.of([row for row in kept if row.key[1] < 12]))
        await pilot.pause()
        assert table.cursor_key == ("tcp", 8)  # none below: the nearest one up
