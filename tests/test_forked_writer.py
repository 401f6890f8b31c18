"""The forked writer: real children writing to memory files; and the JSON output that uses it for large lists."""

from __future__ import annotations

import errno
import io
import os
import resource
import threading
import time
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest

from netwatch.backends.forked_writer import ForkedWriter
from netwatch.tui.cli import once
from netwatch.tui.cli.serialize import SocketJsonEncoder
from tests.recorded import synthetic_snapshot


def reaped(pid: int) -> bool:
    """Whether ``pid`` is no child of ours any more (exited and reaped)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_child_output_is_read_back_once_it_exits() -> None:
    parent = os.getpid()

    def write(file: BinaryIO) -> None:
        file.write(b"from %d, child of %d" % (os.getpid(), parent))

    child = ForkedWriter.start("netwatch-test", write)
    assert child is not None and child.pid != parent
    output = child.output()
    assert output is not None
    with output:
        assert output.read() == b"from %d, child of %d" % (child.pid, parent)
    assert reaped(child.pid)


def test_a_failing_child_gives_no_output() -> None:
    def fail(file: BinaryIO) -> None:
        file.write(b"partial")
        raise RuntimeError("the child's work failed")

    child = ForkedWriter.start("netwatch-test", fail)
    assert child is not None
    assert child.output() is None
    assert reaped(child.pid)


def test_a_child_past_the_timeout_is_killed() -> None:
    child = ForkedWriter.start("netwatch-test", lambda file: time.sleep(60))
    assert child is not None
    started = time.monotonic()
    assert child.output(timeout=0.2) is None
    assert time.monotonic() - started < 10
    assert reaped(child.pid)


def test_fd_numbers_past_fd_setsize() -> None:
    """A process holding many sockets (as the one watching them may) gets pipe fds past select()'s limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("the fd limit is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        child = ForkedWriter.start("netwatch-test", lambda file: file.write(b"done"))
        assert child is not None
        output = child.output(timeout=30)
        assert output is not None
        with output:
            assert output.read() == b"done"
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_no_fork_in_a_threaded_process() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert ForkedWriter.start("netwatch-test", lambda file: None) is None
    finally:
        release.set()
        thread.join()


@pytest.mark.parametrize("out_kind", ["memory", "file", "file, sendfile failing midway"])
def test_large_json_output_is_encoded_by_two_processes_into_one_document(
    out_kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The child's half is copied by the kernel (sendfile) into a file, and through Python where ``sendfile`` cannot
    write (an in-memory file; a target it fails on, from where it stopped)."""
    snapshot = synthetic_snapshot(once.PARALLEL_JSON_MIN + 11)
    sockets = list(snapshot.sockets.values())
    children: list[ForkedWriter | None] = []
    real_start = ForkedWriter.start
    real_sendfile = os.sendfile
    sent: list[int] = []

    def start(name, write):  # type: ignore[no-untyped-def]
        children.append(real_start(name, write))
        return children[-1]

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        if sent and out_kind.endswith("midway"):
            raise OSError(errno.EINVAL, "sendfile refused")
        sent.append(real_sendfile(out_fd, in_fd, offset, min(count, 4096) if out_kind.endswith("midway") else count))
        return sent[-1]

    monkeypatch.setattr(ForkedWriter, "start", start)
    monkeypatch.setattr(os, "sendfile", sendfile)
    with io.BytesIO() if out_kind == "memory" else open(tmp_path / "out.json", "w+b") as out:  # noqa: SIM115
        once.write_json(snapshot, sockets, out)
        out.seek(0)
        document = orjson.loads(out.read())
    assert len(children) == 1 and children[0] is not None
    assert bool(sent) == (out_kind != "memory")
    encode = SocketJsonEncoder(snapshot.processes).encode
    assert document["sockets"] == [orjson.loads(encode(sock)) for sock in sockets]
