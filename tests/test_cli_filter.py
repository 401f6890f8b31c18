"""``--pid`` and ``--filter`` are joined as predicates: the filter cannot escape the pid, errors point into it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.test_cli import run_netwatch

SOCKET_HOLDER = """
import socket, sys
sock = socket.socket(type=socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
if sys.argv[1] == "tcp":
    sock.listen()
print(sock.getsockname()[1], flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def socket_holder(proto: str) -> Iterator[tuple[int, int]]:
    """A process holding one ``proto`` ("tcp": listening, "udp") socket on 127.0.0.1; yields its pid and port."""
    child = subprocess.Popen([sys.executable, "-c", SOCKET_HOLDER, proto],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.pid, int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()


@pytest.fixture
def holders() -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
    """Two processes: one with a TCP listener, another with a UDP socket; their (pid, port)s."""
    with socket_holder("tcp") as tcp, socket_holder("udp") as udp:
        yield tcp, udp


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert (result.returncode, result.stdout) == (2, ""), result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("text", "error"), [
    ("tcp) or (udp", "bad filter at column 4 near ')': unbalanced ')': no '(' to close"),
    ("(", "bad filter at column 2 (end of filter): expected a term after '('"),
    ("udp or (", "bad filter at column 9 (end of filter): expected a term after '('"),
])  # fmt: skip
def test_a_bad_filter_with_pid_is_an_error_in_the_users_text(holders, text: str, error: str) -> None:
    (pid, _), _ = holders
    assert one_line_error(run_netwatch("--once", "--pid", str(pid), "--filter", text)) == f"netwatch: {error}"


def test_pid_and_filter_show_only_that_process_sockets_that_match(holders) -> None:
    (tcp_pid, tcp_port), (udp_pid, udp_port) = holders
    result = run_netwatch("--once", "--format", "json", "--pid", str(tcp_pid), "--filter", "udp or tcp")
    assert result.returncode == 0, result.stderr
    shown = [(sock["proto"], sock["local_port"], [owner["pid"] for owner in sock["owners"]])
             for sock in json.loads(result.stdout)["sockets"]]
    assert shown == [("tcp", tcp_port, [tcp_pid])]
    result = run_netwatch("--once", "--format", "json", "--pid", str(udp_pid), "--filter", f"sport = :{udp_port}")
    assert [sock["proto"] for sock in json.loads(result.stdout)["sockets"]] == ["udp"]
