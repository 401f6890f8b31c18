"""Acting on what the TUI shows: close sockets (``K``), signal a process (``k``), inspect a port (``P``), copy
(``c``, ``C``) and save (``s``). Mixed into the app; every action that changes the host asks first (Cancel is the
default), runs off the UI thread and says what became of each target; ``--read-only`` refuses them all."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.text import Text
from textual import work

from netwatch.backends.actions.destroy import ALREADY_GONE, CLOSED, REFUSED, closable, destroy_all
from netwatch.backends.actions.ports import inspect_port
from netwatch.backends.actions.signals import send_signal, start_time
from netwatch.backends.model.endpoints import format_endpoint
from netwatch.backends.model.names import short_state
from netwatch.backends.model.records import Process, Socket, owner_pids
from netwatch.tui.app.screens.dialogs import ConfirmScreen, PortPrompt, ResultScreen, SignalChooser
from netwatch.tui.app.screens.owner_chooser import OwnerChooser, owner_label
from netwatch.tui.cli.port import format_report
from netwatch.tui.cli.serialize import CSV_COLUMNS, socket_to_csv_row, socket_to_dict
from netwatch.tui.view.safe_text import plain, visible

if TYPE_CHECKING:
    from netwatch.tui.app.app import NetwatchApp

LISTED = 12
"""Sockets a confirmation lists one by one (the rest are counted)."""
CONSEQUENCES = {
    "tcp": "TCP: the owner's next call fails with ECONNABORTED and the peer gets a reset (RST); a listener stops "
           "accepting connections.",
    "udp": "UDP: the owner's next call on it fails once (ECONNABORTED); the port stays bound.",
}  # fmt: skip
SOCKET_VIEWS = ("connections", "listeners", "unix")


def socket_line(sock: Socket, processes: Mapping[int, Process]) -> Text:
    """``tcp ESTAB 127.0.0.1:5000 → 10.0.0.2:443  1234/curl  netns host`` (untrusted text shown literally)."""
    if sock.proto == "unix":
        where = sock.path or f"inode {sock.inode}"
    else:
        local = format_endpoint(sock.local_address, sock.local_port, sock.family)
        where = f"{local} → {format_endpoint(sock.remote_address, sock.remote_port, sock.family)}"
    owners = ", ".join(f"{pid}/{processes[pid].name}" if pid in processes else str(pid) for pid in owner_pids(sock))
    return plain(f"{sock.proto} {short_state(sock.state)}  {where}  {owners or 'no owner'}"
                 + (f"  netns {sock.netns}" if sock.netns else ""))  # fmt: skip


class ActionKeys:
    """The app's actions on the host (a mixin of :class:`~netwatch.tui.app.app.NetwatchApp`)."""

    read_only: bool

    # ----- K: close sockets ---------------------------------------------------------------------------------

    def action_close_sockets(self: NetwatchApp) -> None:
        if self._refused_read_only("close sockets"):
            return
        frame, key = self.frame, self.table().cursor_key
        if frame is None or self.view not in SOCKET_VIEWS:
            self._say("K closes sockets: select one in Connections, Listeners or Unix.", severity="warning")
            return
        selected = frame.snapshot.sockets.get(key) if key is not None else None
        matching = [sock for sock in map(frame.snapshot.sockets.get, self.table().shown_keys)
                    if sock is not None and not closable(sock)] if self._filter is not None else []  # fmt: skip
        if selected is not None and closable(selected):
            if selected.proto == "unix":
                self._say("The kernel cannot close a Unix socket: press k to signal its owner instead.",
                            severity="warning")  # fmt: skip
            else:
                self._say(closable(selected), severity="warning")
            if not matching:
                return
            selected = None
        if selected is None and not matching:
            self._say("No socket selected.", severity="warning")
            return
        choices = [("one", "Close it")] if selected is not None else []
        if matching:
            choices.append(("all", f"Close all {len(matching)} matching"))
        body = Text()
        if selected is not None:
            body.append("Selected:\n", style="bold")
            body.append_text(socket_line(selected, frame.snapshot.processes))
            body.append("\n\n")
        if matching:
            body.append(f"Matching the filter ({len(matching)}):\n", style="bold")
            for sock in matching[:LISTED]:
                body.append_text(socket_line(sock, frame.snapshot.processes))
                body.append("\n")
            if len(matching) > LISTED:
                body.append(f"... and {len(matching) - LISTED} more\n")
            body.append("\n")
        protos = {sock.proto for sock in ([selected] if selected else []) + matching}
        body.append("\n".join(CONSEQUENCES[proto] for proto in sorted(protos)), style="yellow")

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self._close(matching if choice == "all" else [selected])

        self.push_screen(ConfirmScreen("Close sockets (SOCK_DESTROY)", body, choices), chosen)

    def _close(self: NetwatchApp, sockets: list[Socket]) -> None:
        processes = self.frame.snapshot.processes if self.frame else {}

        def run() -> None:
            results = destroy_all(sockets)
            body = Text()
            for result in results:
                style = "green" if result.outcome == CLOSED else "red" if result.outcome == REFUSED else "yellow"
                body.append(f"{result.outcome:<13}", style=style)
                body.append_text(socket_line(result.sock, processes))
                if result.outcome != CLOSED:
                    body.append(f"\n{'':13}{result.reason}", style="dim")
                body.append("\n")
            counts = Counter(result.outcome for result in results)
            title = ", ".join(f"{counts[outcome]} {outcome}" for outcome in (CLOSED, ALREADY_GONE, REFUSED)
                              if counts[outcome])  # fmt: skip
            self.call_from_thread(self.push_screen, ResultScreen(title, body))

        self.run_worker(run, thread=True, group="actions")

    # ----- k: signal a process ------------------------------------------------------------------------------

    def action_signal(self: NetwatchApp) -> None:
        if self._refused_read_only("signal processes"):
            return
        frame, key = self.frame, self.table().cursor_key
        if frame is None or key is None:
            return
        if self.view == "processes":
            pids: Sequence[int] = [key]
        elif self.view in SOCKET_VIEWS and key in frame.sockets:
            pids = owner_pids(frame.sockets[key])
        else:
            self._say("k signals a process: select a socket or a process.", severity="warning")
            return
        if not pids:
            self._say("No visible process holds this socket.", severity="warning")
            return
        if len(pids) > 1:
            title = "Several processes hold this socket: which one to signal?"
            self.push_screen(OwnerChooser(pids, frame.snapshot.processes, title),
                             lambda pid: self._choose_signal(pid) if pid else None)  # fmt: skip
            return
        self._choose_signal(pids[0])

    def _choose_signal(self: NetwatchApp, pid: int) -> None:
        started = start_time(pid)  # the process as it is now: a pid reused meanwhile is refused
        if started is None:
            self._say(f"Process {pid} has exited.", severity="warning")
            return
        processes = self.frame.snapshot.processes if self.frame else {}
        title = Text("Send a signal to ", style="bold")
        title.append_text(owner_label(pid, processes))

        def chosen(name: str | None) -> None:
            if name is None:
                return
            special = pid in (1, os.getpid())
            body = Text(f"SIG{name} to ")
            body.append_text(owner_label(pid, processes))
            if special:
                who = "init (pid 1): the whole system depends on it" if pid == 1 else "netwatch itself"
                body.append(f"\n\nThis is {who}.", style="bold red")
            self.push_screen(
                ConfirmScreen("Send the signal?", body, [("send", f"Send SIG{name}")]),
                lambda choice: self._send(pid, started, name, special) if choice else None,
            )

        self.push_screen(SignalChooser(title), chosen)

    def _send(self: NetwatchApp, pid: int, started: int, name: str, force: bool) -> None:
        result = send_signal(pid, started, name, force=force)
        severity = "information" if result.outcome == "sent" else "error"
        self._say(f"SIG{name} to {pid}: {result.outcome}" + (f" ({result.reason})" if result.reason else ""),
                    severity=severity)  # fmt: skip

    # ----- P: port inspector --------------------------------------------------------------------------------

    def action_port(self: NetwatchApp) -> None:
        frame, key = self.frame, self.table().cursor_key
        sock = frame.sockets.get(key) if frame is not None and key is not None else None
        if sock is not None and sock.proto in ("tcp", "udp") and sock.local_port:
            self._show_port(sock.proto, sock.local_port)
            return
        self.push_screen(PortPrompt(), lambda answer: self._show_port(*answer) if answer else None)

    def _show_port(self: NetwatchApp, proto: str, port: int) -> None:
        frame = self.frame
        if frame is None:
            return
        own = [inode for inode, namespace in frame.snapshot.namespaces.items() if namespace.own]
        sockets = [sock for sock in frame.snapshot.sockets.values() if not own or sock.netns_inode in own]
        report = inspect_port(sockets, proto, port)
        body = Text("".join(format_report(report, frame.snapshot.processes)))
        self.push_screen(ResultScreen(f"{proto} port {port} in netwatch's network namespace", body))

    # ----- c, C, s: copy and save ---------------------------------------------------------------------------

    def action_copy(self: NetwatchApp) -> None:
        frame, key = self.frame, self.table().cursor_key
        if frame is None or key is None:
            return
        sock = frame.sockets.get(key)
        text = socket_line(sock, frame.snapshot.processes).plain if sock is not None else str(key)
        self.copy_to_clipboard(text)
        self._say(f"Copied: {text}")

    def action_copy_details(self: NetwatchApp) -> None:
        from netwatch.tui.app.detail import DetailPane

        text = self.query_one("#detail", DetailPane).text()
        self.copy_to_clipboard(text)
        self._say(f"Copied the detail pane ({len(text.splitlines())} lines).")

    def action_save(self: NetwatchApp) -> None:
        frame = self.frame
        if frame is None:
            return
        sockets = self._shown_sockets()
        where = "to this browser's downloads" if self.is_web else f"to a file in {os.getcwd()}"
        body = Text(f"{len(sockets)} sockets of the {self.view} view (after the filter, in its order), with the "
                    f"--once schema, {where}.")  # fmt: skip
        self.push_screen(ConfirmScreen("Save what this view shows", body, [("csv", "CSV"), ("json", "JSON")]),
                         lambda choice: self._save_details(sockets, choice) if choice else None)  # fmt: skip

    @work(thread=True, group="save", exit_on_error=False, description="look up the sockets to save")
    def _save_details(self: NetwatchApp, sockets: list[Socket], output_format: str) -> None:
        """Save ``sockets`` with everything known about them: a light source's looked up again first (off the UI
        thread: ~10 us each), those gone meanwhile as the table had them."""
        try:
            found = self.source.details(sockets)
        except Exception:  # saved as the table has them
            found = list(sockets)
        sockets.clear()  # a finished worker is garbage in a reference cycle, its arguments with it
        self._post(self._save, found, output_format)

    def _shown_sockets(self: NetwatchApp) -> list[Socket]:
        """The current sockets of the rows the view shows (a process, host or namespace row: its sockets)."""
        frame = self.frame
        current = frame.snapshot.sockets
        keys = self.table().shown_keys
        if self.view in SOCKET_VIEWS:
            return [current[key] for key in keys if key in current]
        if self.view == "processes":
            pids = set(keys)
            return [sock for sock in current.values() if pids.intersection(owner_pids(sock))]
        from netwatch.tui.view.remotes import remote_host

        wanted = set(keys)
        if self.view == "remotes":
            return [sock for sock in current.values() if remote_host(sock) in wanted]
        return [sock for sock in current.values() if sock.netns_inode in wanted]

    def _save(self: NetwatchApp, sockets: list[Socket], output_format: str) -> None:
        """Write ``sockets`` in ``output_format`` to a new file in the working directory, or, served in a browser
        (``netwatch serve``), hand it to the browser as a download: nothing is written on the host."""
        path = Path(f"netwatch-{self.view}-{time.strftime('%Y%m%d-%H%M%S')}.{output_format}")
        if self.is_web:
            document = io.StringIO(newline="")
            self._write_sockets(document, sockets, output_format)
            data = document.getvalue().encode("utf-8", "backslashreplace")  # as the file's errors= below
            self.deliver_binary(io.BytesIO(data), save_filename=path.name, mime_type=f"text/{output_format}")
            self._say(f"Sent {len(sockets)} sockets to the browser as {path.name} (no download? allow pop-ups here)")
            return
        try:
            with path.open("x", newline="", encoding="utf-8", errors="backslashreplace") as file:
                self._write_sockets(file, sockets, output_format)
        except OSError as error:
            self._say(f"Not saved: {path.resolve()}: {error.strerror or error}", severity="error")
            return
        self._say(f"Saved {len(sockets)} sockets to {path.resolve()}")

    def _write_sockets(self: NetwatchApp, file: TextIO, sockets: list[Socket], output_format: str) -> None:
        """``sockets`` as CSV or JSON with the ``--once`` schema (undecodable bytes in JSON: ``\\udcXX``)."""
        snapshot = self.frame.snapshot
        if output_format == "csv":
            writer = csv.writer(file)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(socket_to_csv_row(sock, snapshot.processes, snapshot.namespaces) for sock in sockets)
        else:
            documents = [socket_to_dict(sock, snapshot.processes, snapshot.monotonic, snapshot.namespaces)
                         for sock in sockets]  # fmt: skip
            json.dump({"taken_at": snapshot.taken_at, "sockets": documents}, file)

    def _say(self: NetwatchApp, message: str, severity: str = "information") -> None:
        """A notification; its text (process names, paths) is never read as markup."""
        self.notify(visible(message), severity=severity, markup=False)

    def _refused_read_only(self: NetwatchApp, what: str) -> bool:
        if self.read_only:
            self._say(f"Read-only (--read-only): netwatch does not {what}.", severity="warning")
        return self.read_only
