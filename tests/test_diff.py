"""diff(): opened/closed/changed sockets and rates from tcp_info counter deltas."""

from __future__ import annotations

import time

import pytest

from netwatch.backends.history.diff import ZERO_RATES, Rates, diff
from netwatch.backends.model.tcp_info import TcpInfo
from tests.socket_records import make_snapshot, make_socket, owned_by


def test_no_previous_snapshot_means_no_changes_and_no_rates():
    current = make_snapshot([make_socket(tcp_info=TcpInfo(bytes_acked=10))], at=5.0)
    change = diff(None, current)
    assert change.current is current
    assert change.elapsed == 0.0
    assert not change.opened and not change.closed and not change.state_changed
    assert not change.queue_changed and not change.rates and not change.process_rates


def test_opened_closed_state_and_queue_changes():
    kept = make_socket(("tcp", 1), state="SYN_SENT")
    queued = make_socket(("tcp", 2), recv_q=0, send_q=0)
    gone = make_socket(("tcp", 3))
    previous = make_snapshot([kept, queued, gone], at=1.0)
    new = make_socket(("udp", 4), proto="udp", state="UNCONN")
    current = make_snapshot(
        [make_socket(("tcp", 1), state="ESTABLISHED"), make_socket(("tcp", 2), send_q=512), new], at=2.0
    )
    change = diff(previous, current)
    assert change.elapsed == pytest.approx(1.0)
    assert change.opened == frozenset({("udp", 4)})
    assert dict(change.closed) == {("tcp", 3): gone}
    assert dict(change.state_changed) == {("tcp", 1): ("SYN_SENT", "ESTABLISHED")}
    assert change.queue_changed == frozenset({("tcp", 2)})


def test_rates_are_counter_deltas_over_monotonic_elapsed_time():
    previous = make_snapshot(
        [make_socket(tcp_info=TcpInfo(bytes_acked=1000, bytes_received=500, segs_out=10, segs_in=5,
                                       total_retrans=1))], at=10.0)
    current = make_snapshot(
        [make_socket(tcp_info=TcpInfo(bytes_acked=5000, bytes_received=2500, segs_out=30, segs_in=9,
                                       total_retrans=3))], at=12.0)
    rates = diff(previous, current).rates[("tcp", 1)]
    assert rates == Rates(send_bps=2000.0, recv_bps=1000.0, segs_out_ps=10.0, segs_in_ps=2.0, retrans_ps=1.0)
    assert rates.total_bps == 3000.0


def test_an_older_kernels_shorter_tcp_info_has_rates_from_the_counters_it_sends():
    def sent_by_old_kernel(**counters: int) -> TcpInfo:  # linux 4.0: 120 bytes, up to max_pacing_rate
        return TcpInfo(TcpInfo(**counters).raw[:120])

    previous = make_snapshot([make_socket(tcp_info=sent_by_old_kernel(total_retrans=1, bytes_acked=9))], at=0.0)
    current = make_snapshot([make_socket(tcp_info=sent_by_old_kernel(total_retrans=3, bytes_acked=99))], at=1.0)
    rates = diff(previous, current).rates[("tcp", 1)]
    assert rates == Rates(0.0, 0.0, 0.0, 0.0, 2.0)


def test_counter_going_down_gives_zero_never_negative():
    previous = make_snapshot([make_socket(tcp_info=TcpInfo(bytes_acked=10_000, bytes_received=100))], at=0.0)
    current = make_snapshot([make_socket(tcp_info=TcpInfo(bytes_acked=20, bytes_received=300))], at=1.0)
    rates = diff(previous, current).rates[("tcp", 1)]
    assert rates.send_bps == 0.0
    assert rates.recv_bps == 200.0


def test_idle_socket_gets_zero_rates_and_opened_socket_counts_from_zero():
    idle = make_socket(("tcp", 1), tcp_info=TcpInfo(bytes_acked=500))
    previous = make_snapshot([idle], at=0.0)
    opened = make_socket(("tcp", 2), tcp_info=TcpInfo(bytes_acked=400, segs_out=4))
    current = make_snapshot([make_socket(("tcp", 1), tcp_info=TcpInfo(bytes_acked=500)), opened], at=2.0)
    rates = diff(previous, current).rates
    assert ("tcp", 1) not in rates  # read as ZERO_RATES
    assert rates[("tcp", 2)] == Rates(200.0, 0.0, 2.0, 0.0, 0.0)


def test_sockets_without_tcp_info_have_no_rates():
    udp = make_socket(("udp", 1), proto="udp", state="UNCONN")
    previous = make_snapshot([udp, make_socket(("tcp", 2), tcp_info=None)], at=0.0)
    current = make_snapshot([udp, make_socket(("tcp", 2), tcp_info=TcpInfo(bytes_acked=9))], at=1.0)
    rates = diff(previous, current).rates
    assert ("udp", 1) not in rates
    assert ("tcp", 2) not in rates  # no baseline yet: no made-up burst


def test_zero_or_negative_elapsed_time_gives_zero_rates():
    previous = make_snapshot([make_socket(tcp_info=TcpInfo(bytes_acked=0))], at=5.0)
    current = make_snapshot([make_socket(tcp_info=TcpInfo(bytes_acked=100))], at=5.0)
    assert ("tcp", 1) not in diff(previous, current).rates


def test_a_record_kept_by_the_source_is_skipped_and_the_others_renewed():
    kept = make_socket(("tcp", 1), tcp_info=TcpInfo(bytes_acked=500))
    previous = make_snapshot([kept, make_socket(("tcp", 2), tcp_info=TcpInfo(bytes_acked=1))], at=0.0)
    current = make_snapshot([kept, make_socket(("tcp", 2), tcp_info=TcpInfo(bytes_acked=3)),
                             make_socket(("tcp", 3))], at=1.0)  # fmt: skip
    change = diff(previous, current)
    assert change.renewed == (("tcp", 2), ("tcp", 3))
    assert set(change.rates) == {("tcp", 2)} and change.opened == {("tcp", 3)}
    assert diff(None, previous).renewed == (("tcp", 1), ("tcp", 2))


def test_process_rates_sum_sockets_and_count_a_shared_socket_once_per_pid():
    counters_before = TcpInfo(bytes_acked=0, bytes_received=0)
    previous = make_snapshot([
        make_socket(("tcp", 1), owners=owned_by(100), tcp_info=counters_before),
        make_socket(("tcp", 2), owners=owned_by(100, 200, 200), tcp_info=counters_before),
        make_socket(("tcp", 3), owners=(), tcp_info=counters_before),
    ], at=0.0)  # fmt: skip
    current = make_snapshot([
        make_socket(("tcp", 1), owners=owned_by(100), tcp_info=TcpInfo(bytes_acked=100)),
        make_socket(("tcp", 2), owners=owned_by(100, 200, 200), tcp_info=TcpInfo(bytes_received=30)),
        make_socket(("tcp", 3), owners=(), tcp_info=TcpInfo(bytes_acked=7)),
    ], at=1.0, processes=[])  # fmt: skip
    process_rates = diff(previous, current).process_rates
    assert process_rates[100] == Rates(100.0, 30.0, 0.0, 0.0, 0.0)
    assert process_rates[200] == Rates(0.0, 30.0, 0.0, 0.0, 0.0)
    assert set(process_rates) == {100, 200}


def test_host_totals_count_a_shared_socket_once_and_tcp_connections_opened_and_closed_per_second():
    before = TcpInfo(bytes_acked=0, bytes_received=0)
    previous = make_snapshot([
        make_socket(("tcp", 1), owners=owned_by(100), tcp_info=before),
        make_socket(("tcp", 2), owners=owned_by(100, 200), tcp_info=before),  # shared by two processes
        make_socket(("tcp", 3)),  # closes
        make_socket(("tcp", 4), state="LISTEN"),  # a listener closing is no connection closing
    ], at=0.0)  # fmt: skip
    current = make_snapshot([
        make_socket(("tcp", 1), owners=owned_by(100), tcp_info=TcpInfo(bytes_acked=1000, bytes_received=10)),
        make_socket(("tcp", 2), owners=owned_by(100, 200), tcp_info=TcpInfo(bytes_acked=3000)),
        make_socket(("tcp", 5)), make_socket(("tcp", 6)), make_socket(("tcp", 7), state="LISTEN"),
        make_socket(("udp", 8), proto="udp", state="UNCONN"),
    ], at=2.0)  # fmt: skip
    totals = diff(previous, current).totals
    assert (totals.send_bps, totals.recv_bps) == (2000.0, 5.0)  # (1000 + 3000) / 2 s: socket 2 once
    assert (totals.opened_ps, totals.closed_ps) == (1.0, 0.5)


def test_every_process_of_the_snapshot_has_process_rates():
    from tests.socket_records import make_process

    sock = make_socket(owners=owned_by(300), tcp_info=TcpInfo())
    previous = make_snapshot([sock], at=0.0)
    current = make_snapshot([sock], at=1.0, processes=[make_process(300, "idle"), make_process(301, "other")])
    assert diff(previous, current).process_rates == {300: ZERO_RATES, 301: ZERO_RATES}


def test_diff_of_many_sockets_is_fast():
    """Not a benchmark: a generous bound that catches accidental quadratic or per-socket-heavy work."""
    count = 20_000
    before = [make_socket(("tcp", i), owners=owned_by(i % 300), tcp_info=TcpInfo(bytes_acked=i))
              for i in range(count)]
    after = [make_socket(("tcp", i), owners=owned_by(i % 300), tcp_info=TcpInfo(bytes_acked=i + (i % 10 == 0)))
             for i in range(count // 10, count + count // 10)]
    previous, current = make_snapshot(before, at=0.0), make_snapshot(after, at=1.0)
    started = time.perf_counter()
    change = diff(previous, current)
    assert time.perf_counter() - started < 1.0  # about 0.03 s here when the machine is idle
    assert len(change.opened) == len(change.closed) == count // 10
    assert len(change.rates) == count // 10 + (count - count // 10) // 10  # the opened ones and those that moved
