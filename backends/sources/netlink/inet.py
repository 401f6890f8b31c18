"""inet_diag (TCP/UDP/RAW over IPv4/IPv6): the dump request and the decoding of its replies.

The hot path: one precompiled struct per message shape (inet_layout), ``unpack_from`` straight over
the receive buffers, one Socket built directly per message, small caches for repeated strings
(addresses, congestion names), memory figures and the ``extensions`` mappings that few distinct values make up
(a BBR socket's wraps the shared one and its raw tcp_bbr_info), and a table for the ports (one shared int each).
Where it is built, the compiled decoder (``_decode.c``) builds the records of the shapes it has a plan for, with
the same caches, and leaves the others to the Python loop.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterable, Mapping
from sys import intern
from typing import Any, NamedTuple

from netwatch.backends.compiled import DECODER, load
from netwatch.backends.model.extensions import Extensions, share
from netwatch.backends.model.names import state_names
from netwatch.backends.model.records import NO_EXTENSIONS, Socket, SocketKey, Timer
from netwatch.backends.model.tcp_info import CLOCKS_SIZE, TCP_INFO_SIZE, TcpInfo, tcp_info_from_exact
from netwatch.backends.sources.netlink.attributes import (
    decode_cstring,
    decode_meminfo,
    decode_skmeminfo,
    sockopt_flags,
)
from netwatch.backends.sources.netlink.inet_layout import (
    EXPIRES_OFFSET,
    HEADER_SIZE,
    INET_DIAG_INFO,
    Decoder,
    Layout,
    Shape,
    compile_layout,
    learn_shape,
)
from netwatch.backends.sources.netlink.records import socket_builder
from netwatch.backends.sources.netlink.transport import Message, scan

ALL_EXTENSIONS = 0xFF
"""idiag_ext: one bit per extension 1..8 (MEMINFO .. SHUTDOWN); DCTCP/BBR come with VEGASINFO, CLASS_ID
with TCLASS; CGROUP_ID, SOCKOPT, MARK (CAP_NET_ADMIN) and SKV6ONLY are sent unasked."""
TABLE_EXTENSIONS = 1 << (INET_DIAG_INFO - 1)
"""idiag_ext of a live table's dumps: tcp_info alone (its rates and RTT); memory, congestion and BBR info are a
quarter of the kernel's dump time (measured: 211 ms with every extension, 160 ms with tcp_info alone, at
100,000 sockets) and only the detail pane and the saved documents show them (see ``NetlinkSource.details``)."""
ALL_STATES = 0xFFFFFFFF
"""idiag_states: every state, incl. TIME_WAIT, SYN_RECV/NEW_SYN_RECV (request socks) and BOUND_INACTIVE."""

INET_DIAG_REQ_V2 = struct.Struct("=BBBBI2H16s16sI2I")
INET_DIAG_REQ_LEGACY = struct.Struct("=BBBB2H16s16sI2III")
"""struct inet_diag_req: family, src_len, dst_len, ext, the socket id, states, dbs."""
COOKIE = struct.Struct("=II")
COOKIE_OFFSET = 44
"""idiag_cookie (two u32, low first) in struct inet_diag_msg."""
MAX_LAYOUTS = 1024
"""Compiled message layouts kept (a handful is normal; the bound only guards against garbage)."""
MAX_SHARED_EXTENSIONS = 4096
"""Distinct shared extensions mappings kept (a handful is normal)."""
MAX_ADDRESSES = 1 << 17
"""Formatted addresses kept per family across snapshots (the cache restarts when full)."""

PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "raw": socket.IPPROTO_RAW}
FAMILIES = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
FAMILY_NAMES = {number: name for name, number in FAMILIES.items()}


class _Ports(dict):
    """idiag_sport/dport as unpacked (network order) -> port: a plain subscript on a hit (faster than ntohs), one
    shared int per port rather than one per socket; filled as ports are seen (65,536 at most), not at import."""

    def __missing__(self, raw: int) -> int:
        port = self[raw] = socket.ntohs(raw)
        return port


PORTS = _Ports()

# idiag_timer values (net/ipv4/inet_diag.c), named as ss names them; 4 is the kernel's probe0 timer.
TIMER_NAMES = ("off", "on", "keepalive", "timewait", "persist")
TIMER_OFF = Timer("off", 0, 0)

INET_FIELDS = (
    "key", "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "recv_q",
    "send_q", "inode", "uid", "cookie", "tcp_info", "timer", "meminfo", "skmem", "congestion", "cgroup",
    "shutdown", "tos", "tclass", "mark", "interface", "netns", "netns_inode", "extensions", "observed_at", "digest",
)  # fmt: skip
"""The Socket fields an inet_diag message gives, in the order the decoders take them..."""
INET_CONSTANTS = {"path": None, "peer_inode": None, "sock_type": None, "owners": ()}
"""...and the others (owners are attached after the dump)."""
new_inet_socket = socket_builder(*INET_FIELDS, **INET_CONSTANTS)
"""A Socket from the values of an inet_diag message, in :data:`INET_FIELDS` order."""

_decode = load(DECODER)
"""The compiled decoder (``_decode.c``), or None: the Python loop decodes every message."""
if _decode is not None:
    _decode.configure(Socket, INET_FIELDS, INET_CONSTANTS, TcpInfo, TCP_INFO_SIZE, Timer,
                      (FAMILY_NAMES[socket.AF_INET], FAMILY_NAMES[socket.AF_INET6]), PORTS)


def build_request(proto: str, family: str, extensions: int = ALL_EXTENSIONS, states: int = ALL_STATES) -> bytes:
    """A struct inet_diag_req_v2 dumping every ``proto`` socket of ``family`` (RAW: every raw protocol)."""
    return INET_DIAG_REQ_V2.pack(FAMILIES[family], PROTOCOLS[proto], extensions, 0, states, 0, 0, b"", b"", 0, 0, 0)


def build_lookup(sock: Socket, extensions: int = ALL_EXTENSIONS) -> bytes:
    """A struct inet_diag_req_v2 asking for exactly ``sock`` (its 4-tuple, interface and cookie): the kernel looks
    it up in its hash tables instead of walking them, and answers ENOENT (or ESTALE) once it is gone. UDP looks up
    the socket a datagram from the source to the destination would reach: its ends go in swapped."""
    family = FAMILIES[sock.family]
    cookie = sock.cookie or 0
    local = socket.htons(sock.local_port), _raw_address(family, sock.local_address)
    remote = socket.htons(sock.remote_port), _raw_address(family, sock.remote_address)
    (source_port, source), (destination_port, destination) = (remote, local) if sock.proto == "udp" else (local, remote)
    return INET_DIAG_REQ_V2.pack(
        family, PROTOCOLS[sock.proto], extensions, 0, ALL_STATES, source_port, destination_port, source, destination,
        sock.interface or 0, cookie & 0xFFFFFFFF, cookie >> 32,
    )  # fmt: skip


def _raw_address(family: int, text: str) -> bytes:
    return socket.inet_pton(family, text).ljust(16, b"\0")


def build_tcp_request(extensions: int = ALL_EXTENSIONS, states: int = ALL_STATES) -> bytes:
    """A legacy struct inet_diag_req (send as TCPDIAG_GETSOCK) dumping every TCP socket of both families in one
    walk of the kernel's hash tables; SOCK_DIAG_BY_FAMILY walks them once per family (measured: 3.4 ms of CPU
    each with 262,144 established-hash buckets, on an idle host: half of what an idle refresh cost)."""
    return INET_DIAG_REQ_LEGACY.pack(0, 0, 0, extensions, 0, 0, b"", b"", 0, 0, 0, states, 0)


class _AddressTexts(dict):
    """idiag_src/dst (16 raw bytes) -> text for one family, formatted once per distinct address (a plain
    subscript on a hit; the cache restarts when full)."""

    def __init__(self, family: int) -> None:
        super().__init__()
        self.family = family
        self.size = 4 if family == socket.AF_INET else 16

    def __missing__(self, raw: bytes) -> str:
        if len(self) >= MAX_ADDRESSES:
            self.clear()
        text = self[raw] = socket.inet_ntop(self.family, raw[: self.size])
        return text


class _Memo(dict):
    """``function(key)``, computed once per key (for one decode call)."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        super().__init__()
        self.function = function

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.function(key)
        return value


def _payload(decoder: Decoder) -> Callable[[bytes], Any]:
    """``decoder`` of a whole raw payload."""
    return lambda raw: decoder(raw, 0, len(raw))


class InetDecoder:
    """Turns inet_diag replies into Socket records.

    Keeps, across snapshots, the compiled message layouts (see inet_layout), string caches and the shared
    ``extensions`` mappings. Given the previous snapshot (:meth:`start_dump`), a socket whose message is the same
    as the one its record there was decoded from (``Socket.digest``), but for the clocks of an idle socket
    (idiag_expires and tcp_info's ``last_*``), keeps that record, undecoded.
    """

    def __init__(self, cgroup_path: Callable[[int], str | None]) -> None:
        self._cgroup_path = cgroup_path
        self._addresses = {family: _AddressTexts(family) for family in (socket.AF_INET, socket.AF_INET6)}
        self._congestion = _Memo(_congestion_name)
        self._layouts: dict[tuple[int, Shape], Layout] = {}
        self._plans: dict[int, list[object]] = {}
        """Message size -> the compiled decoder's plans of the layouts of that size (see ``_decode.c``)."""
        self._shared_extensions: dict[tuple[Layout, object], Extensions] = {}
        self._layout_of_size: dict[str, dict[int, Layout | None]] = {}
        """Per protocol, message size -> the one layout seen at that size (None once two were): where the clocks
        are."""
        self._previous: Mapping[SocketKey, Socket] | None = None
        self._snapshot_previous: Mapping[SocketKey, Socket] = {}
        self._observed_at: float | None = None
        self.netns: int | None = None
        """The inode of the network namespace whose dump is decoded next (part of each key)..."""
        self.netns_name: str | None = None
        """...and its name."""
        self.decoded: list[SocketKey] = []
        """The keys of the records decoded (not kept) since :meth:`start_dump`, in a live dump."""
        self._orders: dict[tuple[str, int | None], Any] = {}
        """(dump, namespace) -> the compiled splitter's Order of its last dump (see ``_scan.c``): those of the
        previous snapshot's dumps and this one's, no more."""
        self._orders_used: set[tuple[str, int | None]] = set()

    def start_dump(self, now: float, previous: Mapping[SocketKey, Socket] | None) -> None:
        """Begin the messages of one snapshot, read at monotonic time ``now``: records get a digest, and a socket
        may keep its record in ``previous`` (the last snapshot's sockets; None: nothing to keep yet)."""
        self._previous = self._snapshot_previous = previous if previous is not None else {}
        self._observed_at = now
        self.decoded = []
        self._orders = {key: self._orders[key] for key in self._orders_used if key in self._orders}
        self._orders_used = set()

    def start_namespace(self, inode: int | None, name: str | None, keep: bool = True) -> None:
        """Decode the next messages as those of network namespace ``inode`` called ``name``; ``keep``: its sockets
        may keep their records (not after the namespace was renamed: the records hold its name)."""
        self.netns, self.netns_name = inode, name
        if self._previous is not None:
            self._previous = self._snapshot_previous if keep else {}

    def decode_detached(self, messages: Iterable[Message], proto: str, netns: int | None, name: str | None) -> dict:
        """The records of ``messages`` (lookups' replies, outside any dump) by key, of namespace ``netns`` called
        ``name``: nothing kept from a previous snapshot, and the dump in progress (if any) left as it was."""
        state = self.netns, self.netns_name, self._previous, self._observed_at
        self.netns, self.netns_name, self._previous, self._observed_at = netns, name, None, None
        try:
            decoded: dict = {}
            self.decode(messages, proto, decoded)
            return decoded
        finally:
            self.netns, self.netns_name, self._previous, self._observed_at = state

    def _layout_for(self, family: int, buffer: bytes, offset: int, end: int) -> Layout:
        """Learn the shape of a message no cached layout fits, and the layout for it."""
        shape = learn_shape(buffer, offset, end)
        layout = self._layouts.get((family, shape))
        if layout is None:
            if len(self._layouts) >= MAX_LAYOUTS:
                self._layouts.clear()
                self._shared_extensions.clear()
                self._layout_of_size.clear()
                self._plans.clear()
            layout = self._layouts[(family, shape)] = compile_layout(family, shape)
            if _decode is not None and not layout.rare:
                shared = tuple(layout.places[name] for _index, name in layout.shared)
                plan = _decode.plan(layout, layout.size, family, layout.checks, layout.places, shared,
                                    layout.own_extensions)  # fmt: skip
                self._plans.setdefault(layout.size, []).append(plan)
        return layout

    def _extensions_for(self, layout: Layout, values: tuple) -> Extensions:
        """The read-only extensions mapping made of the message's SHARED_EXTENSIONS values (cached)."""
        key = (layout, layout.pick_shared(values) if layout.pick_shared else None)
        extensions = self._shared_extensions.get(key)
        if extensions is None:
            if len(self._shared_extensions) >= MAX_SHARED_EXTENSIONS:
                self._shared_extensions.clear()
            extensions = self._shared_extensions[key] = _shared_extensions(layout, values)
        return extensions

    def _learn(self, buffer: bytes, offset: int, end: int) -> None:
        """The compiled decoder met a message (of an address family known here) of a shape it has no plan for:
        learn its layout (and plan)."""
        self._layout_for(buffer[offset], buffer, offset, end)

    def _share(self, layout: Layout, buffer: bytes, offset: int) -> Extensions:
        """The compiled decoder met shared extensions values not cached yet: their mapping (cached)."""
        return self._extensions_for(layout, layout.unpack(buffer, offset))

    def splitter_reuse(self, proto: str, dump: str, into: dict) -> tuple | None:
        """What the compiled splitter needs to keep unchanged sockets' records of ``proto`` into ``into`` (see
        ``DiagSocket.stream``), or None outside a live dump. ``dump`` names the request about to be sent, whose
        last dump in this namespace the splitter's Order remembers."""
        if self._previous is None or scan is None:
            return None
        which = (dump, self.netns)
        self._orders_used.add(which)
        order = self._orders.get(which)
        if order is None:
            order = self._orders[which] = scan.Order()
        order.begin()
        return proto, self.netns, self._previous, into, order

    def decode(
        self, messages: Iterable[Message], proto: str, into: dict, fingerprints: list[int] | None = None
    ) -> int:
        """Add one Socket per well-formed message to ``into`` (keyed by (proto, cookie, :attr:`netns`), later wins);
        in a live dump (:meth:`start_dump`) the previous record of a socket whose message did not change is kept
        instead. ``fingerprints``: the messages were checked by the compiled splitter, which gives their fingerprints
        (and put the kept records into ``into`` itself).

        Returns the number of malformed messages skipped (too short, or of another address family).
        """
        live = self._previous is not None
        # Idle sockets share their memory figures: one record per distinct value saves ~300 bytes per socket.
        memos = _Memos({}, _Memo(self._cgroup_path), _Memo(_payload(decode_meminfo)), _Memo(_payload(decode_skmeminfo)))
        skipped = 0
        if _decode is not None and (fingerprints is not None or not live) and type(messages) is list:
            left: list[Message] = []
            left_fingerprints: list[int] | None = [] if fingerprints is not None else None
            addresses = self._addresses
            context = (
                proto, self.netns, self.netns_name, self._observed_at, state_names(proto), proto == "tcp",
                addresses[socket.AF_INET], addresses[socket.AF_INET6], memos.uids, memos.meminfos, memos.skmems,
                self._congestion, memos.cgroup_paths, self._shared_extensions, TIMER_NAMES, TIMER_OFF, self._learn,
                self._share,
            )  # fmt: skip
            skipped = _decode.decode(messages, fingerprints, into, self.decoded if live else None, left,
                                     left_fingerprints, self._plans, context)  # fmt: skip
            if not left:
                return skipped
            messages, fingerprints = left, left_fingerprints
        return skipped + self._decode_each(messages, proto, into, fingerprints, memos)

    def _decode_each(
        self, messages: Iterable[Message], proto: str, into: dict, fingerprints: list[int] | None, memos: _Memos
    ) -> int:
        """:meth:`decode` in Python, message by message."""
        states = state_names(proto)
        netns = self.netns
        netns_name = self.netns_name
        observed_at = self._observed_at
        next_fingerprint = iter(fingerprints).__next__ if fingerprints is not None else None
        live = self._previous is not None
        decoded = self.decoded.append if live else None
        previous = self._previous.get if live and next_fingerprint is None else None
        layout_of_size = self._layout_of_size.setdefault(proto, {})
        unpack_cookie = COOKIE.unpack_from
        state_count = len(states)
        wants_tcp_info = proto == "tcp"
        addresses = self._addresses
        uids, cgroup_paths, meminfos, skmems = memos
        congestion_names = self._congestion
        family_names = FAMILY_NAMES
        shared_extensions = self._shared_extensions
        extensions_for = self._extensions_for
        ports = PORTS
        new_tuple = tuple.__new__
        skipped = 0
        by_size: dict[int, Layout] = {}
        for buffer, offset, end in messages:
            size = end - offset
            fingerprint = next_fingerprint() if next_fingerprint is not None else None
            if previous is not None:
                # Where the clocks are comes from the one shape seen at this size, unchecked: a message of another
                # shape differs from the one the record was decoded from outside that place, so it is decoded.
                clocks_of = layout_of_size.get(size)
                if clocks_of is not None:
                    fingerprint = _fingerprint(buffer, offset, end, clocks_of.clocks)
                    cookie_lo, cookie_hi = unpack_cookie(buffer, offset + COOKIE_OFFSET)
                    key = (proto, cookie_hi << 32 | cookie_lo, netns)
                    last = previous(key)
                    if last is not None and last.digest == fingerprint:
                        into[last.key] = last  # its own key object: the snapshot keeps ``into``
                        continue
            layout = by_size.get(size)
            if layout is not None:
                values = layout.unpack(buffer, offset)
                if layout.headers(values) != layout.expected:
                    layout = None
            if layout is None:
                if size < HEADER_SIZE or buffer[offset] not in addresses:
                    skipped += 1
                    continue
                layout = by_size[size] = self._layout_for(buffer[offset], buffer, offset, end)
                values = layout.unpack(buffer, offset)
            (family, state, timer, retrans, sport, dport, src, dst, ifindex, cookie_lo, cookie_hi,
             expires, rqueue, wqueue, uid, inode) = values[:16]  # fmt: skip
            text = addresses[family]
            pick_shared = layout.pick_shared
            extensions = shared_extensions.get((layout, pick_shared(values) if pick_shared else None))
            if extensions is None:
                extensions = extensions_for(layout, values)
            if layout.rare:
                extensions = _with_rare_extensions(extensions, layout, values)
            index = layout.own
            if index:
                extensions = layout.own_extensions(extensions, values[index])
            index = layout.cong
            congestion = congestion_names[values[index]] if index else None
            index_info = layout.info if wants_tcp_info else 0
            index_meminfo = layout.meminfo
            index_skmem = layout.skmem
            index_cgroup = layout.cgroup
            cookie = cookie_hi << 32 | cookie_lo
            key = (proto, cookie, netns)
            placed = into.get(key)
            if placed.__class__ is tuple:  # the place the compiled splitter or decoder took: its key object
                key = placed
                cookie = key[1]
            if previous is not None:
                known = layout_of_size.get(size, layout)
                if known is not layout:
                    layout_of_size[size] = None
                elif size not in layout_of_size:
                    layout_of_size[size] = layout
                if fingerprint is None or known is not layout:
                    fingerprint = _fingerprint(buffer, offset, end, layout.clocks)
            if decoded is not None:
                decoded(key)
            into[key] = new_inet_socket(
                key,
                proto,
                family_names[family],
                states[state] if state < state_count else "UNKNOWN",
                text[src],
                ports[sport],
                text[dst],
                ports[dport],
                rqueue,
                wqueue,
                inode,
                uids.setdefault(uid, uid),
                cookie,
                tcp_info_from_exact(values[index_info] + layout.info_padding) if index_info else None,
                TIMER_OFF if timer == 0 else new_tuple(Timer, (_timer_name(timer), expires, retrans)),
                meminfos[values[index_meminfo]] if index_meminfo else None,
                skmems[values[index_skmem]] if index_skmem else None,
                congestion,
                cgroup_paths[values[index_cgroup]] if index_cgroup else None,
                values[layout.shutdown] if layout.shutdown else None,
                values[layout.tos] if layout.tos else None,
                values[layout.tclass] if layout.tclass else None,
                values[layout.mark] if layout.mark else None,
                ifindex,  # interface
                netns_name,
                netns,
                extensions,
                observed_at,
                fingerprint,  # digest
            )
        return skipped


class _Memos(NamedTuple):
    """What one :meth:`InetDecoder.decode` call shares between its records: one int per distinct uid (those above
    256 are not preallocated ints), cgroup paths by id, and memory figures by their raw bytes."""

    uids: dict[int, int]
    cgroup_paths: _Memo
    meminfos: _Memo
    skmems: _Memo


def _congestion_name(raw: bytes) -> str:
    """The name of a congestion control from INET_DIAG_CONG's payload."""
    return intern(decode_cstring(raw, 0, len(raw)))


def _fingerprint(buffer: bytearray, offset: int, end: int, clocks: int) -> int:
    """A hash of the message at ``buffer[offset:end]`` but for the clocks an idle socket's message changes in:
    idiag_expires, and the tcp_info ``last_*`` clocks at ``clocks`` (0: none)."""
    expires = offset + EXPIRES_OFFSET
    if clocks:
        clocks += offset
        return hash(bytes(buffer[offset:expires] + buffer[expires + 4 : clocks] + buffer[clocks + CLOCKS_SIZE : end]))
    return hash(bytes(buffer[offset:expires] + buffer[expires + 4 : end]))


def _shared_extensions(layout: Layout, values: tuple) -> Extensions:
    """{"sockopt": flags, "inet": {"protocol", "v6only", "class_id"}} from the message's inline values (a zero
    class id, the default, is left out), read-only."""
    extensions: dict[str, Mapping[str, object]] = {}
    inet: dict[str, object] = {}
    for index, name in layout.shared:
        value = values[index]
        if name == "sockopt":
            extensions["sockopt"] = sockopt_flags(value)
        elif name == "v6only":
            inet["v6only"] = bool(value)
        elif value or name != "class_id":
            inet[name] = value
    if inet:
        extensions["inet"] = share(inet)
    return share(extensions) if extensions else NO_EXTENSIONS


def _with_rare_extensions(extensions: Extensions, layout: Layout, values: tuple) -> Extensions:
    """``extensions`` and the message's RARE_EXTENSIONS, read-only (the socket's own mapping)."""
    combined = dict(extensions)
    for index, name, decoder in layout.rare:
        raw = values[index]
        combined[name] = share(decoder(raw, 0, len(raw)))
    return share(combined)


def _timer_name(timer: int) -> str:
    return TIMER_NAMES[timer] if timer < len(TIMER_NAMES) else f"timer{timer}"
