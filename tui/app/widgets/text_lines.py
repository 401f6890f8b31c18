"""A block of Rich Text that renders each of its lines once: an update renders again only the lines that changed."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Span, Text
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual, visualize
from textual.widget import Widget

Line = tuple[str, tuple[Span, ...]]
"""One line of text and its spans (offsets within the line), in the order ``Text.split`` gives them."""
LineKey = tuple[int, str, tuple[Span, ...]]
"""A line as drawn: its number (part of what it draws: see :func:`_on_line`), text and spans."""


class TextLines(Widget):
    """Rich Text, shown as a ``Static`` shows it (wrapped to the width, selectable), for text that changes a few lines
    at a time: the detail pane of a quiet socket changes its ``last_*`` clocks and timer, and rendering its ~40 lines
    again at each refresh took ~9 ms of the UI thread (Textual's Content pipeline costs ~0.2 ms per line)."""

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text: Text | None = Text()
        """The text shown; None: the lines shown, joined when first asked for (:meth:`render`)."""
        self._lines: list[LineKey] = []
        self._strips: dict[LineKey, list[Strip]] = {}
        """Each shown line's strips at ``_rendered_for``."""
        self._rendered: list[Strip] | None = None
        self._rendered_for: tuple[int, VisualStyle, object] | None = None
        """(width, widget style, the text's own style, justify and overflow) of ``_rendered`` and ``_strips``."""
        self._selected: list[Strip] = []
        """The whole text rendered with the selection shown, for ``_selected_for``."""
        self._selected_for: tuple[Selection, int, VisualStyle] | None = None

    def update(self, text: Text, *, layout: bool = True) -> None:
        """Show ``text``; ``layout``: its height may have changed. Without ``layout`` only the rows that changed are
        painted again (all of them if the height changed after all)."""
        self._set_lines(split_lines(text), text, layout)

    def update_lines(self, lines: Iterable[Line], *, layout: bool = True) -> None:
        """Show these lines, as :meth:`update` shows the Text they join into (without building it)."""
        self._set_lines(lines, None, layout)

    def _set_lines(self, lines: Iterable[Line], text: Text | None, layout: bool) -> None:
        width = self.size.width
        before = self._rendered if self._rendered_for is not None and self._rendered_for[0] == width else None
        self._text = text
        self._lines = [(y, line, spans) for y, (line, spans) in enumerate(lines)]
        self._rendered = self._selected_for = None
        if layout or before is None or self.text_selection is not None:
            self.refresh(layout=layout)
            return
        after = self._lines_at(width)
        if len(after) != len(before):
            self.refresh(layout=True)
            return
        rows = enumerate(zip(before, after, strict=True))
        changed = [Region(0, y, width, 1) for y, (old, new) in rows if old is not new]
        if changed:
            self.refresh(*changed)

    def render(self) -> Text:
        """The whole text (what a selection copies)."""
        if self._text is None:
            self._text = join_lines((line, spans) for _, line, spans in self._lines)
        return self._text

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((cell_len(line) for _, line, _ in self._lines), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines_at(width))

    def render_line(self, y: int) -> Strip:
        strips = self._lines_at(self.size.width)
        return strips[y] if y < len(strips) else Strip.blank(self.size.width, self.visual_style.rich_style)

    def _lines_at(self, width: int) -> list[Strip]:
        """The text's strips at ``width``, rendered line by line; lines shown before at that width and style are
        reused. While a selection is shown the whole text is rendered, with it, as Static renders it."""
        style = self.visual_style
        selection = self.text_selection
        if selection is not None:
            if self._selected_for != (selection, width, style):
                self._selected = Visual.to_strips(self, visualize(self, self.render()), width, None, style)
                self._selected_for = (selection, width, style)
            return self._selected
        text = self._text if self._text is not None else _PLAIN
        context = (width, style, (text.style, text.justify, text.overflow))
        if self._rendered is not None and self._rendered_for == context:
            return self._rendered
        known = self._strips if self._rendered_for == context else {}
        strips: dict[LineKey, list[Strip]] = {}
        rendered: list[Strip] = []
        for key in self._lines:
            lines = known.get(key)
            if lines is None:
                y, line, spans = key
                line_text = Text(line, style=text.style, justify=text.justify, overflow=text.overflow,
                                 spans=list(spans))  # fmt: skip
                lines = _on_line(Visual.to_strips(self, visualize(self, line_text), width, None, style), y)
            strips[key] = lines
            rendered += lines
        self._strips, self._rendered, self._rendered_for = strips, rendered, context
        return rendered


def split_lines(text: Text) -> list[Line]:
    """The lines of ``text`` with their spans, as ``text.split("\\n", allow_blank=True)`` divides them (a tenth of its
    cost, for the few lines that changed are all that is rendered)."""
    lines = text.plain.split("\n")
    starts = list(accumulate((len(line) + 1 for line in lines), initial=0))
    spans: list[list[Span]] = [[] for _ in lines]
    for start, end, style in text.spans:
        y = bisect_right(starts, start) - 1
        while y < len(lines) and starts[y] < end:
            first, last = max(start, starts[y]), min(end, starts[y] + len(lines[y]))
            if last > first:
                spans[y].append(Span(first - starts[y], last - starts[y], style))
            y += 1
    return [(line, tuple(line_spans)) for line, line_spans in zip(lines, spans, strict=True)]


def join_lines(lines: Iterable[Line]) -> Text:
    """The Text of these lines, one after another with a newline between."""
    plain: list[str] = []
    spans: list[Span] = []
    start = 0
    for line, line_spans in lines:
        plain.append(line)
        spans += [Span(start + first, start + last, style) for first, last, style in line_spans]
        start += len(line) + 1
    return Text("\n".join(plain), spans=spans)


_PLAIN = Text()
"""The style, justify and overflow of lines shown without a Text of theirs: a new Text's."""


def _on_line(strips: list[Strip], y: int) -> list[Strip]:
    """The strips of one line rendered alone, as line ``y`` of the whole text: the offsets Textual's text selection
    reads from each segment's style name line 0 (``Visual.to_strips`` numbers the lines it renders)."""
    if not y:
        return strips
    return [Strip([_at_line(segment, y) for segment in strip], strip.cell_length) for strip in strips]


def _at_line(segment: Segment, y: int) -> Segment:
    text, style, control = segment
    if style is None or "offset" not in style.meta:
        return segment
    x, _ = style.meta["offset"]
    return Segment(text, style + RichStyle.from_meta({"offset": (x, y)}), control)
