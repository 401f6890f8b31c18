"""The optional C extensions (everything else is in pyproject.toml): built where a compiler and the Python headers
are found; without them the install goes on, and netwatch runs its pure-Python path (see backends/compiled.py)."""

from setuptools import Extension, setup

EXTENSIONS = {
    "netwatch.backends.sources.netlink._scan": "backends/sources/netlink/_scan.c",
    "netwatch.backends.model._struct_json": "backends/model/_struct_json.c",
}

setup(
    ext_modules=[
        Extension(name, [source], optional=True, extra_compile_args=["-O2"]) for name, source in EXTENSIONS.items()
    ]
)
