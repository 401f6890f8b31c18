"""NetlinkSource: every TCP/UDP/RAW/Unix socket from NETLINK_SOCK_DIAG dumps."""

from __future__ import annotations

import errno
import gc
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import NamedTuple

from netwatch.backends.model.names import INET_FAMILIES, INET_PROTOS
from netwatch.backends.model.records import Socket, SocketKey
from netwatch.backends.model.source_result import BackendUnavailable, SourceResult
from netwatch.backends.sources.cgroups import CgroupPaths
from netwatch.backends.sources.netlink import inet, unix
from netwatch.backends.sources.netlink.transport import (
    SOCK_DIAG_BY_FAMILY,
    TCPDIAG_GETSOCK,
    DiagSocket,
    DumpFailed,
    Message,
)
from netwatch.backends.sources.procfs import ProcfsSource, sockets_from_rows


class _Dump(NamedTuple):
    """How one dump's replies are read: ``decode(messages, into, fingerprints) -> malformed messages skipped``, and
    ``splitter_reuse(into)``, what the compiled splitter needs to keep unchanged records into ``into`` (or None)."""

    decode: Callable[[list[Message], dict, list[int] | None], int]
    splitter_reuse: Callable[[dict], tuple | None]

DUMP_ATTEMPTS = 3
"""Dumps the kernel flags as interrupted (NLM_F_DUMP_INTR) are redone up to this many times in all."""

INET_DUMPS = tuple((proto, family) for proto in INET_PROTOS for family in INET_FAMILIES)
UNIX_DUMP = ("unix", "unix")


class NetlinkSource:
    """The primary backend (Linux sock_diag). One instance may be reused for many snapshots."""

    name = "netlink"
    reports_owners = False

    def __init__(self, reuse_records: bool = False) -> None:
        """``reuse_records``: a TCP/UDP/RAW socket whose kernel values did not change since the previous snapshot
        (but for an idle socket's clocks) keeps that snapshot's record, undecoded: a live view's refresh then
        costs what changed, not what exists."""
        self._cgroups = CgroupPaths()
        self._inet = inet.InetDecoder(self._cgroups.path_of)
        self._reuse = reuse_records

    def collect(self, previous: Mapping[SocketKey, Socket] | None = None) -> SourceResult:
        """Dump every socket (the families sock_diag cannot dump are read from /proc/net); keeping the
        ``previous`` record of each unchanged TCP/UDP/RAW socket where the source was made to reuse records."""
        with _gc_paused(keep_frozen=self._reuse):
            return self._collect(previous)

    def _collect(self, previous: Mapping[SocketKey, Socket] | None) -> SourceResult:
        self._cgroups.start_snapshot()
        try:
            diag = DiagSocket()
        except OSError as error:
            raise BackendUnavailable(f"cannot open a NETLINK_SOCK_DIAG socket: {error.strerror or error}") from None
        by_key: dict = {}
        warnings: list[str] = []
        unavailable: list[tuple[str, str]] = []
        observed_at = time.monotonic() if self._reuse else None
        if observed_at is not None:
            self._inet.start_dump(observed_at, previous)
        with diag:
            self._dump_tcp(diag, by_key, warnings, unavailable)
            for proto, family in INET_DUMPS:
                if proto != "tcp":
                    request = inet.build_request(proto, family)
                    self._dump_into(diag, request, self._inet_decoder(proto), (proto, family), by_key, warnings,
                                    unavailable)  # fmt: skip
            self._dump_into(diag, unix.build_request(), _decode_unix, UNIX_DUMP, by_key, warnings, unavailable)
        if len(unavailable) == len(INET_DUMPS) + 1:
            raise BackendUnavailable("sock_diag answered every dump with an error")
        sockets = sockets_from_rows(_read_procfs(unavailable, warnings).values())
        sockets.extend(filter(None, by_key.values()))  # None: the place of a message the decoder found malformed
        return SourceResult(
            sockets=sockets, observed_at=observed_at, warnings=tuple(warnings), unavailable=tuple(unavailable)
        )

    def _inet_decoder(self, proto: str) -> _Dump:
        decoder = self._inet
        return _Dump(
            lambda messages, into, fingerprints: decoder.decode(messages, proto, into, fingerprints),
            partial(decoder.splitter_reuse, proto),
        )

    def _dump_tcp(self, diag: DiagSocket, into: dict, warnings: list[str], unavailable: list[tuple[str, str]]) -> None:
        """TCP sockets of both families in one dump (one walk of the kernel's tables, see
        :func:`inet.build_tcp_request`); one dump per family where the kernel refuses that request."""
        decoder = self._inet_decoder("tcp")
        try:
            self._dump_into(diag, inet.build_tcp_request(), decoder, ("tcp", "tcp"), into, warnings, unavailable,
                            request_type=TCPDIAG_GETSOCK, strict=True)  # fmt: skip
        except OSError:
            for family in INET_FAMILIES:
                self._dump_into(diag, inet.build_request("tcp", family), decoder, ("tcp", family), into, warnings,
                                unavailable)  # fmt: skip

    @staticmethod
    def _dump_into(
        diag: DiagSocket,
        request: bytes,
        dump: _Dump,
        what: tuple[str, str],
        into: dict,
        warnings: list[str],
        unavailable: list[tuple[str, str]],
        request_type: int = SOCK_DIAG_BY_FAMILY,
        strict: bool = False,
    ) -> None:
        """Run one dump (redone while interrupted, bounded), decoding it as it arrives, into ``into``. A dump the
        kernel refuses is noted in ``unavailable`` and ``warnings``, or raises (``strict``)."""
        label = "/".join(dict.fromkeys(what))
        skipped = 0

        def consume(messages: list[Message], fingerprints: list[int] | None) -> None:
            nonlocal skipped
            skipped += dump.decode(messages, decoded, fingerprints)

        try:
            for _attempt in range(DUMP_ATTEMPTS):
                decoded: dict = {}
                skipped = 0
                if not diag.stream(request, consume, dump.splitter_reuse(decoded), request_type):
                    break
            else:
                warnings.append(f"{label} dump interrupted {DUMP_ATTEMPTS} times (sockets changing fast): "
                                "some may be missing or listed twice")  # fmt: skip
        except DumpFailed as error:
            if strict:
                raise
            unavailable.append(what)
            reason = "not supported by this kernel" if error.errno == errno.ENOENT else error.strerror
            warnings.append(f"netlink cannot dump {label} sockets ({reason}): read from /proc/net instead")
            return
        except OSError as error:
            if strict:
                raise
            unavailable.append(what)
            warnings.append(f"netlink dump of {label} sockets failed ({error.strerror or error}): "
                            "read from /proc/net instead")  # fmt: skip
            return
        into.update(decoded)
        if skipped:
            warnings.append(f"skipped {skipped} malformed {label} sock_diag message(s)")


_decode_unix = _Dump(lambda messages, into, _fingerprints: unix.decode_unix(messages, into), lambda _into: None)


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
def _gc_paused(keep_frozen: bool) -> Iterator[None]:
    """Suspend the cyclic garbage collector while a snapshot is built.

    A snapshot allocates several container objects per socket, none of them cyclic; with 100,000
    sockets the collector would otherwise rescan the growing heap again and again (measured: ~40% of
    the collection time). Afterwards the new objects go straight to the oldest generation (``freeze``
    then ``unfreeze``: two list splices) instead of being traversed by the young collection that
    re-enabling would trigger at once (~0.2 s at 100,000 sockets, holding the GIL, so a UI thread
    freezes too); they stay collectable by full collections. ``keep_frozen`` (a live view, which keeps
    its snapshots and freezes what survives a refresh itself, see the TUI's GcPolicy): they stay frozen,
    as ``unfreeze`` would release the application's frozen objects too (and asking whether there are any,
    ``gc.get_freeze_count``, walks them all: ~25 ms at 100,000 sockets).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            if not keep_frozen:
                gc.unfreeze()
            gc.enable()
