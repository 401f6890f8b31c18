"""``netwatch export``: Prometheus metrics of real loopback sockets, parsed with prometheus_client's parser and
scraped by a real Prometheus server (Debian's, installed by tests/run.sh; skipped where absent)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

TRANSFER = 300_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _samples(port: int) -> dict[str, list]:
    families = text_string_to_metric_families(_get(f"http://127.0.0.1:{port}/metrics"))
    samples: dict[str, list] = {}
    for family in families:
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


@pytest.fixture
def exporter() -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "netwatch.tui", "export", "--listen", f"127.0.0.1:{port}",
                                "--interval", "0.2"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert "serving" in process.stderr.readline()
        yield port
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_metrics_of_real_sockets_and_counters_that_outlive_them(exporter: int) -> None:
    name = Path("/proc/self/comm").read_text().strip()
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    reader = threading.Thread(target=lambda: [None for _ in iter(lambda: accepted.recv(1 << 16), b"")])
    reader.start()
    client.sendall(b"x" * TRANSFER)
    time.sleep(0.6)
    samples = _samples(exporter)
    established = [s for s in samples["netwatch_sockets"] if s.labels["proto"] == "tcp"
                   and s.labels["state"] == "ESTABLISHED"]  # fmt: skip
    assert sum(s.value for s in established) >= 2
    backlog = [s for s in samples["netwatch_listen_backlog"] if s.labels["port"] == str(server.getsockname()[1])]
    assert len(backlog) == 1 and backlog[0].value > 0
    sent = {s.labels["process"]: s.value for s in samples["netwatch_tcp_sent_bytes_total"]}
    assert sent[name] >= TRANSFER
    client.close()
    reader.join(timeout=10)
    accepted.close()
    server.close()
    time.sleep(0.6)
    after = {s.labels["process"]: s.value for s in _samples(exporter)["netwatch_tcp_sent_bytes_total"]}
    assert after[name] >= sent[name]  # its sockets are gone: what they moved stays counted
    assert not any(label in s.labels for s in established for label in ("remote", "pid", "cookie"))


def test_a_busy_port_and_a_bad_address_are_one_line_and_exit_2(exporter: int) -> None:
    for listen, message in ((f"127.0.0.1:{exporter}", "Address already in use"), ("nowhere", "not an address")):
        result = subprocess.run([sys.executable, "-m", "netwatch.tui", "export", "--listen", listen],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_real_prometheus_server_scrapes_the_series(exporter: int, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("no prometheus binary (tests/run.sh installs Debian's as root)")
    web = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "netwatch", "static_configs": [{"targets": [f"127.0.0.1:{exporter}"]}]}],
    }))  # fmt: skip
    server = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                               f"--web.listen-address=127.0.0.1:{web}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        query = urllib.parse.urlencode({"query": 'netwatch_sockets{proto="tcp"}'})
        deadline = time.monotonic() + 60
        result: list = []
        while not result and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                result = json.loads(_get(f"http://127.0.0.1:{web}/api/v1/query?{query}"))["data"]["result"]
            except OSError:
                continue
        assert result, "Prometheus never returned netwatch_sockets"
        assert all(series["metric"]["job"] == "netwatch" for series in result)
        assert {series["metric"]["state"] for series in result} >= {"LISTEN"}
    finally:
        server.terminate()
        server.wait(timeout=30)
