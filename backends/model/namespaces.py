"""Network namespaces: each one a separate set of sockets (the same 4-tuple may exist in many)."""

from __future__ import annotations

from dataclasses import dataclass

from netwatch.backends.model.containers import Container

INIT_NET_INODE = 0xEFFFFFF9
"""The inode of the host's (the initial) network namespace: fixed by the kernel (PROC_NET_INIT_INO)."""
HOST = "host"
"""The name of the initial network namespace."""


@dataclass(frozen=True, slots=True)
class Namespace:
    """One network namespace whose sockets a snapshot lists.

    ``name``: the ``ip netns`` name where there is one, else the container or unit that holds it, else
    ``net:[INODE]`` (``host`` for the initial namespace). ``pids``: the processes in it (as seen from netwatch's
    pid namespace; none for a namespace kept only by a bind mount)."""

    inode: int
    name: str
    container: Container | None = None
    pids: tuple[int, ...] = ()
    own: bool = False
    """Whether netwatch runs in it."""


def default_name(inode: int) -> str:
    """The name of a namespace with no ``ip netns`` name, container or unit."""
    return HOST if inode == INIT_NET_INODE else f"net:[{inode}]"


class Selection:
    """Which namespaces to show: ``all``, ``self`` (netwatch's own), a NAME (``ip netns`` name, container, unit or
    ``net:[INODE]``), an INODE, or ``pid:PID`` (the namespace a process is in)."""

    def __init__(self, text: str = "all") -> None:
        """Raises ValueError (the message says why, in one line) for a malformed selection."""
        self.text = text
        self.pid: int | None = None
        self.inode: int | None = None
        if text.startswith("pid:"):
            digits = text[4:]
            if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) <= 4194303:
                raise ValueError(f"--netns pid:PID needs a process id, not {digits!r}")
            self.pid = int(digits)
        elif text.isascii() and text.isdigit():
            self.inode = int(text)
        elif not text:
            raise ValueError("--netns needs all, self, a name, an inode or pid:PID")

    @property
    def only_own(self) -> bool:
        return self.text == "self"

    def matches(self, namespace: Namespace) -> bool:
        if self.text == "all":
            return True
        if self.only_own:
            return namespace.own
        if self.pid is not None:
            return self.pid in namespace.pids
        if self.inode is not None:
            return namespace.inode == self.inode
        container = namespace.container
        names = (namespace.name, *((container.id, container.name) if container else ()))
        return self.text in names
