"""The detail pane's sparkline rows draw their line themselves: the name, the latest value, and bars that are cell
for cell and style for style what Textual's Sparkline renderable draws for the same samples, one cell each."""

from __future__ import annotations

import random

from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.strip import Strip
from textual.visual import Visual, visualize

from netwatch.tui.app.detail import SPARK_COLORS, SPARK_LABEL, SPARK_SAMPLES, SPARK_VALUE, SparkRow

BARS_AT = SPARK_LABEL + SPARK_VALUE


class OneRow(App[None]):
    def compose(self) -> ComposeResult:
        yield SparkRow("rtt", id="rtt-spark")


def cells(segments: list[Segment] | Strip) -> list[tuple[str, object]]:
    """Each cell's character and style (segments split where another renderer may not split them)."""
    return [(char, segment.style) for segment in segments for char in segment.text]


def textuals_bars(widget: SparkRow, data: list[float]) -> list[tuple[str, object]]:
    """The bars Textual draws for the newest samples that fit, a cell each, in the row's colors."""
    shown = data[-SPARK_SAMPLES:]
    _, base = widget.background_colors
    low, high = ((base + widget.get_component_styles(part).color).rich_color for part in SPARK_COLORS)
    renderable = SparklineRenderable(shown, width=max(1, len(shown)), height=1, min_color=low, max_color=high,
                                     summary_function=max)  # fmt: skip
    (strip,) = Visual.to_strips(widget, visualize(widget, renderable), SPARK_SAMPLES, 1, widget.visual_style)
    return cells(strip)


async def test_bars_are_what_textuals_sparkline_draws():
    samples = random.Random(9)
    series: list[list[float]] = [[], [3.0], [5.0, 5.0, 5.0], [0.0, 1.0], [-2.5, 7.0, 1e9, 0.0]]
    series += [[samples.choice((0.0, 1.0, 5.5, samples.random() * 1e6)) for _ in range(size)] for size in range(60)]
    app = OneRow()
    async with app.run_test(size=(80, 10)):
        widget = app.query_one(SparkRow)
        for data in series:
            widget.show(data, "1.5 ms")
            expected = textuals_bars(widget, data)
            assert cells(widget.render_line(0))[BARS_AT:BARS_AT + len(expected)] == expected, data


async def test_the_name_and_the_value_come_first_and_a_narrow_row_cuts_the_bars():
    app = OneRow()
    async with app.run_test(size=(80, 10)) as pilot:
        widget = app.query_one(SparkRow)
        widget.show([1.0, 2.0, 4.0], "25.0 ms")
        line = widget.render_line(0).text
        assert len(line) == 80
        assert line[:BARS_AT] == "rtt  25.0 ms      "
        assert line[BARS_AT:BARS_AT + 3] == "▁▃█" and not line[BARS_AT + 3:].strip()  # a cell each, newest rightmost
        widget.show([float(sample) for sample in range(50)], "a value longer than its cells")
        line = widget.render_line(0).text
        assert line[SPARK_LABEL:BARS_AT] == "a value long "  # cut, with its blank kept
        assert len(line[BARS_AT:].rstrip()) == SPARK_SAMPLES and line[BARS_AT:].rstrip().endswith("█")  # the newest
        widget.show([1.0, 2.0, 4.0], "25.0 ms")
        widget.styles.width = 20
        await pilot.pause()
        assert widget.render_line(0).text == "rtt  25.0 ms      ▁▃"
