"""``netwatch record`` / ``netwatch replay``: a recording of real sockets replayed in the --once schema, the
recorded scene read back record for record, a truncated last frame dropped, a newer or foreign file refused."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.cli.recording import FRAME_HEADER, MAGIC, Recorder, at, read
from netwatch.tui.cli.serialize import socket_to_dict
from netwatch.tui.view.snapshots import ReplaySource
from tests.app_pilot import cells, refresh, settle
from tests.recorded import recorded_snapshots, with_namespaces

NETWATCH = [sys.executable, "-m", "netwatch.tui"]


def _record(path: Path, snapshots) -> None:
    with path.open("xb") as file:
        recorder = Recorder(file, 2.0)
        for snapshot in snapshots:
            recorder.add(snapshot)


def test_the_recorded_scene_reads_back_socket_for_socket(tmp_path: Path) -> None:
    snapshots = [with_namespaces(snapshot) for snapshot in recorded_snapshots()]
    path = tmp_path / "scene.nwrec"
    _record(path, snapshots)
    header, replayed = read(str(path))
    assert header.interval == 2.0 and len(replayed) == len(snapshots)
    for original, copy in zip(snapshots, replayed, strict=True):
        assert copy.taken_at == original.taken_at and copy.namespaces == original.namespaces
        assert {key: socket_to_dict(sock, original.processes) for key, sock in original.sockets.items()} == {
            key: socket_to_dict(sock, copy.processes) for key, sock in copy.sockets.items()
        }  # keys, fields, owners and process names: the diffs between frames rebuilt every snapshot
    assert at(replayed, "2") is replayed[1] and at(replayed, "2.5") is replayed[1]


def test_a_truncated_last_frame_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "cut.nwrec"
    _record(path, recorded_snapshots())
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # a crash in the middle of the last frame
    _header, replayed = read(str(path))
    assert len(replayed) == 2
    corrupt = bytearray(data)
    corrupt[-3] ^= 0xFF  # a damaged last frame
    path.write_bytes(bytes(corrupt))
    assert len(read(str(path))[1]) == 2


def test_a_newer_format_or_a_foreign_file_is_refused_in_one_line(tmp_path: Path) -> None:
    newer = tmp_path / "newer.nwrec"
    payload = zlib.compress(json.dumps({"version": 99, "interval": 2}).encode())
    newer.write_bytes(MAGIC + FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    foreign = tmp_path / "foreign.nwrec"
    foreign.write_text("hello\n")
    for path, message in ((newer, "recording format 99"), (foreign, "is not a netwatch recording"),
                          (tmp_path / "missing", "No such file")):  # fmt: skip
        result = subprocess.run([*NETWATCH, "replay", str(path), "--once"], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_record_real_sockets_and_replay_them_at_a_time_in_the_once_schema(tmp_path: Path) -> None:
    path = tmp_path / "live.nwrec"
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    recorder = subprocess.Popen([*NETWATCH, "record", str(path), "--interval", "0.3", "--duration", "2.4"])
    time.sleep(1.2)
    server.close()  # gone in the second half of the recording
    assert recorder.wait(timeout=60) == 0
    first = json.loads(subprocess.run([*NETWATCH, "replay", str(path), "--once", "--at", "0", "--format", "json"],
                                      capture_output=True, check=True, timeout=60).stdout)  # fmt: skip
    once = json.loads(subprocess.run([*NETWATCH, "--once", "--format", "json"], capture_output=True, check=True,
                                     timeout=60).stdout)  # fmt: skip
    assert list(first) == list(once) and list(first["sockets"][0]) == list(once["sockets"][0])
    ours = [sock for sock in first["sockets"] if sock["local_port"] == port and sock["state"] == "LISTEN"]
    assert len(ours) == 1 and ours[0]["owners"][0]["pid"] > 0
    last = json.loads(subprocess.run([*NETWATCH, "replay", str(path), "--once", "--at", "2.3", "--format", "json"],
                                     capture_output=True, check=True, timeout=60).stdout)  # fmt: skip
    assert not [sock for sock in last["sockets"] if sock["local_port"] == port and sock["state"] == "LISTEN"]


async def test_the_tui_replays_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "scene.nwrec"
    _record(path, recorded_snapshots())
    header, snapshots = read(str(path))
    app = NetwatchApp(ReplaySource(snapshots, backend_name="replay"), interval=3600, hostname="recorded")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await refresh(pilot)
        assert "1204/nginx +1" in cells(app, "process")


async def test_replay_keys_step_a_frame_seek_a_minute_and_go_to_a_time(tmp_path: Path) -> None:
    path = tmp_path / "scene.nwrec"
    _record(path, recorded_snapshots())
    _header, snapshots = read(str(path))
    source = ReplaySource(snapshots, backend_name="replay")
    app = NetwatchApp(source, interval=3600, hostname="recorded", recording=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert app.frame.snapshot is snapshots[0]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.frame.snapshot is snapshots[1]
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.frame.snapshot is snapshots[0]
        await pilot.press("right_curly_bracket")  # a minute on: past the end, the last one
        await settle(pilot)
        assert app.frame.snapshot is snapshots[-1]
        await pilot.press("g", *"2", "enter")
        await settle(pilot)
        assert app.frame.snapshot is snapshots[1]
