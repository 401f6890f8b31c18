"""The Namespaces view: one row per network namespace listed, aggregated from the frame's sockets (no Textual)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from netwatch.backends.model.names import short_state, state_rank
from netwatch.backends.model.namespaces import Namespace
from netwatch.backends.model.records import Socket
from netwatch.tui.view import format as fmt
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.rows import ProcessTotals, SocketPredicate, empty_columns
from netwatch.tui.view.table_model import Row, RowList, TableRows


@dataclass
class NamespaceTotals:
    """Counts and rates over the sockets of one network namespace."""

    sockets: ProcessTotals = field(default_factory=ProcessTotals)
    send_bps: float = 0.0
    recv_bps: float = 0.0

    def states_text(self) -> str:
        """``ESTAB 3 LISTEN 1``, states in the kernel's order."""
        states = self.sockets.states
        return " ".join(f"{short_state(state)} {states[state]}" for state in sorted(states, key=state_rank))


def aggregate_namespaces(
    frame: Frame, sockets: Iterable[Socket], accept: SocketPredicate | None
) -> dict[int, NamespaceTotals]:
    """Per namespace inode, the totals of its accepted sockets (every listed namespace has an entry)."""
    totals = {inode: NamespaceTotals() for inode in frame.snapshot.namespaces}
    rates = frame.diff.rates
    for sock in sockets:
        if sock.netns_inode is None or (accept is not None and not accept(sock)):
            continue
        total = totals.get(sock.netns_inode)
        if total is None:
            total = totals[sock.netns_inode] = NamespaceTotals()
        total.sockets.add(sock)
        rate = rates.get(sock.key)
        if rate is not None:
            total.send_bps += rate.send_bps
            total.recv_bps += rate.recv_bps
    return totals


def namespace_rows(frame: Frame, accept: SocketPredicate | None) -> TableRows:
    """One row per namespace listed (with an accepted socket, when filtering), with :data:`NAMESPACE_COLUMNS`."""
    totals = aggregate_namespaces(frame, frame.snapshot.sockets.values(), accept)
    namespaces = frame.snapshot.namespaces
    rows = []
    for inode, total in totals.items():
        if accept is not None and not total.sockets.sockets:
            continue
        namespace = namespaces.get(inode) or Namespace(inode, f"net:[{inode}]")
        container = namespace.container.name if namespace.container is not None else ""
        states, ports = total.states_text(), total.sockets.ports_text()
        processes = len(namespace.pids)
        rows.append(Row(
            key=inode,
            cells=(namespace.name, str(inode), container, str(processes), str(total.sockets.sockets), states,
                   fmt.rate_cell(total.send_bps), fmt.rate_cell(total.recv_bps), ports),
            sort_values=(namespace.name, inode, container, processes, total.sockets.sockets, states, total.send_bps,
                         total.recv_bps, ports),
        ))  # fmt: skip
    model = NamespaceRowList(rows, totals)
    empty = empty_columns(frame) - {"netns"}
    return TableRows(model, list(model.rows), total=None if accept is None else len(totals), empty_columns=empty)


class NamespaceRowList(RowList):
    """The rows of the Namespaces view, with the totals behind them (for the detail pane)."""

    def __init__(self, rows: Iterable[Row], totals: Mapping[int, NamespaceTotals]) -> None:
        super().__init__(rows)
        self.totals = totals


def sockets_of_namespace(frame: Frame, inode: int) -> list[Socket]:
    """The sockets (current and lingering) of the namespace of ``inode``."""
    return [sock for sock in frame.sockets.values() if sock.netns_inode == inode]


def namespace_totals(frame: Frame, inode: int) -> NamespaceTotals:
    """The totals of the namespace of ``inode`` over its current sockets."""
    current = frame.snapshot.sockets
    sockets = [sock for sock in sockets_of_namespace(frame, inode) if sock.key in current]
    return aggregate_namespaces(frame, sockets, None).get(inode, NamespaceTotals())
