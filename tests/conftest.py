"""Shared test setup: no test reads or writes the settings of the user running the tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def own_config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """``$XDG_CONFIG_HOME`` (where netwatch keeps its settings) is an empty directory of the test's own, for the
    test and every process it starts."""
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home
