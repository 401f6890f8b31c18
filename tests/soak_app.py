"""Soak run: the real app, headless, on the live netlink backend, with churning loopback connections.

Run as ``python -m tests.soak_app REFRESHES [freezing]`` (``freezing``: with the GC policy of a large host, see
``tui/view/gc_policy.py``; tests/test_soak.py runs it in a network namespace of its own, so
that only its sockets are on the host). Refreshes come back to back (``--interval`` 0.1 s: minutes of refreshes at
the default interval in a fraction of the time) while a child process opens and closes connections and the view
changes every few refreshes. Once warm and again at the end it counts, after a full collection, the live Python
objects and the RSS, and prints them as JSON with what the app holds.

Warm is a third of the run, and with a freezing GC policy also after its :data:`WARM_COLLECTIONS`-th full
collection: the policy lets frozen garbage grow to a limit set by the live data of its last full collection, and
the first limit is set by the first refresh's, before the app's caches (event log, history) have filled. Until the
second collection the frozen garbage peaks lower; the RSS keeps the highest peak (pages freed by a collection stay
mapped), so a warm sample taken before it grew ~6 MB by the end with nothing leaking.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time

from netwatch.tui.app.app import NetwatchApp
from netwatch.tui.app.widgets.footer import KeyFooter
from netwatch.tui.view.snapshots import LiveSource

WARM_COLLECTIONS = 2
"""Full collections of a freezing GC policy before the warm sample: the second sets the limit from warm live data."""

CHURN = """
import random, socket, struct, sys, time
NO_TIME_WAIT = struct.pack("ii", 1, 0)  # SO_LINGER 0: close with RST, so the socket count stays steady
server = socket.create_server(("127.0.0.1", 0))
server.setblocking(False)
port, live, until = server.getsockname()[1], [], time.monotonic() + float(sys.argv[1])
while time.monotonic() < until:
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_TIME_WAIT)
    time.sleep(0.005)
    try:
        live.append((client, server.accept()[0]))
    except BlockingIOError:
        live.append((client, client))
    if len(live) > 60:
        for sock in live.pop(random.randrange(len(live))):
            sock.close()
    time.sleep(0.02)
"""


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def census() -> dict[str, int]:
    """Live objects after a full collection (the frozen ones included), and the RSS."""
    gc.unfreeze()
    gc.collect()
    objects = len(gc.get_objects())
    gc.freeze()
    return {"objects": objects, "rss": rss_bytes()}


async def soak(refreshes: int) -> dict:
    app = NetwatchApp(LiveSource("netlink"), interval=0.1)
    churn = subprocess.Popen([sys.executable, "-c", CHURN, "600"])
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            counted = 0
            samples = []
            deadline = time.monotonic() + 300
            last_frame = None
            warm_at = None
            policy = app.refresher.gc_policy
            while counted < refreshes and time.monotonic() < deadline:
                await pilot.pause(0.02)
                if app.frame is not last_frame:
                    last_frame = app.frame
                    counted += 1
                    if counted % 5 == 0:
                        app.simulate_key("1234"[(counted // 5) % 4])
                    collected = not policy.freezing or policy.full_collections >= WARM_COLLECTIONS
                    if (warm_at is None and counted >= refreshes // 3 and collected) or counted == refreshes:
                        warm_at = warm_at or counted
                        samples.append(census())
            return {
                "refreshes": counted,
                "warm_at": warm_at,
                "warm": samples[0],
                "end": samples[-1],
                "sockets": len(app.frame.snapshot.sockets),
                "frames_held": app.refresher.holds.live,
                "full_collections": app.refresher.gc_policy.full_collections,
                "footer_keys": sum(len(footer.children) for footer in app.query(KeyFooter)),
                "events": len(app.query_one("#events").events),
            }
    finally:
        churn.kill()
        churn.wait()


if __name__ == "__main__":
    if sys.argv[2:] == ["freezing"]:  # the GC policy of a large host, whatever the sockets
        from netwatch.backends.sources.netlink import source
        from netwatch.tui.view import gc_policy

        gc_policy.FREEZE_FROM = gc_policy.THAW_BELOW = source.FREEZE_BUILT_FROM = 0
    print(json.dumps(asyncio.run(soak(int(sys.argv[1])))))
