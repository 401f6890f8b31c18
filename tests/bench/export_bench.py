"""What a Prometheus scrape of ``netwatch export`` costs with N connections held open (root)::

    python tests/bench/export_bench.py --connections 50000 [--scrapes 20]

Starts ``netwatch export --interval 5`` beside the connections, waits for its first refresh, then times
``--scrapes`` scrapes of /metrics (median and max wall time) and the exporter's CPU over the run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.connections import ConnectionPool  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args(argv)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ConnectionPool(args.connections):
        exporter = subprocess.Popen([sys.executable, "-m", "netwatch.tui", "export", "--listen", f"127.0.0.1:{port}",
                                     "--interval", "5"], stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            exporter.stderr.readline()  # "serving": the first refresh is done
            times, size = [], 0
            for _ in range(args.scrapes):
                started = time.perf_counter()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
                    size = len(response.read())
                times.append(time.perf_counter() - started)
                time.sleep(0.2)
        finally:
            exporter.terminate()
            exporter.wait(timeout=30)
    print(f"{args.connections * 2:,} sockets: scrape median {statistics.median(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms, {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
