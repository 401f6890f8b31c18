"""Reading one process's files under /proc, and what a failure to read them means.

:func:`outcome_of` is the one place that maps an ``OSError`` to an :class:`Outcome`; the readers below raise
:class:`ProcessSkipped` for a process that cannot be read, and never raise ``OSError``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from enum import Enum
from typing import NamedTuple

from netwatch.backends.compiled import FD_LINKS, load
from netwatch.backends.model.records import Owner
from netwatch.backends.model.text import decode_text
from netwatch.backends.small_files import read_whole

NOT_SOCKET = 0
"""The socket inode recorded for an fd that refers to something else (or to nothing any more)."""
_SOCKET_LINK_PREFIX = "socket:["
_SOCKET_PROTOCOL_ATTRIBUTE = "system.sockprotoname"
"""The extended attribute of a socket's inode that names its protocol (``UNIX``, ``UNIX-STREAM``, ``TCP``...)."""
_VANISHED_ERRNOS = frozenset({errno.ENOENT, errno.ESRCH})
_FD_UNNAMEABLE_ERRNOS = frozenset({errno.EINVAL, errno.ENAMETOOLONG})
_fd_links = load(FD_LINKS)


class Outcome(Enum):
    """What a failed read of a process's file means."""

    VANISHED = "the process exited while being read"
    UNREADABLE = "the process's files may not be read by us"
    SKIP_FD = "this one fd cannot be named (closed meanwhile, or its target path is too long): it is no socket"


class ProcessSkipped(Exception):
    """The process cannot be read (``outcome`` is VANISHED or UNREADABLE): its scan stops, and it is counted."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


class ProcStat(NamedTuple):
    """What the resolver takes from /proc/<pid>/stat."""

    start_time: str
    """In clock ticks since boot: with ``comm``, tells a reused pid (or an ``exec``) from the process cached."""
    comm: str
    """The same kernel text as /proc/<pid>/comm."""
    ppid: int


def outcome_of(error: OSError, fd_link: str | None = None) -> Outcome:
    """What ``error`` reading a file of a process means; ``fd_link`` is the /proc/<pid>/fd/<n> path when the
    error came from ``readlink`` on it.

    ENOENT or ESRCH: the process vanished, except for an fd link whose fd directory still exists (that fd just
    closed). EINVAL or ENAMETOOLONG on an fd link: its target cannot be named, which a socket's always can
    (psutil skips such fds too). Anything else (EACCES, EPERM, ...): unreadable."""
    code = error.errno
    fd_closed = code == errno.ENOENT and fd_link is not None and os.path.isdir(os.path.dirname(fd_link))
    if fd_closed or (fd_link is not None and code in _FD_UNNAMEABLE_ERRNOS):
        return Outcome.SKIP_FD
    return Outcome.VANISHED if code in _VANISHED_ERRNOS else Outcome.UNREADABLE


def read_file(path: str) -> bytes:
    """The bytes of a process's file (``path`` under /proc/<pid>/), read to its end."""
    try:
        return read_whole(path)
    except OSError as error:
        raise ProcessSkipped(outcome_of(error)) from None


def read_optional(path: str) -> bytes | None:
    """The bytes of a process's file, None when it may not be read (the process's other files may be)."""
    try:
        return read_file(path)
    except ProcessSkipped as skipped:
        if skipped.outcome is Outcome.VANISHED:
            raise
        return None


def list_fds(base: str) -> list[str]:
    """The fd numbers (as named in /proc) of the process at ``base`` (/proc/<pid>)."""
    try:
        return os.listdir(f"{base}/fd")
    except OSError as error:
        raise ProcessSkipped(outcome_of(error)) from None


def fd_socket_inode(fd_link: str) -> int:
    """The socket inode that ``fd_link`` (/proc/<pid>/fd/<n>) refers to; NOT_SOCKET for another file, and for an
    fd whose target cannot be named (:data:`Outcome.SKIP_FD`)."""
    try:
        link = os.readlink(fd_link)
    except OSError as error:
        return _unread_link(error, fd_link)
    if link.startswith(_SOCKET_LINK_PREFIX) and link.endswith("]"):
        return int(link[len(_SOCKET_LINK_PREFIX) : -1])
    return NOT_SOCKET


def read_fd_inodes(base: str) -> tuple[list[int], list[int]]:
    """The fd numbers of the process at ``base`` (/proc/<pid>), and the socket inode each refers to (as
    :func:`fd_socket_inode` gives it). Reads each link relative to the fd directory, opened once: a fifth cheaper than
    a path each (~5.8 us a link against ~7, measured; most of it is the kernel's); the compiled reader
    (``_fd_links.c``) where it is built (~2.4 us of Python a link saved)."""
    try:
        directory = os.open(f"{base}/fd", os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise ProcessSkipped(outcome_of(error)) from None
    try:
        if _fd_links is not None:
            try:
                fds, inodes, failures = _fd_links.read(directory)
            except OSError as error:
                raise ProcessSkipped(outcome_of(error)) from None
            for position, code in failures:
                inodes[position] = _unread_link(OSError(code, os.strerror(code)), f"{base}/fd/{fds[position]}")
            return fds, inodes
        try:
            names = os.listdir(directory)
        except OSError as error:
            raise ProcessSkipped(outcome_of(error)) from None
        inodes = []
        append = inodes.append
        readlink = os.readlink
        prefix = _SOCKET_LINK_PREFIX
        start = len(prefix)
        for fd in names:
            try:
                link = readlink(fd, dir_fd=directory)
            except OSError as error:
                append(_unread_link(error, f"{base}/fd/{fd}"))
                continue
            append(int(link[start:-1]) if link.startswith(prefix) and link.endswith("]") else NOT_SOCKET)
        return list(map(int, names)), inodes
    finally:
        os.close(directory)


def _unread_link(error: OSError, fd_link: str) -> int:
    """NOT_SOCKET for an fd link that ``readlink`` failed on with ``error`` but that can be skipped; otherwise raises
    ProcessSkipped."""
    outcome = outcome_of(error, fd_link)
    if outcome is Outcome.SKIP_FD:
        return NOT_SOCKET
    raise ProcessSkipped(outcome) from None


def holds_unix_socket(proc_root: str, owners: Iterable[Owner], inode: int) -> bool | None:
    """Whether socket ``inode``, held by ``owners``, is a Unix socket, as its protocol name says (read through the
    first of their fds that still refers to it); None when none does."""
    for owner in owners:
        fd_link = f"{proc_root}/{owner.pid}/fd/{owner.fd}"
        try:
            if os.stat(fd_link).st_ino != inode:
                continue  # closed meanwhile, and its number reused
            return os.getxattr(fd_link, _SOCKET_PROTOCOL_ATTRIBUTE).startswith(b"UNIX")
        except OSError:
            continue
    return None


PF_KTHREAD = 0x00200000
"""The flag of a kernel thread in /proc/<pid>/stat's flags (include/linux/sched.h)."""


def is_kernel_thread(base: str) -> bool:
    """Whether the process at ``base`` is a kernel thread, which holds no fd (raises ProcessSkipped like
    :func:`read_stat`)."""
    stat = decode_text(read_file(f"{base}/stat"))
    fields = stat[stat.rfind(")") + 2 :].split()
    return len(fields) > 6 and fields[6].isdigit() and bool(int(fields[6]) & PF_KTHREAD)


def read_stat(base: str) -> ProcStat:
    """/proc/<pid>/stat of the process at ``base``; a truncated one (only an exiting process shows that) counts
    as vanished."""
    stat = decode_text(read_file(f"{base}/stat"))
    comm_end = stat.rfind(")")
    fields = stat[comm_end + 2 :].split()
    if comm_end < 0 or len(fields) < 20:
        raise ProcessSkipped(Outcome.VANISHED)
    return ProcStat(fields[19], stat[stat.find("(") + 1 : comm_end], int(fields[1]))
