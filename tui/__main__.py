"""``python -m netwatch.tui``."""

from netwatch.tui.cli.main import main

raise SystemExit(main())
