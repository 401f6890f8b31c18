"""Compile netwatch's modules to bytecode before timing it, as ``pip install`` of a wheel does.

An editable install under ``PYTHONDONTWRITEBYTECODE=1`` (set on some machines and CI runners) would otherwise
compile every module at every start (~25 ms of each ``--once`` run, measured), a cost no installed netwatch has;
that variable only stops Python writing bytecode, not reading it.
"""

from __future__ import annotations

import compileall
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compile_netwatch() -> None:
    """Write the bytecode of ``backends/`` and ``tui/`` (quietly; unwritable directories are left as they are)."""
    for part in ("backends", "tui"):
        compileall.compile_dir(ROOT / part, quiet=2)
