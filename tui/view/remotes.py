"""The Remote hosts view: one row per remote address, aggregated from the frame's connections (no Textual here).

A remote host is the peer address of a TCP/UDP/raw socket that is not a listener, IPv4-mapped IPv6 addresses
counted as IPv4; a socket counts once for its host (however many processes hold it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from netwatch.backends.model.endpoints import unmap_ipv4
from netwatch.backends.model.names import short_state, state_rank
from netwatch.backends.model.records import Process, Socket, owner_pids
from netwatch.tui.view import format as fmt
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.rows import SocketPredicate, in_view
from netwatch.tui.view.table_model import Row, RowList, TableRows

_NO_HOST = frozenset({"", "0.0.0.0", "::", "*"})


def remote_host(sock: Socket) -> str | None:
    """The remote host ``sock`` talks to (its peer address, ``::ffff:`` mapped shown as IPv4), or None for a
    listener, a Unix socket or a socket without a peer."""
    if not in_view("connections", sock):
        return None
    address = unmap_ipv4(sock.remote_address)
    return None if address in _NO_HOST else address


@dataclass
class RemoteTotals:
    """Counts and rates over the sockets talking to one remote host."""

    connections: int = 0
    states: dict[str, int] = field(default_factory=dict)
    send_bps: float = 0.0
    recv_bps: float = 0.0
    pids: set[int] = field(default_factory=set)

    def states_text(self) -> str:
        """``ESTAB 3 TIME_WAIT 1``, states in the kernel's order."""
        return " ".join(f"{short_state(state)} {self.states[state]}" for state in sorted(self.states, key=state_rank))

    def processes_text(self, processes: Mapping[int, Process]) -> str:
        """``1204/nginx 1205/nginx`` (untrusted names: shown through the table's safe text)."""
        return " ".join(f"{pid}/{processes[pid].name}" if pid in processes else str(pid) for pid in sorted(self.pids))


def aggregate_remotes(frame: Frame, sockets: Iterable[Socket],
                      accept: SocketPredicate | None) -> tuple[dict[str, RemoteTotals], int]:
    """Per remote host, the totals of its accepted sockets; and how many hosts there are unfiltered."""
    totals: dict[str, RemoteTotals] = {}
    every_host: set[str] = set()
    rates = frame.diff.rates
    for sock in sockets:
        host = remote_host(sock)
        if host is None:
            continue
        every_host.add(host)
        if accept is not None and not accept(sock):
            continue
        total = totals.get(host)
        if total is None:
            total = totals[host] = RemoteTotals()
        total.connections += 1
        total.states[sock.state] = total.states.get(sock.state, 0) + 1
        rate = rates.get(sock.key)
        if rate is not None:
            total.send_bps += rate.send_bps
            total.recv_bps += rate.recv_bps
        if sock.owners:
            total.pids.update(owner_pids(sock))
    return totals, len(every_host)


def remote_rows(frame: Frame, accept: SocketPredicate | None, name_of: Callable[[str], str],
                address_key: Callable[[str], bytes]) -> TableRows:
    """One row per remote host with an accepted current socket, with :data:`REMOTE_COLUMNS`. ``name_of(address)``
    gives the host as shown (the address itself unless resolving), ``address_key(address)`` its sort key."""
    totals, hosts = aggregate_remotes(frame, frame.snapshot.sockets.values(), accept)
    processes = frame.snapshot.processes
    rows = []
    for address, total in totals.items():
        states, names = total.states_text(), total.processes_text(processes)
        rows.append(Row(
            key=address,
            cells=(name_of(address), str(total.connections), states, fmt.rate_cell(total.send_bps),
                   fmt.rate_cell(total.recv_bps), names),
            sort_values=(address_key(address), total.connections, states, total.send_bps, total.recv_bps, names),
        ))
    model = RemoteRowList(rows, totals)
    return TableRows(model, list(model.rows), total=None if accept is None else hosts)


class RemoteRowList(RowList):
    """The rows of the Remote hosts view, with the totals behind them (for the detail pane and ``p``, so that the UI
    thread never scans the sockets)."""

    def __init__(self, rows: Iterable[Row], totals: Mapping[str, RemoteTotals]) -> None:
        super().__init__(rows)
        self.totals = totals


def sockets_of_host(frame: Frame, address: str) -> list[Socket]:
    """The sockets (current and lingering) talking to remote host ``address``."""
    return [sock for sock in frame.sockets.values() if remote_host(sock) == address]


def host_totals(frame: Frame, address: str) -> RemoteTotals:
    """The totals of remote host ``address`` over its current sockets (none: empty totals)."""
    current = frame.snapshot.sockets
    sockets = [sock for sock in sockets_of_host(frame, address) if sock.key in current]
    return aggregate_remotes(frame, sockets, None)[0].get(address, RemoteTotals())
