"""Tests that run twice: through an optional compiled part (a C extension) and through the pure-Python path."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest


def compiled_or_pure(module: object, attribute: str, what: str) -> Callable[..., Iterator[str]]:
    """A fixture whose value is "compiled" or "pure-python": the test runs once with ``module.attribute`` (the
    compiled part, None where it is not built: that run is skipped) and once with it set to None."""
    reason = f"the compiled {what} is not built here (no compiler at install)"
    paths = ["pure-python", pytest.param("compiled", marks=pytest.mark.skipif(
        getattr(module, attribute) is None, reason=reason))]  # fmt: skip

    @pytest.fixture(params=paths)
    def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        if request.param == "pure-python":
            monkeypatch.setattr(module, attribute, None)
        yield request.param

    return path
