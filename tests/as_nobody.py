"""Run Python code as uid 65534 with ``setpriv``: what a user without privileges sees."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

import pytest

NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def run_as_nobody(code: str, *, inside: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with this test run's Python as uid and gid 65534, the command prefixed with ``inside`` (run as
    root, e.g. ``unshare``). Skips the test where that cannot be done."""
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    return subprocess.run(
        [*inside, *NOBODY, sys.executable, "-B", "-c", code],
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@functools.cache
def _cannot_run() -> str:
    """Why code cannot be run as uid 65534 here ("" if it can)."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        return "needs root and setpriv"
    probe = subprocess.run(
        [*NOBODY, sys.executable, "-c", "import netwatch.backends, psutil"], capture_output=True, check=False, cwd="/"
    )
    return "" if probe.returncode == 0 else f"{sys.executable} cannot import netwatch as uid 65534"
