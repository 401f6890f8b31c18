"""What a socket table shows, as data: its columns, and rows given by a row model (no Textual here).

A table holds row keys in display order and a :class:`RowModel` that gives a row's cells when it is drawn and
a column's sort values when the rows are sorted, so 100,000 rows cost one list of keys. The view model
(:mod:`netwatch.tui.view.rows`) builds these on a worker thread; the widget only draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from netwatch.tui.view.key_order import sort_keys

ROW_STATUSES = ("new", "changed", "closed")
"""Values of a row's status that get a highlight."""


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
    cut: str = "end"
    """Where a cell too long for the column loses text: ``end``, ``middle`` (a label's start and end stay, e.g. a
    port or a ``+1``) or ``start`` (a path keeps its file name)."""


class RowModel(Protocol):
    """What a table shows for each row key: cells (untrusted text, shown literally), a highlight (one of
    :data:`ROW_STATUSES` or ``None``) and, per column, a sort value (``None`` sorts last).

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
    total: int | None = None
    """How many rows the view has without its filter (None: not filtered, :attr:`keys` are all of them)."""
    empty_columns: frozenset[str] = frozenset()
    """Keys of columns no row has anything for here (e.g. the network namespace on a host of one): not shown."""
    sorted_by: tuple[int, bool] | None = None
    """(column, reverse) when :attr:`keys` are in that order (:meth:`sorted`): a table sorted so takes them as
    they are (sorting 100,000 keys again took ~10 ms of the UI thread per refresh)."""

    @classmethod
    def of(cls, rows: Iterable[Row]) -> TableRows:
        """The rows of :class:`Row` records, in their order."""
        model = RowList(rows)
        return cls(model, list(model.rows))

    def sorted(self, column: int, reverse: bool = False) -> TableRows:
        """These rows ordered by column ``column`` (see :func:`sort_keys`); the result takes over the release."""
        keys = sort_keys(self.keys, self.model.sort_value(column), reverse)
        return TableRows(self.model, keys, self.release, self.total, self.empty_columns, (column, reverse))

    def discard(self) -> None:
        """Let go of rows that were never shown."""
        if self.release is not None:
            self.release()
