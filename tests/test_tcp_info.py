"""struct tcp_info decoding: bitfields, length checks, a live socket, and its JSON (compiled and pure Python)."""

from __future__ import annotations

import random
import socket

import orjson
import pytest

from netwatch.backends.model import tcp_info
from netwatch.backends.model.tcp_info import CLOCKS, TCP_INFO_SIZE, TcpInfo
from tests.compiled_paths import compiled_or_pure

json_path = compiled_or_pure(tcp_info, "COMPILED_JSON", "tcp_info JSON encoder")
"""Encodes through the compiled encoder or the pure-Python path."""


def _live_tcp_info() -> bytes:
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()) as client:
        server, _ = listener.accept()
        with server:
            return client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1024)


def test_fields_are_the_kernel_struct_in_order() -> None:
    assert TcpInfo._fields[:10] == (
        "state", "ca_state", "retransmits", "probes", "backoff", "options",
        "snd_wscale", "rcv_wscale", "delivery_rate_app_limited", "fastopen_client_fail",
    )  # fmt: skip
    assert TcpInfo._fields[-3:] == ("received_ce_bytes", "accecn_fail_mode", "accecn_opt_seen")
    assert len(TcpInfo._fields) == 70 and TCP_INFO_SIZE == 280


def test_bitfields_are_split_low_nibble_first() -> None:
    payload = bytes([1, 2, 3, 4, 5, 6, 0xA7, 0b101]) + bytes(TCP_INFO_SIZE - 8)
    info = TcpInfo(payload)
    assert info.values()[:6] == (1, 2, 3, 4, 5, 6)
    assert (info.snd_wscale, info.rcv_wscale) == (7, 10)
    assert (info.delivery_rate_app_limited, info.fastopen_client_fail) == (1, 2)


def test_live_socket_decodes() -> None:
    info = TcpInfo(_live_tcp_info())
    assert info.state == 1 and info.snd_mss > 0 and info.rcv_mss > 0 and info.snd_cwnd > 0
    assert info.options & 4  # window scaling negotiated on loopback
    assert 0 <= info.snd_wscale <= 14 and 0 <= info.rcv_wscale <= 14


def test_shorter_payload_is_zero_padded_and_longer_is_truncated() -> None:
    payload = _live_tcp_info()
    full = TcpInfo(payload)
    short = TcpInfo(payload[:104])  # a kernel from before pacing_rate
    kept = TcpInfo._fields.index("pacing_rate")
    assert short.values()[:kept] == full.values()[:kept] and set(short.values()[kept:]) == {0}
    assert TcpInfo(payload + b"\xff" * 40) == full
    assert set(TcpInfo(b"")) == {0}
    assert TcpInfo(memoryview(payload)) == full


def test_built_from_values_round_trips_and_is_immutable() -> None:
    info = TcpInfo(rtt=1234, snd_wscale=7, rcv_wscale=9, bytes_acked=2**40, accecn_opt_seen=3)
    assert (info.rtt, info.snd_wscale, info.rcv_wscale, info.bytes_acked, info.accecn_opt_seen) == (
        1234, 7, 9, 2**40, 3,
    )
    assert info._asdict()["rtt"] == 1234 and len(info._asdict()) == 70
    assert TcpInfo(info.raw) == info
    with pytest.raises(AttributeError):
        info.rtt = 1  # type: ignore[misc]


def _expected_json(info: TcpInfo, moved: int) -> bytes:
    fields = info._asdict()
    for name in CLOCKS:
        fields[name] += moved
    return orjson.dumps(fields)


def test_json_is_the_fields_as_orjson_writes_them(json_path: str) -> None:
    """Live sockets' tcp_info, random bytes, all-ones (each field at its largest) and zeros, clocks moved or not."""
    rng = random.Random(9)
    raws = [_live_tcp_info(), _live_tcp_info()[:104], b"\xff" * TCP_INFO_SIZE, b""]
    raws += [rng.randbytes(TCP_INFO_SIZE) for _ in range(200)]
    for raw in raws:
        info = TcpInfo(raw)
        for moved in (0, 1, 86_400_000, 2**40):
            assert info.json(moved) == _expected_json(info, moved)
    assert list(orjson.loads(TcpInfo(raws[0]).json())) == list(TcpInfo._fields)


@pytest.mark.skipif(tcp_info.COMPILED_JSON is None, reason="the compiled encoder is not built here")
def test_compiled_encoder_refuses_bad_layouts_and_short_structs() -> None:
    from netwatch.backends.model import _struct_json

    layout = _struct_json.layout([(b'"a":', 0, 4, 0, 0, False), (b'"b":', 4, 1, 4, 0xF, True)])
    assert _struct_json.encode(layout, bytes([1, 0, 0, 0, 0xA5]), 3) == b'{"a":1,"b":13}'
    for bad in ([(b'"a":', 0, 3, 0, 0, False)], [(b'"a":', -1, 4, 0, 0, False)], [(b"x" * 64, 0, 1, 0, 0, False)]):
        with pytest.raises(ValueError):
            _struct_json.layout(bad)
    with pytest.raises(TypeError):
        _struct_json.layout([("a", 0, 1, 0, 0, False)])
    with pytest.raises(ValueError):
        _struct_json.encode(layout, bytes(4), 0)
    with pytest.raises(ValueError):
        _struct_json.encode(layout, bytes(5), -1)
    with pytest.raises(ValueError):
        _struct_json.encode(object(), bytes(5), 0)
