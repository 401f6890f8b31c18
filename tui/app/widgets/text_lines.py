"""A block of Rich Text that renders each of its lines once: an update renders again only the lines that changed."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import Visual, visualize
from textual.widget import Widget

LineKey = tuple[int, str, tuple, object]
"""A line: its number (part of what it draws: see :func:`_on_line`), text, spans and style."""


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
        self._text = Text()
        self._lines: list[Text] = []
        self._strips: dict[LineKey, list[Strip]] = {}
        """Each shown line's strips at ``_rendered_for``."""
        self._rendered: list[Strip] | None = None
        self._rendered_for: tuple[int, VisualStyle] | None = None
        self._selected: list[Strip] = []
        """The whole text rendered with the selection shown, for ``_selected_for``."""
        self._selected_for: tuple[Selection, int, VisualStyle] | None = None

    def update(self, text: Text, *, layout: bool = True) -> None:
        """Show ``text``; ``layout``: its height may have changed. Without ``layout`` only the rows that changed are
        painted again (all of them if the height changed after all)."""
        width = self.size.width
        before = self._rendered if self._rendered_for is not None and self._rendered_for[0] == width else None
        self._text = text
        self._lines = list(text.split("\n", allow_blank=True))
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
        return self._text

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((line.cell_len for line in self._lines), default=0)

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
                self._selected = Visual.to_strips(self, visualize(self, self._text), width, None, style)
                self._selected_for = (selection, width, style)
            return self._selected
        if self._rendered is not None and self._rendered_for == (width, style):
            return self._rendered
        known = self._strips if self._rendered_for == (width, style) else {}
        strips: dict[LineKey, list[Strip]] = {}
        rendered: list[Strip] = []
        for y, line in enumerate(self._lines):
            key = (y, line.plain, tuple(line.spans), line.style)
            lines = known.get(key)
            if lines is None:
                lines = _on_line(Visual.to_strips(self, visualize(self, line), width, None, style), y)
            strips[key] = lines
            rendered += lines
        self._strips, self._rendered, self._rendered_for = strips, rendered, (width, style)
        return rendered


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
