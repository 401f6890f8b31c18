"""The port inspector on real sockets: each verdict, confirmed by a real bind attempt."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from netwatch.backends.actions.ports import PortReport, ephemeral_info, inspect_port
from netwatch.backends.actions.pressure import pressure_warning
from netwatch.backends.collector import Collector
from netwatch.backends.model.namespaces import Selection
from tests.as_nobody import run_as_nobody
from tests.socket_records import make_socket


def _own_sockets() -> list:
    """Netwatch's own namespace's sockets (ports are per namespace)."""
    return list(Collector("netlink", netns=Selection("self")).snapshot().sockets.values())


def _report(proto: str, port: int, **options: object) -> PortReport:
    return inspect_port(_own_sockets(), proto, port, **options)


def _bind_error(kind: int, port: int, *, reuse: bool = False, family: int = socket.AF_INET) -> int:
    """0 if a new socket can bind the wildcard ``port`` (never listening: nothing reaches it), else the errno."""
    with socket.socket(family, kind) as sock:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as error:
            return error.errno
    return 0


@contextmanager
def _time_wait() -> Iterator[int]:
    """A port held only by a TIME_WAIT socket (the server side closed first, then its listener)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the active close: the server side goes to TIME_WAIT
    assert client.recv(1) == b""
    client.close()
    listener.close()
    yield port


def test_a_specific_listener_blocks_the_wildcard() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        report = _report("tcp", port)
        assert report.verdict == "in_use"
        assert f"pid {os.getpid()} on 127.0.0.1:{port}" in report.reason
        assert "wildcard" in report.reason
        assert [sock.cookie for sock in report.holders] == [
            sock.cookie
            for sock in _own_sockets()
            if sock.proto == "tcp" and sock.local_port == port
        ]
        assert report.holders[0].state == "LISTEN"
        assert _bind_error(socket.SOCK_STREAM, port) == errno.EADDRINUSE


def test_ipv6_wildcard_without_v6only_blocks_ipv4_and_with_v6only_does_not() -> None:
    for only, expected, error in ((0, "in_use", errno.EADDRINUSE), (1, "free", 0)):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as bound:  # bound, never listening
            bound.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, only)
            bound.bind(("::", 0))
            port = bound.getsockname()[1]
            report = _report("tcp", port)
            assert report.verdict == expected, report.reason
            assert len(report.holders) == 1
            assert report.holders[0].extensions["inet"]["v6only"] is bool(only)
            if not only:
                assert "[::] without v6only" in report.reason
            assert _bind_error(socket.SOCK_STREAM, port) == error


def test_time_wait_only() -> None:
    with _time_wait() as port:
        report = _report("tcp", port)
        assert report.verdict == "time_wait_only", report.reason
        assert {sock.state for sock in report.holders} == {"TIME_WAIT"}
        assert "SO_REUSEADDR" in report.reason
        assert _bind_error(socket.SOCK_STREAM, port) == errno.EADDRINUSE
        assert _bind_error(socket.SOCK_STREAM, port, reuse=True) == 0


def test_udp_in_use_and_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert _report("udp", port).verdict == "in_use"
        tcp = _report("tcp", port)  # another protocol's port space (where other tests' TCP sockets may be)
        assert tcp.verdict in ("free", "in_use", "time_wait_only") and {s.proto for s in tcp.holders} <= {"tcp"}
        assert _bind_error(socket.SOCK_DGRAM, port) == errno.EADDRINUSE
    report = _report("udp", port)
    assert (report.verdict, report.holders) == ("free", ())
    assert _bind_error(socket.SOCK_DGRAM, port) == 0


def _free_low_port() -> int:
    """A TCP port below 1024 that nothing holds."""
    held = {sock.local_port for sock in _own_sockets() if sock.proto == "tcp"}
    return next(port for port in range(1023, 600, -1) if port not in held)


def test_privileged_for_a_user_without_cap_net_bind_service() -> None:
    port = _free_low_port()
    assert _report("tcp", port, may_bind_privileged=True).verdict == "free"
    code = (
        "import errno, json, socket\n"
        "from netwatch.backends.actions.ports import inspect_port\n"
        "from netwatch.backends.collector import Collector\n"
        "from netwatch.backends.model.namespaces import Selection\n"
        "sockets = Collector('netlink', netns=Selection('self')).snapshot().sockets.values()\n"
        f"report = inspect_port(sockets, 'tcp', {port})\n"
        "sock = socket.socket()\n"
        "try:\n"
        f"    sock.bind(('0.0.0.0', {port})); error = 0\n"
        "except OSError as exc:\n"
        "    error = exc.errno\n"
        "print(json.dumps([report.verdict, report.reason, error]))\n"
    )
    result = run_as_nobody(code)
    assert result.returncode == 0, result.stderr
    verdict, reason, error = json.loads(result.stdout)
    assert verdict == "privileged"
    assert "CAP_NET_BIND_SERVICE" in reason and "ip_unprivileged_port_start" in reason
    assert error == errno.EACCES


def test_ephemeral_range_and_reserved_ports(tmp_path) -> None:
    (tmp_path / "ip_local_port_range").write_text("32768\t60999\n")
    (tmp_path / "ip_local_reserved_ports").write_text("8080,9000-9010\n")
    assert ephemeral_info(40000, tmp_path).in_local_range
    assert not ephemeral_info(9005, tmp_path).in_local_range
    assert ephemeral_info(9005, tmp_path).reserved and ephemeral_info(8080, tmp_path).reserved
    assert not ephemeral_info(8081, tmp_path).reserved
    assert ephemeral_info(40000, tmp_path).local_range == (32768, 60999)


def test_pressure_warning_needs_one_destination_over_half_the_range(tmp_path) -> None:
    """A 10-port range: 6 connections to one destination warn; 6 to one port over two addresses, or 5 of them
    and listeners and unconnected sockets (remote port 0), do not."""
    (tmp_path / "ip_local_port_range").write_text("40000\t40009\n")

    def connections(*remotes: tuple[str, int]) -> list:
        return [make_socket(("tcp", index), local_port=40000 + index, remote_address=address, remote_port=port)
                for index, (address, port) in enumerate(remotes)]  # fmt: skip

    idle = [make_socket(("udp", index), proto="udp", state="UNCONN", remote_port=0) for index in range(10)]
    warning = pressure_warning(connections(*[("10.0.0.1", 443)] * 6), tmp_path)
    assert warning is not None and "127.0.0.1 -> 10.0.0.1:443 holds 6 of 10" in warning
    assert pressure_warning(connections(*[("10.0.0.1", 443)] * 3, *[("10.0.0.2", 443)] * 3), tmp_path) is None
    assert pressure_warning(connections(*[("10.0.0.1", 443)] * 5) + idle, tmp_path) is None


def _netwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwatch.tui", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_port_json_and_table() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        result = _netwatch("port", str(port), "--format", "json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert list(document) == ["port", "proto", "verdict", "reason", "ephemeral", "holders", "pressure"]
        assert (document["port"], document["proto"], document["verdict"]) == (port, "tcp", "in_use")
        assert document["ephemeral"]["in_local_range"] == ephemeral_info(port).in_local_range
        # another address's socket (a client on 127.0.0.2 or ::1) may hold the same port number: ours is 127.0.0.1's
        (holder,) = [holder for holder in document["holders"] if holder["local_address"] == "127.0.0.1"]
        assert holder["state"] == "LISTEN" and holder["owners"][0]["pid"] == os.getpid()
        table = _netwatch("port", str(port))
        assert table.returncode == 0
        assert f"tcp port {port}: in_use" in table.stdout and f" {os.getpid()}/" in table.stdout


@pytest.mark.parametrize("args", [("port",), ("port", "0"), ("port", "65536"), ("port", "http"), ("port", "1", "-x")])
def test_cli_port_bad_input(args: tuple[str, ...]) -> None:
    result = _netwatch(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("netwatch port: ")


HOLD_SIX = """
import socket, time
server = socket.create_server(("127.0.0.1", 5000))
held = [socket.create_connection(("127.0.0.1", 5000)) for _ in range(6)]
accepted = [server.accept()[0] for _ in range(6)]
print("ready", flush=True)
time.sleep(60)  # the script ends it
"""


def test_a_destination_taking_most_ephemeral_ports_is_warned_of_and_listed(tmp_path) -> None:
    """In a namespace of its own with a 10-port local range, 6 connections to one destination take 60%."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare")
    holder = tmp_path / "hold.py"
    holder.write_text(HOLD_SIX)
    script = (
        "ip link set lo up && sysctl -qw net.ipv4.ip_local_port_range='40000 40009' && "
        f"{{ {sys.executable} {holder} > {tmp_path}/ready & }} && holder=$! && "
        f"for i in $(seq 100); do [ -s {tmp_path}/ready ] && break; sleep 0.1; done && "
        f"{sys.executable} -m netwatch.tui --once --format json --netns self > {tmp_path}/once.json && "
        f"{sys.executable} -m netwatch.tui port 5000 --format json > {tmp_path}/port.json; "
        "status=$?; kill $holder; exit $status"
    )
    subprocess.run(["unshare", "-n", "sh", "-c", script], check=True, timeout=60)
    warnings = json.loads((tmp_path / "once.json").read_text())["warnings"]
    (warning,) = [warning for warning in warnings if warning.startswith("ephemeral ports")]
    assert "127.0.0.1 -> 127.0.0.1:5000" in warning and "6 of 10" in warning and "EADDRNOTAVAIL" in warning
    (busiest, *_rest) = json.loads((tmp_path / "port.json").read_text())["pressure"]
    assert (busiest["destination"], busiest["port"], busiest["connections"], busiest["range_size"]) == (
        "127.0.0.1", 5000, 6, 10
    )
