"""``python -m netwatch.tui``."""

from netwatch.tui.cli import main

raise SystemExit(main())
