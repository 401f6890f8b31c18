"""``python -m netwatch.tui``."""

from netwatch.tui.cli.main import run

run()
