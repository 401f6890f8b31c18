"""``netwatch --once``: one snapshot printed as a table, JSON or CSV (without importing Textual)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, BinaryIO, TextIO

from netwatch.backends.collector import Collector, snapshot_warnings
from netwatch.backends.forked_writer import ForkedWriter
from netwatch.backends.model.endpoints import format_endpoint
from netwatch.backends.model.records import Process, Socket, owner_pids
from netwatch.backends.model.snapshot import Snapshot
from netwatch.tui.cli.main import EXIT_USAGE
from netwatch.tui.view.safe_text import visible

if TYPE_CHECKING:
    from netwatch.backends.filter import SocketFilter
    from netwatch.backends.model.namespaces import Selection

TABLE_HEADER = ("Proto", "State", "Recv-Q", "Send-Q", "Local", "Peer", "Process")
PARALLEL_JSON_MIN = 20_000
"""From this many sockets on, a forked child encodes the last :data:`CHILD_SHARE` of them (below, forking costs more
than it saves)."""
CHILD_SHARE = 0.4
"""The child's share of the sockets: it also writes its part to memory, which the parent then copies out, and must
exit (at 100,000 sockets it took 2.9 µs a socket to the parent's 1.9 µs; at a half each it finished 50 ms later)."""
COPY_CHUNK = 1 << 20


LEFT_FOR_EXIT: list[Snapshot] = []
"""Snapshots printed by :func:`run_once`, kept alive so that the console entry point can leave the process
without freeing their records one by one (~30 ms per 50,000 sockets; see :func:`netwatch.tui.cli.main.run`)."""


def run_once(backend: str, socket_filter: SocketFilter | None, output_format: str, out: TextIO,
             quiet: bool = False, netns: Selection | None = None) -> int:
    """Take one snapshot (of the ``netns`` namespaces, default all), keep the sockets matching ``socket_filter``
    (None: all), print them, and what is hidden on stderr (unless ``quiet``: the JSON document carries it too);
    returns the exit status."""
    # One short-lived process building ~10 objects per socket, none cyclic: the cyclic collector would only
    # rescan the growing heap (measured: a third of the run at 100,000 sockets).
    gc.disable()
    if hasattr(out, "reconfigure"):  # names and paths may carry undecodable bytes (kept as surrogates)
        out.reconfigure(errors="backslashreplace")
    snapshot = Collector(backend, netns=netns).snapshot()
    LEFT_FOR_EXIT.append(snapshot)
    if netns is not None and not snapshot.namespaces and snapshot.backend == "netlink":
        print(f"netwatch: --netns {visible(netns.text)}: no such network namespace", file=sys.stderr)
        return EXIT_USAGE
    return print_snapshot(snapshot, socket_filter, output_format, out, quiet)


def print_snapshot(snapshot: Snapshot, socket_filter: SocketFilter | None, output_format: str, out: TextIO,
                   quiet: bool = False) -> int:
    """Print ``snapshot``'s sockets matching ``socket_filter`` as ``--once`` does (a table, JSON or CSV), and what
    is hidden on stderr unless ``quiet``; returns the exit status."""
    if not quiet:
        for warning in snapshot_warnings(snapshot):
            print(f"netwatch: warning: {visible(warning)}", file=sys.stderr)
    sockets = list(snapshot.sockets.values())
    if socket_filter is not None:
        sockets = [sock for sock in sockets if socket_filter.matches(sock, snapshot.processes)]
    if output_format == "json":
        out.flush()
        write_json(snapshot, sockets, out.buffer)
    elif output_format == "csv":
        import csv  # here: ~1 ms of every other --once run's imports

        from netwatch.tui.cli.serialize import CSV_COLUMNS, socket_to_csv_row

        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(socket_to_csv_row(sock, snapshot.processes, snapshot.namespaces) for sock in sockets)
    else:
        # One write: with PYTHONUNBUFFERED set, writelines() makes a system call per line.
        out.write("".join(format_table(sockets, snapshot.processes, netns_column=len(snapshot.namespaces) > 1)))
    return 0


def write_json(snapshot: Snapshot, sockets: list[Socket], out: BinaryIO) -> None:
    """The JSON document of ``sockets``, streamed; a large list is encoded by two processes (its end by a forked
    child, see :func:`_encode_in_child`)."""
    import orjson  # here, like the encoder: the table needs neither (orjson imports datetime, uuid...: ~10 ms)

    from netwatch.tui.cli.serialize import SocketJsonEncoder, snapshot_header, write_objects

    out.write(orjson.dumps(snapshot_header(snapshot))[:-1] + b',"sockets":[')
    encode = SocketJsonEncoder(snapshot.processes, snapshot.monotonic, snapshot.namespaces).encode_function()
    total = len(sockets)
    cut = total - int(total * CHILD_SHARE) if total >= PARALLEL_JSON_MIN else total  # the child's part starts here
    out.flush()  # nothing buffered may be inherited by the child
    child = _encode_in_child(lambda file: write_objects(encode, sockets, cut, total, file)) if cut < total else None
    write_objects(encode, sockets, 0, cut, out)
    if cut < total:
        out.write(b",")
        if child is None or not _copy_child_output(child, out):
            write_objects(encode, sockets, cut, total, out)
    out.write(b"]}\n")
    out.flush()


def _encode_in_child(write: Callable[[BinaryIO], None]) -> ForkedWriter | None:
    """A forked child running ``write`` (the JSON objects of the list's end, reading the snapshot copy-on-write),
    meanwhile the caller encodes the rest; None when it cannot fork (then the caller encodes them itself)."""
    return ForkedWriter.start("netwatch-json", write)


def _copy_child_output(child: ForkedWriter, out: BinaryIO) -> bool:
    """Append what the child wrote to ``out``; False (nothing written) if the child failed. The kernel copies it
    (``sendfile``) where ``out`` has a descriptor it can write to: of 100 MB (~50,000 connections' half), to
    /dev/null 2.4 ms against 18 ms through Python, into a pipe read as fast as it fills 60 ms against 145 ms."""
    output = child.output()
    if output is None:
        return False
    with output:
        copied = _send_file(output, out)
        output.seek(copied)
        while chunk := output.read(COPY_CHUNK):  # shutil.copyfileobj, whose import costs --once 4 ms
            out.write(chunk)
    return True


def _send_file(source: BinaryIO, out: BinaryIO) -> int:
    """Copy ``source`` (a file) to ``out``'s descriptor with ``sendfile``, as far as that goes; returns how many bytes
    it copied (0: ``out`` has no descriptor, or the kernel cannot ``sendfile`` to it; the caller copies the rest)."""
    try:
        target = out.fileno()
    except OSError:  # io.UnsupportedOperation: e.g. an in-memory file
        return 0
    out.flush()
    size = os.fstat(source.fileno()).st_size
    copied = 0
    with suppress(OSError):  # e.g. EINVAL; a reader that left (EPIPE) is told by the caller's own write
        while copied < size:
            sent = os.sendfile(target, source.fileno(), copied, size - copied)
            if not sent:
                break
            copied += sent
    return copied


def format_table(sockets: Sequence[Socket], processes: Mapping[int, Process], netns_column: bool = False) -> list[str]:
    """Lines of an ``ss -tanp``-like table, untrusted text made visible (no terminal escapes); ``netns_column``:
    with the network namespace of each socket first (when more than one is shown)."""
    header, netns = (("Netns", *TABLE_HEADER), _netns) if netns_column else (TABLE_HEADER, _nothing)
    rows = [header, *((*netns(sock), *_table_row(sock, processes)) for sock in sockets)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    right_aligned = {3, 4} if netns_column else {2, 3}
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return lines


def _netns(sock: Socket) -> tuple[str]:
    return (visible(sock.netns or "-"),)


def _nothing(_sock: Socket) -> tuple[()]:
    return ()


def _table_row(sock: Socket, processes: Mapping[int, Process]) -> tuple[str, ...]:
    if sock.family == "unix":
        local = visible(sock.path) if sock.path else "*"
        peer = str(sock.peer_inode) if sock.peer_inode else "*"
    else:
        local = format_endpoint(sock.local_address, sock.local_port, sock.family)
        peer = format_endpoint(sock.remote_address, sock.remote_port, sock.family)
    owners = _owners(sock, processes)
    queues = ("-" if queue is None else str(queue) for queue in (sock.recv_q, sock.send_q))
    return (sock.proto, sock.state, *queues, local, peer, owners)


def _owners(sock: Socket, processes: Mapping[int, Process]) -> str:
    """``pid/name`` of each owning process, as the TUI shows them."""
    return ",".join(
        f"{pid}/{visible(process.name) if (process := processes.get(pid)) else '?'}" for pid in owner_pids(sock)
    )
