"""What ``netwatch record`` costs: file size per hour and CPU, with N loopback connections held open and a few
of them moving data, in one run::

    python tests/bench/record_bench.py --connections 5000 --seconds 60 [--interval 2]

Records for ``--seconds`` with a real ``netwatch record`` process and reports its CPU (% of one core) and the
file's size, scaled to an hour.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.connections import ConnectionPool  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    with ConnectionPool(args.connections), tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.nwrec"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "netwatch.tui", "record", str(path), "--interval", str(args.interval),
                        "--duration", str(args.seconds)], check=True)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        size = os.path.getsize(path)
    per_hour = size * 3600 / args.seconds
    print(f"{args.connections * 2:,} sockets, every {args.interval:g} s for {args.seconds:g} s: "
          f"CPU {cpu / args.seconds * 100:.1f}% of a core, file {size / 1e6:.2f} MB ({per_hour / 1e6:.1f} MB/hour)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
