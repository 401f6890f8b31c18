"""The optional C extension (everything else is in pyproject.toml): built where a compiler and the Python headers
are found; without them the install goes on, and netwatch runs its pure-Python path."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "netwatch.backends.sources.netlink._scan",
            ["backends/sources/netlink/_scan.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
