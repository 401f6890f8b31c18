"""The optional C extensions (everything else is in pyproject.toml): built where a compiler and the Python headers
are found; without them the install goes on, and netwatch runs its pure-Python path. Which extensions there are
comes from the one table of them, ``PARTS`` in backends/compiled.py (module ``netwatch.backends.x._y`` is built
from ``backends/x/_y.c``)."""

import runpy
from pathlib import Path

from setuptools import Extension, setup

PARTS = runpy.run_path(str(Path(__file__).parent / "backends" / "compiled.py"))["PARTS"]
SHARED_HEADERS = ["backends/slot_offset.h", "backends/struct_json.h"]
"""Included by the extensions (each rebuilt when one changes)."""

setup(
    ext_modules=[
        Extension(module, [module.removeprefix("netwatch.").replace(".", "/") + ".c"], optional=True,
                  extra_compile_args=["-O2"], depends=SHARED_HEADERS)
        for module in PARTS
    ]
)
