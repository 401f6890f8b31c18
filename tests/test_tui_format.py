"""Unit tests of the TUI's pure helpers: human units, row building, name resolution."""

from __future__ import annotations

import time

from netwatch.tui.view import format as fmt
from netwatch.tui.view.resolve import HostResolver, service_name
from netwatch.tui.view.rows import RowBuilder, in_view, is_listener
from tests.recorded import recorded_snapshot


def test_units():
    assert fmt.size(512) == "512 B" and fmt.size(1536) == "1.5 KiB" and fmt.size(5 * 2**30) == "5.0 GiB"
    assert fmt.rate(1.25 * 2**20) == "1.2 MiB/s"
    # One rule for "nothing moved": blank in the table exactly when the detail pane says 0 B/s.
    assert fmt.rate_cell(0) == "" and fmt.rate(0) == "0 B/s"
    assert fmt.rate_cell(0.4) == "<1B/s" and fmt.rate(0.4) == "<1 B/s"
    assert fmt.rate_cell(1) == "1B/s" and fmt.rate(1) == "1 B/s"
    assert [fmt.rate_cell(n) for n in (2048, 984_064, 4.0 * 2**20)] == ["2.0K/s", "961K/s", "4.0M/s"]
    assert max(len(fmt.rate_cell(n)) for n in range(0, 2**34, 9_973_111)) <= 6  # fits the 6-cell rate columns
    # Queues: whole up to six digits, then short with a unit (never "39350…").
    assert fmt.quantity_cell(999_999) == "999999" and fmt.quantity_cell(3_935_033) == "3.8M"
    assert fmt.bits_rate(2_603_132) == "20.8 Mbit/s"
    assert fmt.duration_us(850) == "850 µs" and fmt.duration_us(12_345) == "12.3 ms"
    assert fmt.duration_us(1_250_000) == "1.25 s" and fmt.duration_ms(7_195_000) == "1h59m"
    assert [fmt.age(s) for s in (5, 125, 7300, 200_000)] == ["5s", "2m05s", "2h01m", "2d07h"]
    assert fmt.count(1234567) == "1,234,567"


def test_views_split_sockets_and_endpoints_unmap_ipv4():
    snapshot = recorded_snapshot(0)
    sockets = snapshot.sockets
    assert is_listener(sockets[("tcp", 3)]) and is_listener(sockets[("udp", 20)])
    assert not is_listener(sockets[("udp", 23)])  # connected UDP is a connection
    assert in_view("unix", sockets[("unix", 7001)]) and not in_view("connections", sockets[("unix", 7001)])
    builder = RowBuilder()
    assert builder.endpoint("::ffff:192.0.2.10", 60100, "ipv6", "tcp") == "192.0.2.10:60100"
    assert builder.endpoint("2001:db8::1f", 41000, "ipv6", "tcp") == "[2001:db8::1f]:41000"
    assert builder.address_key("10.0.0.9") < builder.address_key("10.0.0.10") < builder.address_key("::1")


def test_service_names_and_background_reverse_dns():
    assert service_name(22, "tcp") == "ssh" and service_name(0, "tcp") is None
    arrived = []
    resolver = HostResolver(on_resolved=lambda: arrived.append(True))
    try:
        assert resolver.name("127.0.0.1") is None  # never blocks: queued
        deadline = time.monotonic() + 5
        while resolver.name("127.0.0.1") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert resolver.name("127.0.0.1") == "localhost" and arrived
        assert resolver.name("0.0.0.0") is None
    finally:
        resolver.close()


def test_detail_units_bbr_mss_ssthresh_and_no_counters():
    """BBR in ss's units, MSS/PMTU in bytes, ssthresh "∞" only where it means slow start, n/a where the kernel keeps
    no counters (never 0 B/s)."""
    from netwatch.backends.history.tracker import History
    from netwatch.tui.app.detail import detail_sections
    from netwatch.tui.view.frame import frame_from
    from tests.recorded import BULK_COOKIE

    history = History()
    frame_from(history, recorded_snapshot(0))
    frame = frame_from(history, recorded_snapshot(1))

    def lines(key) -> dict[str, str]:
        body = [line for _title, lines in detail_sections(frame.sockets[key], frame) for line, _spans in lines]
        return {line.split()[0]: " ".join(line.split()[1:]) for line in body if line.strip()}

    bulk = lines(("tcp", BULK_COOKIE))
    assert bulk["bw"] == "2.5 MiB/s (20.8 Mbit/s)" and bulk["min_rtt"] != "46,738"
    assert bulk["pacing_gain"] == "2.89x" and bulk["cwnd_gain"] == "2.00x"
    assert bulk["snd_mss"] == "65,483 B" and bulk["pmtu"] == "65,535 B"
    assert "snd_ssthresh" not in bulk  # BBR does not use it
    assert lines(("tcp", 100))["snd_ssthresh"] == "∞ (still in slow start)"  # cubic
    udp = lines(("udp", 23))
    assert udp["send"] == "rate n/a (no counters for UDP)" and udp["recv"] == "rate n/a (no counters for UDP)"
    assert lines(("unix", 7001))["send"] == "rate n/a (no counters for unix)"
    assert lines(("tcp", 1))["seen"].startswith("≥")  # there before netwatch's first snapshot
    assert not lines(("tcp", 700))["seen"].startswith("≥")  # opened while watched


def test_detail_grid_is_built_as_a_join_of_dim_lines():
    """The detail pane's label/value grid, built as one Text, equals what a Text per line (dim label and padding,
    value appended) joined by newlines gives: same characters, same spans in the same order."""
    from rich.text import Text

    from netwatch.tui.app.detail import _grid
    from netwatch.tui.view.safe_text import plain

    def joined(fields: list[tuple[str, Text | str]]) -> Text:
        width = max((len(label) for label, _ in fields), default=0)
        lines = []
        for label, value in fields:
            line = Text(label.ljust(width) + " ", style="dim")
            line.append_text(value if isinstance(value, Text) else Text(value))
            lines.append(line)
        return Text("\n").join(lines)

    styled = Text("fast", style="bold")
    styled.stylize("red", 1, 3)
    cases: list[list[tuple[str, Text | str]]] = [
        [],
        [("rtt", "1.2 ms")],
        [("cmdline", plain("evil\x1b[2J\u202e x")), ("bell\x07", "a\rb"), ("state", styled), ("empty", Text("")),
         ("name", plain("nginx", "bold")), ("a much longer label", "1")],
    ]  # fmt: skip
    for fields in cases:
        ours, theirs = _grid(fields), joined(fields)
        assert (ours.plain, ours.spans, ours.style) == (theirs.plain, theirs.spans, theirs.style)
