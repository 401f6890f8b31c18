"""Name resolution for display: reverse DNS in a background pool (cached, never blocking), service names."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from netwatch.backends.model.names import SERVICE_PROTOS

MAX_PENDING = 256
"""Lookups queued at once; further addresses are asked for again on a later refresh."""
MAX_NAMES = 8192
"""Answers kept; past that the oldest are forgotten (remote addresses come and go on a busy host)."""


@lru_cache(maxsize=65536)
def service_name(port: int, proto: str) -> str | None:
    """The /etc/services name of ``port`` for ``proto``, or None."""
    if not 0 < port < 65536 or proto not in SERVICE_PROTOS:
        return None
    try:
        return socket.getservbyport(port, proto)
    except (OSError, OverflowError):
        return None


class HostResolver:
    """Reverse DNS names for addresses, looked up on background threads.

    :meth:`name` never blocks: it returns the cached answer, or None and queues a lookup. ``on_resolved``
    is called (from a pool thread) after each lookup that found a name, so the UI can redraw.
    """

    def __init__(self, on_resolved: Callable[[], None] | None = None, workers: int = 4) -> None:
        self._names: dict[str, str | None] = {}
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netwatch-dns")
        self._on_resolved = on_resolved
        self._closed = False

    def name(self, address: str) -> str | None:
        """The host name of ``address`` if known; otherwise None (and a lookup is queued)."""
        try:
            return self._names[address]
        except KeyError:
            pass
        if not address or address in ("0.0.0.0", "::", "*"):
            return None
        with self._lock:
            if self._closed or address in self._pending or len(self._pending) >= MAX_PENDING:
                return None
            self._pending.add(address)
        self._pool.submit(self._lookup, address)
        return None

    def _lookup(self, address: str) -> None:
        try:
            found: str | None = socket.gethostbyaddr(address)[0]
        except (OSError, UnicodeError, ValueError):
            found = None
        with self._lock:
            names = self._names
            if len(names) >= MAX_NAMES:
                del names[next(iter(names))]
            names[address] = found
            self._pending.discard(address)
        if found and self._on_resolved is not None:
            self._on_resolved()

    def close(self) -> None:
        """Stop resolving; queued lookups are dropped."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
