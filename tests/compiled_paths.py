"""Tests that run twice: through an optional compiled part (a C extension) and through the pure-Python path."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from netwatch.backends.sources.netlink import inet, inet_layout


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


def decoded_by(
    path: str, messages: list[bytes], live: bool, monkeypatch: pytest.MonkeyPatch, proto: str = "tcp"
) -> tuple[dict, int]:
    """(records in order, messages the Python loop decoded in all) of the second of two decodes of inet_diag
    ``messages`` (of ``proto``, payloads alone) by one decoder (the first with nothing cached yet), through the
    compiled decoder (``path`` "compiled") or the Python loop alone; ``live``: as a live collection's dump,
    fingerprinted."""
    left: list[int] = []
    decode_each = inet.InetDecoder._decode_each
    with monkeypatch.context() as patch:
        if path == "pure-python":
            patch.setattr(inet, "_decode", None)
        patch.setattr(inet.InetDecoder, "_decode_each", lambda self, messages, *rest: left.append(len(messages))
                      or decode_each(self, messages, *rest))  # fmt: skip
        decoder = inet.InetDecoder(lambda cgroup_id: f"/cgroup-{cgroup_id}")
        decoder.start_namespace(4026532999, "ns-name")
        into: dict = {}
        for _ in range(2):
            if live:
                decoder.start_dump(1234.5, {})
            fingerprints = list(range(7, 7 + len(messages))) if live else None  # as the compiled splitter gives them
            into = {}
            skipped = decoder.decode([(bytearray(message), 0, len(message)) for message in messages], proto, into,
                                     fingerprints)  # fmt: skip
        assert skipped == sum(len(message) < inet_layout.HEADER_SIZE or message[0] not in inet.FAMILY_NAMES
                              for message in messages)  # fmt: skip
        assert not live or set(decoder.decoded) == set(into)
    return into, sum(left)
