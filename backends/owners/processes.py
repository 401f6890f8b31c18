"""Process records (:class:`Process`) read from /proc/<pid>: name, command line, real uid and user, cgroup, parent."""

from __future__ import annotations

import os

from netwatch.backends.model.containers import cgroup_path, container_of
from netwatch.backends.model.records import Process
from netwatch.backends.model.text import decode_text
from netwatch.backends.owners.proc_files import Outcome, ProcessSkipped, outcome_of, read_optional
from netwatch.backends.owners.users import user_name


def read_process(proc_root: str, pid: int, comm: str) -> Process:
    """The record of process ``pid`` whose comm is known; files we may not read leave their fields unknown.
    Raises :class:`ProcessSkipped` (VANISHED) when the process is gone."""
    base = f"{proc_root}/{pid}"
    cmdline = (read_optional(f"{base}/cmdline") or b"").split(b"\0")
    if cmdline[-1] == b"":
        cmdline.pop()
    status = read_optional(f"{base}/status") or b""
    uid = _real_uid(base, status)
    cgroup = cgroup_path(read_optional(f"{base}/cgroup") or b"")
    return Process(
        pid=pid,
        name=comm,
        cmdline=tuple(decode_text(arg) for arg in cmdline),
        uid=uid,
        user=user_name(uid) if uid is not None else "?",
        cgroup=cgroup,
        container=container_of(cgroup),
        ppid=_status_number(status, b"PPid:"),
    )


def _status_number(status: bytes, field: bytes) -> int | None:
    """The first number of ``field`` (e.g. ``b"Uid:"``) in the text of /proc/PID/status, None if absent."""
    for line in status.split(b"\n"):
        if line.startswith(field):
            value = line[len(field):].split()
            return int(value[0]) if value and value[0].isdigit() else None
    return None


def _real_uid(base: str, status: bytes) -> int | None:
    """The real uid of the process at ``base``: from its ``status``, else its directory's owner; None if
    unreadable."""
    uid = _status_number(status, b"Uid:")
    if uid is not None:
        return uid
    try:
        return os.stat(base).st_uid
    except OSError as error:
        if outcome_of(error) is Outcome.VANISHED:
            raise ProcessSkipped(Outcome.VANISHED) from None
        return None
