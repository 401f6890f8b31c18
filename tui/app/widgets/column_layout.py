"""Where a table's columns go on a line of a given width, and the text of a line (no styling, no Textual)."""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, replace
from itertools import accumulate

from rich.cells import cell_len, set_cell_size

from netwatch.tui.view.safe_text import visible
from netwatch.tui.view.table_model import Column

COLUMN_GAP = 1
"""Blank cells between two columns."""

_ELLIPSIS = "…"
_SORT_ARROWS = {False: " ▲", True: " ▼"}
_ARROW_CELLS = 2


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


def layout_columns(
    columns: Sequence[Column], available: int, keep: int | None = None, empty: Set[str] = frozenset()
) -> ColumnLayout:
    """Leave out the columns whose key is in ``empty`` (but ``keep``), then hideable columns (lowest ``hide_order``
    first, never column ``keep``, the sort column: that one is widened to fit its label and the sort arrow) until
    the rest fit in ``available`` cells, give each its minimum width and share any spare width among the flex
    columns."""
    if keep is not None:
        sort_column = columns[keep]
        columns = list(columns)
        columns[keep] = replace(sort_column, width=max(sort_column.width, cell_len(sort_column.label) + _ARROW_CELLS))
    shown = [index for index, column in enumerate(columns) if column.key not in empty or index == keep]
    hideable = sorted(
        (column.hide_order, index)
        for index, column in enumerate(columns)
        if column.hide_order is not None and index != keep and index in shown
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


def fit_cell(text: str, width: int, align: str = "left", cut: str = "end") -> str:
    """``text`` padded or shortened (with "…" where text was cut: at the ``end``, the ``middle`` or the
    ``start``) to exactly ``width`` terminal cells."""
    length = cell_len(text)
    if length > width:
        if width <= 1:
            return _ELLIPSIS[:width]
        if cut == "end":
            return set_cell_size(text, width - 1) + _ELLIPSIS
        tail_width = width - 1 if cut == "start" else (width - 1) // 2
        tail = _cell_tail(text, tail_width)
        head = set_cell_size(text, width - 1 - cell_len(tail)) if cut == "middle" else ""
        return set_cell_size(head + _ELLIPSIS + tail, width)
    padding = " " * (width - length)
    return padding + text if align == "right" else text + padding


def _cell_tail(text: str, width: int) -> str:
    """The longest end of ``text`` that takes at most ``width`` cells."""
    taken = 0
    start = len(text)
    while start > 0:
        cells = cell_len(text[start - 1])
        if taken + cells > width:
            break
        taken += cells
        start -= 1
    return text[start:]


def render_cells(cells: Sequence[object], columns: Sequence[Column], layout: ColumnLayout) -> str:
    """One table line: the cells of the shown columns made visible-safe, fitted to their columns, padded to the
    line width."""
    parts = []
    for index, width in zip(layout.shown, layout.widths, strict=True):
        cell = cells[index] if index < len(cells) else ""
        text = visible(cell if isinstance(cell, str) else str(cell))
        column = columns[index]
        parts.append(fit_cell(text, width, column.align, column.cut))
    return (" " * COLUMN_GAP).join(parts) + " " * (layout.line_width - layout.used_width)


def render_header(columns: Sequence[Column], layout: ColumnLayout, sort_index: int, reverse: bool) -> str:
    """The header line: the shown columns' labels, the sort column's with an arrow for its direction."""
    labels = [""] * len(columns)
    for index, width in zip(layout.shown, layout.widths, strict=True):
        column = columns[index]
        label = visible(column.label)
        if index == sort_index:
            arrow = _SORT_ARROWS[reverse]
            label = fit_cell(label, width - len(arrow), column.align) + arrow if width > 2 else arrow
        labels[index] = label
    return render_cells(labels, columns, layout)
