"""History: first-seen times, new/changed/closed status with lingering, the event log and series.

Timing depends only on the snapshots' monotonic times, so these tests choose them.
"""

from __future__ import annotations

from array import array

import pytest

from netwatch.backends.history.tracker import History
from netwatch.backends.model.tcp_info import TcpInfo
from tests.socket_records import make_process, make_snapshot, make_socket, owned_by

A, B, C = ("tcp", 1), ("tcp", 2), ("tcp", 3)


def test_sockets_of_the_first_snapshot_are_not_new():
    history = History(highlight=3.0)
    history.update(make_snapshot([make_socket(A)], at=100.0))
    assert history.status(A) is None
    assert history.first_seen(A) == 1_700_000_000.0 + 100.0
    assert not history.events


def test_new_socket_is_new_for_highlight_seconds():
    history = History(highlight=3.0)
    history.update(make_snapshot([make_socket(A)], at=0.0))
    history.update(make_snapshot([make_socket(A), make_socket(B)], at=1.0))
    assert history.status(B) == "new"
    assert history.status(A) is None
    assert history.first_seen(B) == 1_700_000_001.0
    history.update(make_snapshot([make_socket(A), make_socket(B)], at=3.9))
    assert history.status(B) == "new"
    history.update(make_snapshot([make_socket(A), make_socket(B)], at=4.0))
    assert history.status(B) is None
    assert history.first_seen(B) == 1_700_000_001.0


def test_state_change_is_highlighted_then_expires_and_wins_over_new():
    history = History(highlight=2.0)
    history.update(make_snapshot([], at=0.0))
    history.update(make_snapshot([make_socket(A, state="SYN_SENT")], at=1.0))
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED")], at=1.5))
    assert history.status(A) == "changed"
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED")], at=3.4))
    assert history.status(A) == "changed"
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED")], at=3.5))
    assert history.status(A) is None


def test_closed_socket_lingers_then_leaves():
    history = History(linger=5.0)
    last_record = make_socket(B, state="FIN_WAIT1")
    history.update(make_snapshot([make_socket(A), last_record], at=0.0))
    history.update(make_snapshot([make_socket(A)], at=2.0))
    assert history.status(B) == "closed"
    assert history.lingering() == {B: last_record}
    assert history.first_seen(B) == 1_700_000_000.0  # age still shown while lingering
    history.update(make_snapshot([make_socket(A)], at=6.9))
    assert history.status(B) == "closed"
    history.update(make_snapshot([make_socket(A)], at=7.0))
    assert history.status(B) is None
    assert history.lingering() == {}
    assert history.first_seen(B) is None


def test_reappearing_key_is_new_again_and_no_longer_lingering():
    history = History(linger=5.0, highlight=3.0)
    history.update(make_snapshot([make_socket(A)], at=0.0))
    history.update(make_snapshot([], at=1.0))
    history.update(make_snapshot([make_socket(A)], at=2.0))
    assert history.status(A) == "new"
    assert A not in history.lingering()
    assert history.first_seen(A) == 1_700_000_002.0
    history.update(make_snapshot([], at=3.0))  # closes again: lingers from the new close time
    history.update(make_snapshot([], at=7.9))
    assert history.status(A) == "closed"


def test_closing_drops_a_pending_change_highlight():
    history = History(linger=1.0, highlight=10.0)
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED")], at=0.0))
    history.update(make_snapshot([make_socket(A, state="CLOSE_WAIT")], at=1.0))
    history.update(make_snapshot([], at=2.0))
    history.update(make_snapshot([], at=3.0))
    assert history.status(A) is None


def test_event_log_records_opened_state_and_closed_events():
    history = History()
    history.update(make_snapshot([make_socket(A, state="SYN_SENT"), make_socket(B)], at=0.0))
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED"), make_socket(C)], at=1.0))
    events = {(event.kind, event.socket.key, event.old_state, event.at) for event in history.events}
    at = 1_700_000_001.0
    assert events == {("opened", C, None, at), ("state", A, "SYN_SENT", at), ("closed", B, None, at)}
    closed = next(event for event in history.events if event.kind == "closed")
    assert closed.socket.state == "ESTABLISHED"  # the last record seen


def test_event_log_is_bounded_newest_last():
    history = History(max_events=5)
    history.update(make_snapshot([], at=0.0))
    for step in range(1, 4):
        history.update(make_snapshot([make_socket(("tcp", step * 100 + i)) for i in range(4)], at=step))
    assert len(history.events) == 5
    # the last update logged 4 opened then 4 closed events: the newest 5 are kept
    assert {event.at for event in history.events} == {1_700_000_003.0}
    assert [event.kind for event in history.events] == ["opened"] + ["closed"] * 4


def test_big_batch_keeps_only_max_events():
    history = History(max_events=3)
    history.update(make_snapshot([], at=0.0))
    history.update(make_snapshot([make_socket(("tcp", i)) for i in range(1000)], at=1.0))
    assert len(history.events) == 3


def test_event_log_keeps_minutes_not_more():
    history = History(event_seconds=600.0)
    history.update(make_snapshot([], at=0.0))
    for step in range(1, 31):  # one connection a minute, for half an hour
        history.update(make_snapshot([make_socket(("tcp", step))], at=step * 60.0))
    opened = [event.socket.key for event in history.events if event.kind == "opened"]
    assert opened == [("tcp", step) for step in range(20, 31)]  # the last 10 minutes


def test_an_event_keeps_its_processes_but_not_the_kernel_details():
    nginx = make_process(80, "nginx")
    sock = make_socket(A, owners=owned_by(80), tcp_info=TcpInfo(rtt=900))
    history = History()
    history.update(make_snapshot([], at=0.0))
    history.update(make_snapshot([sock], at=1.0, processes=[nginx]))
    history.update(make_snapshot([], at=2.0))  # closed, and the process gone with it
    opened, closed = history.events
    assert (opened.kind, closed.kind) == ("opened", "closed")
    assert opened.processes == {80: nginx} and closed.processes == {80: nginx}
    assert closed.socket.tcp_info is None and closed.socket.owners == sock.owners
    assert closed.monotonic == 2.0


def test_rtt_and_throughput_series_in_ms_and_bytes_per_second():
    history = History(samples=3)
    for step, (rtt_us, acked) in enumerate([(1000, 0), (2000, 500), (1500, 1500), (4000, 1500)]):
        history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=rtt_us, bytes_acked=acked))],
                                     at=float(step)))
    assert history.rtt_series(A) == pytest.approx([2.0, 1.5, 4.0])  # bounded to `samples`
    assert history.throughput_series(A) == pytest.approx([500.0, 1000.0, 0.0])
    assert history.rtt_series(B) == [] and history.throughput_series(B) == []


def test_first_snapshot_has_rtt_but_no_throughput_sample():
    history = History()
    history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=250))], at=0.0))
    assert history.rtt_series(A) == pytest.approx([0.25])
    assert history.throughput_series(A) == []


def test_the_first_update_gives_series_rows_only_at_the_next_update():
    """Giving every socket a row waits (off the way to the first table); reading meanwhile gives the same samples."""
    for read_first in (True, False):
        history = History()
        history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=250))], at=0.0))
        assert not history._series._rows
        if read_first:
            assert history.rtt_series(A) == pytest.approx([0.25]) and history.throughput_series(A) == []
            assert history.rtt_series(B) == [] and not history._series._rows
        history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=500))], at=1.0))
        assert history.rtt_series(A) == pytest.approx([0.25, 0.5])


def test_series_are_dropped_when_a_socket_leaves_and_not_inherited_by_the_next():
    history = History()
    history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=9000))], at=0.0))
    history.update(make_snapshot([], at=1.0))
    assert history.rtt_series(A) == []
    history.update(make_snapshot([make_socket(B, tcp_info=TcpInfo(rtt=1000))], at=2.0))  # reuses A's row
    assert history.rtt_series(B) == pytest.approx([1.0])
    history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=3000)),
                                  make_socket(B, tcp_info=TcpInfo(rtt=1000))], at=3.0))
    assert history.rtt_series(A) == pytest.approx([3.0])
    assert history.rtt_series(B) == pytest.approx([1.0, 1.0])


def test_new_sockets_of_one_update_take_freed_rows_then_new_ones():
    """Three sockets arriving together after one left: one gets the freed row, two grow the store; each series is
    its own, and the one that stayed keeps its samples."""
    c, d, e = ("tcp", 3), ("tcp", 4), ("tcp", 5)
    history = History()
    history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=9000)),
                                  make_socket(B, tcp_info=TcpInfo(rtt=2000))], at=0.0))  # fmt: skip
    history.update(make_snapshot([make_socket(B, tcp_info=TcpInfo(rtt=2000))], at=1.0))
    history.update(make_snapshot([make_socket(B, tcp_info=TcpInfo(rtt=4000)),
                                  *(make_socket(key, tcp_info=TcpInfo(rtt=rtt))
                                    for key, rtt in ((c, 1000), (d, 5000), (e, 7000)))], at=2.0))  # fmt: skip
    assert [history.rtt_series(key) for key in (c, d, e)] == [pytest.approx([1.0]), pytest.approx([5.0]),
                                                              pytest.approx([7.0])]  # fmt: skip
    assert history.rtt_series(A) == [] and history.rtt_series(B) == pytest.approx([2.0, 2.0, 4.0])


def test_sockets_without_tcp_info_have_no_series():
    history = History()
    history.update(make_snapshot([make_socket(A, proto="udp", state="UNCONN")], at=0.0))
    assert history.rtt_series(A) == [] and history.throughput_series(A) == []


def test_statuses_lists_every_highlighted_socket_and_agrees_with_status():
    history = History(linger=5.0, highlight=3.0)
    history.update(make_snapshot([make_socket(A, state="SYN_SENT"), make_socket(B)], at=0.0))
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED"), make_socket(C)], at=1.0))
    assert history.statuses() == {A: "changed", B: "closed", C: "new"}
    assert {key: history.status(key) for key in (A, B, C)} == history.statuses()
    history.update(make_snapshot([make_socket(A, state="ESTABLISHED"), make_socket(C)], at=6.0))
    assert history.statuses() == {}


def test_series_keep_what_changed_and_the_oldest_column_whole():
    history = History(samples=3)
    idle = make_socket(("tcp", "idle"), tcp_info=TcpInfo(rtt=5000))
    for at, rtt in enumerate((1000, 2000, 3000, 4000, 5000)):
        busy = make_socket(("tcp", "busy"), tcp_info=TcpInfo(rtt=rtt, bytes_acked=1000 * at))
        history.update(make_snapshot([idle, busy], at=float(at)))
    assert history.rtt_series(("tcp", "busy")) == pytest.approx([3.0, 4.0, 5.0])
    assert history.rtt_series(("tcp", "idle")) == pytest.approx([5.0, 5.0, 5.0])
    assert history.throughput_series(("tcp", "busy")) == pytest.approx([1000.0] * 3)
    assert history.throughput_series(("tcp", "idle")) == pytest.approx([0.0] * 3)
    columns = list(history._series._columns)
    assert isinstance(columns[0][1], array) and all(column[1] == {1: column[1][1]} for column in columns[1:])


def test_series_storage_shrinks_after_most_sockets_left_and_keeps_the_survivors_samples():
    history = History()
    crowd = [make_socket(("tcp", i), tcp_info=TcpInfo(rtt=1000 + i)) for i in range(5000)]
    history.update(make_snapshot(crowd, at=0.0))
    survivors = crowd[::100]
    history.update(make_snapshot(survivors, at=1.0))
    history.update(make_snapshot(survivors, at=2.0))
    store = history._series
    assert store._row_count == len(survivors)
    for _, *columns in store._columns:
        for column in columns:  # full arrays are one value per row, the others hold only rows that exist
            assert column is None or (len(column) == len(survivors) if isinstance(column, array) else
                                      all(row < len(survivors) for row in column))  # fmt: skip
    for sock in survivors:
        assert history.rtt_series(sock.key) == pytest.approx([sock.tcp_info.rtt / 1000] * 3)
    newcomer = make_socket(("tcp", "new"), tcp_info=TcpInfo(rtt=7000))
    history.update(make_snapshot([*survivors, newcomer], at=3.0))
    assert history.rtt_series(newcomer.key) == pytest.approx([7.0])


def test_series_survive_the_store_shrinking_after_most_sockets_left():
    many = [("tcp", 100 + number) for number in range(5000)]
    history = History()
    history.update(make_snapshot([make_socket(key, tcp_info=TcpInfo(rtt=key[1])) for key in [A, *many]], at=0.0))
    history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=2000))], at=1.0))  # 5000 rows freed
    history.update(make_snapshot([make_socket(A, tcp_info=TcpInfo(rtt=3000)),
                                  make_socket(B, tcp_info=TcpInfo(rtt=4000))], at=2.0))
    assert history.rtt_series(A) == pytest.approx([0.001, 2.0, 3.0])
    assert history.rtt_series(B) == pytest.approx([4.0])
    assert history.rtt_series(many[0]) == []


def test_first_seen_times_are_shared_until_sockets_come_or_go():
    history = History(linger=1.0)
    history.update(make_snapshot([make_socket(A), make_socket(B)], at=0.0))
    first = history.first_seen_times()
    history.update(make_snapshot([make_socket(A), make_socket(B)], at=0.5))
    assert history.first_seen_times() is first
    history.update(make_snapshot([make_socket(A)], at=1.0))  # B closes: it lingers, with its time
    lingering = history.first_seen_times()
    assert lingering is not first and set(lingering) == {A, B}
    history.update(make_snapshot([make_socket(A)], at=3.0))  # B's linger is over
    assert set(history.first_seen_times()) == {A}
