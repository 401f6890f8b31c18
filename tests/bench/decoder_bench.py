"""Time the inet_diag decoder per socket for each size of ``tcp_info`` a kernel sends.

Usage, from the repository root: ``python -m tests.bench.decoder_bench [--sockets 20000] [--rounds 15]``

Builds, from the recorded dump (tests/fixtures/netlink_tcp_dump.bin, linux 6.18: 280 bytes of tcp_info), the
dump an older kernel would send for the same sockets (104, 192, 232 and 248 bytes), replicated to ``--sockets``
messages with distinct cookies and inodes, and times ``InetDecoder.decode`` over each (a warm decoder, as in a
collection after the first snapshot). The sizes take turns round by round so that a noisy neighbour hurts them
alike; the best round counts. Exits 1 when a size costs more than 1.2x the 280-byte time per socket.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Sequence

from netwatch.backends.sources.netlink.inet import InetDecoder
from netwatch.backends.sources.netlink.transport import NLMSG_HEADER_LEN, Message
from tests.fixtures.recorded_dumps import KERNEL_TCP_INFO_SIZES, load, split, with_tcp_info_size

COOKIE_AND_INODE = ((44, "=Q"), (68, "=I"))
"""Offsets in struct inet_diag_msg of the fields made distinct per replicated socket."""
LIMIT = 1.2


def replicated(size: int, sockets: int) -> list[Message]:
    """``sockets`` messages: the recorded ones with ``size`` bytes of tcp_info, copied with new cookies and
    inodes, in one buffer."""
    data, seq = load("netlink_tcp_dump.bin")
    recorded = [bytes(buffer[start - NLMSG_HEADER_LEN : end]) for buffer, start, end in split(data, seq)]
    resized = split(with_tcp_info_size(b"".join(recorded) + data[-20:], size), seq)
    templates = [buffer[start:end] for buffer, start, end in resized]
    buffer = bytearray()
    messages: list[Message] = []
    for number in range(sockets):
        message = bytearray(templates[number % len(templates)])
        for offset, code in COOKIE_AND_INODE:
            struct.pack_into(code, message, offset, number + 1)
        messages.append((buffer, len(buffer), len(buffer) + len(message)))
        buffer += message
    return messages


def measure(sizes: Sequence[int], sockets: int, rounds: int) -> dict[int, float]:
    """Best µs per socket of a warm decoder, for each tcp_info size."""
    dumps = {size: replicated(size, sockets) for size in sizes}
    decoders = {size: InetDecoder(lambda cgroup_id: f"/cgroup-{cgroup_id}") for size in sizes}
    best = dict.fromkeys(sizes, float("inf"))
    for round_number in range(rounds + 1):
        for size in sizes:
            into: dict = {}
            start = time.perf_counter()
            skipped = decoders[size].decode(dumps[size], "tcp", into)
            elapsed = time.perf_counter() - start
            assert skipped == 0 and len(into) == sockets
            if round_number:  # round 0 learns the layouts and warms the caches
                best[size] = min(best[size], elapsed / sockets * 1e6)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv)
    best = measure(KERNEL_TCP_INFO_SIZES, options.sockets, options.rounds)
    reference = best[max(KERNEL_TCP_INFO_SIZES)]
    print(f"{'tcp_info':>9} {'µs/socket':>10} {'ratio':>6}")
    for size, micros in best.items():
        print(f"{size:>7} B {micros:>10.2f} {micros / reference:>6.2f}")
    return 0 if max(best.values()) <= LIMIT * reference else 1


if __name__ == "__main__":
    sys.exit(main())
