"""The detail pane: everything known about the selected socket, grouped, with units, plus sparklines."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from rich.cells import cell_len
from rich.color import Color
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Span, Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from netwatch.backends.history.diff import has_counters, no_counters_reason
from netwatch.backends.model.containers import Container
from netwatch.backends.model.endpoints import format_endpoint
from netwatch.backends.model.names import TCP_STATES, short_state, state_rank
from netwatch.backends.model.records import Process, Socket, tcp_info_at, timer_at
from netwatch.tui.app.widgets.text_lines import Line, TextLines, join_lines, split_lines
from netwatch.tui.view import format as fmt
from netwatch.tui.view.frame import Frame
from netwatch.tui.view.namespaces import NamespaceTotals
from netwatch.tui.view.remotes import RemoteTotals
from netwatch.tui.view.rows import NO_COUNTERS, UNKNOWN, process_facts, seen_text
from netwatch.tui.view.safe_text import plain, visible

if TYPE_CHECKING:
    from netwatch.tui.view.snapshots import SnapshotSource

Field = tuple[str, Text | str]

_CA_STATES = ("Open", "Disorder", "CWR", "Recovery", "Loss")
_TCP_OPTIONS = ("timestamps", "sack", "wscale", "ecn", "ecn_seen", "syn_data", "usec_ts", "tfo_child")
_SHUTDOWN = ("none", "no receive", "no send", "no send/receive")
_INFINITE_SSTHRESH = 0x7FFFFFFF
SPARK_COLORS = ("sparkline--min-color", "sparkline--max-color")

_MICROSECONDS = frozenset({"rtt", "rttvar", "min_rtt", "rcv_rtt", "rto", "ato", "busy_time", "rwnd_limited",
                           "sndbuf_limited"})
_MILLISECONDS = frozenset({"last_data_sent", "last_ack_sent", "last_data_recv", "last_ack_recv",
                           "total_rto_time"})
_BYTES = frozenset({"bytes_sent", "bytes_acked", "bytes_received", "bytes_retrans", "notsent_bytes", "snd_wnd",
                    "rcv_wnd", "rcv_space", "rcv_ssthresh"})
_EXACT_BYTES = frozenset({"snd_mss", "rcv_mss", "advmss", "pmtu"})
"""Segment and path sizes: whole bytes (``65,483 B``), as they are set and compared."""
_RATES = frozenset({"pacing_rate", "max_pacing_rate", "delivery_rate"})
_UNLIMITED_RATE = 2**64 - 1
"""~0ULL: the kernel's "no pacing limit" (SO_MAX_PACING_RATE unset)."""

TCP_INFO_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("State & timers", ("ca_state", "options", "probes", "backoff", "last_data_sent", "last_ack_sent",
                        "last_data_recv", "last_ack_recv", "busy_time", "rwnd_limited", "sndbuf_limited",
                        "delivery_rate_app_limited", "fastopen_client_fail")),
    ("RTT", ("rtt", "rttvar", "min_rtt", "rcv_rtt", "rto", "ato")),
    ("Windows & congestion", ("snd_cwnd", "snd_ssthresh", "pacing_rate", "max_pacing_rate", "delivery_rate",
                              "snd_wnd", "rcv_wnd", "snd_wscale", "rcv_wscale", "snd_mss", "rcv_mss", "advmss",
                              "pmtu", "rcv_space", "rcv_ssthresh", "notsent_bytes", "reordering")),
    ("Bytes & segments", ("bytes_sent", "bytes_acked", "bytes_received", "segs_out", "segs_in",
                          "data_segs_out", "data_segs_in", "delivered", "delivered_ce")),
    ("Loss & retransmission", ("retransmits", "retrans", "total_retrans", "bytes_retrans", "lost", "sacked",
                               "fackets", "unacked", "reord_seen", "dsack_dups", "rcv_ooopack", "total_rto",
                               "total_rto_recoveries", "total_rto_time")),
)
_GROUPED = frozenset(name for _, names in TCP_INFO_GROUPS for name in names) | {"state"}


def tcp_info_value(name: str, value: int, info: Mapping[str, int]) -> str:
    """One tcp_info field with its unit, e.g. ``rtt`` 12345 -> ``12.3 ms``."""
    if name in _MICROSECONDS:
        return fmt.duration_us(value)
    if name in _MILLISECONDS:
        return fmt.duration_ms(value)
    if name in _BYTES:
        return fmt.size(value)
    if name in _EXACT_BYTES:
        return f"{fmt.count(value)} B"
    if name in _RATES:
        return "unlimited" if value >= _UNLIMITED_RATE else fmt.rate(value)
    if name == "ca_state":
        return _CA_STATES[value] if 0 <= value < len(_CA_STATES) else str(value)
    if name == "state":
        return TCP_STATES[value] if 0 <= value < len(TCP_STATES) else str(value)
    if name == "options":
        flags = [label for bit, label in enumerate(_TCP_OPTIONS) if value & (1 << bit)]
        return ", ".join(flags) or "none"
    if name == "snd_cwnd":
        mss = info.get("snd_mss", 0)
        return f"{value} seg ({fmt.size(value * mss)})" if mss else f"{value} seg"
    if name == "snd_ssthresh" and value >= _INFINITE_SSTHRESH:
        return "∞ (still in slow start)"
    return fmt.count(value)


def _shown_tcp_info(name: str, value: int, sock: Socket) -> bool:
    """Whether the field is worth a line: an infinite ssthresh means "still in slow start" only under a loss-based
    congestion control; BBR does not use it."""
    return not (name == "snd_ssthresh" and value >= _INFINITE_SSTHRESH and (sock.congestion or "").startswith("bbr"))


def socket_fields(sock: Socket, frame: Frame) -> list[Field]:
    """Identity, state, timer and how long netwatch has seen the socket."""
    fields: list[Field] = [("proto", f"{sock.proto} ({sock.family})"), ("state", sock.state)]
    if sock.proto == "unix":
        fields += [("path", plain(sock.path or "")), ("type", sock.sock_type or ""),
                   ("peer inode", str(sock.peer_inode or ""))]
    else:
        fields += [("local", format_endpoint(sock.local_address, sock.local_port, sock.family)),
                   ("peer", format_endpoint(sock.remote_address, sock.remote_port, sock.family))]
    timer = timer_at(sock, frame.snapshot.monotonic)
    if timer is not None and timer.name == "off":
        fields.append(("timer", "none pending"))
    elif timer is not None:
        fields.append(("timer", f"{timer.name}, expires in {fmt.duration_ms(timer.expires_ms)}, "
                                f"{timer.retrans} retrans"))
    first_seen = frame.first_seen.get(sock.key)
    if first_seen is not None:
        since = "before netwatch started at" if first_seen <= frame.started_at else "since"
        fields.append(("seen", f"{seen_text(frame, sock.key, precise=True)} ({since} {fmt.clock_time(first_seen)})"))
    status = frame.statuses.get(sock.key)
    if status:
        fields.append(("status", status))
    if sock.netns is not None:
        fields.append(("netns", plain(f"{sock.netns} (inode {sock.netns_inode})")))
    container = frame.snapshot.container_of(sock)
    if container is not None:
        fields.append(("container", container_text(container)))
    return fields


def container_text(container: Container) -> Text:
    """A container as ``docker:0123456789ab`` (plus ``pod <uid>``), a unit by its name: untrusted text."""
    return plain(container.name + (f", pod {container.pod}" if container.pod else ""))


def traffic_fields(sock: Socket, frame: Frame) -> list[Field]:
    if not has_counters(sock):
        unknown = f"{NO_COUNTERS} ({no_counters_reason(sock)})"
        return [("send rate", unknown), ("recv rate", unknown)]
    rates = frame.rates(sock.key)
    fields: list[Field] = [("send rate", fmt.rate(rates.send_bps)), ("recv rate", fmt.rate(rates.recv_bps))]
    if sock.proto == "tcp":
        fields += [("segs out/s", f"{rates.segs_out_ps:.1f}"), ("segs in/s", f"{rates.segs_in_ps:.1f}"),
                   ("retrans/s", f"{rates.retrans_ps:.1f}")]
    return fields


def memory_fields(sock: Socket) -> list[Field]:
    fields: list[Field] = [
        (label, UNKNOWN if value is None else fmt.count(value))
        for label, value in (("recv-q", sock.recv_q), ("send-q", sock.send_q))
    ]
    if sock.skmem is not None:
        for name, value in sock.skmem._asdict().items():
            fields.append((f"skmem {name}", fmt.count(value) if name == "drops" else fmt.size(value)))
    if sock.meminfo is not None:
        fields += [(f"meminfo {name}", fmt.size(value)) for name, value in sock.meminfo._asdict().items()]
    return fields


def kernel_fields(sock: Socket) -> list[Field]:
    """cgroup, mark, tos/tclass, shutdown and the other per-socket kernel attributes present."""
    fields: list[Field] = []
    if sock.congestion:
        fields.append(("congestion", plain(sock.congestion)))
    if sock.cgroup:
        fields.append(("cgroup", plain(sock.cgroup)))
    optional: tuple[tuple[str, int | None, Callable[[int], str]], ...] = (
        ("mark", sock.mark, hex),
        ("tos", sock.tos, hex),
        ("tclass", sock.tclass, hex),
        ("shutdown", sock.shutdown, lambda value: _SHUTDOWN[value] if 0 <= value < 4 else str(value)),
        ("interface", sock.interface, str),
        ("uid", sock.uid, str),
        ("inode", sock.inode, str),
        ("cookie", sock.cookie, hex),
    )
    fields += [(label, show(value)) for label, value, show in optional if value is not None]
    return fields


_BBR_UNITS: dict[str, Callable[[int], str]] = {
    "bw": lambda value: f"{fmt.rate(value)} ({fmt.bits_rate(value)})",
    "min_rtt": fmt.duration_us,
    "pacing_gain": lambda value: f"{value / 256:.2f}x",
    "cwnd_gain": lambda value: f"{value / 256:.2f}x",
}
"""struct tcp_bbr_info in human units (bw in bytes/s, min_rtt in µs, gains in 1/256), as ``ss`` shows it."""
_EXTENSION_UNITS: dict[str, dict[str, Callable[[int], str]]] = {"bbr": _BBR_UNITS}


def extension_fields(name: str, values: Mapping[str, object]) -> list[Field]:
    """One extension's values, with units where the kernel's are known; the rest as they are (untrusted)."""
    units = _EXTENSION_UNITS.get(name, {})
    fields: list[Field] = []
    for key, value in values.items():
        show = units.get(str(key))
        fields.append((str(key), show(value) if show is not None and isinstance(value, int) else plain(str(value))))
    return fields


def owner_lines(sock: Socket, processes: Mapping[int, Process]) -> list[Text]:
    """One block per owning fd: pid, fd, name and user, then the cmdline (all untrusted, shown literally)."""
    lines: list[Text] = []
    for owner in sock.owners:
        process = processes.get(owner.pid)
        head = Text.assemble((f"pid {owner.pid} fd {owner.fd} ", "bold"))
        if process is None:
            lines.append(head + Text("(exited)", style="dim"))
            continue
        head.append_text(plain(process.name, "bold"))
        head.append("  user ")
        head.append_text(plain(process.user or str(process.uid)))
        lines.append(head)
        lines.append(Text("  ") + plain(" ".join(process.cmdline) or f"[{process.name}]", "dim"))
    return lines


def _grid(fields: Iterable[Field]) -> Text:
    """Label/value lines, labels padded to one column and dimmed with their line (plain Text: far cheaper to render
    than a Table)."""
    return join_lines(_grid_lines(fields))


def _grid_lines(fields: Iterable[Field]) -> list[Line]:
    """The lines of :func:`_grid`, each built as ``Text("\\n").join`` of a dim Text per line would build it (a Text
    per line cost three times as much, at every refresh of the detail pane)."""
    fields = list(fields)
    width = max((len(label) for label, _ in fields), default=0)
    lines: list[Line] = []
    for label, value in fields:
        head = strip_control_codes(label.ljust(width) + " ")
        if isinstance(value, Text):
            body, end = value.plain, len(head) + len(value.plain)
            spans = [Span(0, end, "dim"), *((Span(len(head), end, value.style),) if value.style else ()),
                     *(Span(len(head) + first, len(head) + last, style) for first, last, style in value.spans)]
            lines.append((head + body, tuple(spans)))
        else:
            line = head + strip_control_codes(value)
            lines.append((line, (Span(0, len(line), "dim"),)))
    return lines


def _heading(title: str) -> Line:
    return title, (Span(0, len(title), "bold underline"),)


def detail_sections(sock: Socket, frame: Frame) -> list[tuple[str, list[Line]]]:
    """(title, body) pairs for every group that has something to show."""
    processes = frame.snapshot.processes
    sections: list[tuple[str, list[Line]]] = [
        ("Socket", _grid_lines(socket_fields(sock, frame))),
        ("Traffic", _grid_lines(traffic_fields(sock, frame))),
    ]
    info = tcp_info_at(sock, frame.snapshot.monotonic)
    for title, names in TCP_INFO_GROUPS:
        present = [(name, tcp_info_value(name, info[name], info)) for name in names
                   if name in info and _shown_tcp_info(name, info[name], sock)]
        if title.startswith("Windows") and sock.congestion:
            present.insert(0, ("congestion", plain(sock.congestion)))
        if present:
            sections.append((title, _grid_lines(present)))
    sections.append(("Memory", _grid_lines(memory_fields(sock))))
    kernel = kernel_fields(sock)
    if kernel:
        sections.append(("Kernel", _grid_lines(kernel)))
    for name, values in sock.extensions.items():
        sections.append((visible(str(name)), _grid_lines(extension_fields(str(name), values))))
    rest = [(name, tcp_info_value(name, value, info)) for name, value in info.items() if name not in _GROUPED]
    if rest:
        sections.append(("Other tcp_info fields", _grid_lines(rest)))
    owners = owner_lines(sock, processes)
    owners_text = Text("\n").join(owners) if owners else Text("no visible owner", style="dim")
    sections.append(("Owners", split_lines(owners_text)))
    return sections


def process_summary(pid: int, frame: Frame) -> Text:
    """A process as seen in ``frame``: identity, parent and children, cmdline, cgroup, socket counts, rates (and
    what of them is on sockets shared with other processes), listening ports and Unix paths."""
    processes = frame.snapshot.processes
    process = processes.get(pid)
    title = Text.assemble((f"pid {pid}  ", "bold"))
    if process is None:
        return title + Text("exited, or not visible without root", style="dim")
    title.append_text(plain(process.name, "bold"))
    facts = process_facts(pid, frame)
    total = facts.totals
    states = ", ".join(f"{short_state(state)} {total.states[state]}" for state in sorted(total.states, key=state_rank))
    sockets = f"{total.sockets}" + (f": {states}" if states else "")
    fields: list[Field] = [
        ("user", plain(f"{process.user} (uid {process.uid})" if process.uid is not None else process.user)),
        ("parent", _labels((facts.parent,), processes) if facts.parent else Text(UNKNOWN)),
    ]
    if facts.children:
        fields.append(("children", _labels(facts.children, processes)))
    fields += [
        ("cmdline", plain(" ".join(process.cmdline) or f"[{process.name}]")),
        ("cgroup", plain(process.cgroup or "")),
        *((("container", container_text(process.container)),) if process.container is not None else ()),
        *((("netns", plain(", ".join(sorted(total.namespaces)))),) if total.namespaces else ()),
        ("sockets", sockets + (f" ({total.shared} shared)" if total.shared else "")),
        ("send rate", _shared_rate(facts.send_bps, facts.shared_send_bps)),
        ("recv rate", _shared_rate(facts.recv_bps, facts.shared_recv_bps)),
        ("listening", plain(total.ports_text() or UNKNOWN)),
    ]
    if facts.shares_with:
        fields.append(("shared with", _labels(facts.shares_with, processes)))
    moved = frame.process_totals.get(pid)
    if moved is not None:
        short = f" ({moved.short_lived} short-lived)" if moved.short_lived else ""
        fields += [
            ("since start", f"{fmt.size(moved.sent)} sent, {fmt.size(moved.received)} received"),
            ("connections", f"{moved.opened} opened, {moved.closed} closed{short}, "
                            f"{int(moved.retransmitted)} segments retransmitted"),
        ]  # fmt: skip
    return Text("\n").join([title, _grid(fields)])


def namespace_summary(inode: int, total: NamespaceTotals, frame: Frame) -> Text:
    """A network namespace: its name, container or unit, processes, sockets by state, rates, listening ports."""
    namespace = frame.snapshot.namespaces.get(inode)
    title = Text.assemble(("netns ", "bold"))
    title.append_text(plain(namespace.name if namespace is not None else f"net:[{inode}]", "bold"))
    if namespace is None:
        return title + Text("  gone", style="dim")
    processes = frame.snapshot.processes
    states = total.states_text()
    fields: list[Field] = [
        ("inode", str(inode) + ("  (netwatch's own)" if namespace.own else "")),
        ("container", container_text(namespace.container) if namespace.container is not None else Text(UNKNOWN)),
        ("processes", _labels(namespace.pids[:PIDS_SHOWN], processes) + Text(
            f" +{len(namespace.pids) - PIDS_SHOWN}" if len(namespace.pids) > PIDS_SHOWN else "")),
        ("sockets", f"{total.sockets.sockets}" + (f": {states}" if states else "")),
        ("send rate", fmt.rate(total.send_bps)),
        ("recv rate", fmt.rate(total.recv_bps)),
        ("listening", plain(total.sockets.ports_text() or UNKNOWN)),
    ]
    return Text("\n").join([title, _grid(fields)])


PIDS_SHOWN = 12
"""Processes of a namespace named in its summary (the rest counted)."""


def remote_summary(address: str, name: str, total: RemoteTotals, processes: Mapping[int, Process]) -> Text:
    """A remote host: its connections by state, rates and the processes talking to it."""
    title = Text.assemble(("remote ", "bold"), (address, "bold"))
    if name != address:
        title.append("  ")
        title.append_text(plain(name, "bold"))
    states = total.states_text()
    fields: list[Field] = [
        ("connections", f"{total.connections}" + (f": {states}" if states else "")),
        ("send rate", fmt.rate(total.send_bps)),
        ("recv rate", fmt.rate(total.recv_bps)),
        ("processes", _labels(sorted(total.pids), processes) if total.pids else Text(UNKNOWN)),
    ]
    return Text("\n").join([title, _grid(fields)])


def _labels(pids: Iterable[int], processes: Mapping[int, Process]) -> Text:
    """``1204/nginx, 1205/nginx`` (names untrusted, shown literally)."""
    return plain(", ".join(f"{pid}/{processes[pid].name}" if pid in processes else str(pid) for pid in pids))


def _shared_rate(rate: float, shared: float) -> str:
    """A process's rate, with the part on shared sockets (also counted for the other owners) when there is one."""
    return fmt.rate(rate) + (f" ({fmt.rate(shared)} on shared sockets)" if shared >= 1 else "")


def _shape(lines: Sequence[str], width: int) -> tuple[int, ...] | None:
    """How many terminal lines each of ``lines`` takes at ``width`` (None: width not known yet)."""
    if width <= 0:
        return None
    return tuple(max(0, cell_len(line) - 1) // width for line in lines)


def render_detail(sock: Socket, frame: Frame) -> list[Line]:
    """The detail pane's body: each section's heading, its lines and a blank line."""
    lines: list[Line] = []
    for title, body in detail_sections(sock, frame):
        lines += [_heading(title), *body, ("", ())]
    return lines


SPARK_LABEL = 5
"""Cells of a sparkline row's name."""
SPARK_VALUE = 13
"""Cells of a sparkline row's latest value, with one blank after it."""
SPARK_SAMPLES = 36
"""Samples a sparkline row shows, a cell each."""


class SparkRow(Widget):
    """One sparkline row of the pane, drawn as one line: its name, the latest value, then a bar per sample, the newest
    rightmost, at most :data:`SPARK_SAMPLES` (few samples stay narrow, never stretched). The value comes first: a
    narrow pane cuts the bars, never the value's unit.

    It was a Horizontal of two Labels and a Sparkline: Textual's repaint of a refresh walked those four widgets
    twice, and the value went through Textual's Content pipeline at each change (a repaint with one connection
    shown: 3.49 ms then, 3.23 ms now). Its size is fixed, so a new sample repaints it and never lays the pane out
    again. The bars are drawn as Textual's Sparkline renderable draws one sample per cell, without its buckets
    (Fractions) and Rich rendering (0.4 ms a repaint)."""

    COMPONENT_CLASSES = {"spark-row--label", *SPARK_COLORS}
    DEFAULT_CSS = """
    SparkRow {
        height: 1;
    }
    SparkRow > .spark-row--label {
        color: $text-muted;
    }
    SparkRow > .sparkline--max-color {
        color: $primary;
    }
    SparkRow > .sparkline--min-color {
        color: $primary 30%;
    }
    """

    def __init__(self, label: str, *, id: str) -> None:
        super().__init__(id=id)
        self.label = label
        self.samples: tuple[float, ...] = ()
        self.value = ""

    def show(self, samples: Sequence[float], value: str) -> None:
        """Show the newest of ``samples`` and ``value``; repainted only when they change."""
        shown = tuple(samples[-SPARK_SAMPLES:])
        if (shown, value) != (self.samples, self.value):
            self.samples, self.value = shown, value
            self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style.rich_style
        if y or not width:
            return Strip.blank(width, style)
        _, base = self.background_colors
        label, low, high = ((base + self.get_component_styles(part).color).rich_color
                            for part in ("spark-row--label", *SPARK_COLORS))  # fmt: skip
        text = Strip([Segment(self.label, style + RichStyle.from_color(label))]).crop_extend(0, SPARK_LABEL, style)
        value = Strip([Segment(self.value, style)]).crop_extend(0, SPARK_VALUE - 1, style)
        bars = Strip(spark_segments(self.samples, low, high, style))
        return Strip.join([text, value, Strip.blank(1, style), bars]).crop_extend(0, width, style)


def spark_segments(data: Sequence[float], low: Color, high: Color, style: RichStyle) -> list[Segment]:
    """One line of bars, a cell per sample on ``style``: the lowest sample in ``low``, the highest in ``high``, the
    rest blended between (no sample: one low bar; one sample: one full bar)."""
    if len(data) < 2:
        return [Segment(BARS[-1], style + RichStyle.from_color(high))] if data else [
            Segment(BARS[0], style + RichStyle.from_color(low))]
    minimum, maximum = min(data), max(data)
    extent = maximum - minimum or 1
    (r1, g1, b1), (r2, g2, b2) = low.get_truecolor(), high.get_truecolor()
    segments: list[Segment] = []
    for value in data:
        ratio = (value - minimum) / extent
        color = Color.from_rgb(r1 + (r2 - r1) * ratio, g1 + (g2 - g1) * ratio, b1 + (b2 - b1) * ratio)
        segments.append(Segment(BARS[int(ratio * (len(BARS) - 1))], style + RichStyle.from_color(color)))
    return segments


BARS = "▁▂▃▄▅▆▇█"


class _LookedUp(NamedTuple):
    """A socket looked up again for the pane: its key, the monotonic time of the frame it was asked for, and the
    record found (the frame's own one when it is gone)."""

    key: Hashable
    taken: float
    sock: Socket


class DetailPane(VerticalScroll, can_focus=True):
    """The selected socket in full, with rtt and throughput sparklines."""

    def __init__(self, *children: Widget, **options: Any) -> None:
        super().__init__(*children, **options)
        self._shown: dict[str, Text | list[Line]] = {}
        self._shapes: dict[str, tuple[int, ...] | None] = {}
        self._showing: tuple[Hashable, float] | None = None
        """The key of the socket shown, and the monotonic time of its frame."""
        self._looked_up: _LookedUp | None = None
        """The socket shown (or shown last), looked up again with everything known about it."""
        self._waiting: tuple[Frame, Sequence[float], Sequence[float]] | None = None
        """What the socket shown is drawn with once its lookup comes (the frame shown, held by the app anyway)."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        yield SparkRow("rtt", id="rtt-spark")
        yield SparkRow("thru", id="thru-spark")
        yield TextLines(id="detail-body")

    def set_width(self, columns: int | None) -> None:
        """Take the width the user chose (``[`` and ``]``); None keeps the stylesheet's (30% of the screen, at
        least 46 columns)."""
        if columns is not None:
            self.styles.width = columns
            self.styles.min_width = columns

    def show_socket(
        self,
        sock: Socket,
        frame: Frame,
        rtt_ms: Sequence[float],
        throughput: Sequence[float],
        source: SnapshotSource | None = None,
    ) -> None:
        """Show ``sock`` as of ``frame``; the series are oldest-first samples from the history. A light ``source``'s
        record (see ``SnapshotSource.light``) is looked up again there for what the tables leave out: a newly
        shown socket is drawn at once, then again complete; one shown already waits for its lookup (a few ms)
        rather than lose those sections for a moment."""
        taken = frame.snapshot.monotonic
        self._showing = (sock.key, taken)
        self._waiting = None
        if source is not None and source.light:
            looked_up = self._looked_up
            if looked_up is not None and (looked_up.key, looked_up.taken) == self._showing:
                sock = looked_up.sock
            else:
                self._waiting = frame, rtt_ms, throughput
                self._look_up(source, sock, taken)
                if looked_up is not None and looked_up.key == sock.key:
                    return
        self._draw_socket(sock, frame, rtt_ms, throughput)

    def looked_up(self, sockets: Iterable[Socket], taken: float) -> None:
        """The socket shown, if among ``sockets`` looked up again already (with the refresh of the frame taken at
        monotonic ``taken``): shown with that frame, it needs no lookup of its own."""
        if self._showing is None:
            return
        for sock in sockets:
            if sock.key == self._showing[0]:
                self._looked_up = _LookedUp(sock.key, taken, sock)

    # The worker gets the one record, not the frame: a finished worker is garbage in a reference cycle, which
    # would keep a whole snapshot alive until the cyclic collector runs (measured: 591 MB at 100,000 sockets).
    @work(thread=True, group="details", exit_on_error=False, description="look up a socket's details")
    def _look_up(self, source: SnapshotSource, sock: Socket, taken: float) -> None:
        try:
            (found,) = source.details([sock])
        except Exception:  # the record as the table has it is shown
            found = sock
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(self._looked_up_one, _LookedUp(sock.key, taken, found))

    def _looked_up_one(self, looked_up: _LookedUp) -> None:
        """Draw a lookup's result if the pane still shows that socket of that frame."""
        if (looked_up.key, looked_up.taken) != self._showing or self._waiting is None or not self.is_attached:
            return
        (frame, rtt_ms, throughput), self._waiting = self._waiting, None
        self._looked_up = looked_up
        self._draw_socket(looked_up.sock, frame, rtt_ms, throughput)

    def _draw_socket(self, sock: Socket, frame: Frame, rtt_ms: Sequence[float], throughput: Sequence[float]) -> None:
        title = Text.assemble((f"{sock.proto} {sock.state}  ", "bold"))
        if sock.proto == "unix":
            title.append_text(plain(sock.path or f"inode {sock.inode}"))
        else:
            title.append(format_endpoint(sock.local_address, sock.local_port, sock.family))
            title.append(" → ")
            title.append(format_endpoint(sock.remote_address, sock.remote_port, sock.family))
        self._show("#detail-title", title)
        if sock.proto != "tcp" or not has_counters(sock):
            self._spark("rtt", [], NO_COUNTERS)
            self._spark("thru", [], NO_COUNTERS)
        else:
            self._spark("rtt", list(rtt_ms), fmt.duration_ms(rtt_ms[-1]) if rtt_ms else "")
            self._spark("thru", list(throughput), fmt.rate(throughput[-1]) if throughput else "")
        self._show("#detail-body", render_detail(sock, frame))

    def show_summary(self, title: str, body: Text) -> None:
        """Show the summary of a row that is no socket (a process, a remote host), without sparklines."""
        self._showing = self._waiting = None
        self._show("#detail-title", Text(title, style="bold"))
        self._spark("rtt", [], "")
        self._spark("thru", [], "")
        self._show("#detail-body", split_lines(body))

    def text(self) -> str:
        """What the pane shows, as plain text (``C`` copies it)."""
        shown = [self._shown[part] for part in ("#detail-title", "#detail-body") if part in self._shown]
        return "\n".join("\n".join(_plain_lines(content)) for content in shown)

    def show_message(self, message: str) -> None:
        self._showing = self._waiting = None
        self._show("#detail-title", Text(message, style="dim"))
        self._spark("rtt", [], "")
        self._spark("thru", [], "")
        self._show("#detail-body", [("", ())])

    def _spark(self, name: str, data: list[float], now: str) -> None:
        self.query_one(f"#{name}-spark", SparkRow).show(data, now)

    def _show(self, selector: str, content: Text | list[Line]) -> None:
        """Update one part only when what it shows changes, and lay the pane out again only when the part's height
        may have changed: on a quiet socket only a few values (its timer, the ``last_*`` clocks) change, and the body
        paints again only their lines."""
        if self._shown.get(selector) == content:
            return
        widget = self.query_one(selector, Static if isinstance(content, Text) else TextLines)
        shape = _shape(_plain_lines(content), widget.content_size.width)
        self._shown[selector] = content
        layout = shape is None or shape != self._shapes.get(selector)
        if isinstance(content, Text):
            widget.update(content, layout=layout)
        else:
            cast(TextLines, widget).update_lines(content, layout=layout)
        self._shapes[selector] = shape


def _plain_lines(content: Text | list[Line]) -> list[str]:
    return content.plain.split("\n") if isinstance(content, Text) else [line for line, _ in content]
