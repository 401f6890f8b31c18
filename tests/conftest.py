"""Shared test setup: no test reads or writes the settings of the user running the tests; a loopback connection;
subscriptions to the kernel's process events."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest

from netwatch.backends.process_events import ProcessEvents


@pytest.fixture(autouse=True)
def own_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """``$XDG_CONFIG_HOME`` (where netwatch keeps its settings) is an empty directory of the test's own, for the
    test and every process it starts."""
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def connection():
    """(listener, client, served): a loopback TCP connection of the test's own."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(("127.0.0.1", listener.getsockname()[1]))
    served, _ = listener.accept()
    yield listener, client, served
    for sock in (listener, client, served):
        sock.close()


@pytest.fixture
def process_events() -> Iterator[Callable[..., ProcessEvents]]:
    """Subscribes to the proc connector when called (``receive_buffer``: as :meth:`ProcessEvents.subscribe`), closed
    after the test; root only: skips the test elsewhere."""
    subscribed: list[ProcessEvents] = []

    def subscribe(receive_buffer: int | None = None) -> ProcessEvents:
        if os.geteuid() != 0:
            pytest.skip("the proc connector reports to root (before Linux 6.6)")
        events = ProcessEvents.subscribe(receive_buffer)
        assert events is not None, "root in the initial namespaces: the kernel acknowledges the subscription"
        subscribed.append(events)
        return events

    yield subscribe
    for events in subscribed:
        events.close()
