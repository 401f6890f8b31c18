"""The detail pane's sparklines draw their line themselves: cell for cell and style for style what Textual's
Sparkline renderable draws for the same samples, one cell each."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.visual import Visual, visualize

from netwatch.tui.app.detail import SPARK_COLORS, SampleSparkline

WIDTH = 36


class OneSparkline(App[None]):
    CSS = f"SampleSparkline {{ width: {WIDTH}; height: 1; }}"

    def compose(self) -> ComposeResult:
        yield SampleSparkline([], summary_function=max)


def textuals_line(widget: SampleSparkline, data: list[float]) -> list:
    """The line Textual draws for the newest samples that fit, a cell each, in the widget's colors."""
    shown = data[-WIDTH:]
    _, base = widget.background_colors
    low, high = ((base + widget.get_component_styles(part).color).rich_color for part in SPARK_COLORS)
    renderable = SparklineRenderable(shown, width=max(1, len(shown)), height=1, min_color=low, max_color=high,
                                     summary_function=max)  # fmt: skip
    (strip,) = Visual.to_strips(widget, visualize(widget, renderable), WIDTH, 1, widget.visual_style)
    return list(strip)


async def test_draws_what_textuals_sparkline_draws():
    samples = random.Random(9)
    series: list[list[float]] = [[], [3.0], [5.0, 5.0, 5.0], [0.0, 1.0], [-2.5, 7.0, 1e9, 0.0]]
    series += [[samples.choice((0.0, 1.0, 5.5, samples.random() * 1e6)) for _ in range(size)] for size in range(60)]
    app = OneSparkline()
    async with app.run_test(size=(80, 10)):
        widget = app.query_one(SampleSparkline)
        for data in series:
            widget.data = data
            assert list(widget.render_line(0)) == textuals_line(widget, data), data
