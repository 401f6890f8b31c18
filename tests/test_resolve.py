"""Name resolution keeps a bounded cache: remote addresses come and go for as long as netwatch runs."""

from __future__ import annotations

import time

from netwatch.tui.view import resolve
from netwatch.tui.view.resolve import HostResolver


def test_the_cache_forgets_the_oldest_answers_past_its_bound(monkeypatch) -> None:
    monkeypatch.setattr(resolve, "MAX_NAMES", 8)
    resolver = HostResolver(workers=2)
    try:
        addresses = [f"127.0.0.{index}" for index in range(1, 21)]  # loopback: /etc/hosts or a quick no
        for address in addresses:
            resolver.name(address)
        deadline = time.monotonic() + 10
        while resolver._pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not resolver._pending
        assert len(resolver._names) == 8
        assert "127.0.0.1" not in resolver._names
    finally:
        resolver.close()
