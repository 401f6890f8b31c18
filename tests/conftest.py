"""Shared test setup: no test reads or writes the settings of the user running the tests; a loopback connection."""

from __future__ import annotations

import socket

import pytest


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
