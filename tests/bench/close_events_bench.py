"""How fast close events are read: closes per second without loss, and the reader's CPU at a given rate.

    python tests/bench/close_events_bench.py [--seconds 10] [--paced 1000]

Two runs, each with a subscriber (``CloseEvents``, default receive buffer) in a process of its own that reports
the events it read, the events lost and its CPU time:

* flood: generator processes open and close loopback connections as fast as they can (each connection is two
  closes: client and server); reported: closes per second, events read, lost;
* paced: one generator at ``--paced`` closes per second; reported: the subscriber's CPU as % of one core.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence

SUBSCRIBER = """
import json, sys, time
from netwatch.backends.sources.netlink.close_events import CloseEvents
seconds = float(sys.argv[1])
with CloseEvents() as events:
    print("ready", flush=True)
    started, cpu = time.monotonic(), time.process_time()
    read = 0
    while time.monotonic() - started < seconds:
        events.wait(0.2)
        read += len(events.take())
    time.sleep(0.5)
    read += len(events.take())
    print(json.dumps({"read": read, "lost": events.lost, "cpu": time.process_time() - cpu,
                      "seconds": time.monotonic() - started}))
"""

GENERATOR = """
import socket, sys, time
seconds, rate = float(sys.argv[1]), float(sys.argv[2])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1024)
address = server.getsockname()
count = 0
started = time.monotonic()
while (now := time.monotonic()) - started < seconds:
    client = socket.create_connection(address)
    accepted, _ = server.accept()
    client.close()
    accepted.close()
    count += 2
    if rate and count / rate > now - started:
        time.sleep(count / rate - (now - started))
print(count, flush=True)
"""


def run(seconds: float, generators: int, rate: float) -> dict:
    """One run: a subscriber and ``generators`` generators (``rate`` closes/s each, 0: flat out)."""
    subscriber = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(seconds + 1)], stdout=subprocess.PIPE,
                                  text=True)  # fmt: skip
    assert subscriber.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    workers = [subprocess.Popen([sys.executable, "-c", GENERATOR, str(seconds), str(rate)], stdout=subprocess.PIPE,
                                text=True) for _ in range(generators)]  # fmt: skip
    closes = sum(int(worker.communicate()[0]) for worker in workers)
    result = json.loads(subscriber.communicate()[0].splitlines()[-1])
    return {**result, "closes": closes, "closes_per_second": closes / seconds}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--paced", type=float, default=1000.0, help="closes per second of the paced run")
    parser.add_argument("--generators", type=int, default=2)
    args = parser.parse_args(argv)
    flood = run(args.seconds, args.generators, 0)
    paced = run(args.seconds, 1, args.paced)
    print(f"flood: {flood['closes_per_second']:,.0f} closes/s generated, {flood['read']:,} events read, "
          f"{flood['lost']:,} lost; reader CPU {flood['cpu'] / flood['seconds'] * 100:.1f}% of a core")
    print(f"paced: {paced['closes_per_second']:,.0f} closes/s, {paced['read']:,} read, {paced['lost']:,} lost; "
          f"reader CPU {paced['cpu'] / paced['seconds'] * 100:.1f}% of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
