"""NetlinkSource: every TCP/UDP/RAW/Unix socket from NETLINK_SOCK_DIAG dumps."""

from __future__ import annotations

import errno
import gc
import os
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from netwatch.backends.model.names import INET_FAMILIES, INET_PROTOS
from netwatch.backends.model.namespaces import Namespace, Selection
from netwatch.backends.model.records import Socket, SocketKey
from netwatch.backends.model.source_result import BackendUnavailable, SourceResult
from netwatch.backends.small_files import read_whole
from netwatch.backends.sources.cgroups import CgroupPaths
from netwatch.backends.sources.netlink import inet, unix
from netwatch.backends.sources.netlink.transport import (
    SOCK_DIAG_BY_FAMILY,
    TCPDIAG_GETSOCK,
    DiagSocket,
    DumpFailed,
    Message,
)
from netwatch.backends.sources.netns import (
    NO_RIGHTS,
    Found,
    Namespaces,
    NamespaceUnavailable,
    open_inside,
)
from netwatch.backends.sources.procfs import ProcfsSource, sockets_from_rows

if TYPE_CHECKING:
    from netwatch.backends.process_events import EventReader
    from netwatch.backends.sources.netlink.close_events import CloseEvents


class _Dump(NamedTuple):
    """How one dump's replies are read: ``decode(messages, into, fingerprints) -> malformed messages skipped``, and
    ``splitter_reuse(dump, into)``, what the compiled splitter needs to keep unchanged records into ``into`` in dump
    ``dump`` (its label; or None); None where no record is ever kept (every one is decoded anew)."""

    decode: Callable[[list[Message], dict, list[int] | None], int]
    splitter_reuse: Callable[[str, dict], tuple | None] | None

LOOKUP_PROTOS = frozenset(("tcp", "udp"))
"""The protocols :meth:`NetlinkSource.details` looks sockets up in (RAW ones are found by protocol number)."""
LOOKUP_BATCH = 1000
"""Lookups sent at once: their replies must fit the socket's receive buffer (~1 KB each, 4 MiB)."""
DUMP_ATTEMPTS = 3
"""Dumps the kernel flags as interrupted (NLM_F_DUMP_INTR) are redone up to this many times in all."""
NAMESPACES_EVERY = 10.0
"""Seconds a live source keeps its list of namespaces while no process comes or goes (see
``Namespaces.enumerate``)."""

INET_DUMPS = tuple((proto, family) for proto in INET_PROTOS for family in INET_FAMILIES)
UNIX_DUMP = ("unix", "unix")


class NetlinkSource:
    """The primary backend (Linux sock_diag). One instance may be reused for many snapshots."""

    name = "netlink"
    reports_owners = False

    def __init__(
        self,
        reuse_records: bool = False,
        netns: Selection | None = None,
        extensions: int = inet.ALL_EXTENSIONS,
        process_events: EventReader | None = None,
    ) -> None:
        """``reuse_records``: a TCP/UDP/RAW socket whose kernel values did not change since the previous snapshot
        (but for an idle socket's clocks) keeps that snapshot's record, undecoded: a live view's refresh then
        costs what changed, not what exists. ``netns``: the network namespaces to dump (default: every one
        netwatch can enter). ``extensions``: the sock_diag extensions the TCP/UDP/RAW dumps ask for (idiag_ext,
        e.g. ``inet.TABLE_EXTENSIONS``); :meth:`details` reads the others for a few sockets. ``process_events``: proc
        connector events, which tell a live source that its list of namespaces still stands without listing /proc."""
        self._extensions = extensions
        self._cgroups = CgroupPaths()
        self._inet = inet.InetDecoder(self._cgroups.path_of)
        self._reuse = reuse_records
        self._selection = netns or Selection()
        self._namespaces = Namespaces(events=process_events)
        self._diag: dict[int, DiagSocket] = {}
        """One sock_diag socket per namespace entered (netwatch's own included), closed when it is gone."""
        self._known_tcp: dict[int, _KnownTcp] = {}
        """Per namespace holding few TCP sockets, those sockets as last read and the counters they were read at."""
        self._close_events: CloseEvents | None = None
        self._close_events_failed = ""
        """Why close events cannot be read here, once they could not."""
        self._names: dict[int, str] = {}
        """What each namespace was called at the last snapshot."""
        self._refused: dict[tuple[str, str], str] = {}
        """(proto, family) dumps the kernel refused (e.g. RAW without raw_diag): read from /proc/net at once."""
        self._built: list[SocketKey] = []
        """Keys of the records the collection in progress built apart from the inet decoder (which notes its own):
        Unix sockets and those read from /proc/net."""

    def collect(self, previous: Mapping[SocketKey, Socket] | None = None) -> SourceResult:
        """Dump every socket of the selected namespaces (the families sock_diag cannot dump are read from
        /proc/<pid>/net), keeping the ``previous`` record of each unchanged TCP/UDP/RAW socket where the source was
        made to reuse records."""
        was_enabled = gc.isenabled()
        gc.disable()  # see _enable_gc
        built = 0
        try:
            result = self._collect(previous)
            built = len(result.sockets if result.built is None else result.built)
            return result
        finally:
            if was_enabled:
                _enable_gc(built, keep_frozen=self._reuse)

    def details(self, sockets: Iterable[Socket]) -> dict[SocketKey, Socket]:
        """Every extension of those of ``sockets`` that are TCP or UDP records of this source's snapshots, read
        again (one lookup each: the kernel's hash tables, not a dump), as new records without owners, by key; the
        others, and sockets gone meanwhile, are left out."""
        wanted: dict[tuple[int | None, str, str | None], list[Socket]] = {}
        for sock in sockets:
            if sock.proto in LOOKUP_PROTOS and sock.cookie is not None and sock.netns_inode in self._diag:
                wanted.setdefault((sock.netns_inode, sock.proto, sock.netns), []).append(sock)
        found: dict[SocketKey, Socket] = {}
        for (netns, proto, name), batch in wanted.items():
            diag = self._diag[netns]
            for start in range(0, len(batch), LOOKUP_BATCH):
                requests = [inet.build_lookup(sock) for sock in batch[start : start + LOOKUP_BATCH]]
                try:
                    messages, _gone = diag.query(requests)
                except OSError:
                    break
                found.update(self._inet.decode_detached(messages, proto, netns, name))
        return found

    @property
    def close_events(self) -> CloseEvents | None:
        """The subscription to close events of a live source (after its first collection), else None."""
        return self._close_events

    def close(self) -> None:
        """Close the sock_diag sockets (each one keeps its namespace alive) and stop reading close events."""
        for diag in self._diag.values():
            diag.close()
        self._diag.clear()
        if self._close_events is not None:
            self._close_events.close()
            self._close_events = None

    def _collect(self, previous: Mapping[SocketKey, Socket] | None) -> SourceResult:
        self._cgroups.start_snapshot()
        enumeration = self._namespaces.enumerate(NAMESPACES_EVERY if self._reuse else 0.0)
        chosen = [found for found in enumeration.found.values() if self._selection.matches(found.namespace)]
        for gone in self._diag.keys() - enumeration.found.keys():
            self._diag.pop(gone).close()
        for gone in self._names.keys() - enumeration.found.keys():
            del self._names[gone]
        for gone in self._known_tcp.keys() - enumeration.found.keys():
            del self._known_tcp[gone]
        by_key: dict = {}
        warnings: list[str] = []
        closes = tuple(self._close_events.take()) if self._close_events is not None else ()  # before the dump: they
        observed_at = time.monotonic() if self._reuse else None  # are of sockets gone before it
        if observed_at is not None:
            self._inet.start_dump(observed_at, previous)
        self._built = []
        shown: list[Found] = []
        own_unavailable: list[tuple[str, str]] = []
        refused = 0
        chosen.sort(key=lambda found: not found.namespace.own)  # netwatch's own first: its failure is fatal
        for found in chosen:
            namespace = found.namespace
            try:
                diag = self._diag_socket(found)
            except NamespaceUnavailable as error:
                refused += not error.gone
                continue
            except OSError as error:
                if namespace.own:
                    raise BackendUnavailable(
                        f"cannot open a NETLINK_SOCK_DIAG socket: {error.strerror or error}"
                    ) from None
                warnings.append(f"network namespace {namespace.name}: no sock_diag socket ({error.strerror})")
                continue
            unavailable: list[tuple[str, str]] = []
            self._dump_namespace(diag, namespace, by_key, warnings, unavailable)
            if namespace.own:
                if len(unavailable) == len(INET_DUMPS) + 1:
                    raise BackendUnavailable("sock_diag answered every dump with an error")
                own_unavailable = unavailable
            if unavailable:
                self._read_procfs(found, unavailable, by_key, warnings)
            shown.append(found)
        warnings.extend(_skipped(refused, enumeration.unreadable))
        if not chosen:
            warnings.append(f"no network namespace matches --netns {self._selection.text}")
        return SourceResult(
            sockets=by_key,
            observed_at=observed_at,
            built=None if observed_at is None else [*self._inet.decoded, *self._built],
            warnings=tuple(dict.fromkeys(warnings)),
            unavailable=tuple(own_unavailable),
            namespaces=tuple(found.namespace for found in shown),
            closes=closes,
            closes_lost=self._follow_close_events(shown, warnings) if self._reuse else None,
        )

    def _follow_close_events(self, shown: list[Found], warnings: list[str]) -> int | None:
        """Read the close events of the namespaces ``shown`` (from the next collection on): subscribe to new ones,
        let go of those gone. Returns how many were lost so far (None: they cannot be read; ``warnings`` say why)."""
        if self._close_events_failed:
            warnings.append(self._close_events_failed)
            return None
        from netwatch.backends.sources.netlink.close_events import CloseEvents, diag_socket  # a live source's only

        events = self._close_events
        try:
            if events is None:
                own = next((found.namespace for found in shown if found.namespace.own), None)
                events = self._close_events = CloseEvents(own.inode if own else None, own.name if own else None)
            wanted = {found.namespace.inode: found for found in shown if not found.namespace.own}
            for gone in events.subscribed() - wanted.keys() - {own_inode for own_inode in _own(shown)}:
                events.unsubscribe(gone)
            for inode in wanted.keys() - events.subscribed():
                found = wanted[inode]
                proc_net = f"/proc/{found.namespace.pids[0]}/net" if found.namespace.pids else ""
                events.subscribe(inode, found.namespace.name, partial(open_inside, found, diag_socket), proc_net)
        except (OSError, NamespaceUnavailable) as error:
            if events is None:
                self._close_events_failed = (f"close events unavailable ({error}): connections opened and closed "
                                             "between two refreshes are not seen")  # fmt: skip
                warnings.append(self._close_events_failed)
                return None
        lost = events.lost
        if lost:
            warnings.append(f"{lost} close event{'s' if lost != 1 else ''} lost (the kernel's buffer overflowed): "
                            "short-lived connections among them are not counted")  # fmt: skip
        return lost

    def _diag_socket(self, found: Found) -> DiagSocket:
        """The namespace's sock_diag socket (made inside it on first use)."""
        inode = found.namespace.inode
        diag = self._diag.get(inode)
        if diag is None:
            diag = self._diag[inode] = DiagSocket() if found.namespace.own else open_inside(found, DiagSocket)
        return diag

    def _dump_namespace(
        self, diag: DiagSocket, namespace: Namespace, into: dict, warnings: list[str],
        unavailable: list[tuple[str, str]],
    ) -> None:
        """Every socket sock_diag can dump in one namespace, into ``into``; the (proto, family) pairs it cannot
        dump into ``unavailable``."""
        netns, name = namespace.inode, namespace.name
        self._inet.start_namespace(netns, name, keep=self._names.get(netns, name) == name)
        self._names[netns] = name
        proc_net = "/proc/self/net" if namespace.own else f"/proc/{namespace.pids[0]}/net" if namespace.pids else ""
        counts = _counts(proc_net) if proc_net else None
        if counts is None:
            self._dump_tcp(diag, into, warnings, unavailable)
        else:
            self._tcp_of_namespace(diag, netns, counts.tcp, into, warnings, unavailable)
        for proto, family in INET_DUMPS:  # a table the namespace has no socket in is not walked (nor read from /proc)
            if proto != "tcp" and (counts is None or counts.in_use.get((proto, family), 1)):
                request = inet.build_request(proto, family, self._extensions)
                self._dump_into(diag, request, self._inet_decoder(proto), (proto, family), into, warnings,
                                unavailable)  # fmt: skip
        unix_dump = _Dump(lambda messages, into, _prints: unix.decode_unix(messages, into, netns, name), None)
        self._dump_into(diag, unix.build_request(), unix_dump, UNIX_DUMP, into, warnings, unavailable)

    def _tcp_of_namespace(
        self, diag: DiagSocket, inode: int, signature: tuple[bytes, ...], into: dict, warnings: list[str],
        unavailable: list[tuple[str, str]],
    ) -> None:
        """The TCP sockets of a namespace. A TCP dump walks the kernel's hash table of every namespace's sockets
        (measured: 17 ms in an empty namespace beside 50,000 sockets; 2.2-3.6 ms on an idle host, with 262,144
        buckets), so where the namespace holds at most :data:`LOOKUPS_AT_MOST` of them and its TCP counters
        (``signature``, see :func:`_counts`) did not move since its last dump, its sockets are asked for one by one
        (a hash lookup each, ~8 us) instead; one of them gone, or every :data:`FULL_DUMP_EVERY` refreshes (a
        SYN_RECV request socket moves no counter), it is dumped whole again. A namespace with no TCP socket in use
        or in TIME_WAIT (a SYN_RECV one needs a listener) is not dumped."""
        if signature[:3] == (b"0", b"0", b"0"):  # inuse (IPv4, IPv6), tw
            self._known_tcp[inode] = _KnownTcp(signature, [], 0)
            return
        if sum(int(count) if count.isdigit() else LOOKUPS_AT_MOST for count in signature[:3]) > LOOKUPS_AT_MOST:
            self._known_tcp.pop(inode, None)  # dumped straight into ``into``: no list of them is kept
            self._dump_tcp(diag, into, warnings, unavailable)
            return
        known = self._known_tcp.get(inode)  # (the counters were read before the sockets: a change during the dump
        if known is not None and known.signature == signature and known.age < FULL_DUMP_EVERY:  # shows next time)
            try:
                found, missing = diag.query([inet.build_lookup(sock, self._extensions) for sock in known.sockets])
            except OSError:
                missing = 1
            if not missing:
                decoded: dict = {}
                self._inet.decode(found, "tcp", decoded)
                into.update(decoded)
                self._known_tcp[inode] = _KnownTcp(signature, list(filter(None, decoded.values())), known.age + 1)
                return
        decoded = {}
        self._dump_tcp(diag, decoded, warnings, unavailable)
        into.update(decoded)
        age = 0 if known is not None else inode % FULL_DUMP_EVERY  # namespaces found together are spread out
        self._known_tcp[inode] = _KnownTcp(signature, list(filter(None, decoded.values())), age)

    def _read_procfs(self, found: Found, families: list[tuple[str, str]], into: dict, warnings: list[str]) -> None:
        """The sockets of the families netlink could not dump in ``found``'s namespace, from /proc/<pid>/net of
        one of its processes (/proc/net in netwatch's own)."""
        namespace = found.namespace
        if namespace.own:
            proc_net = "/proc/net"
        elif namespace.pids:
            proc_net = f"/proc/{namespace.pids[0]}/net"
        else:
            labels = ", ".join("/".join(dict.fromkeys(what)) for what in families)
            warnings.append(f"{labels} sockets of namespaces that only a bind mount keeps (no process to read "
                            "/proc/<pid>/net through) are not shown")  # fmt: skip
            return
        try:
            rows, procfs_warnings = ProcfsSource(only=families, proc_net=proc_net, netns=namespace).read_rows()
        except BackendUnavailable as error:
            warnings.append(str(error))
            return
        warnings.extend(procfs_warnings)
        read = sockets_from_rows(rows)
        self._built.extend(read)
        into.update(read)

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
            self._dump_into(diag, inet.build_tcp_request(self._extensions), decoder, ("tcp", "tcp"), into, warnings,
                            unavailable, request_type=TCPDIAG_GETSOCK, strict=True)  # fmt: skip
        except OSError:
            for family in INET_FAMILIES:
                self._dump_into(diag, inet.build_request("tcp", family, self._extensions), decoder, ("tcp", family),
                                into, warnings, unavailable)  # fmt: skip

    def _dump_into(
        self,
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
        if what in self._refused:
            unavailable.append(what)
            warnings.append(self._refused[what])
            return
        skipped = 0

        def consume(messages: list[Message], fingerprints: list[int] | None) -> None:
            nonlocal skipped
            skipped += dump.decode(messages, decoded, fingerprints)

        try:
            for _attempt in range(DUMP_ATTEMPTS):
                decoded: dict = {}
                skipped = 0
                reuse = dump.splitter_reuse(label, decoded) if dump.splitter_reuse is not None else None
                if not diag.stream(request, consume, reuse, request_type):
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
            if error.errno == errno.ENOENT:  # the same in every namespace and at every refresh
                self._refused[what] = warnings[-1]
            return
        except OSError as error:
            if strict:
                raise
            unavailable.append(what)
            warnings.append(f"netlink dump of {label} sockets failed ({error.strerror or error}): "
                            "read from /proc/net instead")  # fmt: skip
            return
        if skipped:  # the places the compiled splitter kept for them hold their keys
            decoded = {key: sock for key, sock in decoded.items() if sock.__class__ is not tuple}
            warnings.append(f"skipped {skipped} malformed {label} sock_diag message(s)")
        if dump.splitter_reuse is None:
            self._built.extend(decoded)
        into.update(decoded)


LOOKUPS_AT_MOST = 256
"""The most TCP sockets a namespace whose counters did not move is read with by lookups rather than dumped: ~8 us
each, against a dump's 2-4 ms walk of the kernel's hash table (more on hosts with more memory) and ~1 us each."""
FULL_DUMP_EVERY = 30
"""Refreshes after which a namespace whose TCP counters did not move is dumped whole all the same (a minute at the
default interval: how long a SYN_RECV request socket, which moves no counter, may go unseen there)."""


class _KnownTcp(NamedTuple):
    signature: tuple[bytes, ...]
    sockets: list[Socket]
    age: int
    """Refreshes since the namespace's last whole dump."""


class _Counts(NamedTuple):
    """A namespace's socket counters (its /proc/<pid>/net/sockstat, sockstat6 and snmp)."""

    tcp: tuple[bytes, ...]
    """What moves whenever a TCP socket appears in the namespace or leaves it: sockets in use (IPv4, IPv6) and in
    TIME_WAIT, active and passive opens, established connections."""
    in_use: dict[tuple[str, str], int]
    """UDP and RAW sockets in use, by (proto, family)."""


_IN_USE = {b"UDP:": ("udp", "ipv4"), b"UDP6:": ("udp", "ipv6"), b"RAW:": ("raw", "ipv4"), b"RAW6:": ("raw", "ipv6")}


def _counts(proc_net: str) -> _Counts | None:
    """The counters of the namespace ``proc_net`` (a /proc/<pid>/net) shows; None when unreadable (its process
    exited)."""
    try:
        lines = read_whole(f"{proc_net}/sockstat").split(b"\n") + read_whole(f"{proc_net}/sockstat6").split(b"\n")
        snmp = [line.split() for line in read_whole(f"{proc_net}/snmp").split(b"\n") if line.startswith(b"Tcp:")]
    except OSError:
        return None
    fields = {line.split(b" ", 1)[0]: line.split() for line in lines if line}
    tcp, tcp6 = fields.get(b"TCP:", []), fields.get(b"TCP6:", [])
    counters = dict(zip(*snmp[:2], strict=False)) if len(snmp) >= 2 else {}
    signature = (
        *(values[2] if len(values) > 2 else b"" for values in (tcp, tcp6)),  # inuse
        tcp[6] if len(tcp) > 6 else b"",  # tw
        *(counters.get(name, b"") for name in (b"ActiveOpens", b"PassiveOpens", b"CurrEstab")),
    )
    in_use = {what: int(fields[label][2]) for label, what in _IN_USE.items()
              if len(fields.get(label, ())) > 2 and fields[label][2].isdigit()}  # fmt: skip
    return _Counts(signature, in_use)


def _own(shown: list[Found]) -> list[int | None]:
    """The key netwatch's own namespace's close events are subscribed under."""
    return [found.namespace.inode for found in shown if found.namespace.own] or [None]


def _skipped(refused: int, unreadable: int) -> list[str]:
    """Warnings for the namespaces not shown."""
    warnings = []
    if refused:
        plural = "s" if refused != 1 else ""
        warnings.append(f"{refused} network namespace{plural} not shown: {NO_RIGHTS}")
    if unreadable:
        which = "namespace of 1 process is" if unreadable == 1 else f"namespaces of {unreadable} processes are"
        rights = " (even as root)" if os.geteuid() == 0 else " (run as root to see them)"
        warnings.append(f"the network {which} unreadable{rights}: sockets in namespaces only they use are not shown")
    return warnings


FREEZE_BUILT_FROM = 5_000
"""Records a collection builds from which :func:`_enable_gc` moves them to the oldest generation."""


def _enable_gc(built: int, keep_frozen: bool) -> None:
    """Enable the cyclic garbage collector again after a collection that built ``built`` records with it disabled.

    A snapshot allocates several container objects per socket, none of them cyclic; with 100,000 sockets the
    collector would otherwise rescan the growing heap again and again (measured: ~40% of the collection time). From
    :data:`FREEZE_BUILT_FROM` records on, the new objects go straight to the oldest generation (``freeze`` then
    ``unfreeze``: two list splices) instead of being traversed by the young collection that enabling would trigger
    at once (~0.2 s at 100,000 sockets, holding the GIL, so a UI thread freezes too); they stay collectable by full
    collections. ``keep_frozen`` (a live view, which keeps its snapshots and, at that size, freezes what survives a
    refresh itself, see the TUI's GcPolicy): they stay frozen, as ``unfreeze`` would release the application's
    frozen objects too (and asking whether there are any, ``gc.get_freeze_count``, walks them all: ~25 ms at 100,000
    sockets). Fewer records are left to the young collection (a few ms), and nothing of the application's is frozen
    for it: on a small host the TUI leaves the collection to Python.
    """
    if built >= FREEZE_BUILT_FROM:
        gc.freeze()
        if not keep_frozen:
            gc.unfreeze()
    gc.enable()
