"""Unix sockets whose abstract names forge ``/proc/net/unix`` lines, as any unprivileged process can bind them."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from netwatch.backends.sources.procfs_parse import UNIX_NAME_MAX

FAKE_INODE = 98765432101
"""An inode no socket has (beyond the 32-bit numbers the kernel hands out)."""


def forged_line(inode: int, path: str) -> str:
    """A line exactly as the kernel prints a listening stream socket's (with the pointer hidden)."""
    return f"0000000000000000: 00000002 00000000 00010000 0001 01 {inode:5d} {path}"


@dataclass
class Forgery:
    """A victim listener, and two sockets whose names go on with a forged line after a newline."""

    victim: socket.socket
    victim_path: str
    renaming: socket.socket
    """Its name forges a line giving the victim's inode the path ``/run/innocent.sock``."""
    renaming_name: str
    """As listed: ``@`` for the leading NUL."""
    phantom: socket.socket
    """Its name forges a line of a socket that does not exist (:data:`FAKE_INODE`, ``/run/phantom.sock``)."""
    phantom_first_line: str
    """Its name up to the newline."""


@contextlib.contextmanager
def forged_names() -> Iterator[Forgery]:
    """Bind the victim (in a new directory under /tmp) and the two forging sockets; close them all afterwards."""
    opened: list[socket.socket] = []
    with tempfile.TemporaryDirectory(prefix="netwatch-forged-", dir="/tmp") as directory:
        victim_path = os.path.join(directory, "victim-listener-with-a-long-name.sock")
        # the victim's own line is too long to be the rest of any name: it is sure to be a socket
        assert len(forged_line(0, victim_path)) > UNIX_NAME_MAX
        tag = f"{os.getpid()}-{os.urandom(3).hex()}"
        try:
            victim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            opened.append(victim)
            victim.bind(victim_path)
            victim.listen()
            renaming_name = f"zz-{tag}\n" + forged_line(os.fstat(victim.fileno()).st_ino, "/run/innocent.sock")
            phantom_first_line = f"yy-{tag}"
            renaming, phantom = (socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(2))
            opened += [renaming, phantom]
            renaming.bind("\0" + renaming_name)
            phantom.bind("\0" + phantom_first_line + "\n" + forged_line(FAKE_INODE, "/run/phantom.sock"))
            yield Forgery(victim, victim_path, renaming, "@" + renaming_name, phantom, "@" + phantom_first_line)
        finally:
            for sock in opened:
                sock.close()
