"""Predicates for the filter language's terms, built once per filter as closures over parsed arguments.

Builders take already-tokenized arguments and raise ``ValueError`` with a short problem description on bad
arguments; the parser turns that into a :class:`FilterError` pointing at the token.
"""

from __future__ import annotations

import ipaddress
import operator
import pwd
import socket as socket_module
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from netwatch.backends.model.containers import Container
from netwatch.backends.model.endpoints import format_endpoint, unmap_ipv4
from netwatch.backends.model.names import PROTOS, SERVICE_PROTOS, STATES, UNCONN
from netwatch.backends.model.records import Process, Socket

Predicate = Callable[[Socket, Mapping[int, Process]], bool]

COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, "==": operator.eq, "eq": operator.eq,
    "!=": operator.ne, "ne": operator.ne,
    "<": operator.lt, "lt": operator.lt, "<=": operator.le, "le": operator.le,
    ">": operator.gt, "gt": operator.gt, ">=": operator.ge, "ge": operator.ge,
}  # fmt: skip
EQUALITY = frozenset({"=", "==", "eq"})
INEQUALITY = frozenset({"!=", "ne"})

_SS_SPELLINGS = {"fin-wait1": "fin-wait-1", "fin-wait2": "fin-wait-2"}


def _ss_spelling(state: str) -> str:
    """A state name as ss's filter spells it, in lower case with dashes: ``FIN_WAIT1`` -> ``fin-wait-1``."""
    name = state.lower().replace("_", "-")
    return _SS_SPELLINGS.get(name, name)


_ALL_STATES = frozenset(STATES) - {"UNKNOWN"}
_SYN_RECV = frozenset({"SYN_RECV", "NEW_SYN_RECV"})
_CLOSED = frozenset({"CLOSE", UNCONN})  # ss shows an unconnected datagram socket's CLOSE as UNCONN
_CONNECTED = _ALL_STATES - _CLOSED - _SYN_RECV - {"LISTEN", "TIME_WAIT", "BOUND_INACTIVE"}
STATE_NAMES: dict[str, frozenset[str]] = {
    **{_ss_spelling(state): frozenset({state}) for state in _ALL_STATES},
    "estab": frozenset({"ESTABLISHED"}),
    "listening": frozenset({"LISTEN"}),
    "syn-recv": _SYN_RECV,
    "close": _CLOSED,
    "closed": _CLOSED,
    # ss's groups
    "all": _ALL_STATES,
    "connected": _CONNECTED,
    "synchronized": _CONNECTED - {"SYN_SENT"},
    "bucket": _SYN_RECV | {"TIME_WAIT"},
    "big": _ALL_STATES - _SYN_RECV - {"TIME_WAIT"},
}
FAMILY_NAMES = {"ipv4": "ipv4", "inet": "ipv4", "4": "ipv4", "ipv6": "ipv6", "inet6": "ipv6", "6": "ipv6",
                "unix": "unix", "local": "unix"}


def match_everything(sock: Socket, processes: Mapping[int, Process]) -> bool:
    return True


def all_of(predicates: list[Predicate]) -> Predicate:
    """True when every predicate is (short-circuit, left to right; a balanced tree of closures)."""
    if len(predicates) == 1:
        return predicates[0]
    middle = len(predicates) // 2
    first, second = all_of(predicates[:middle]), all_of(predicates[middle:])
    return lambda sock, processes: first(sock, processes) and second(sock, processes)


def any_of(predicates: list[Predicate]) -> Predicate:
    """True when some predicate is (short-circuit, left to right; a balanced tree of closures)."""
    if len(predicates) == 1:
        return predicates[0]
    middle = len(predicates) // 2
    first, second = any_of(predicates[:middle]), any_of(predicates[middle:])
    return lambda sock, processes: first(sock, processes) or second(sock, processes)


def negation(predicate: Predicate) -> Predicate:
    return lambda sock, processes: not predicate(sock, processes)


def state_is(name: str) -> Predicate:
    """``state NAME``: ss names (``fin-wait-1``), kernel names (``FIN_WAIT1``) or ss groups, any case."""
    states = STATE_NAMES.get(_ss_spelling(name))
    if states is None:
        raise ValueError("unknown state (try established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, "
                         "time-wait, closed, close-wait, last-ack, listening, closing, unconn, connected)")
    return lambda sock, processes: sock.state in states


def protocol_is(name: str) -> Predicate:
    proto = name.lower()
    if proto not in PROTOS:
        raise ValueError(f"expected a protocol: {', '.join(PROTOS[:-1])} or {PROTOS[-1]}")
    return lambda sock, processes: sock.proto == proto


def family_is(name: str) -> Predicate:
    family = FAMILY_NAMES.get(name.lower())
    if family is None:
        raise ValueError("expected a family: ipv4, ipv6 or unix")
    return lambda sock, processes: sock.family == family


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_port(text: str) -> int:
    """A port number (``22``, ``:22``) or a service name from the services database (``:ssh``)."""
    text = text.removeprefix(":")
    if _is_number(text):
        port = int(text)
        if port > 65535:
            raise ValueError("port out of range (0-65535)")
        return port
    for proto in SERVICE_PROTOS:
        try:
            return socket_module.getservbyname(text, proto)
        except OSError:
            continue
    raise ValueError("expected a port number or service name")


def port_compares(side: str, comparison: str, port: int) -> Predicate:
    """``sport``/``dport``/``port`` (either side) ``OP N``; Unix sockets have no ports and never match."""
    compare = COMPARISONS[comparison]
    if side == "local":
        return lambda sock, processes: sock.family != "unix" and compare(sock.local_port, port)
    if side == "remote":
        return lambda sock, processes: sock.family != "unix" and compare(sock.remote_port, port)
    return lambda sock, processes: sock.family != "unix" and (
        compare(sock.local_port, port) or compare(sock.remote_port, port))


_MAPPED_NETWORK = ipaddress.ip_network("::ffff:0:0/96")
_address_cache: dict[str, tuple[int, int] | None] = {}
_ADDRESS_CACHE_LIMIT = 262_144


def address_number(address: str) -> tuple[int, int] | None:
    """(4 or 6, integer value) of an address, IPv4-mapped IPv6 as IPv4; None if not an IP address. Cached."""
    try:
        return _address_cache[address]
    except KeyError:
        pass
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        number = None
    else:
        if parsed.version == 6 and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        number = (parsed.version, int(parsed))
    if len(_address_cache) >= _ADDRESS_CACHE_LIMIT:
        _address_cache.clear()
    _address_cache[address] = number
    return number


@dataclass(frozen=True, slots=True)
class HostSpec:
    """A parsed ``src``/``dst`` argument: a network (None: any address) and a port (None: any port)."""

    version: int | None
    prefix: int
    """Network bits, shifted down: an address matches when ``number >> shift == prefix``."""
    shift: int
    port: int | None


def parse_host(text: str) -> HostSpec:
    """``10.0.0.0/8``, ``127.0.0.1:8080``, ``[::1]``, ``[::1]:443``, ``[fe80::]/10``, ``::1``, ``*:22``, ``:22``.

    Host names are never resolved.
    """
    port_text: str | None = None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise ValueError("missing ']' after the IPv6 address")
        if rest.startswith("/"):
            length, colon, port_part = rest[1:].partition(":")
            host, rest = f"{host}/{length}", colon + port_part
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected ':PORT' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text
    port = None
    if port_text is not None and port_text != "*":
        if not port_text:
            raise ValueError("expected a port after ':'")
        port = parse_port(port_text)
    if host in ("", "*"):
        return HostSpec(None, 0, 0, port)
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        raise ValueError("expected an IP address or network (host names are not resolved)") from None
    if network.version == 6 and network.prefixlen >= 96 and network.subnet_of(_MAPPED_NETWORK):
        network = ipaddress.ip_network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    shift = network.max_prefixlen - network.prefixlen
    return HostSpec(network.version, int(network.network_address) >> shift, shift, port)


def host_is(side: str, spec: HostSpec) -> Predicate:
    """``src``/``dst`` HOST: the local/remote address is in the network and the port (if given) is equal."""
    address_of = operator.attrgetter("local_address" if side == "local" else "remote_address")
    port_of = operator.attrgetter("local_port" if side == "local" else "remote_port")
    version, prefix, shift, port = spec.version, spec.prefix, spec.shift, spec.port
    verdicts: dict[str, bool] = {}  # by address: most sockets share few addresses

    def in_network(address: str) -> bool:
        number = address_number(address)
        verdict = number is not None and number[0] == version and number[1] >> shift == prefix
        if len(verdicts) >= _ADDRESS_CACHE_LIMIT:
            verdicts.clear()
        verdicts[address] = verdict
        return verdict

    def address_matches(sock: Socket, processes: Mapping[int, Process]) -> bool:
        address = address_of(sock)
        verdict = verdicts.get(address)
        return in_network(address) if verdict is None else verdict

    def port_matches(sock: Socket, processes: Mapping[int, Process]) -> bool:
        return sock.family != "unix" and port_of(sock) == port

    if version is None:
        return port_matches if port is not None else match_everything
    return address_matches if port is None else all_of([address_matches, port_matches])


def pid_is(text: str) -> Predicate:
    if not _is_number(text):
        raise ValueError("expected a process id")
    return owned_by(int(text))


def owned_by(pid: int) -> Predicate:
    """Some owner of the socket is process ``pid``."""
    return lambda sock, processes: any(owner.pid == pid for owner in sock.owners)


def process_named(text: str, exact: bool) -> Predicate:
    """An owner's process name contains ``text`` (or, ``exact``, equals it), ignoring case."""
    wanted = text.lower()

    def matches(sock: Socket, processes: Mapping[int, Process]) -> bool:
        for owner in sock.owners:
            process = processes.get(owner.pid)
            if process is not None:
                name = process.name.lower()
                if (name == wanted) if exact else (wanted in name):
                    return True
        return False

    return matches


def user_is(text: str) -> Predicate:
    """The socket's uid, or an owner process's uid or user name, is the given user (name or number)."""
    if _is_number(text):
        uid: int | None = int(text)
    else:
        try:
            uid = pwd.getpwnam(text).pw_uid
        except KeyError:
            uid = None

    def matches(sock: Socket, processes: Mapping[int, Process]) -> bool:
        if uid is not None and sock.uid == uid:
            return True
        for owner in sock.owners:
            process = processes.get(owner.pid)
            if process is not None and (process.user == text or (uid is not None and process.uid == uid)):
                return True
        return False

    return matches


def netns_is(text: str) -> Predicate:
    """The socket lives in the network namespace named ``text`` (as netwatch names it) or of inode ``text``."""
    if _is_number(text):
        inode = int(text)
        return lambda sock, processes: sock.netns_inode == inode or sock.netns == text
    return lambda sock, processes: sock.netns == text


def _containers(sock: Socket, processes: Mapping[int, Process]) -> Iterator[Container]:
    """The containers or units of the socket's owners."""
    for owner in sock.owners:
        process = processes.get(owner.pid)
        if process is not None and process.container is not None:
            yield process.container


def container_is(text: str) -> Predicate:
    """An owner runs in container ``text`` (its short id, a prefix of it, its ``runtime:id`` name or its pod uid),
    or the socket has no owner and lives in the namespace named after that container."""
    wanted = text.lower()

    def names(container: Container) -> bool:
        return (container.runtime != "systemd" and (container.id.startswith(wanted) or container.name == wanted)
                or container.pod == wanted)  # fmt: skip

    def matches(sock: Socket, processes: Mapping[int, Process]) -> bool:
        if sock.owners:
            return any(map(names, _containers(sock, processes)))
        netns = sock.netns or ""
        return ":" in netns and (netns == wanted or netns.split(":", 1)[1].startswith(wanted))

    return matches


def unit_is(text: str) -> Predicate:
    """An owner runs in systemd unit ``text`` (``.service`` may be left out)."""
    wanted = {text, f"{text}.service"}
    return lambda sock, processes: any(
        container.runtime == "systemd" and container.id in wanted for container in _containers(sock, processes)
    )


def path_contains(text: str) -> Predicate:
    """A Unix socket path contains ``text``, ignoring case."""
    wanted = text.lower()
    return lambda sock, processes: sock.path is not None and wanted in sock.path.lower()


def row_text(sock: Socket, processes: Mapping[int, Process]) -> str:
    """What a row shows, lower-cased: proto, state, endpoints or Unix path, owner pids and process names, their
    containers or units, the network namespace."""
    if sock.family == "unix":
        where = sock.path or ""
    else:
        local = format_endpoint(sock.local_address, sock.local_port, sock.family)
        where = f"{local} {format_endpoint(sock.remote_address, sock.remote_port, sock.family)}"
    owners = " ".join(
        f"{owner.pid} {process.name}" if (process := processes.get(owner.pid)) is not None else str(owner.pid)
        for owner in sock.owners
    )
    containers = " ".join(dict.fromkeys(container.name for container in _containers(sock, processes)))
    return f"{sock.proto} {sock.state} {where} {owners} {containers} {sock.netns or ''}".lower()


_SEPARATORS = frozenset(" :[]*")
"""Characters that join or stand for fields in :func:`row_text`; a needle without them lies within one field."""


def text_contains(text: str) -> Predicate:
    """A bare word or quoted string: a case-insensitive substring of the row's text (:func:`row_text`)."""
    wanted = text.lower()
    if _SEPARATORS.intersection(wanted):
        return lambda sock, processes: wanted in row_text(sock, processes)
    numeric = _is_number(wanted)

    def in_some_field(sock: Socket, processes: Mapping[int, Process]) -> bool:
        """``wanted in row_text(...)`` without building the text (the hot case: a plain word)."""
        if wanted in sock.proto or wanted in sock.state.lower():
            return True
        if sock.family == "unix":
            if sock.path is not None and wanted in sock.path.lower():
                return True
        elif wanted in unmap_ipv4(sock.local_address) or wanted in unmap_ipv4(sock.remote_address) or (
            numeric and (sock.local_port and wanted in str(sock.local_port)
                         or sock.remote_port and wanted in str(sock.remote_port))
        ):
            return True
        for owner in sock.owners:
            if numeric and wanted in str(owner.pid):
                return True
            process = processes.get(owner.pid)
            if process is not None and (wanted in process.name.lower() or process.container is not None
                                        and wanted in process.container.name):  # fmt: skip
                return True
        return sock.netns is not None and wanted in sock.netns.lower()

    return in_some_field
