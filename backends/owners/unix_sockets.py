"""Which sockets that processes hold are Unix sockets (for the ``/proc/net/unix`` lines that may be forged),
remembered across snapshots: a socket's protocol never changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from netwatch.backends.model.records import Owner
from netwatch.backends.owners.proc_files import holds_unix_socket


class UnixSockets:
    """Answers whether a held socket is a Unix socket (see :func:`.proc_files.holds_unix_socket`); an answer is
    kept while the socket is asked about in consecutive snapshots, so that a refresh of 100,000 sockets reads no
    socket's protocol again."""

    def __init__(self) -> None:
        self._known: dict[int, bool] = {}

    def check(self, proc_root: str, owners: Mapping[int, tuple[Owner, ...]]) -> Callable[[int], bool | None]:
        """The check for one snapshot, whose owner lookup (in ``proc_root``) found ``owners``: None for an inode
        no process holds. The answers of the previous snapshot's check it is not asked again are forgotten."""
        known, self._known = self._known, {}

        def is_unix(inode: int) -> bool | None:
            held = owners.get(inode)
            if not held:
                return None
            verdict = known.get(inode)
            if verdict is None:
                verdict = holds_unix_socket(proc_root, held, inode)
            if verdict is not None:
                self._known[inode] = verdict
            return verdict

        return is_unix
