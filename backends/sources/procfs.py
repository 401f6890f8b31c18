"""The procfs backend: sockets from ``/proc/net/*`` text tables, for kernels or sandboxes without sock_diag.

Knows less than netlink (and says so in every snapshot): no cookie (keys are the endpoints plus the inode), no
tcp_info/meminfo/congestion, no Unix peers or queues, and a LISTEN socket's Send-Q (backlog limit) is not exposed
(see :mod:`.procfs_parse`): what it cannot know is None in the records.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from netwatch.backends.model.namespaces import Namespace, Selection, default_name
from netwatch.backends.model.records import Socket, SocketKey
from netwatch.backends.model.source_result import BackendUnavailable, SourceResult
from netwatch.backends.model.text import decode_text
from netwatch.backends.sources.netns import Namespaces, own_netns

if TYPE_CHECKING:
    from netwatch.backends.sources.procfs_parse import Row, UnixTable, UnixVerifier

PROCFS_TABLES: dict[str, tuple[str, str]] = {
    "tcp": ("tcp", "ipv4"),
    "tcp6": ("tcp", "ipv6"),
    "udp": ("udp", "ipv4"),
    "udp6": ("udp", "ipv6"),
    "raw": ("raw", "ipv4"),
    "raw6": ("raw", "ipv6"),
    "unix": ("unix", "unix"),
}
"""File name under /proc/net -> the (proto, family) it lists."""
UNSEEN = (
    "procfs: no tcp_info (rtt, rates), socket memory, congestion control or cgroups; no backlog (send-q) of TCP "
    "listeners; no queues or peers of Unix sockets"
)
"""What this backend cannot see (said in every snapshot's warnings)."""


class ProcfsSource:
    """Reads ``/proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}``; ``only`` restricts to those (proto, family) pairs.

    A table that cannot be read (e.g. ``tcp6`` without IPv6) gives a warning; if none can be read at all,
    :class:`BackendUnavailable` is raised. Dumps are read file by file and are not atomic: duplicate lines are
    de-duplicated by key. ``verify_unix`` tells which inodes processes hold as Unix sockets (the collector passes
    its owner lookup): without it, no ``/proc/net/unix`` line that may be the rest of a name is taken for a socket
    (see :func:`.procfs_parse.unix_rows`).
    """

    name = "procfs"
    reports_owners = False
    close_events = None

    def __init__(
        self,
        only: Collection[tuple[str, str]] | None = None,
        *,
        proc_net: str = "/proc/net",
        netns: Namespace | None = None,
        verify_unix: UnixVerifier | None = None,
        namespaces: Selection | None = None,
    ) -> None:
        """``netns``: the network namespace ``proc_net`` shows (default: netwatch's own, where /proc tells), whose
        inode is part of each socket's key. ``namespaces``: :meth:`collect` reads these namespaces instead, each
        through ``/proc/<pid>/net`` of one of its processes."""
        self.only = None if only is None else frozenset(only)
        self.proc_net = proc_net
        if netns is None and (inode := own_netns()) is not None:
            netns = Namespace(inode, default_name(inode), own=True)
        self.netns = netns
        self.verify_unix = verify_unix
        self._selection = namespaces
        self._namespaces = Namespaces() if namespaces is not None else None

    def close(self) -> None:
        """Nothing is held open between collections."""

    def collect(self, previous: Mapping[SocketKey, Socket] | None = None) -> SourceResult:
        """Read every selected table (of every selected namespace)."""
        if self._namespaces is None or self._selection is None:
            rows, warnings = self.read_rows()
            namespaces = () if self.netns is None else (self.netns,)
            return SourceResult(
                sockets=sockets_from_rows(rows), warnings=(UNSEEN, *warnings), namespaces=namespaces
            )
        rows, warnings, shown = {}, [UNSEEN], []
        for found in self._namespaces.enumerate().found.values():
            namespace = found.namespace
            if not self._selection.matches(namespace) or not (namespace.own or namespace.pids):
                continue
            proc_net = self.proc_net if namespace.own else f"/proc/{namespace.pids[0]}/net"
            reader = ProcfsSource(self.only, proc_net=proc_net, netns=namespace, verify_unix=self.verify_unix)
            try:
                found_rows, found_warnings = reader.read_rows()
            except BackendUnavailable as error:
                if namespace.own:
                    raise
                warnings.append(f"network namespace {namespace.name}: {error}")
                continue
            rows.update(found_rows)
            warnings.extend(found_warnings)
            shown.append(namespace)
        return SourceResult(sockets=sockets_from_rows(rows), warnings=tuple(warnings),
                            namespaces=tuple(shown))  # fmt: skip

    def read_rows(self) -> tuple[dict[SocketKey, Row], tuple[str, ...]]:
        """The selected tables' sockets as field rows without owners, by key, and the warnings reading them."""
        # The parsers are imported here: the netlink source imports this module for the tables the kernel cannot
        # dump, which it seldom reads (importing them cost every --once ~2 ms).
        from netwatch.backends.sources.procfs_parse import inet_rows, unix_rows

        rows: dict[SocketKey, Row] = {}
        warnings: list[str] = []
        tables_read = 0
        for file_name, (proto, family) in PROCFS_TABLES.items():  # unix last: its lines are checked against the rest
            if self.only is not None and (proto, family) not in self.only:
                continue
            path = os.path.join(self.proc_net, file_name)
            try:
                with open(path, "rb") as table:
                    text = decode_text(table.read())
            except OSError as error:
                warnings.append(f"procfs: cannot read {path}: {error.strerror or error}")
                continue
            tables_read += 1
            if proto == "unix":
                unix = unix_rows(text, {row["inode"] for row in rows.values()}, self.verify_unix)
                parsed, malformed = unix.rows, unix.malformed
                warnings.extend(_name_warnings(unix))
            else:
                parsed, malformed = inet_rows(text, proto, family)
            if malformed:
                warnings.append(f"procfs: skipped {malformed} malformed lines in {path}")
            _add_unique(rows, parsed)
        if tables_read == 0 and (self.only is None or self.only):
            raise BackendUnavailable(f"procfs: no socket table readable under {self.proc_net}")
        inode, name = (self.netns.inode, self.netns.name) if self.netns is not None else (None, None)
        for row in rows.values():
            row["key"] = (*row["key"], inode)
            row["netns"], row["netns_inode"] = name, inode
        return {row["key"]: row for row in rows.values()}, tuple(warnings)


def _name_warnings(unix: UnixTable) -> list[str]:
    """What was made of the Unix socket lines that may be the rest of a name containing a newline."""
    warnings = []
    if unix.continued:
        warnings.append(f"procfs: {unix.continued} Unix socket line(s) forged inside a name containing a newline "
                        "(their socket is listed elsewhere, or is none): read as part of that name")  # fmt: skip
    if unix.ambiguous:
        warnings.append(f"procfs: {unix.ambiguous} Unix socket line(s) ambiguous (the rest of a name containing a "
                        "newline, or a socket no readable process holds): skipped")  # fmt: skip
    return warnings


def sockets_from_rows(rows: Mapping[SocketKey, Row]) -> dict[SocketKey, Socket]:
    """Socket records (without owners) for procfs field rows, by key (a row's own)."""
    return {key: Socket(**row) for key, row in rows.items()}


def _add_unique(rows: dict[SocketKey, Row], parsed: list[Row]) -> None:
    """Add ``parsed`` by key: a repeated key is the same socket listed twice by a non-atomic read, except for
    inode-less Unix sockets whose kernel pointer is hidden (all zeros): those are distinct and get a counter."""
    for row in parsed:
        key = row["key"]
        if row["proto"] == "unix" and not row["inode"] and not key[-1].strip("0"):
            number = 0
            while key in rows:
                number += 1
                key = (*row["key"], number)
            row["key"] = key
        rows[key] = row
