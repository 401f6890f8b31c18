"""The optional compiled part of the netlink source (``_scan.c``), or None where it is not built or is turned off.

``pip install`` builds it where a C compiler and the Python headers are found, and installs without it otherwise;
every caller has a pure-Python path that gives the same results. ``NETWATCH_PURE_PYTHON=1`` turns it off (the
tests run both ways); ``netwatch --version`` says which one runs.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("NETWATCH_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from netwatch.backends.sources.netlink import _scan
    except ImportError:
        return None
    return _scan


scan = _load()
"""The compiled splitter, or None."""

DESCRIPTION = "compiled sock_diag splitter" if scan is not None else "pure Python"
"""What ``netwatch --version`` says of it."""
