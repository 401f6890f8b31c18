"""The optional C extensions (everything else is in pyproject.toml): built where a compiler and the Python headers
are found; without them the install goes on, and netwatch runs its pure-Python path. Which extensions there are
comes from the one table of them, ``PARTS`` in backends/compiled.py (module ``netwatch.backends.x._y`` is built
from ``backends/x/_y.c``)."""

import runpy
from pathlib import Path

from setuptools import Extension, setup

PARTS = runpy.run_path(str(Path(__file__).parent / "backends" / "compiled.py"))["PARTS"]
SHARED_HEADER = "backends/slot_offset.h"
"""Included by every extension."""

setup(
    ext_modules=[
        Extension(module, [module.removeprefix("netwatch.").replace(".", "/") + ".c"], optional=True,
                  extra_compile_args=["-O2"], depends=[SHARED_HEADER])
        for module in PARTS
    ]
)
