"""What the mount of /proc hides from us: its ``hidepid`` option (see proc(5)), read from ``self/mountinfo``."""

from __future__ import annotations

import os
import re

from netwatch.backends.model.text import decode_text

_ESCAPE = re.compile(r"\\([0-7]{3})")
"""mountinfo writes a space, tab, newline or backslash in a path as an octal escape (``\\040``)."""
_NOT_HIDING = frozenset({"0", "off"})


def hiding_hidepid(proc_root: str = "/proc") -> str | None:
    """The ``hidepid`` option of the proc file system at ``proc_root`` when it hides other users' processes from
    this process (``invisible``, ``noaccess``, ``ptraceable``, or ``2`` as older kernels show it); None when it is
    not set, when we are root, or in the group its ``gid`` option exempts."""
    if os.geteuid() == 0:
        return None
    try:
        with open(f"{proc_root}/self/mountinfo", "rb") as mountinfo:
            text = decode_text(mountinfo.read())
    except OSError:
        return None
    options = super_options(text, os.path.realpath(proc_root))
    hidepid = options.get("hidepid")
    if hidepid is None or hidepid in _NOT_HIDING:
        return None
    exempt = options.get("gid")
    if exempt is not None and exempt.isdigit() and int(exempt) in {os.getegid(), *os.getgroups()}:
        return None
    return hidepid


def super_options(mountinfo: str, mount_point: str) -> dict[str, str]:
    """The super options (``name`` or ``name=value``: value "" for the former) of the file system mounted last,
    i.e. on top, at ``mount_point``, from the text of a ``mountinfo`` file."""
    found: dict[str, str] = {}
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if "-" not in fields:
            continue
        separator = fields.index("-")  # after the optional fields
        if len(fields) > separator + 3 and _unescape(fields[4]) == mount_point:
            found = dict(option.partition("=")[::2] for option in fields[separator + 3].split(","))
    return found


def _unescape(path: str) -> str:
    return _ESCAPE.sub(lambda escape: chr(int(escape[1], 8)), path)
