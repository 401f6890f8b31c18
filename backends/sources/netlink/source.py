"""NetlinkSource: every TCP/UDP/RAW/Unix socket from NETLINK_SOCK_DIAG dumps."""

from __future__ import annotations

import errno
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from netwatch.backends.model.names import INET_FAMILIES, INET_PROTOS
from netwatch.backends.model.source_result import BackendUnavailable, SourceResult
from netwatch.backends.sources.cgroups import CgroupPaths
from netwatch.backends.sources.netlink import inet, unix
from netwatch.backends.sources.netlink.transport import DiagSocket, DumpFailed, Message
from netwatch.backends.sources.procfs import ProcfsSource, sockets_from_rows

_Decode = Callable[[list[Message], dict, "dict | None", "list[int] | None"], int]
"""decode(messages, new records, reused records or None, fingerprints or None) -> malformed messages skipped."""

DUMP_ATTEMPTS = 3
"""Dumps the kernel flags as interrupted (NLM_F_DUMP_INTR) are redone up to this many times in all."""

INET_DUMPS = tuple((proto, family) for proto in INET_PROTOS for family in INET_FAMILIES)
UNIX_DUMP = ("unix", "unix")


class NetlinkSource:
    """The primary backend (Linux sock_diag). One instance may be reused for many snapshots."""

    name = "netlink"
    reports_owners = False

    def __init__(self, reuse_records: bool = False) -> None:
        """``reuse_records``: a TCP/UDP/RAW socket whose kernel values did not change since the previous
        collection (but for an idle socket's clocks) keeps that collection's record (``SourceResult.reused``),
        undecoded: a live view's refresh then costs what changed, not what exists."""
        self._cgroups = CgroupPaths()
        self._inet = inet.InetDecoder(self._cgroups.path_of)
        self._reuse = reuse_records

    def collect(self) -> SourceResult:
        """Dump every socket (the families sock_diag cannot dump are read from /proc/net)."""
        with _gc_paused():
            return self._collect()

    def _collect(self) -> SourceResult:
        self._cgroups.start_snapshot()
        try:
            diag = DiagSocket()
        except OSError as error:
            raise BackendUnavailable(f"cannot open a NETLINK_SOCK_DIAG socket: {error.strerror or error}") from None
        by_key: dict = {}
        reused: dict | None = {} if self._reuse else None
        warnings: list[str] = []
        unavailable: list[tuple[str, str]] = []
        if self._reuse:
            self._inet.start_dump(time.monotonic())
        with diag:
            for proto, family in INET_DUMPS:
                request = inet.build_request(proto, family)
                decode = self._inet_decoder(proto)
                reuse = partial(self._inet.splitter_reuse, proto) if self._reuse else None
                self._dump_into(diag, request, decode, (proto, family), (by_key, reused), reuse, warnings,
                                unavailable)  # fmt: skip
            self._dump_into(diag, unix.build_request(), _decode_unix, UNIX_DUMP, (by_key, None), None, warnings,
                            unavailable)  # fmt: skip
        if len(unavailable) == len(INET_DUMPS) + 1:
            raise BackendUnavailable("sock_diag answered every dump with an error")
        sockets = sockets_from_rows(_read_procfs(unavailable, warnings).values())
        sockets.extend(sock for sock in by_key.values() if sock is not None)  # None: a place left by a bad message
        return SourceResult(
            sockets=sockets,
            reused=reused or {},
            warnings=tuple(warnings),
            unavailable=tuple(unavailable),
        )

    def _inet_decoder(self, proto: str) -> _Decode:
        return lambda messages, into, reused, fingerprints: self._inet.decode(
            messages, proto, into, reused, fingerprints
        )

    @staticmethod
    def _dump_into(
        diag: DiagSocket,
        request: bytes,
        decode: _Decode,
        what: tuple[str, str],
        into: tuple[dict, dict | None],
        reuse: Callable[[dict, dict], tuple] | None,
        warnings: list[str],
        unavailable: list[tuple[str, str]],
    ) -> None:
        """Run one dump (redone while interrupted, bounded), decoding it as it arrives, into ``into``: (new
        records, reused records or None); ``reuse`` gives the compiled splitter's reuse state for the dicts of
        reused and of all records."""
        label = "/".join(dict.fromkeys(what))
        skipped = 0

        def consume(messages: list[Message], fingerprints: list[int] | None) -> None:
            nonlocal skipped
            skipped += decode(messages, decoded, reused, fingerprints)

        try:
            for _attempt in range(DUMP_ATTEMPTS):
                decoded: dict = {}
                reused: dict | None = None if into[1] is None else {}
                skipped = 0
                splitter_reuse = reuse(reused, decoded) if reuse and reused is not None else None
                if not diag.stream(request, consume, splitter_reuse):
                    break
            else:
                warnings.append(f"{label} dump interrupted {DUMP_ATTEMPTS} times (sockets changing fast): "
                                "some may be missing or listed twice")  # fmt: skip
        except DumpFailed as error:
            unavailable.append(what)
            reason = "not supported by this kernel" if error.errno == errno.ENOENT else error.strerror
            warnings.append(f"netlink cannot dump {label} sockets ({reason}): read from /proc/net instead")
            return
        except OSError as error:
            unavailable.append(what)
            warnings.append(f"netlink dump of {label} sockets failed ({error.strerror or error}): "
                            "read from /proc/net instead")  # fmt: skip
            return
        into[0].update(decoded)
        if reused:
            into[1].update(reused)
        if skipped:
            warnings.append(f"skipped {skipped} malformed {label} sock_diag message(s)")


def _decode_unix(messages: list[Message], into: dict, _reused: dict | None, _fingerprints: None) -> int:
    return unix.decode_unix(messages, into)


def _read_procfs(families: list[tuple[str, str]], warnings: list[str]) -> dict:
    """Rows for the families netlink could not dump, read from /proc/net (empty if it is unreadable too)."""
    if not families:
        return {}
    try:
        rows, procfs_warnings = ProcfsSource(only=families).read_rows()
    except BackendUnavailable as error:
        warnings.append(str(error))
        return {}
    warnings.extend(procfs_warnings)
    return rows


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while a snapshot is built.

    A snapshot allocates several container objects per socket, none of them cyclic; with 100,000
    sockets the collector would otherwise rescan the growing heap again and again (measured: ~40% of
    the collection time). Afterwards the new objects go straight to the oldest generation (``freeze``
    then ``unfreeze``: two list splices) instead of being traversed by the young collection that
    re-enabling would trigger at once (~0.2 s at 100,000 sockets, holding the GIL, so a UI thread
    freezes too); they stay collectable by full collections. When the application keeps objects
    frozen itself (the TUI does), ``unfreeze`` would release those too: the new objects stay frozen
    with them, as the application would freeze them next anyway.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            application_freezes = gc.get_freeze_count() > 0
            gc.freeze()
            if not application_freezes:
                gc.unfreeze()
            gc.enable()
