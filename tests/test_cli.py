"""The command line: bad input is one line and exit 2; --once prints what the kernel has, without Textual."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.as_nobody import run_as_nobody


def run_netwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netwatch.tui", *args], capture_output=True, text=True, timeout=60
    )


HOSTILE_CHILD = """
import ctypes, socket, sys
comm, address = (bytes.fromhex(arg) for arg in sys.argv[1:])
if ctypes.CDLL(None, use_errno=True).prctl(15, comm, 0, 0, 0):  # PR_SET_NAME
    raise OSError(ctypes.get_errno(), "prctl")
listener = socket.socket(socket.AF_UNIX)
listener.bind(address)
listener.listen()
print("ready", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def hostile_process(comm: bytes, address: bytes, cwd: Path) -> Iterator[int]:
    """A process named ``comm`` (prctl PR_SET_NAME, any bytes) listening on the Unix socket ``address`` (relative
    to ``cwd``, or abstract with a leading NUL); yields its pid and kills it on exit."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOSTILE_CHILD, comm.hex(), address.hex()],
        cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        yield child.pid
    finally:
        child.kill()
        child.wait()


def raw_controls(text: str) -> list[str]:
    """The control and format characters (and undecodable bytes) in ``text``."""
    return [character for character in text if unicodedata.category(character) in ("Cc", "Cf", "Cs")]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--once", "--backend", "carrier-pigeon"], "invalid choice: 'carrier-pigeon'"),
        (["--once", "--filter", "sport >> 22"], "column"),
        (["--once", "--filter", "(state established"], "column"),
        (["--interval", "0"], "between 0.05 and 3600"),
        (["--interval", "soon"], "not a number of seconds"),
        (["--once", "--format", "xml"], "invalid choice: 'xml'"),
        (["--once", "--pid", "abc"], "not a process id"),
        (["--once", "--pid", "999999999"], "not a process id: 999999999 (Linux pids are below 4194304)"),
        (["--once", "--pid", "4194303"], "no process with pid 4194303"),
        (["--once", "--pid", "4294967296"], "not a process id: 4294967296 (Linux pids are below 4194304)"),
        (["--once", "--pid", "99999999999999999999"], "(Linux pids are below 4194304)"),
        (["--once", "--pid", "1" * 5000], "(Linux pids are below 4194304)"),
        (["--once", "--pid", "\u0661"], "not a process id: '\u0661'"),  # an Arabic-Indic 1: ASCII digits only
        (["--once", "--filter", "pid \u0661"], "expected a process id"),
        (["--once", "--pid", "0"], "not a process id: '0'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], complaint: str) -> None:
    result = run_netwatch(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netwatch: ")
    assert complaint in lines[0]
    assert "Traceback" not in result.stderr


def test_once_json_reports_a_live_listener_and_connection_with_owner() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        listener_inode = os.fstat(listener.fileno()).st_ino
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        with client, server:
            result = run_netwatch("--once", "--format", "json", "--pid", str(os.getpid()), "--filter", f"port {port}")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["backend"] == "netlink"
    assert set(document) >= {"taken_at", "backend", "warnings", "sockets"}
    by_state: dict[str, list[dict]] = {}
    for sock in document["sockets"]:
        by_state.setdefault(sock["state"], []).append(sock)
    assert sorted(by_state) == ["ESTABLISHED", "LISTEN"]
    assert len(by_state["ESTABLISHED"]) == 2
    (listening,) = by_state["LISTEN"]
    assert (listening["proto"], listening["family"], listening["local_port"]) == ("tcp", "ipv4", port)
    assert listening["inode"] == listener_inode
    assert {owner["pid"] for owner in listening["owners"]} == {os.getpid()}
    assert listening["owners"][0]["name"]
    for established in by_state["ESTABLISHED"]:
        assert established["tcp_info"]["rtt"] > 0
        assert established["tcp_info"]["snd_mss"] > 0
        assert established["congestion"]
        assert {owner["pid"] for owner in established["owners"]} == {os.getpid()}


def test_once_table_and_csv_show_the_socket() -> None:
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        table = run_netwatch("--once", "--pid", str(os.getpid()), "--filter", f"sport = :{port}")
        as_csv = run_netwatch("--once", "--format", "csv", "--pid", str(os.getpid()), "--filter", f"sport = :{port}")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["Proto", "State", "Recv-Q", "Send-Q"]
    assert len(rows) == 1
    assert rows[0].split()[:2] == ["tcp", "LISTEN"]
    assert f"[::1]:{port}" in rows[0]
    assert rows[0].split()[-1] == f"{os.getpid()}/python"  # pid/name, as the TUI shows owners
    records = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["proto"], r["state"], r["local_address"], r["pids"]) for r in records] == [
        ("tcp", "LISTEN", "::1", str(os.getpid()))
    ]
    assert records[0]["rtt_us"] == ""  # a listener has no rtt sample: unknown, not 0


def test_once_warnings_share_one_format_on_every_output_and_quiet_silences_them() -> None:
    for output in ("table", "json", "csv"):
        loud = run_netwatch("--once", "--format", output, "--backend", "procfs", "--filter", "sport = :1")
        quiet = run_netwatch("--once", "--format", output, "--backend", "procfs", "--filter", "sport = :1", "-q")
        assert loud.returncode == quiet.returncode == 0, (loud.stderr, quiet.stderr)
        lines = loud.stderr.splitlines()
        assert lines and all(line.startswith("netwatch: warning: ") for line in lines), lines
        assert quiet.stderr == ""
        if output == "json":  # the same run's warnings (another run's counts may differ on a live host)
            warnings = json.loads(loud.stdout)["warnings"]
            assert [f"netwatch: warning: {warning}" for warning in warnings] == lines[: len(warnings)]
    assert run_netwatch("--quiet").returncode == 2  # the TUI has no stderr lines to silence


def test_once_does_not_import_textual_and_backends_never_import_the_ui() -> None:
    probe = (
        "import sys, os\n"
        "from netwatch.tui.cli.main import main\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "assert main(['--once', '--format', 'json']) == 0\n"
        "import netwatch.backends.collector, netwatch.backends.history.diff, netwatch.backends.history.tracker\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
        "bad += sorted(m for m in sys.modules if m.startswith('netwatch.tui.')\n"
        "    and not m.startswith('netwatch.tui.cli')\n"
        "    and m not in ('netwatch.tui.view', 'netwatch.tui.view.safe_text', 'netwatch.tui.view.intervals'))\n"
        "sys.stderr.write(repr(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    assert_probe_passes(probe)


def test_backends_package_imports_no_ui() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        "import netwatch.backends as b\n"
        "for m in pkgutil.walk_packages(b.__path__, 'netwatch.backends.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual' or m.startswith('netwatch.tui'))\n"
        "sys.exit(repr(bad) if bad else 0)\n"
    )
    assert_probe_passes(probe)


def assert_probe_passes(code: str) -> None:
    """Run ``code`` in a fresh interpreter (a clean sys.modules) and require exit status 0."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", ["pure-python", "compiled"])
def test_json_encoder_writes_what_socket_to_dict_holds(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte on recorded sockets; on the live host as parsed documents (its process names and paths may be
    undecodable bytes, kept as lone surrogates, which orjson refuses to encode on the reference side). Through
    ``encode`` and through the compiled encoder (``encode_function``, with records moved in time, a kept one)."""
    import dataclasses

    from netwatch.tui.cli import serialize

    if path == "pure-python":
        monkeypatch.setattr(serialize, "_COMPILED_PLAN", None)
    elif serialize._COMPILED_PLAN is None:
        pytest.skip("the compiled socket JSON encoder is not built here (no compiler at install)")

    import orjson

    from netwatch.backends.collector import Collector
    from netwatch.backends.model.extensions import share
    from netwatch.backends.model.records import Timer
    from netwatch.backends.sources.netlink.attributes import BBR_LAYOUT, BbrExtensions, bbr_info, sockopt_flags
    from netwatch.tui.cli.serialize import DOCUMENT_FIELDS, SocketJsonEncoder, socket_to_dict
    from tests.recorded import EVIL_NAME, recorded_snapshot, with_namespaces

    recorded = recorded_snapshot(1)
    first = next(iter(recorded.sockets.values()))
    raw_bbr = BBR_LAYOUT.pack(5, 1, 100, 739, 512)
    # the same own values over other shared mappings, and again (the encoder caches each distinct layering)
    layered = [
        dataclasses.replace(first, extensions=BbrExtensions(shared, raw))
        for shared in (share({"sockopt": sockopt_flags(3)}), share({}), share({"sockopt": sockopt_flags(1)}))
        for raw in (raw_bbr, raw_bbr, BBR_LAYOUT.pack(6, 1, 100, 739, 512))
    ]
    odd = dataclasses.replace(
        first, path="/tmp/\udcff\n\"q", cgroup=EVIL_NAME, timer=Timer("on", 5, 1),
        extensions={"bbr": bbr_info(1, 2, 3, 4, 5), "sockopt": sockopt_flags(3), "ulp": {"name": "tls"}},
    )  # fmt: skip
    # read 1.5 s after it was decoded, a kept record's clocks move on and its timer runs down
    kept = dataclasses.replace(first, observed_at=100.0, timer=Timer("keepalive", 1000, 0))
    for now in (None, 101.5):
        encoder = SocketJsonEncoder(recorded.processes, now)
        encode = encoder.encode_function()
        assert (encode == encoder.encode) == (path == "pure-python")
        for sock in [*recorded.sockets.values(), *layered, kept]:
            encoded = encode(sock)
            assert encoded == orjson.dumps(socket_to_dict(sock, recorded.processes, now))
            assert list(json.loads(encoded)) == list(DOCUMENT_FIELDS)
    contained = with_namespaces(recorded)  # containers of processes, and of a namespace (an ownerless socket's)
    encode = SocketJsonEncoder(contained.processes, namespaces=contained.namespaces).encode_function()
    documents = {}
    for sock in contained.sockets.values():
        documents[sock.key] = encode(sock)
        assert documents[sock.key] == orjson.dumps(
            socket_to_dict(sock, contained.processes, namespaces=contained.namespaces)
        )
    assert any(not sock.owners and json.loads(documents[sock.key])["container"] for sock in contained.sockets.values())
    moved = json.loads(SocketJsonEncoder(recorded.processes, 101.5).encode_function()(kept))
    assert moved["timer"]["expires_ms"] == 0 and moved["tcp_info"]["last_data_recv"] >= 1500
    live = Collector().snapshot()
    for snapshot, sockets in ((recorded, [odd]), (live, [*live.sockets.values(), odd])):
        encode = SocketJsonEncoder(snapshot.processes, namespaces=snapshot.namespaces).encode_function()
        for sock in sockets:
            expected = json.loads(json.dumps(socket_to_dict(sock, snapshot.processes, namespaces=snapshot.namespaces)))
            assert json.loads(encode(sock)) == expected
    assert json.loads(SocketJsonEncoder({}).encode_function()(odd))["path"] == "/tmp/\udcff\n\"q"


@pytest.mark.parametrize("path", ["pure-python", "compiled"])
def test_json_objects_written_to_a_descriptor_are_the_encoded_ones(
    path: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``write_objects`` writes what ``encode`` gives, comma-separated, for any range of a list: the compiled writer
    straight to the file's descriptor (more than one chunk, a record of another class among them encoded by the
    fallback), else in batches; and from where the file's own buffer stood."""
    import dataclasses

    from netwatch.backends.collector import Collector
    from netwatch.backends.model.records import Socket
    from netwatch.tui.cli import serialize
    from tests.recorded import recorded_snapshot

    if path == "pure-python":
        monkeypatch.setattr(serialize, "_socket_json", None)
        monkeypatch.setattr(serialize, "_COMPILED_PLAN", None)
    elif serialize._socket_json is None:
        pytest.skip("the compiled socket JSON encoder is not built here (no compiler at install)")

    @dataclasses.dataclass(frozen=True, slots=True)
    class OtherSocket(Socket):
        pass

    live = Collector().snapshot()
    first = next(iter(recorded_snapshot(1).sockets.values()))
    other = OtherSocket(**{field.name: getattr(first, field.name) for field in dataclasses.fields(Socket)})
    sockets = [*live.sockets.values(), other] * (1 + 2 * serialize.JSON_BATCH // (len(live.sockets) + 1))
    encode = serialize.SocketJsonEncoder(live.processes, live.monotonic, live.namespaces).encode_function()
    python = serialize.SocketJsonEncoder(live.processes, live.monotonic, live.namespaces).encode  # even if compiled
    encoders = [encode, python]
    for start, stop in ((0, len(sockets)), (3, len(sockets) - 5), (7, 8), (4, 4)):
        for with_encoder in encoders:
            with open(tmp_path / "objects", "w+b") as out:
                out.write(b"[")  # buffered: written first
                serialize.write_objects(with_encoder, sockets, start, stop, out)
                out.write(b"]")
                out.seek(0)
                written = out.read()
            assert written == b"[" + b",".join(map(encode, sockets[start:stop])) + b"]", (start, stop)
            assert len(written) > 1 << 20 or stop - start < 10


def test_csv_rows_hold_the_documents_plain_values() -> None:
    import dataclasses

    from netwatch.backends.model.records import owner_pids
    from netwatch.tui.cli.serialize import CSV_COLUMNS, csv_text, socket_to_csv_row, socket_to_dict
    from tests.recorded import recorded_snapshot

    snapshot = recorded_snapshot(1)
    first = next(iter(snapshot.sockets.values()))
    odd = dataclasses.replace(first, path="@abstract", cgroup="-x", mark=-1)  # only text cells are ever prefixed
    for sock in [*snapshot.sockets.values(), odd]:
        row = dict(zip(CSV_COLUMNS, socket_to_csv_row(sock, snapshot.processes), strict=True))
        document = socket_to_dict(sock, snapshot.processes)
        for name in CSV_COLUMNS:
            if name in document:
                value = document[name]
                assert row[name] == ("" if value is None else csv_text(value) if isinstance(value, str) else value)
        assert row["pids"] == " ".join(map(str, sorted(owner_pids(sock))))
        assert row["rtt_us"] == (sock.tcp_info.rtt if sock.tcp_info is not None and sock.tcp_info.rtt else "")


OSC_TITLE = b"\x1b]0;PWNED\x07"
FORMULA = b"=2+5+cmd|'/C"


def test_once_csv_escapes_control_characters_and_neutralises_formulas(tmp_path: Path) -> None:
    """Hostile process names and socket paths: read back with the csv module, no cell holds a raw control
    character or starts with a formula trigger; numbers stay numbers."""
    (tmp_path / "=2+5+cmd|'").mkdir()
    with (
        hostile_process(OSC_TITLE, FORMULA + b"\x1b[2J\n", tmp_path) as titler,
        hostile_process(FORMULA, "\0-1+\x00\u200b".encode() + b"\xff", tmp_path) as formula,
    ):
        result = run_netwatch("--once", "--format", "csv", "--filter", f"pid {titler} or pid {formula}")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(row["pids"], row["processes"], row["path"]) for row in rows} == {
        (str(titler), "\\x1b]0;PWNED\\x07", "'=2+5+cmd|'/C\\x1b[2J\\n"),
        (str(formula), "'=2+5+cmd|'/C", "'@-1+\\x00\\u200b\\xff"),
    }
    cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
    assert raw_controls("".join(cells)) == []
    assert [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))] == []
    assert all(row["inode"].isdigit() for row in rows)


def test_once_table_escapes_format_characters_and_shows_undecodable_bytes(tmp_path: Path) -> None:
    """Zero-width and other format characters in a process name and an abstract socket name are shown as
    escapes, and a byte that is not UTF-8 as ``\\xff``."""
    name = "zw\u200bj\ufeffb\xad".encode() + b"\xff"
    with hostile_process(name, "\0a\u200db\u2060".encode() + b"\xfe", tmp_path) as pid:
        result = run_netwatch("--once", "--pid", str(pid))
    assert result.returncode == 0, result.stderr
    assert "@a\\u200db\\u2060\\xfe" in result.stdout
    assert f"{pid}/zw\\u200bj\\ufeffb\\xad\\xff" in result.stdout
    assert raw_controls(result.stdout.replace("\n", "")) == []


def run_where_proc_hides_other_users(*args: str) -> subprocess.CompletedProcess[str]:
    """``netwatch *args`` as user nobody in a private mount namespace whose /proc is mounted with hidepid=2; skips
    where that cannot be done."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount /proc with hidepid in a private mount namespace")
    if tuple(map(int, platform.release().split(".")[:2])) < (5, 8):
        pytest.skip("before Linux 5.8 every /proc mount of a pid namespace shares its options: would hide the host's")
    mount = "mount -t proc -o hidepid=2 proc /proc"
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", mount], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount /proc with hidepid=2 in a private mount namespace: {probe.stderr.strip()}")
    code = f"import sys; from netwatch.tui.cli.main import main; sys.exit(main({list(args)!r}))"
    return run_as_nobody(code, inside=("unshare", "--mount", "sh", "-c", f'{mount} && exec "$@"', "sh"))


def test_pid_hidden_by_hidepid_is_said_to_be_maybe_hidden() -> None:
    result = run_where_proc_hides_other_users("--once", "--pid", str(os.getpid()))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"netwatch: no process with pid {os.getpid()} (or it is hidden from this user: /proc is mounted with "
        "hidepid=invisible)"
    ]


@pytest.mark.parametrize("output_format", ["table", "json", "csv"])
def test_once_with_stdout_closed_says_so_and_exits_1(output_format: str) -> None:
    command = [sys.executable, "-m", "netwatch.tui", "--once", "--format", output_format]
    result = subprocess.run(["sh", "-c", '"$@" >&-', "sh", *command], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (1, "netwatch: standard output is closed\n")


def test_once_leaves_at_once_yet_reports_a_failed_last_write() -> None:
    """The entry point skips Python's teardown (os._exit) after flushing: a full disk on the last write is still
    one line and exit 1, a reader that left early is exit 0, and a complete output is complete."""
    command = [sys.executable, "-m", "netwatch.tui", "--once", "--format", "csv"]
    with open("/dev/full", "w") as full:
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "netwatch: No space left on device"
    early = subprocess.run(["sh", "-c", '"$@" | head -c 1 >/dev/null; exit "${PIPESTATUS:-0}"', "sh", *command],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert early.returncode == 0 and "Traceback" not in early.stderr
    whole = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert whole.returncode == 0
    assert whole.stdout.endswith("\n") and len(list(csv.reader(io.StringIO(whole.stdout)))) >= 2
